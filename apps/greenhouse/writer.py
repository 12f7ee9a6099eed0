"""The careful writer: where a claimed record becomes a Greenhouse note, at most once.

`_write_claimed` decides again with fresh facts (switches, pause, connection health, then the
resolved candidate: candidates.py), reads back first when an earlier attempt may have written
the note, and POSTs under the switch gate (gate.py): `post_started_at` and the POST's log row
are committed before the send, and the switches are read again under the gate, so nothing is
written after a switch-off or a pause commits. Every error becomes the record's outcome
(outcomes.py). It serves one record (`sync_record_write`) and whatever a team's batch does not
take through its fast path (batch.py, fastpath.py): lookups, read-backs, errors."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core import crypto
from apps.messaging.addressing import thread_id_from_reply_address
from apps.messaging.models import Channel, Message

from .candidates import candidate_resolve as _candidate_resolve
from .connection import (
    harvest_client_build,
)
from .facts import Status, _facts, _is_paused, _waits_for_older
from .gate import switch_gate_shared
from .harvest.client import HarvestClient
from .harvest.errors import (
    HarvestError,
    HarvestRateLimited,
    HarvestResourceNotFound,
)
from .models import (
    GreenhouseIntegration,
    NoteVisibility,
    ProspectSyncIgnore,
    ProspectSyncPause,
    SensitiveReview,
    SyncAttempt,
    SyncRecord,
)
from .notes import (
    NoteContent,
    dated_line,
    email_note,
    note_has_reference,
    sender_line,
    sms_note,
)
from .outcomes import (
    Claim,
    LostClaim,
    SyncStopped,
    _attempt_finish,
    _attempt_start,
    _bug_reason,
    _defer,
    _fail,
    _harvest_failure,
    _mark_written,
    _retry_later,
    _settle,
)
from .policy import CandidateMatch, Decision, Reason, Review, Verdict, decide
from .selectors import greenhouse_user_id_for
from .transcripts import (
    transcript_collect,
    transcript_content,
    transcript_member_claimed,
    transcript_quiet,
    transcript_wait,
)
from .visibility import VisibilityChanged, thread_note_visibility

# One logger for the whole sync, as before it was split into modules.
logger = logging.getLogger("apps.greenhouse.sync")

# How often a POST chooses its visibility again when it changed under it (visibility.py).
VISIBILITY_TRIES = 3


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
    ignore = (
        ProspectSyncIgnore.objects.select_related("changed_by")
        .filter(prospect_id=record.prospect_id, ignored=True)
        .first()
    )
    if ignore is not None:
        raise SyncStopped(
            Verdict(Decision.SKIP, Reason.PROSPECT_IGNORED),
            f"Stopped before writing: {ignore.changed_by or 'a person'} chose never to sync "
            f"this prospect at {when(ignore.changed_at)}.",
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
    if record.in_transcript and not claim.mine().exists():
        # A batch's copy of a record its transcript's lead has taken meanwhile (transcripts.py).
        return "in a transcript"
    message = record.message
    message.thread = record.thread
    integration = GreenhouseIntegration.objects.filter(team_id=record.team_id).first()
    claim.integration = integration
    facts = _facts(
        message=message,
        integration=integration,
        paused=_is_paused(record.prospect_id),
        backfill=record.backfill_id is not None,
    )
    verdict = decide(facts)
    if verdict.decision == Decision.SKIP and _may_have_posted(record):
        return _skip_after_possible_post(claim, verdict)
    if verdict.decision != Decision.SYNC:
        return _settle(claim, verdict)
    assert integration is not None  # decide() syncs only over a connection
    members: list[SyncRecord] | None = None
    quiet = transcript_quiet(integration)
    if record.in_transcript and record.transcript_lead_id not in (None, record.pk):
        outcome = transcript_member_claimed(claim)  # in another record's transcript
        if outcome is not None:
            return outcome
    if record.in_transcript and (quiet or record.transcript_lead_id == record.pk):
        # One note for the conversation's burst, once it has been quiet (transcripts.py).
        collected = transcript_collect(claim, quiet, timezone.now())
        if not isinstance(collected, list):
            return transcript_wait(claim, collected)
        members = collected

    # Between the heartbeat below and the end of the POST a worker spends at most both
    # timeouts (it never waits for the rate budget: `_defer`), well under STALE_AFTER.
    client = harvest_client_build(integration=integration, max_rate_wait=0)
    match, candidate_id = _candidate_resolve(claim, client)
    verdict = decide(replace(facts, candidate_match=match))
    if verdict.decision != Decision.SYNC:
        return _settle(claim, verdict)
    assert candidate_id is not None  # decide() syncs only to a candidate found
    if match == CandidateMatch.ONE and _older_ones_waited(claim):
        # Its prospect's earlier messages waited for this candidate ("not in Greenhouse yet"):
        # they are pending again now, and go first, in message order.
        return _defer(claim, 0.0)

    if record.post_started_at is not None and record.note_id is None:
        # An earlier attempt may have written the note: look before posting again.
        note_id = _read_back(claim, client, candidate_id)
        if note_id is not None:
            return _mark_written(claim, verdict, note_id=note_id, candidate_id=candidate_id)

    author = _author(record)
    user_id = greenhouse_user_id_for(integration=integration, user=author) if author else None
    # Not mapped: Greenhouse names the acting user as author, so the body names the recruiter.
    content = _note_content(
        record,
        unmapped_author=author if user_id is None else None,
        edited_text=_edited_text(record.pk) if facts.review == Review.APPROVED else "",
        members=members,
    )
    claim.posted_before = record.post_started_at is not None

    def post(candidate_id: int) -> dict:
        # The one rule (visibility.py), read again under the switch gate right before sending.
        for tries_left in reversed(range(VISIBILITY_TRIES)):
            visibility = thread_note_visibility(
                thread_id=record.thread_id, team_default=_team_visibility(record.team_id)
            )
            try:
                return client.note_create(
                    candidate_id=candidate_id,
                    visibility=visibility,
                    user_id=user_id,
                    guard=partial(_post_guard, claim, candidate_id, visibility=visibility),
                    **content.as_kwargs(),
                )
            except VisibilityChanged:
                if not tries_left:
                    raise
        raise AssertionError("unreachable")

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


def _team_visibility(team_id: int) -> str:
    team = GreenhouseIntegration.objects.filter(team_id=team_id).values_list(
        "note_visibility", flat=True
    )
    return team.first() or NoteVisibility.PUBLIC


@contextmanager
def _post_guard(claim: Claim, candidate_id: int, *, visibility: str = "") -> Iterator[None]:
    """Entered by the client after every wait, right before each send of the POST."""
    _switch_check(claim)
    # The log row and the heartbeat are committed before the POST (healthchecks' "log row
    # before the side effect"): whoever finds this record later knows a note may exist (and
    # with which visibility: a read-back finds the note this POST sends).
    now = timezone.now()
    started = {"post_started_at": now, "claimed_at": now, "candidate_id": candidate_id}
    if visibility:
        started["visibility"] = visibility
    if not claim.mine().update(**started):
        raise LostClaim
    claim.claimed_at = now
    if claim.attempt is None:
        _attempt_start(claim, SyncAttempt.Kind.POST)
    # A switch that committed after the check above is seen here; one that comes later waits
    # until Greenhouse has answered (apps/greenhouse/gate.py).
    with switch_gate_shared(team_id=claim.record.team_id):
        _switch_check(claim)
        if visibility and visibility != thread_note_visibility(
            thread_id=claim.record.thread_id, team_default=_team_visibility(claim.record.team_id)
        ):
            raise VisibilityChanged  # nothing sent: `post` chooses again
        yield


def _older_ones_waited(claim: Claim) -> bool:
    """Release the prospect's messages that wait for a candidate (waiting.py); True when one of
    them is older than this record's message, which must then wait its turn."""
    from .waiting import prospect_waiting_release, waiting_records

    record = claim.record
    waiting = waiting_records(record.prospect_id)
    if not waiting.exists():
        return False
    older = waiting.filter(message__created_at__lte=record.message.created_at).exists()
    prospect_waiting_release(prospect_id=record.prospect_id)
    return older


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


def _author(record: SyncRecord):
    """Whom the note is by: the message's sender, else the thread's owner (an inbound reply)."""
    return record.message.sender if record.message.sender_id else record.thread.owner


def _edited_text(record_id: int) -> str:
    """The note text the recruiter wrote when approving a sensitive message (review.py)."""
    return (
        SensitiveReview.objects.filter(record_id=record_id, state=Review.APPROVED)
        .values_list("edited_text", flat=True)
        .first()
        or ""
    )


def _note_content(
    record: SyncRecord,
    *,
    unmapped_author=None,
    edited_text: str = "",
    members: list[SyncRecord] | None = None,
) -> NoteContent:
    """`edited_text`: the reviewer's text for the note, in place of the message's (the header
    lines, the sender line and the reference line stay).
    `members`: the records of an SMS transcript the record leads (transcripts.py)."""
    message = record.message
    sender = ""
    if unmapped_author is not None:
        name = unmapped_author.get_full_name() or unmapped_author.get_username()
        sender = sender_line(name=name, email=unmapped_author.email, direction=message.direction)
    if members is not None:
        return transcript_content(members, reference=record.note_ref, sender=sender)
    dated = ""
    # When it went out or came in (the message's own time, else when it was recorded).
    at = (
        message.sent_at if message.direction == Message.Direction.OUTBOUND else message.received_at
    ) or message.created_at
    if timezone.now() - at >= timedelta(seconds=settings.GREENHOUSE_NOTE_DATED_AFTER):
        dated = dated_line(at=at, direction=message.direction)
    if message.channel == Channel.SMS:
        return sms_note(
            from_number=message.from_address,
            to_number=(message.to_addresses or [""])[0],
            direction=message.direction,
            text=edited_text or message.body_text,
            reference=record.note_ref,
            sender=sender,
            dated=dated,
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
        body_text=edited_text or message.body_text,
        body_html="" if edited_text else message.body_html,
        reference=record.note_ref,
        sender=sender,
        dated=dated,
        # A reply (the candidate's, or the recruiter's answer in the thread) may quote; a
        # sequence's steps are written as composed, follow-ups in the thread included.
        reply=not message.is_outbound
        or (message.sequence_step_id is None and bool(message.in_reply_to)),
    )


def _read_back(claim: Claim, client: HarvestClient, candidate_id: int) -> int | None:
    _attempt_start(claim, SyncAttempt.Kind.READ_BACK)
    notes = client.notes_for_candidate(candidate_id)
    found = next((n for n in notes if note_has_reference(n, claim.record.note_ref)), None)
    outcome = SyncAttempt.Outcome.FOUND if found else SyncAttempt.Outcome.NOT_FOUND
    _attempt_finish(claim, outcome, http_status=200)
    return int(found["id"]) if found else None
