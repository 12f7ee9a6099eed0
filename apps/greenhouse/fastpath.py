"""The batch's fast path: the common record costs little more than its POST.

Why: the careful per-record path (sync.py `_write_claimed`) asks the database about each record
on its own, about 16 statements and 5 commits per note, which made a worker a tenth as fast as
a minimal exactly-once loop. Most records of a team's batch are the common case: SYNC by the
policy, a prospect linked to one Greenhouse candidate (CandidateLink ONE), no earlier POST. For
the longest run of those at the batch's head, in message order, this module:

1. loads the batch's facts together: the integration once, the pauses of all its prospects in
   one query, their links in one, the authors' Greenhouse user ids in one, the earlier inbound
   messages and the older records still on their way in one each;
2. commits `post_started_at` (and the candidate) of all of them in one UPDATE, with their POST
   log rows in one INSERT, before the first POST. A worker that dies after it leaves them to the
   read-back rule (`post_started_at` set, no note id: read back before posting again);
   The batch's claim time stays the records' heartbeat: a batch ends its POSTs within
   GREENHOUSE_SYNC_BATCH_SECONDS plus one POST's timeouts, well under GREENHOUSE_SYNC_STALE_AFTER;
3. posts them in order while holding the team's switch gate shared (gate.py), reading the
   switches and pauses again each time it takes the gate; it gives the gate back after
   GATE_HOLD_MAX seconds and takes it again, so a switch-off waits at most that plus one POST's
   timeouts, and nothing is posted after a switch-off or a pause commits. Their rate slots are
   reserved together and their answers told to the budget together (`HarvestClient.reserve`:
   one Redis round trip before the POSTs and one after, not two per POST);
4. records the outcomes of the notes written in one UPDATE of the records, one of their log rows,
   one query for the threads' bot notices and one INSERT of the new ones (a new notice only for
   a thread's first note).

Anything unusual (a 404, a refusal, no rate slot, a connection error, a switch or a pause, a
lost claim) ends the fast run: what was written is recorded first, the record that met it gets
the careful path's outcome for that error (sync.py `_write_error_outcome`; after a 404 the
careful path runs it again, which looks the candidate up), the records not sent yet get their
`post_started_at` cleared (nothing was sent for them) and go, with the rest of the batch, to the
careful path as before.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from apps.messaging.models import Message

from .candidates import candidate_resolve as _candidate_resolve
from .connection import harvest_client_build
from .exclusion_services import team_exclusion_rules
from .facts import ORDER_WAIT_MAX, Status, _facts
from .gate import switch_gate_shared
from .harvest.client import HarvestClient
from .harvest.errors import HarvestRateLimited, HarvestResourceNotFound
from .models import (
    BotNotice,
    CandidateLink,
    GreenhouseIntegration,
    GreenhouseUserMapping,
    NoteVisibility,
    ProspectSyncIgnore,
    ProspectSyncPause,
    SensitiveReview,
    SyncAttempt,
    SyncRecord,
)
from .outcomes import Claim, _attempt_finish, _settle
from .policy import CandidateMatch, Decision, Review, Verdict, decide
from .visibility import VisibilityChanged, note_visibility_for, thread_overrides
from .writer import (
    VISIBILITY_TRIES,
    _author,
    _note_content,
    _switch_check,
    _write_error_outcome,
)

logger = logging.getLogger(__name__)

# The longest the fast path holds a team's switch gate across POSTs before giving it back to a
# waiting switch (and taking it again, reading the switches again).
GATE_HOLD_MAX = 2.0
# How long it leaves the gate open then (a few ms of a waiting switch's commit; 2.5 % of a hold).
GATE_YIELD = 0.05


@dataclass
class FastRun:
    """What the fast path left: `rest` for the careful path in order, and the rate budget's next
    slot when the budget stopped it."""

    rest: list[SyncRecord]
    deferred_until: datetime | None = None
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Fast:
    record: SyncRecord
    candidate_id: int
    verdict: Verdict
    user_id: int | None
    visibility: str = NoteVisibility.PUBLIC
    attempt_id: int = 0
    note_id: int | None = None
    edited_text: str = ""  # a reviewer's note text (review.py), in place of the message's


def batch_write_fast(
    *, team_id: int, records: list[SyncRecord], claimed_at: datetime, until: float
) -> FastRun:
    """Write the common-case records at the head of `records` (claimed at `claimed_at`, in
    message order); no POST but the first starts after `until` (time.monotonic)."""
    integration = GreenhouseIntegration.objects.filter(team_id=team_id).first()
    if integration is None or not records:
        return FastRun(rest=list(records))
    fast = _common_head(integration, records, timezone.now())
    if not fast:
        return FastRun(rest=list(records))
    rest = list(records[len(fast) :])
    try:
        client = harvest_client_build(integration=integration, max_rate_wait=0)
    except Exception:
        return FastRun(rest=list(records))  # the careful path says what is wrong, per record
    if not _posts_started(fast, claimed_at):
        return FastRun(rest=list(records))
    return _post_all(integration, client, fast, rest, claimed_at, until)


# --- The batch's facts, together -----------------------------------------------------------------


def _common_head(
    integration: GreenhouseIntegration, records: list[SyncRecord], now: datetime
) -> list[_Fast]:
    """The longest head of `records` that is the common case."""
    head = list(records)
    for index, record in enumerate(records):
        # SMS transcripts (transcripts.py) are the careful path's: one note for many records.
        if record.post_started_at is not None or record.note_id is not None or record.in_transcript:
            head = records[:index]
            break
    if not head:
        return []
    prospects = {r.prospect_id for r in head}
    threads = {r.thread_id for r in head}
    paused = set(
        ProspectSyncPause.objects.filter(prospect_id__in=prospects, paused=True).values_list(
            "prospect_id", flat=True
        )
    )
    ignored = set(
        ProspectSyncIgnore.objects.filter(prospect_id__in=prospects, ignored=True).values_list(
            "prospect_id", flat=True
        )
    )
    links = {
        link.prospect_id: link.candidate_id
        for link in CandidateLink.objects.filter(
            prospect_id__in=prospects, match=CandidateMatch.ONE
        ).exclude(candidate_id=None)
    }
    inbound: dict[int, list[tuple]] = {}
    for thread_id, created_at, pk in Message.objects.filter(
        thread_id__in=threads, direction=Message.Direction.INBOUND
    ).values_list("thread_id", "created_at", "pk"):
        inbound.setdefault(thread_id, []).append((created_at, pk))
    waiting = _older_on_their_way(head, threads)
    exclusion_rules = team_exclusion_rules(team_id=integration.team_id)
    reviews = {
        record_id: (Review(state), text)
        for record_id, state, text in SensitiveReview.objects.filter(
            record_id__in=[r.pk for r in head]
        ).values_list("record_id", "state", "edited_text")
    }
    authors = {_author(r) for r in head} - {None}
    user_ids = dict(
        GreenhouseUserMapping.objects.filter(
            integration=integration, user_id__in=[a.pk for a in authors if a is not None]
        ).values_list("user_id", "greenhouse_user_id")
    )
    overrides = thread_overrides(thread_ids=threads)
    fast: list[_Fast] = []
    for record in head:
        message = record.message
        message.thread = record.thread
        key = (message.created_at, message.pk)
        candidate_id = links.get(record.prospect_id)
        if candidate_id is None:
            break  # a lookup is needed: the careful path
        if record.created_at >= now - ORDER_WAIT_MAX and any(
            older < key for older in waiting.get(record.thread_id, ())
        ):
            break  # an older message of its thread is on its way elsewhere
        earlier = any(older < key for older in inbound.get(record.thread_id, ()))
        review, edited_text = reviews.get(record.pk, (Review.NOT_NEEDED, ""))
        facts = _facts(
            message=message,
            integration=integration,
            paused=record.prospect_id in paused,
            earlier_inbound=earlier,
            backfill=record.backfill_id is not None,
            now=now,
            ignored=record.prospect_id in ignored,
            exclusion_rules=exclusion_rules,
            review=review,
        )
        verdict = decide(replace(facts, candidate_match=CandidateMatch.ONE))
        if verdict.decision != Decision.SYNC:
            break
        author = _author(record)
        fast.append(
            _Fast(
                record=record,
                candidate_id=candidate_id,
                verdict=verdict,
                user_id=user_ids.get(author.pk) if author is not None else None,
                visibility=note_visibility_for(
                    team_default=integration.note_visibility,
                    thread_override=overrides.get(record.thread_id),
                ),
                edited_text=edited_text if review == Review.APPROVED else "",
            )
        )
    return fast


def _older_on_their_way(head: list[SyncRecord], threads: set[int]) -> dict[int, list[tuple]]:
    """Per thread, the (created_at, message id) of messages still on their way to Greenhouse
    that are not in `head`: a record not written yet, an outbound message not sent yet."""
    found: dict[int, list[tuple]] = {}
    rows = (
        SyncRecord.objects.filter(
            thread_id__in=threads, status__in=(Status.PENDING, Status.IN_PROGRESS)
        )
        .exclude(pk__in=[r.pk for r in head])
        .values_list("thread_id", "message__created_at", "message_id")
    )
    unsent = Message.objects.filter(
        thread_id__in=threads,
        direction=Message.Direction.OUTBOUND,
        status__in=(Message.Status.QUEUED, Message.Status.SENDING),
    ).values_list("thread_id", "created_at", "pk")
    for thread_id, created_at, pk in [*rows, *unsent]:
        found.setdefault(thread_id, []).append((created_at, pk))
    return found


# --- Before the first POST: one commit ------------------------------------------------------


def _posts_started(fast: list[_Fast], claimed_at: datetime) -> bool:
    """`post_started_at` and the candidate of every fast record, and their POST log rows, in one
    transaction (False, nothing changed: a claim was lost meanwhile)."""
    pks = [f.record.pk for f in fast]
    now = timezone.now()
    with transaction.atomic():
        updated = SyncRecord.held(claimed_at=claimed_at, pk__in=pks, post_started_at=None).update(
            post_started_at=now,
            candidate_id=Case(
                *[When(pk=f.record.pk, then=Value(f.candidate_id)) for f in fast],
                output_field=IntegerField(),
            ),
            visibility=Case(*[When(pk=f.record.pk, then=Value(f.visibility)) for f in fast]),
        )
        if updated != len(fast):
            transaction.set_rollback(True)
            return False
        attempts = SyncAttempt.objects.bulk_create(
            [SyncAttempt(record_id=pk, kind=SyncAttempt.Kind.POST) for pk in pks]
        )
    for item, attempt in zip(fast, attempts, strict=True):
        item.attempt_id = attempt.pk
    return True


# --- The POSTs, under the switch gate ----------------------------------------------------------


class _HeldGate:
    """The team's switch gate, held shared across consecutive POSTs for at most GATE_HOLD_MAX;
    the switches and pauses are read again each time it is taken."""

    def __init__(self, team_id: int, prospect_ids: set[int], thread_ids: set[int]):
        self.team_id = team_id
        self.prospect_ids = prospect_ids
        self.thread_ids = thread_ids
        self.stack: ExitStack | None = None
        self.since = 0.0
        self.stopped = False
        self.paused: set[int] = set()
        self.let_through: int | None = None
        self.visibility: dict[int, str] = {}  # per thread, read under the gate

    def close(self) -> None:
        if self.stack is not None:
            stack, self.stack = self.stack, None
            stack.close()

    @contextmanager
    def guard(self, claim: Claim, visibility: str) -> Iterator[None]:
        if self.stack is not None and time.monotonic() - self.since > GATE_HOLD_MAX:
            # A switch waiting for the gate gets its turn: neither a file lock nor a row lock
            # queues a new shared holder behind a waiting exclusive one, so taking it again at
            # once could keep the switch waiting until the batch ends.
            self.close()
            time.sleep(GATE_YIELD)
        if self.stack is None:
            stack = ExitStack()
            try:
                stack.enter_context(switch_gate_shared(team_id=self.team_id))
                self._read_switches()
            except BaseException:
                stack.close()
                raise
            self.stack, self.since = stack, time.monotonic()
        if self.stopped or claim.record.prospect_id in self.paused:
            # Read again under the gate: raises SyncStopped, saying who and when (the caller
            # gives the gate back).
            _switch_check(claim)
        if self.visibility.get(claim.record.thread_id) != visibility:
            raise VisibilityChanged  # nothing sent: `_post_all` posts again with the new one
        self.let_through = claim.record.pk  # its POST may be sent from here on
        yield

    def _read_switches(self) -> None:
        integration = GreenhouseIntegration.objects.filter(team_id=self.team_id).first()
        on = integration is not None and integration.sync_enabled_by_support and integration.sync_on
        self.stopped = not on
        team_default = integration.note_visibility if integration is not None else None
        overrides = thread_overrides(thread_ids=self.thread_ids)
        self.visibility = {
            thread_id: note_visibility_for(
                team_default=team_default, thread_override=overrides.get(thread_id)
            )
            for thread_id in self.thread_ids
        }
        # Paused or ignored (review queue): either stops the prospect's POSTs.
        self.paused = set(
            ProspectSyncPause.objects.filter(
                prospect_id__in=self.prospect_ids, paused=True
            ).values_list("prospect_id", flat=True)
        ) | set(
            ProspectSyncIgnore.objects.filter(
                prospect_id__in=self.prospect_ids, ignored=True
            ).values_list("prospect_id", flat=True)
        )


def _post_all(
    integration: GreenhouseIntegration,
    client: HarvestClient,
    fast: list[_Fast],
    rest: list[SyncRecord],
    claimed_at: datetime,
    until: float,
) -> FastRun:
    gate = _HeldGate(
        integration.team_id,
        {f.record.prospect_id for f in fast},
        {f.record.thread_id for f in fast},
    )
    done: list[_Fast] = []
    failed: tuple[_Fast, Exception] | None = None
    # The run's rate slots in one round trip to the budget, their answers in one more.
    client.reserve(len(fast))
    try:
        for item in fast:
            if done and time.monotonic() > until:
                break  # the team's turn is over (the first always goes: the batch gets on)
            record = item.record
            claim = Claim(record=record, claimed_at=claimed_at, integration=integration)
            try:
                unmapped = _author(record) if item.user_id is None else None
                content = _note_content(
                    record, unmapped_author=unmapped, edited_text=item.edited_text
                )
                note = _post_one(client, gate, item, claim, content)
                item.note_id = int(note["id"])
            except Exception as exc:
                failed = (item, exc)
                break
            done.append(item)
    finally:
        gate.close()
        client.release()
    run = FastRun(rest=[])
    _record_written(done, claimed_at, run)
    unsent = fast[len(done) :]
    again: list[SyncRecord] = []
    if failed is not None:
        unsent.remove(failed[0])
        sent = gate.let_through == failed[0].record.pk
        if _record_failure(failed[0], failed[1], integration, claimed_at, client, run, sent=sent):
            again.append(failed[0].record)
    if unsent:
        _unstart(unsent, claimed_at)
    run.rest = again + [f.record for f in unsent] + rest
    return run


def _post_one(client: HarvestClient, gate: _HeldGate, item: _Fast, claim: Claim, content) -> dict:
    """One POST, with the visibility the gate read (visibility.py): when a thread's or the
    team's visibility changed since the batch's facts were read, nothing was sent and it is
    posted again with the new one (recorded first, as `_posts_started` did)."""
    for tries_left in reversed(range(VISIBILITY_TRIES)):
        try:
            return client.note_create(
                candidate_id=item.candidate_id,
                visibility=item.visibility,
                user_id=item.user_id,
                guard=partial(gate.guard, claim, item.visibility),
                **content.as_kwargs(),
            )
        except VisibilityChanged:
            now_visible = gate.visibility.get(item.record.thread_id)
            if not tries_left or now_visible is None:
                raise
            item.visibility = now_visible
            SyncRecord.held(claimed_at=claim.claimed_at, pk=item.record.pk).update(
                visibility=now_visible
            )
    raise AssertionError("unreachable")


# --- Outcomes, together --------------------------------------------------------------------------


def _count(run: FastRun, outcome: str) -> None:
    run.outcomes[outcome] = run.outcomes.get(outcome, 0) + 1


def _record_written(done: list[_Fast], claimed_at: datetime, run: FastRun) -> None:
    if not done:
        return
    now = timezone.now()
    pks = [f.record.pk for f in done]
    with transaction.atomic():
        SyncAttempt.objects.filter(pk__in=[f.attempt_id for f in done]).update(
            outcome=SyncAttempt.Outcome.OK, http_status=201, finished_at=now
        )
        written = {
            pk
            for pk, _ in SyncRecord._update_returning(
                SyncRecord.held(claimed_at=claimed_at, pk__in=pks),
                {
                    "status": Status.WRITTEN,
                    "reason": Case(
                        *[When(pk=f.record.pk, then=Value(f.verdict.reason)) for f in done]
                    ),
                    "note_id": Case(
                        *[When(pk=f.record.pk, then=Value(f.note_id)) for f in done],
                        output_field=IntegerField(),
                    ),
                    "written_at": now,
                    "next_attempt_at": None,
                    "last_error": "",
                },
            )
        }
        noticed = set(
            BotNotice.objects.filter(thread_id__in={f.record.thread_id for f in done}).values_list(
                "thread_id", flat=True
            )
        )
        from .bot_notice import bot_notices_queue

        first_notes: list[int] = []  # threads whose first note this is, in order
        for item in done:
            record = item.record
            if record.pk not in written:
                # Taken over meanwhile: the other worker reads the note back and records it.
                logger.warning("Sync record %s was taken over by another worker", record.pk)
                _count(run, "lost claim")
                continue
            _count(run, "written")
            if record.thread_id not in noticed:
                noticed.add(record.thread_id)
                first_notes.append(record.thread_id)
        bot_notices_queue(thread_ids=first_notes)


def _record_failure(
    item: _Fast,
    exc: Exception,
    integration: GreenhouseIntegration,
    claimed_at: datetime,
    client: HarvestClient,
    run: FastRun,
    *,
    sent: bool,
) -> bool:
    """The careful path's outcome for the error this record met. True: the careful path writes
    it again (after a 404, which looks the candidate up)."""
    record = item.record
    claim = Claim(
        record=record,
        claimed_at=claimed_at,
        integration=integration,
        attempt=SyncAttempt(pk=item.attempt_id, record_id=record.pk),
        in_batch=True,
    )
    if isinstance(exc, HarvestResourceNotFound):
        return _candidate_gone(claim, item, exc, client, run)
    if not sent:
        claim.mine().update(post_started_at=None)  # stopped before its POST: nothing was sent
    if isinstance(exc, HarvestRateLimited) and exc.status is None:
        # No slot in the rate budget: not sent, so no POST in its log (as on the careful path).
        SyncAttempt.objects.filter(pk=item.attempt_id).delete()
        claim.attempt = None
    outcome = _write_error_outcome(claim, exc)
    _count(run, outcome)
    if outcome == "deferred":
        run.deferred_until = claim.deferred_until
    return False


def _candidate_gone(
    claim: Claim, item: _Fast, exc: HarvestResourceNotFound, client: HarvestClient, run: FastRun
) -> bool:
    """As the careful path does after a 404: the candidate was merged away or deleted, so the
    prospect is looked up again by email. Found: the careful path writes it (to the link's new
    candidate); otherwise the policy's verdict settles it."""
    _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=exc.message, http_status=404)
    claim.mine().update(post_started_at=None)  # Greenhouse wrote nothing
    try:
        match, _ = _candidate_resolve(claim, client, gone=item.candidate_id)
    except Exception as error:
        _count(run, _write_error_outcome(claim, error))
        return False
    if match == CandidateMatch.ONE:
        return True
    record = claim.record
    facts = _facts(
        message=record.message,
        integration=claim.integration,
        paused=ProspectSyncPause.objects.filter(
            prospect_id=record.prospect_id, paused=True
        ).exists(),
    )
    verdict = decide(replace(facts, candidate_match=match))
    _count(run, _settle(claim, verdict, error=exc.message))
    return False


def _unstart(unsent: list[_Fast], claimed_at: datetime) -> None:
    """Nothing was sent for these: their heartbeat and their POST log rows go."""
    with transaction.atomic():
        SyncRecord.held(claimed_at=claimed_at, pk__in=[f.record.pk for f in unsent]).update(
            post_started_at=None
        )
        SyncAttempt.objects.filter(pk__in=[f.attempt_id for f in unsent]).delete()
