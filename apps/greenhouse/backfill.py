"""Backfill: write, after all, messages from before the sync could write them (issue 15, item 4).

Why: a message sent before a team turned the sync on is skipped ("sync turned off", "before sync
was on"), and one with a prospect Greenhouse did not know is skipped too ("no candidate", "never
appeared in Greenhouse"). When the team turns the sync on, or the prospect is linked late, a team
admin may want the earlier conversation in the candidate's feed as well, within a window.

- `backfill_plan` (the dry run) reads the skipped records of the window and asks the policy,
  `decide`, what it would say now with the `backfill` fact set: the same function, and the same
  facts (`facts._facts`), that the writer uses when it writes them, so what the dry run counts as
  "written" is what the run writes, and the reasons of the others are the policy's own (paused,
  ignored, outside a sequence thread, BCC'd to Maildrop, not in Greenhouse yet...). It reads
  only local rows: no Greenhouse call, nothing stored.
  Two facts are the dry run's only: a prospect with no candidate link yet is counted as written
  "after a lookup" (the writer looks the prospect up first; a prospect Greenhouse does not know
  then waits, or is skipped, by the team's choice; `backfill_lookups`, a POST, looks them up
  now as the writer would, and the dry run is exact again), and a message sent while its
  candidate's sync was paused stays unwritten even when the pause has been lifted since (the
  pause history, SyncPauseEvent, says so): a pause is a person's choice about those messages.
- `backfill_run` makes the plan again under the team's lock and releases what it would write to
  PENDING, through the same outbox: the team's lane and batches write them (the same rate
  budget, the same exactly-once rules), with the record's `backfill` set, which the writer passes
  to the policy. What the policy would hold (not in Greenhouse yet, several candidates) becomes
  HELD with that reason and goes out once its cause is fixed, like any held record. Only SKIPPED
  records are taken, each in a conditional UPDATE, so a record written (or queued) already is
  never released again: repeating a backfill writes nothing new.
- backfill_progress.py: done, waiting, held, and the time left at the team's allowance; where a
  backfill is offered; the sweep's "finished". backfill_lookups.py: the lookups a dry run asks.

A known limit: the team's batches take records in message order, so a large backfill's older
messages are written before the team's new ones of the same moment; the window bounds it.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.messaging.models import Message
from apps.sequences.models import Prospect
from apps.teams.models import Team

from .facts import _facts
from .lanes import sync_lane_wake_on_commit
from .models import (
    Backfill,
    CandidateLink,
    GreenhouseIntegration,
    ProspectSyncPause,
    SyncPauseEvent,
    SyncRecord,
)
from .policy import CandidateMatch, Decision, Reason, Verdict, decide, reason_label
from .selectors import sync_state

Status = SyncRecord.Status
# The most records one backfill looks at: a longer window is refused (choose a shorter one).
BACKFILL_MAX_RECORDS = 20_000
# Skipped for these, a prospect was linked late: their page offers a backfill once linked.
LATE_LINK_REASONS = (Reason.NO_CANDIDATE, Reason.WAIT_EXPIRED, Reason.CANDIDATE_GONE)
# Skipped for these, a message is not written by a backfill either (no offer for them alone).
NEVER_BACKFILLED = (Reason.NOT_SEQUENCE_THREAD, Reason.CANDIDATE_PAUSED)
PAUSED_WHEN_SENT = "paused_when_sent"
PAUSED_WHEN_SENT_LABEL = "Candidate was paused when it was sent"


@dataclass
class ProspectPlan:
    """One candidate's line of the dry run."""

    prospect: Prospect
    write: int = 0
    after_lookup: int = 0  # of `write`: the prospect is not looked up in Greenhouse yet
    wait: Counter = field(default_factory=Counter)  # HOLD reasons
    skip: Counter = field(default_factory=Counter)  # SKIP reasons (and PAUSED_WHEN_SENT)

    @property
    def not_written(self) -> list[tuple[str, str, int]]:
        """(kind "wait" or "skip", label, count) of what would not be written, most first."""
        rows = [("wait", _label(r), n) for r, n in self.wait.items()]
        rows += [("skip", _label(r), n) for r, n in self.skip.items()]
        return sorted(rows, key=lambda row: (-row[2], row[1]))


def _label(reason: str) -> str:
    return PAUSED_WHEN_SENT_LABEL if reason == PAUSED_WHEN_SENT else reason_label(reason)


@dataclass
class Plan:
    """The dry run: per candidate, what would be written, and why the rest would not."""

    scope: str
    since: datetime
    until: datetime
    window_label: str
    prospect: Prospect | None
    rows: list[ProspectPlan]
    verdicts: dict[int, Verdict]  # record id -> what the policy says now (written or held)
    looked_at: int
    too_many: bool = False

    @property
    def write(self) -> int:
        return sum(row.write for row in self.rows)

    @property
    def after_lookup(self) -> int:
        return sum(row.after_lookup for row in self.rows)

    @property
    def wait(self) -> int:
        return sum(sum(row.wait.values()) for row in self.rows)

    @property
    def skip(self) -> int:
        return sum(sum(row.skip.values()) for row in self.rows)

    def counts(self) -> dict:
        """What the Backfill row keeps of it (JSON)."""
        wait: Counter = Counter()
        skip: Counter = Counter()
        for row in self.rows:
            wait.update(row.wait)
            skip.update(row.skip)
        return {
            "looked_at": self.looked_at,
            "write": self.write,
            "after_lookup": self.after_lookup,
            "wait": dict(wait),
            "skip": dict(skip),
            "prospects": len(self.rows),
        }


# --- The window --------------------------------------------------------------------------------


def backfill_until(*, integration: GreenhouseIntegration | None, prospect=None) -> datetime | None:
    """Where a backfill's window ends: for the team, the moment sync was (last) turned on; for
    one prospect, now (their messages are skipped until they are linked). None: sync is not on,
    there is nothing a backfill could write."""
    state = sync_state(integration)
    if not state.on or state.since is None:
        return None
    return timezone.now() if prospect is not None else state.since


def backfill_window(*, until: datetime, days: int | None = None, since_date=None):
    """(since, label) of a window of `days` before `until`, or from the start of `since_date`."""
    if since_date is not None:
        start = timezone.make_aware(datetime.combine(since_date, datetime.min.time()))
        if start >= until:
            raise ValidationError({"since": "Choose a date before the end of the window."})
        return start, f"since {since_date:%Y-%m-%d}"
    if days is None or days <= 0:
        raise ValidationError({"window": "Choose a window."})
    return until - timedelta(days=days), f"{days} days"


# --- The dry run -------------------------------------------------------------------------------


def _in_window(*, team_id: int, since: datetime, until: datetime, prospect_id: int | None):
    records = SyncRecord.objects.filter(
        team_id=team_id,
        status=Status.SKIPPED,
        message__created_at__gte=since,
        message__created_at__lt=until,
    )
    if prospect_id is not None:
        records = records.filter(prospect_id=prospect_id)
    return records


def _paused_when(events: list[tuple[datetime, str]], at: datetime) -> bool:
    """Whether the last pause or resume before `at` was a pause (events in time order)."""
    paused = False
    for when, action in events:
        if when > at:
            break
        paused = action == SyncPauseEvent.Action.PAUSE
    return paused


def backfill_plan(
    *,
    team: Team,
    since: datetime,
    until: datetime,
    window_label: str = "",
    prospect: Prospect | None = None,
) -> Plan:
    """The dry run (reads only). See the module for what it counts, and how."""
    integration = GreenhouseIntegration.objects.filter(team=team).first()
    scope = Backfill.Scope.PROSPECT if prospect is not None else Backfill.Scope.TEAM
    records_qs = _in_window(
        team_id=team.pk,
        since=since,
        until=until,
        prospect_id=prospect.pk if prospect is not None else None,
    )
    records = list(
        records_qs.select_related("message", "thread", "prospect")
        .defer("message__body_text", "message__body_html", "message__references")
        .order_by("message__created_at", "message_id")[: BACKFILL_MAX_RECORDS + 1]
    )
    too_many = len(records) > BACKFILL_MAX_RECORDS
    records = records[:BACKFILL_MAX_RECORDS]
    prospect_ids = {r.prospect_id for r in records}
    thread_ids = {r.thread_id for r in records}
    paused_now = set(
        ProspectSyncPause.objects.filter(prospect_id__in=prospect_ids, paused=True).values_list(
            "prospect_id", flat=True
        )
    )
    pause_events: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for prospect_id, at, action in (
        SyncPauseEvent.objects.filter(prospect_id__in=prospect_ids)
        .order_by("at", "id")
        .values_list("prospect_id", "at", "action")
    ):
        pause_events[prospect_id].append((at, action))
    matches = dict(
        CandidateLink.objects.filter(prospect_id__in=prospect_ids).values_list(
            "prospect_id", "match"
        )
    )
    inbound: dict[int, list[tuple]] = defaultdict(list)
    for thread_id, created_at, pk in Message.objects.filter(
        thread_id__in=thread_ids, direction=Message.Direction.INBOUND
    ).values_list("thread_id", "created_at", "pk"):
        inbound[thread_id].append((created_at, pk))

    rows: dict[int, ProspectPlan] = {}
    verdicts: dict[int, Verdict] = {}
    for record in records:
        message = record.message
        message.thread = record.thread
        row = rows.get(record.prospect_id)
        if row is None:
            row = rows[record.prospect_id] = ProspectPlan(prospect=record.prospect)
        paused_then = record.reason == Reason.CANDIDATE_PAUSED or _paused_when(
            pause_events.get(record.prospect_id, []), message.created_at
        )
        if paused_then and record.prospect_id not in paused_now:
            row.skip[PAUSED_WHEN_SENT] += 1
            continue
        key = (message.created_at, message.pk)
        facts = _facts(
            message=message,
            integration=integration,
            paused=record.prospect_id in paused_now or paused_then,
            earlier_inbound=any(older < key for older in inbound.get(record.thread_id, ())),
            backfill=True,
        )
        match = CandidateMatch(matches.get(record.prospect_id, CandidateMatch.UNKNOWN))
        verdict = decide(replace(facts, candidate_match=match))
        if verdict.decision == Decision.SYNC:
            row.write += 1
            if match == CandidateMatch.UNKNOWN:
                row.after_lookup += 1
            verdicts[record.pk] = verdict
        elif verdict.decision == Decision.HOLD:
            row.wait[verdict.reason.value] += 1
            verdicts[record.pk] = verdict
        else:
            row.skip[verdict.reason.value] += 1
    ordered = sorted(
        rows.values(), key=lambda r: (-r.write, r.prospect.last_name, r.prospect.first_name)
    )
    return Plan(
        scope=scope,
        since=since,
        until=until,
        window_label=window_label,
        prospect=prospect,
        rows=ordered,
        verdicts=verdicts,
        looked_at=len(records),
        too_many=too_many,
    )


# --- The run -----------------------------------------------------------------------------------


def backfill_run(
    *,
    team: Team,
    by,
    since: datetime,
    until: datetime,
    window_label: str,
    prospect: Prospect | None = None,
) -> Backfill:
    """Run a backfill: the dry run again, under the team's lock, and its records released
    (see the module). Raises ValidationError when sync is not on, or the window is too long."""
    with transaction.atomic():
        integration = GreenhouseIntegration.objects.select_for_update().filter(team=team).first()
        if backfill_until(integration=integration, prospect=prospect) is None:
            raise ValidationError("Turn the sync on first: a backfill writes through it.")
        plan = backfill_plan(
            team=team, since=since, until=until, window_label=window_label, prospect=prospect
        )
        if plan.too_many:
            raise ValidationError(
                f"More than {BACKFILL_MAX_RECORDS:,} messages in this window; choose a shorter one."
            )
        name = (by.get_full_name() or by.get_username()) if by is not None else ""
        backfill = Backfill.objects.create(
            team=team,
            scope=plan.scope,
            prospect=prospect,
            since=since,
            until=until,
            window_label=window_label[:60],
            requested_by=by,
            requested_by_name=name[:200],
            counts=plan.counts(),
        )
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for pk, verdict in plan.verdicts.items():
            to = Status.PENDING if verdict.decision == Decision.SYNC else Status.HELD
            groups[(to.value, verdict.reason.value)].append(pk)
        released = held = 0
        for (status, reason), ids in groups.items():
            # Conditional on SKIPPED: a record another backfill took meanwhile is not taken.
            changed = SyncRecord.objects.filter(pk__in=ids, status=Status.SKIPPED).update(
                status=status,
                reason=reason,
                backfill=backfill,
                attempts=0,
                next_attempt_at=None,
                claimed_at=None,
                queued_at=None,
                last_error="",
            )
            if status == Status.PENDING:
                released += changed
            else:
                held += changed
        Backfill.objects.filter(pk=backfill.pk).update(released=released, held=held)
        backfill.released, backfill.held = released, held
        if released:
            sync_lane_wake_on_commit(team_id=team.pk)
        else:  # nothing on its way (held records wait for their cause, not for the backfill)
            Backfill.objects.filter(pk=backfill.pk).update(
                status=Backfill.Status.FINISHED, finished_at=timezone.now()
            )
            backfill.refresh_from_db()
    return backfill
