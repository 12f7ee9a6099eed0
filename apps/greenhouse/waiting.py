""" "Not in Greenhouse yet" (issue 15): messages of a prospect no Greenhouse candidate matches wait,
held with NOT_IN_GREENHOUSE_YET, and the app looks the prospect up again on a schedule.

Why: recruiters usually write first and add the candidate to Greenhouse once they answer, so the
first exchange is exactly what a "no candidate, skipped" policy loses. Here it waits:

- **One lookup per prospect per due time.** The first message held this way creates the
  prospect's ProspectLookup row (models.py), in the transaction that holds it (outcomes.py
  `_settle`); later messages of the prospect join the same row. Its due time follows
  GREENHOUSE_WAITING_LOOKUP_SCHEDULE (2 min, 10 min, 1 h, 6 h, then daily by default).
- **The outbox's conventions.** The sweeper (sweeper.py) queues due rows whose lease ran out
  (`ProspectLookup.sweep`), rescues rows of dead workers, and `prospect_lookup_task` (sync
  queue, acks_late) claims the row before any work, so two tasks never look up the same due
  time. Greenhouse errors retry with the sync's backoff, a few times, then the schedule goes on.
- **The rate budget.** The lookup takes its requests from the credential's budget without
  waiting (`max_rate_wait=0`): with no slot, nothing is sent and the row is due again at the
  slot, with no attempt and no step counted.
- **Only within the team's window.** Before looking, every waiting message is decided again by
  the policy (a switch turned off, a pause, an ignore, the team's choice, the window passed):
  what it skips is skipped with its reason, and with nothing left waiting no request is made.
  The sweeper also skips, with WAIT_EXPIRED, the messages older than the team's `waiting_days`
  (`waiting_expire`), whenever their prospect's next lookup is.
- **Found: written in order, exactly once.** All the prospect's waiting records go back to
  pending in one UPDATE and the team's lane is woken; the batch writes them in message order
  through the usual outbox (its claim and read-back rule keep each note to one), and a note
  written late says when its message was sent or received (notes.py).
- **At once** when the prospect gains an email address (`prospect_lookup_now`, from a signal),
  or a person retries the records (switches.py `sync_records_retry`: the writer looks up).
"""

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import crypto
from apps.core.outbox import SWEEP_BATCH

from .candidates import candidate_links_expire, candidate_resolve
from .connection import harvest_client_build
from .facts import Status, _facts, _is_paused, _verdict_status
from .harvest.errors import HarvestError, HarvestRateLimited
from .lanes import sync_lane_wake_on_commit
from .models import GreenhouseIntegration, ProspectLookup, SyncAttempt, SyncRecord
from .outcomes import Claim, _attempt_finish
from .policy import CandidateMatch, Reason, SyncFacts, decide

logger = logging.getLogger(__name__)

WAITING_REASON = Reason.NOT_IN_GREENHOUSE_YET
LookupStatus = ProspectLookup.Status


def lookup_delay(step: int) -> timedelta:
    """How long after a lookup that found nothing (the `step`-th) the next one is due."""
    schedule = settings.GREENHOUSE_WAITING_LOOKUP_SCHEDULE
    return timedelta(seconds=float(schedule[min(step, len(schedule) - 1)]))


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def waiting_records(prospect_id: int):
    return SyncRecord.objects.filter(
        prospect_id=prospect_id, status=Status.HELD, reason=WAITING_REASON
    )


# --- Scheduling ----------------------------------------------------------------------------------


def prospect_lookup_schedule(
    *, team_id: int, prospect_id: int, now: datetime | None = None
) -> None:
    """A message of this prospect was just held as "not in Greenhouse yet" (called inside the
    transaction that holds it). The prospect's re-lookup is scheduled unless one already is:
    however many messages wait, the prospect is looked up once per due time."""
    now = now or timezone.now()
    due = now + lookup_delay(0)
    restarted = ProspectLookup.objects.filter(
        prospect_id=prospect_id, status__in=(LookupStatus.DONE, LookupStatus.FAILED)
    ).update(
        status=LookupStatus.PENDING,
        step=0,
        attempts=0,
        waiting_since=now,
        next_attempt_at=due,
        claimed_at=None,
        queued_at=None,
        last_error="",
    )
    if not restarted and not ProspectLookup.objects.filter(prospect_id=prospect_id).exists():
        try:
            with transaction.atomic():
                ProspectLookup.objects.create(
                    team_id=team_id, prospect_id=prospect_id, waiting_since=now, next_attempt_at=due
                )
        except IntegrityError:
            pass  # scheduled at the same moment by another message of the prospect
    row = ProspectLookup.objects.filter(prospect_id=prospect_id).values("next_attempt_at").first()
    next_at = row["next_attempt_at"] if row and row["next_attempt_at"] else due
    waiting_records(prospect_id).filter(last_error="").update(
        last_error=f"Not in Greenhouse yet; looked up again at {_when(next_at)}."
    )


def prospect_lookup_now(*, prospect_ids) -> int:
    """Look these prospects up at once (a new email address): their pending re-lookups become
    due now and are queued on commit. Returns how many."""
    now = timezone.now()
    ProspectLookup.objects.filter(prospect_id__in=prospect_ids, status=LookupStatus.PENDING).update(
        next_attempt_at=now, attempts=0
    )
    return ProspectLookup.wake(prospect_id__in=prospect_ids, now=now)


def prospect_waiting_release(*, prospect_id: int) -> int:
    """The prospect's candidate was found: every message of theirs that waits goes back to
    pending, due now (the team's batch writes them in message order), and the re-lookup is done.
    Returns how many were released."""
    with transaction.atomic():
        released = waiting_records(prospect_id).update(
            status=Status.PENDING,
            next_attempt_at=None,
            claimed_at=None,
            queued_at=None,
            attempts=0,
            last_error="",
        )
        ProspectLookup.objects.filter(prospect_id=prospect_id).exclude(
            status=LookupStatus.LOOKING
        ).update(status=LookupStatus.DONE, next_attempt_at=None, queued_at=None)
        if released:
            team_id = SyncRecord.objects.filter(prospect_id=prospect_id).values_list(
                "team_id", flat=True
            )[0]
            sync_lane_wake_on_commit(team_id=team_id)
    return released


# --- The window ----------------------------------------------------------------------------------


def waiting_expire(*, now: datetime | None = None) -> int:
    """Skip, with WAIT_EXPIRED, the waiting messages older than their team's window (run by the
    sweeper: a message expires on time whenever its prospect's next lookup is). Returns how many."""
    now = now or timezone.now()
    expired = 0
    teams = SyncRecord.objects.filter(status=Status.HELD, reason=WAITING_REASON).values("team_id")
    for team_id, days in GreenhouseIntegration.objects.filter(team_id__in=teams).values_list(
        "team_id", "waiting_days"
    ):
        expired += SyncRecord.objects.filter(
            team_id=team_id,
            status=Status.HELD,
            reason=WAITING_REASON,
            message__created_at__lt=now - timedelta(days=days),
        ).update(
            status=Status.SKIPPED,
            reason=Reason.WAIT_EXPIRED,
            next_attempt_at=None,
            last_error=f"Waited {days} days; the prospect never appeared in Greenhouse.",
        )
    return expired


def prospect_lookups_sweep(
    *, now: datetime, stale_after: timedelta, lease: timedelta | None = None
) -> dict[str, int]:
    """The sweeper's part: expire what waited too long, then rescue lookups of dead workers and
    queue the due ones (the outbox's sweep)."""
    expired = waiting_expire(now=now)
    scheduled = _orphans_schedule(now=now)
    result = ProspectLookup.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        order_by=("next_attempt_at", "pk"),
        gave_up_error="The worker stopped while looking this prospect up, too many times.",
        rescued_error="The worker stopped while looking this prospect up; looking again.",
    )
    return {
        "expired": expired,
        "lookups_scheduled": scheduled,
        "lookups_queued": result.queued,
        "lookups_rescued": result.rescued,
    }


def _orphans_schedule(*, now: datetime) -> int:
    """Waiting messages whose prospect has no re-lookup on its way (one held while the last
    lookup was ending, or a lookup given up after its workers died) get one."""
    active = ProspectLookup.objects.filter(
        status__in=(LookupStatus.PENDING, LookupStatus.LOOKING)
    ).values("prospect_id")
    orphans = (
        SyncRecord.objects.filter(status=Status.HELD, reason=WAITING_REASON)
        .exclude(prospect_id__in=active)
        .order_by()
        .values_list("team_id", "prospect_id")
        .distinct()[:SWEEP_BATCH]
    )
    count = 0
    for team_id, prospect_id in orphans:
        with transaction.atomic():
            prospect_lookup_schedule(team_id=team_id, prospect_id=prospect_id, now=now)
        count += 1
    return count


# --- The lookup ----------------------------------------------------------------------------------


def prospect_lookup_run(*, lookup_id: int) -> str:
    """Look one waiting prospect up again (the task's body). Safe to call any number of times:
    only the caller that claims the due row looks. Returns what happened (logs, tests)."""
    now = timezone.now()
    row = ProspectLookup.objects.filter(pk=lookup_id).first()
    if row is None or row.status != LookupStatus.PENDING:
        return "not pending"
    if row.next_attempt_at and row.next_attempt_at > now:
        ProspectLookup.release(pk=lookup_id)  # the sweep queues it when it is due
        return "not due"
    if ProspectLookup.claim(pk=lookup_id, now=now) is None:
        return "claimed elsewhere"
    row.refresh_from_db()
    try:
        return _lookup(row, claimed_at=now)
    except (HarvestError, crypto.SecretDecryptionError, OSError) as exc:
        return _retry(row, now, str(exc))
    except Exception as exc:
        logger.exception("Bug: the re-lookup of prospect %s failed", row.prospect_id)
        return _retry(row, now, f"A bug in Outreach stopped this lookup: {type(exc).__name__}.")


def _mine(row: ProspectLookup, claimed_at: datetime):
    return ProspectLookup.held(pk=row.pk, claimed_at=claimed_at)


def _next(row: ProspectLookup, claimed_at: datetime, *, at: datetime, step: int, **values) -> None:
    """Back to pending, due at `at`."""
    _mine(row, claimed_at).update(
        status=LookupStatus.PENDING,
        claimed_at=None,
        next_attempt_at=at,
        step=step,
        queued_at=None,
        **values,
    )


def _done(row: ProspectLookup, claimed_at: datetime, **values) -> None:
    _mine(row, claimed_at).update(
        status=LookupStatus.DONE, claimed_at=None, next_attempt_at=None, **values
    )


def _retry(row: ProspectLookup, claimed_at: datetime, reason: str) -> str:
    """A failed try: again with backoff, a few times; then the schedule goes on."""
    attempts = ProspectLookup.objects.filter(pk=row.pk).values_list("attempts", flat=True)[0]
    if ProspectLookup.retry_later(
        pk=row.pk, claimed_at=claimed_at, attempts=attempts, reason=reason
    ):
        return "retry"
    now = timezone.now()
    _next(
        row,
        claimed_at,
        at=now + lookup_delay(row.step),
        step=row.step,
        attempts=0,
        last_error=f"Gave up on this lookup after {attempts} tries: {reason}"[:2000],
    )
    return "gave up"


def _lookup(row: ProspectLookup, *, claimed_at: datetime) -> str:
    now = timezone.now()
    integration = GreenhouseIntegration.objects.filter(team_id=row.team_id).first()
    paused = _is_paused(row.prospect_id)
    waiting = list(
        waiting_records(row.prospect_id)
        .select_related("message", "thread")
        .order_by("message__created_at", "message_id")
    )
    still = []
    unhealthy = False
    for record in waiting:
        record.message.thread = record.thread
        facts = _facts(message=record.message, integration=integration, paused=paused, now=now)
        verdict = decide(_with_match(facts, CandidateMatch.NONE))
        if verdict.reason == WAITING_REASON:
            still.append(record)
        elif verdict.reason in (Reason.CONNECTION_UNHEALTHY, Reason.GREENHOUSE_UNREACHABLE):
            still.append(record)
            unhealthy = True
        else:
            # The policy no longer waits: a switch, a pause, the team's choice, the window.
            waiting_records(row.prospect_id).filter(pk=record.pk).update(
                status=_verdict_status(verdict), reason=verdict.reason, last_error=""
            )
    if not still:
        _done(row, claimed_at)
        return "nothing waiting"
    assert integration is not None  # the policy waits only for a team with a connection
    if unhealthy:
        # Held for the connection too: no request now; the schedule goes on.
        _next(row, claimed_at, at=now + lookup_delay(row.step), step=row.step)
        return "connection"

    claim = Claim(record=still[0], claimed_at=claimed_at, integration=integration)
    client = harvest_client_build(integration=integration, max_rate_wait=0)
    candidate_links_expire(prospect_ids=[row.prospect_id])  # search every address again
    try:
        match, _ = candidate_resolve(claim, client)
    except HarvestRateLimited as exc:
        if exc.status is not None:
            raise
        # No slot in the rate budget: nothing was sent. Due again at the slot, nothing counted.
        _attempt_finish(
            claim,
            SyncAttempt.Outcome.RETRY,
            error="Not sent: waiting for Greenhouse's rate allowance.",
        )
        _next(
            row,
            claimed_at,
            at=now + timedelta(seconds=max(0.0, exc.retry_after)),
            step=row.step,
            attempts=max(0, row.attempts - 1),
        )
        return "deferred"
    except BaseException:
        _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error="The lookup failed.")
        raise

    if match == CandidateMatch.ONE:
        _done(row, claimed_at, last_looked_up_at=now, attempts=0, last_error="")
        released = prospect_waiting_release(prospect_id=row.prospect_id)
        logger.info("Prospect %s found in Greenhouse: %s released", row.prospect_id, released)
        return "found"
    if match == CandidateMatch.SEVERAL:
        verdict = decide(_with_match(facts, match))
        waiting_records(row.prospect_id).update(
            status=_verdict_status(verdict), reason=verdict.reason, last_error=""
        )
        _done(row, claimed_at, last_looked_up_at=now, attempts=0, last_error="")
        return "several"
    step = row.step + 1
    next_at = now + lookup_delay(step)
    _next(row, claimed_at, at=next_at, step=step, attempts=0, last_looked_up_at=now, last_error="")
    waiting_records(row.prospect_id).update(
        last_error=(
            f"Looked up again at {_when(now)}: still not in Greenhouse. "
            f"Next lookup at {_when(next_at)}."
        )
    )
    return "not found"


def _with_match(facts: SyncFacts, match: CandidateMatch) -> SyncFacts:
    return replace(facts, candidate_match=match)
