"""What becomes of a claimed record: the claim itself (`Claim`, held while `claimed_at` is this
worker's), the sync log's attempt rows, and each end a write can have: written, settled by the
policy (skipped or held), failed, held for an outage, deferred to the rate budget's next slot
(no attempt counted), or retried later with backoff.

One place for them so the careful writer (writer.py) and the batch's fast path (fastpath.py)
end records the same way; a Greenhouse error is turned into one of them by who it is about
(`_harvest_failure`, harvest/errors.py `scope_of`)."""

import contextlib
import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core import crypto

from .connection import (
    greenhouse_integration_record_check,
    harvest_error_in_plain_words,
)
from .exclusion_services import exclusion_detail
from .facts import Status, _verdict_status
from .harvest.errors import (
    HarvestError,
    HarvestRateLimited,
    HarvestValidationError,
    Scope,
    scope_of,
)
from .lanes import sync_lane_wake_on_commit
from .models import (
    GreenhouseIntegration,
    SyncAttempt,
    SyncRecord,
)
from .policy import Decision, Reason, Verdict

# One logger for the whole sync, as before it was split into modules.
logger = logging.getLogger("apps.greenhouse.sync")


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
        # The budget had no slot, or the candidate directory is not ready: nothing was sent.
        return _defer(claim, exc.retry_after, why=getattr(exc, "waiting_for", ""))
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
        if claim.record.transcript_lead_id == claim.record.pk:
            from .transcripts import transcript_members_written

            transcript_members_written(
                lead=claim.record, note_id=note_id, candidate_id=candidate_id, at=timezone.now()
            )
        bot_notice_queue(thread=claim.record.thread)
        _wake_next_in_thread(claim)
    return "written"


def _settle(claim: Claim, verdict: Verdict, *, error: str = "") -> str:
    """Skipped or held by the policy (the explanation comes from the reason)."""
    status = _verdict_status(verdict)
    with transaction.atomic():
        updated = claim.mine().update(
            status=status,
            reason=verdict.reason,
            reason_detail=exclusion_detail(claim.record.message, verdict.reason),
            next_attempt_at=None,
            last_error=error[:2000],
        )
        if updated and verdict.reason == Reason.NOT_IN_GREENHOUSE_YET:
            # The prospect's scheduled re-lookup, in the transaction that holds the record.
            from .waiting import prospect_lookup_schedule

            record = claim.record
            prospect_lookup_schedule(team_id=record.team_id, prospect_id=record.prospect_id)
        _transcript_release(claim)
        _wake_next_in_thread(claim)
        if verdict.reason == Reason.CANDIDATE_TO_CREATE:
            # The team creates unknown recipients: the prospect's one creation (creation.py).
            from .creation import candidate_create_queue_on_commit

            candidate_create_queue_on_commit(prospect_id=claim.record.prospect_id)
    return status


def _transcript_release(claim: Claim) -> None:
    """A transcript's lead that is not written lets its members be decided again."""
    if claim.record.transcript_lead_id == claim.record.pk:
        from .transcripts import transcript_members_release

        transcript_members_release(lead=claim.record)


def _fail(claim: Claim, reason: str, *, http_status=None) -> str:
    _attempt_finish(claim, SyncAttempt.Outcome.ERROR, error=reason, http_status=http_status)
    with transaction.atomic():
        claim.mine().update(status=Status.FAILED, next_attempt_at=None, last_error=reason[:2000])
        _transcript_release(claim)
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


def _defer(claim: Claim, seconds: float, *, why: str = "") -> str:
    """The credential's rate budget has no slot for this record now (harvest/ratelimit.py
    `try_acquire`), or the team's candidate directory is not ready (`why` says so): nothing
    was sent by this attempt, so it goes back to pending, due at the slot, with no attempt
    counted and no backoff, and the worker takes other work. The `post_started_at` of an
    earlier attempt is kept (the read-back still comes first)."""
    why = why or "waiting for Greenhouse's rate allowance."
    _attempt_finish(claim, SyncAttempt.Outcome.RETRY, error=f"Not sent: {why}")
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
