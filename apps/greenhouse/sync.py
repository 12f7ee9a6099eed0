"""Automatic email and SMS activity sync: creating each message's record and writing its note.

1. `sync_record_create` runs inside the transaction that recorded the message (the messaging
   app's `message_recorded` signal). It writes one SyncRecord per message with the policy's
   verdict on local facts, and wakes the team's lane on commit when it is pending (lanes.py:
   one task per team on its way, which writes the team's records in batches, batch.py).
2. `sync_record_write` (one record: old broker messages, tests) and the team's batch claim
   records with a conditional UPDATE, then `_write_claimed` decides again with fresh
   facts (switches, pause, connection health, then the resolved candidate), and writes the note.
   Exactly once: `post_started_at` is committed before each POST; if it is set and no note id was
   stored, an earlier attempt may have written the note (ambiguous answer, or a worker that died
   between the POST and the commit), so the candidate's notes are read back and searched for the
   record's reference before anything is posted again.
   No worker sleeps on the rate budget: when the credential has no slot free, the record goes
   back to pending due at the slot, with no attempt counted (`_defer`).
3. Transient errors put the record back to pending with `next_attempt_at` (backoff + jitter);
   `sync_records_sweep` (beat, sweeper.py) wakes the lanes of teams with due records, rescues
   records of dead workers, and releases records held for the connection once it is healthy
   again. Claim, backoff and rescue are the shared outbox's (apps/core/outbox.py); the lease is
   the team's lane (a lane whose task is on its way is not queued again until QUEUE_LEASE).

Notes of one thread reach Greenhouse in message order: a record waits while an older message of
its thread is still on its way (outbound not sent yet, or its record not written yet), for at
most ORDER_WAIT_MAX; each finished record wakes the team's lane for the next one of its thread
(the batch, which writes them in message order, looks again at its end instead). The switches
that turn the sync on or off, and support's retries and candidate choices, are switches.py's.
"""

import contextlib
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core import crypto
from apps.messaging.addressing import thread_id_from_reply_address
from apps.messaging.models import Channel, Message
from apps.teams.bcc import has_greenhouse_maildrop

from .candidates import candidate_resolve as _candidate_resolve
from .connection import (
    greenhouse_integration_record_check,
    harvest_client_build,
    harvest_error_in_plain_words,
)
from .gate import switch_gate_shared
from .harvest.client import HarvestClient
from .harvest.errors import (
    HarvestError,
    HarvestRateLimited,
    HarvestResourceNotFound,
    HarvestValidationError,
    Scope,
    scope_of,
)
from .lanes import sync_lane_wake_on_commit
from .models import (
    GreenhouseIntegration,
    MaildropOverlap,
    NoteVisibility,
    ProspectSyncPause,
    SyncAttempt,
    SyncRecord,
)
from .notes import (
    NoteContent,
    email_note,
    note_has_reference,
    note_reference,
    sender_line,
    sms_note,
)
from .policy import Decision, Reason, SyncFacts, Verdict, decide
from .selectors import greenhouse_user_id_for

logger = logging.getLogger(__name__)

Status = SyncRecord.Status
WAITING = (Status.PENDING, Status.HELD)
# Held for the team's connection (released together once it works again).
HELD_FOR_CONNECTION = (Reason.CONNECTION_UNHEALTHY, Reason.GREENHOUSE_UNREACHABLE)
ORDER_WAIT_MAX = timedelta(minutes=10)


def _verdict_status(verdict: Verdict) -> str:
    return {
        Decision.SYNC: Status.PENDING,
        Decision.SKIP: Status.SKIPPED,
        Decision.HOLD: Status.HELD,
    }[verdict.decision]


# --- Facts -------------------------------------------------------------------------------------


def _is_recordable(message: Message) -> bool:
    """Only what actually went out or came in becomes a record."""
    if message.direction == Message.Direction.OUTBOUND:
        return message.status in (Message.Status.SENT, Message.Status.DELIVERED)
    return message.status == Message.Status.RECEIVED


def _older_than(message: Message, prefix: str = "") -> Q:
    return Q(**{f"{prefix}created_at__lt": message.created_at}) | Q(
        **{f"{prefix}created_at": message.created_at, f"{prefix}pk__lt": message.pk}
    )


def _facts(
    *,
    message: Message,
    integration: GreenhouseIntegration | None,
    paused: bool,
    earlier_inbound: bool | None = None,
) -> SyncFacts:
    """`earlier_inbound`: given when already known (the batch's fast path loads it for all)."""
    thread = message.thread
    if earlier_inbound is None:
        earlier_inbound = (
            Message.objects.filter(thread_id=thread.pk, direction=Message.Direction.INBOUND)
            .filter(_older_than(message))
            .exists()
        )
    return SyncFacts(
        channel=message.channel,
        direction=message.direction,
        message_created_at=message.created_at,
        in_sequence_thread=thread.enrollment_id is not None,
        earlier_inbound_in_thread=earlier_inbound,
        team_enabled_by_support=bool(integration and integration.sync_enabled_by_support),
        team_sync_on=bool(integration and integration.sync_on),
        team_sync_on_since=integration.sync_on_since if integration else None,
        connection_healthy=(
            integration is not None
            and integration.health != GreenhouseIntegration.Health.NEEDS_ATTENTION
        ),
        candidate_paused=paused,
        bcc_maildrop=has_greenhouse_maildrop(message.bcc_addresses or []),
        team_skips_maildrop_copies=bool(
            integration and integration.maildrop_overlap == MaildropOverlap.SKIP_SYNC_NOTE
        ),
        greenhouse_unreachable=bool(integration and integration.unreachable_since),
    )


def _is_paused(prospect_id: int) -> bool:
    return ProspectSyncPause.objects.filter(prospect_id=prospect_id, paused=True).exists()


# --- Creating records --------------------------------------------------------------------------


def sync_record_create(*, message: Message) -> SyncRecord | None:
    """The sync record of a message that went out or came in, with the policy's verdict.

    Called in the message's transaction. Repeated calls (the signal is sent again when an
    outbound message becomes "sent") return the existing record. A failure here is logged and
    never breaks sending or receiving: the sweeper creates records that are missing.
    """
    if not _is_recordable(message):
        return None
    try:
        with transaction.atomic():
            return _record_create(message)
    except Exception:
        logger.exception("Could not create the sync record of message %s", message.pk)
        return None


def _record_create(message: Message) -> SyncRecord:
    existing = SyncRecord.objects.filter(message_id=message.pk).first()
    if existing is not None:
        return existing
    message = Message.objects.select_related("thread").get(pk=message.pk)
    thread = message.thread
    integration = GreenhouseIntegration.objects.filter(team_id=message.team_id).first()
    verdict = decide(
        _facts(message=message, integration=integration, paused=_is_paused(thread.prospect_id))
    )
    status = _verdict_status(verdict)
    pending = status == Status.PENDING
    try:
        with transaction.atomic():
            record = SyncRecord.objects.create(
                message=message,
                team_id=message.team_id,
                prospect_id=thread.prospect_id,
                thread=thread,
                channel=message.channel,
                direction=message.direction,
                status=status,
                reason=verdict.reason,
            )
    except IntegrityError:
        return SyncRecord.objects.get(message_id=message.pk)  # created at the same moment
    record.note_ref = note_reference(record.pk)
    SyncRecord.objects.filter(pk=record.pk).update(note_ref=record.note_ref)
    if pending:
        sync_lane_wake_on_commit(team_id=record.team_id)  # the team's one wake-up (lanes.py)
    return record


# --- Writing -----------------------------------------------------------------------------------


@dataclass
class Claim:
    record: SyncRecord
    claimed_at: datetime
    integration: GreenhouseIntegration | None = None
    attempt: SyncAttempt | None = None
    # An earlier attempt had started a POST (so a note may exist whatever this one does).
    posted_before: bool = False
    # Written by the team's batch (batch.py), whose end looks for what comes next: no wake-ups.
    in_batch: bool = False
    # The rate budget's next slot, when it had none for this record (see `_defer`).
    deferred_until: datetime | None = None

    def mine(self):
        """The record, as long as this worker still holds the claim."""
        return SyncRecord.held(pk=self.record.pk, claimed_at=self.claimed_at)


class LostClaim(Exception):
    """The sweeper gave the record to another worker (this one was taken for dead)."""


class SyncStopped(Exception):
    """A switch or a pause, read under the switch gate right before the POST, stops the record:
    nothing was sent. `detail` says who and when, for the record's log."""

    def __init__(self, verdict: Verdict, detail: str):
        self.verdict = verdict
        self.detail = detail
        super().__init__(detail)


def _waits_for_older(record: SyncRecord, now: datetime) -> bool:
    """Whether an older message of the thread is still on its way to Greenhouse."""
    if record.created_at < now - ORDER_WAIT_MAX:
        return False  # don't wait for ever behind a message stuck in retries
    message = record.message
    older_record = (
        SyncRecord.objects.filter(
            thread_id=record.thread_id, status__in=(Status.PENDING, Status.IN_PROGRESS)
        )
        .exclude(pk=record.pk)
        .filter(_older_than(message, "message__"))
    )
    older_unsent = Message.objects.filter(
        thread_id=record.thread_id,
        direction=Message.Direction.OUTBOUND,
        status__in=(Message.Status.QUEUED, Message.Status.SENDING),
    ).filter(_older_than(message))
    return older_record.exists() or older_unsent.exists()


def _wake_next_in_thread(claim: Claim) -> None:
    """After a record is done, the next of its thread may go: the team's lane is woken (once,
    however many records end), unless the team's batch is writing it and looks again itself."""
    if claim.in_batch:
        return
    record = claim.record
    following = (
        SyncRecord.objects.filter(thread_id=record.thread_id, status=Status.PENDING)
        .exclude(pk=record.pk)
        .order_by("message__created_at", "message_id")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        sync_lane_wake_on_commit(team_id=record.team_id)


def sync_record_write(*, record_id: int) -> str:
    """Write one record's note, at most once. Safe to call any number of times for the same id.
    Returns what happened (for logs and tests)."""
    now = timezone.now()
    record = SyncRecord.objects.select_related("message").filter(pk=record_id).first()
    if record is None or record.status != Status.PENDING:
        return "not pending"
    if record.next_attempt_at and record.next_attempt_at > now:
        SyncRecord.release(pk=record_id)  # the sweep queues it when it is due
        return "not due"
    if _waits_for_older(record, now):
        SyncRecord.release(pk=record_id)
        return "waiting"  # woken by the older record, or by the sweeper
    if SyncRecord.claim(pk=record_id, now=now) is None:
        return "claimed elsewhere"
    record = SyncRecord.objects.select_related(
        "message__sender", "thread__owner", "thread__virtual_number", "prospect"
    ).get(pk=record_id)
    return _write_claimed(Claim(record=record, claimed_at=now))


def _write_claimed(claim: Claim) -> str:
    """Write a claimed record (by `sync_record_write` or the team's batch), turning every error
    into the record's outcome."""
    try:
        return _write(claim)
    except Exception as exc:
        return _write_error_outcome(claim, exc)


def _write_error_outcome(claim: Claim, exc: Exception) -> str:
    """What an error raised while writing a claimed record makes of it (the careful path's
    and the batch's fast path's, fastpath.py)."""
    record_id = claim.record.pk
    if isinstance(exc, LostClaim):
        logger.warning("Sync record %s was taken over by another worker", record_id)
        return "lost claim"
    if isinstance(exc, SyncStopped):
        return _stopped(claim, exc)
    if isinstance(exc, (HarvestError, crypto.SecretDecryptionError)):
        return _harvest_failure(claim, exc)
    if isinstance(exc, (DatabaseError, RedisError, OSError)):
        # This server's own database, cache or files (the rate budget's): transient.
        logger.error("Sync record %s: this server's storage failed", record_id, exc_info=exc)
        return _retry_later(
            claim, f"This server's database or cache failed ({type(exc).__name__})."
        )
    # Not a Greenhouse answer nor a known condition: a bug here. Running the same code again
    # cannot help, so it fails at once, saying what broke (support retries it once the bug is
    # fixed); the traceback goes to the log.
    logger.error("Bug: unclassified error while writing sync record %s", record_id, exc_info=exc)
    return _fail(claim, _bug_reason(exc))


def _bug_reason(exc: BaseException) -> str:
    """Where the bug is, in plain words. The exception's message is not repeated: it may hold
    anything (a header, a token), and the log has it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        frame = frames[-1]
        path = Path(frame.filename)
        with contextlib.suppress(ValueError):
            path = path.relative_to(settings.BASE_DIR)
        where = f" in {path}, line {frame.lineno} ({frame.name})"
    return (
        f"A bug in Outreach stopped this note: {type(exc).__name__}{where}. The traceback is in "
        "the server log; retry the record once the bug is fixed."
    )


def _harvest_failure(claim: Claim, exc: HarvestError | crypto.SecretDecryptionError) -> str:
    """What an error means for this record, by whom it is about (harvest/errors.py `scope_of`):
    only an error about the connection holds the team's other records."""
    scope = scope_of(exc)
    status = getattr(exc, "status", None)
    if isinstance(exc, HarvestRateLimited) and exc.status is None:
        return _defer(claim, exc.retry_after)  # the budget had no slot: nothing was sent
    if isinstance(exc, HarvestRateLimited):
        return _retry_later(claim, exc.message, at_least=exc.retry_after, http_status=status)
    if scope in (Scope.UNREACHABLE, Scope.AMBIGUOUS, Scope.RATE_LIMITED):
        assert isinstance(exc, HarvestError)
        return _retry_later(claim, exc.message, http_status=status, outage=True)
    message = harvest_error_in_plain_words(exc, integration=claim.integration)
    if scope == Scope.CONNECTION:
        # The connection is broken for every record of the team: flag it and hold this one
        # (held records go out once the connection works again; nothing is lost).
        if claim.integration is not None:
            greenhouse_integration_record_check(integration=claim.integration, error=message)
        _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=message, http_status=status)
        return _settle(claim, Verdict(Decision.HOLD, Reason.CONNECTION_UNHEALTHY), error=message)
    # About this record's candidate or note only: it fails with the reason, the others go on.
    if isinstance(exc, HarvestValidationError):
        message = exc.message
    return _fail(claim, f"Greenhouse refused the note: {message}", http_status=status)


def _switch_check(claim: Claim) -> None:
    """Raise SyncStopped when the team's switches or the candidate's pause stop the record now
    (read fresh from the database; under the switch gate nothing can change them meanwhile)."""
    record = claim.record
    integration = (
        GreenhouseIntegration.objects.select_related("sync_changed_by", "sync_enabled_by")
        .filter(team_id=record.team_id)
        .first()
    )

    def when(at) -> str:
        return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}" if at else "an unknown time"

    if integration is None or not integration.sync_enabled_by_support:
        who = integration.sync_enabled_by if integration else None
        at = integration.sync_enabled_at if integration else None
        raise SyncStopped(
            Verdict(Decision.SKIP, Reason.TEAM_NOT_ENABLED),
            f"Stopped before writing: sync disabled for the team by {who or 'support'} at "
            f"{when(at)}.",
        )
    if not integration.sync_on:
        changed_by = integration.sync_changed_by
        raise SyncStopped(
            Verdict(Decision.SKIP, Reason.SYNC_TURNED_OFF),
            f"Stopped before writing: sync turned off by {changed_by or 'a team admin'} at "
            f"{when(integration.sync_changed_at)}.",
        )
    pause = (
        ProspectSyncPause.objects.select_related("paused_by")
        .filter(prospect_id=record.prospect_id, paused=True)
        .first()
    )
    if pause is not None:
        raise SyncStopped(
            Verdict(Decision.SKIP, Reason.CANDIDATE_PAUSED),
            f"Stopped before writing: paused for this candidate by "
            f"{pause.paused_by or 'a recruiter'} at {when(pause.paused_at)}.",
        )


def _stopped(claim: Claim, exc: SyncStopped) -> str:
    if claim.attempt is None:  # stopped before its POST's log row: the log still says so
        _attempt_start(claim, SyncAttempt.Kind.POST)
    _attempt_finish(claim, SyncAttempt.Outcome.STOPPED, error=exc.detail)
    logger.info("Sync record %s: %s", claim.record.pk, exc.detail)
    if claim.posted_before:
        # An earlier attempt may have written it: read back before calling it skipped.
        return _skip_after_possible_post(claim, exc.verdict)
    claim.mine().update(post_started_at=None)  # this attempt sent nothing
    return _settle(claim, exc.verdict, error=exc.detail)


def _write(claim: Claim) -> str:
    record = claim.record
    message = record.message
    message.thread = record.thread
    integration = GreenhouseIntegration.objects.filter(team_id=record.team_id).first()
    claim.integration = integration
    facts = _facts(message=message, integration=integration, paused=_is_paused(record.prospect_id))
    verdict = decide(facts)
    if verdict.decision == Decision.SKIP and _may_have_posted(record):
        return _skip_after_possible_post(claim, verdict)
    if verdict.decision != Decision.SYNC:
        return _settle(claim, verdict)
    assert integration is not None  # decide() syncs only over a connection

    # Between the heartbeat below and the end of the POST a worker spends at most both
    # timeouts (it never waits for the rate budget: `_defer`), well under STALE_AFTER.
    client = harvest_client_build(integration=integration, max_rate_wait=0)
    match, candidate_id = _candidate_resolve(claim, client)
    verdict = decide(replace(facts, candidate_match=match))
    if verdict.decision != Decision.SYNC:
        return _settle(claim, verdict)
    assert candidate_id is not None  # decide() syncs only to a candidate found

    if record.post_started_at is not None and record.note_id is None:
        # An earlier attempt may have written the note: look before posting again.
        note_id = _read_back(claim, client, candidate_id)
        if note_id is not None:
            return _mark_written(claim, verdict, note_id=note_id, candidate_id=candidate_id)

    author = record.message.sender if record.message.sender_id else record.thread.owner
    user_id = greenhouse_user_id_for(integration=integration, user=author) if author else None
    # Not mapped: Greenhouse names the acting user as author, so the body names the recruiter.
    content = _note_content(record, unmapped_author=author if user_id is None else None)
    claim.posted_before = record.post_started_at is not None

    def post(candidate_id: int) -> dict:
        return client.note_create(
            candidate_id=candidate_id,
            visibility=integration.note_visibility or NoteVisibility.PUBLIC,
            user_id=user_id,
            guard=lambda: _post_guard(claim, candidate_id),
            **content.as_kwargs(),
        )

    try:
        note = post(candidate_id)
    except HarvestResourceNotFound as exc:
        # The candidate was merged away or deleted: forget the link and look the prospect up
        # again by email, which finds the candidate it was merged into.
        _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=exc.message, http_status=404)
        if not claim.posted_before:
            claim.mine().update(post_started_at=None)  # Greenhouse wrote nothing
        match, found = _candidate_resolve(claim, client, gone=candidate_id)
        verdict = decide(replace(facts, candidate_match=match))
        if verdict.decision != Decision.SYNC:
            return _settle(claim, verdict, error=exc.message)
        assert found is not None
        logger.info("Sync record %s: candidate %s is now %s", record.pk, candidate_id, found)
        candidate_id = found
        note = post(candidate_id)
    _attempt_finish(claim, SyncAttempt.Outcome.OK, http_status=201)
    return _mark_written(claim, verdict, note_id=int(note["id"]), candidate_id=candidate_id)


@contextmanager
def _post_guard(claim: Claim, candidate_id: int) -> Iterator[None]:
    """Entered by the client after every wait, right before each send of the POST."""
    _switch_check(claim)
    # The log row and the heartbeat are committed before the POST (healthchecks' "log row
    # before the side effect"): whoever finds this record later knows a note may exist.
    now = timezone.now()
    if not claim.mine().update(post_started_at=now, claimed_at=now, candidate_id=candidate_id):
        raise LostClaim
    claim.claimed_at = now
    if claim.attempt is None:
        _attempt_start(claim, SyncAttempt.Kind.POST)
    # A switch that committed after the check above is seen here; one that comes later waits
    # until Greenhouse has answered (apps/greenhouse/gate.py).
    with switch_gate_shared(team_id=claim.record.team_id):
        _switch_check(claim)
        yield


def _may_have_posted(record: SyncRecord) -> bool:
    return record.post_started_at is not None and record.note_id is None


def _skip_after_possible_post(claim: Claim, verdict: Verdict) -> str:
    """Sync was turned off or the candidate paused after an attempt that may have written the
    note. The record must say what Greenhouse holds, so look before calling it skipped."""
    record = claim.record
    # The POST's heartbeat sets candidate_id: without one, no note was written for a candidate.
    if claim.integration is None or record.candidate_id is None:
        return _settle(claim, verdict)
    try:
        client = harvest_client_build(integration=claim.integration, max_rate_wait=0)
        note_id = _read_back(claim, client, record.candidate_id)
    except HarvestRateLimited as exc:
        if exc.status is None:
            raise  # no slot for the read-back now: deferred, still to be checked
        return _settle_unchecked(claim, verdict, exc)
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        return _settle_unchecked(claim, verdict, exc)
    if note_id is None:
        return _settle(claim, verdict)
    written = Verdict(Decision.SYNC, Reason(record.reason))
    return _mark_written(claim, written, note_id=note_id, candidate_id=record.candidate_id)


def _settle_unchecked(claim: Claim, verdict: Verdict, exc: Exception) -> str:
    _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=str(exc))
    return _settle(
        claim,
        verdict,
        error=f"An earlier attempt may have written this note; it could not be checked: {exc}",
    )


def _note_content(record: SyncRecord, *, unmapped_author=None) -> NoteContent:
    message = record.message
    sender = ""
    if unmapped_author is not None:
        name = unmapped_author.get_full_name() or unmapped_author.get_username()
        sender = sender_line(name=name, email=unmapped_author.email, direction=message.direction)
    if message.channel == Channel.SMS:
        return sms_note(
            from_number=message.from_address,
            to_number=(message.to_addresses or [""])[0],
            direction=message.direction,
            text=message.body_text,
            reference=record.note_ref,
            sender=sender,
        )
    owner_email = record.thread.owner.email

    def visible(address: str) -> str:
        # A reply went to the thread's signed reply address; Greenhouse shows the recruiter.
        thread_id, _ = thread_id_from_reply_address(address)
        return owner_email if thread_id is not None and owner_email else address

    return email_note(
        subject=message.subject or record.thread.subject,
        from_address=message.from_address,
        to=[visible(a) for a in message.to_addresses],
        cc=[visible(a) for a in message.cc_addresses],
        body_text=message.body_text,
        body_html=message.body_html,
        reference=record.note_ref,
        sender=sender,
    )


def _read_back(claim: Claim, client: HarvestClient, candidate_id: int) -> int | None:
    _attempt_start(claim, SyncAttempt.Kind.READ_BACK)
    notes = client.notes_for_candidate(candidate_id)
    found = next((n for n in notes if note_has_reference(n, claim.record.note_ref)), None)
    outcome = SyncAttempt.Outcome.FOUND if found else SyncAttempt.Outcome.NOT_FOUND
    _attempt_finish(claim, outcome, http_status=200)
    return int(found["id"]) if found else None


# --- Outcomes ----------------------------------------------------------------------------------


def _attempt_start(claim: Claim, kind: str) -> None:
    claim.attempt = SyncAttempt.objects.create(record_id=claim.record.pk, kind=kind)


def _attempt_finish(claim: Claim, outcome: str, *, http_status=None, error: str = "") -> None:
    if claim.attempt is None:
        return
    SyncAttempt.objects.filter(pk=claim.attempt.pk).update(
        outcome=outcome, http_status=http_status, error=error[:2000], finished_at=timezone.now()
    )
    claim.attempt = None


def _mark_written(claim: Claim, verdict: Verdict, *, note_id: int, candidate_id: int) -> str:
    from .bot_notice import bot_notice_queue

    with transaction.atomic():
        updated = claim.mine().update(
            status=Status.WRITTEN,
            reason=verdict.reason,
            note_id=note_id,
            candidate_id=candidate_id,
            written_at=timezone.now(),
            next_attempt_at=None,
            last_error="",
        )
        if not updated:
            # Taken over meanwhile: the other worker reads the note back and records it.
            raise LostClaim
        bot_notice_queue(thread=claim.record.thread)
        _wake_next_in_thread(claim)
    return "written"


def _settle(claim: Claim, verdict: Verdict, *, error: str = "") -> str:
    """Skipped or held by the policy (the explanation comes from the reason)."""
    status = _verdict_status(verdict)
    with transaction.atomic():
        claim.mine().update(
            status=status, reason=verdict.reason, next_attempt_at=None, last_error=error[:2000]
        )
        _wake_next_in_thread(claim)
    return status


def _fail(claim: Claim, reason: str, *, http_status=None) -> str:
    _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=reason, http_status=http_status)
    with transaction.atomic():
        claim.mine().update(status=Status.FAILED, next_attempt_at=None, last_error=reason[:2000])
        _wake_next_in_thread(claim)
    logger.warning("Sync record %s failed: %s", claim.record.pk, reason)
    return "failed"


def _hold_for_outage(claim: Claim, reason: str) -> str:
    first_failure = (
        SyncAttempt.objects.filter(record_id=claim.record.pk, outcome=SyncAttempt.Outcome.RETRY)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    integration = claim.integration
    since = (integration.unreachable_since if integration else None) or first_failure
    since = since or timezone.now()
    error = (
        f"Greenhouse unreachable since {timezone.localtime(since):%Y-%m-%d %H:%M %Z}: {reason} "
        "Held; written in order once Greenhouse answers again."
    )
    if integration is not None:
        greenhouse_integration_record_check(integration=integration, error=error, unreachable=True)
        GreenhouseIntegration.objects.filter(pk=integration.pk).update(unreachable_since=since)
    logger.warning("Sync record %s held: %s", claim.record.pk, error)
    return _settle(claim, Verdict(Decision.HOLD, Reason.GREENHOUSE_UNREACHABLE), error=error)


def _defer(claim: Claim, seconds: float) -> str:
    """The credential's rate budget has no slot for this record now (harvest/ratelimit.py
    `try_acquire`): nothing was sent by this attempt, so it goes back to pending, due at the
    slot, with no attempt counted and no backoff, and the worker takes other work. The
    `post_started_at` of an earlier attempt is kept (the read-back still comes first)."""
    _attempt_finish(
        claim, SyncAttempt.Outcome.RETRY, error="Not sent: waiting for Greenhouse's rate allowance."
    )
    next_at = timezone.now() + timedelta(seconds=max(0.0, seconds))
    values: dict = {
        "status": Status.PENDING,
        "claimed_at": None,
        "next_attempt_at": next_at,
        "queued_at": None,
        "attempts": F("attempts") - 1,
    }
    if claim.record.post_started_at is None:
        values["post_started_at"] = None  # a heartbeat of this attempt, which sent nothing
    if not claim.mine().update(**values):
        return "lost claim"  # taken over meanwhile: the other worker goes on
    claim.deferred_until = next_at
    if not claim.in_batch:
        sync_lane_wake_on_commit(team_id=claim.record.team_id, at=next_at)
    return "deferred"


def _retry_later(
    claim: Claim, reason: str, *, at_least: float = 0.0, http_status=None, outage: bool = False
) -> str:
    """`outage`: Greenhouse (or the network) did not answer. Once the retries are used up the
    record is held, not failed (an outage is not a property of a message), and the connection
    says since when Greenhouse is unreachable, which holds the team's other records too."""
    _attempt_finish(claim, SyncAttempt.Outcome.RETRY, error=reason, http_status=http_status)
    attempts = claim.record.attempts
    next_at = SyncRecord.retry_later(
        pk=claim.record.pk,
        claimed_at=claim.claimed_at,
        attempts=attempts,
        reason=reason,
        at_least=timedelta(seconds=at_least),
    )
    if next_at is None and outage:
        return _hold_for_outage(claim, reason)
    if next_at is None:
        return _fail(claim, SyncRecord.gave_up_error(attempts, reason))
    logger.info("Sync record %s retries at %s: %s", claim.record.pk, next_at, reason)
    return "retry"
