"""Creating a message's sync record, inside the transaction that recorded the message.

`sync_record_create` runs on the messaging app's `message_recorded` signal: one SyncRecord per
message that went out or came in, with the policy's verdict on local facts; a pending one wakes
the team's lane on commit (lanes.py: one task per team on its way). It never breaks sending or
receiving: a failure is logged and the sweeper creates the records that are missing."""

import logging
from dataclasses import replace

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.messaging.models import Message

from .exclusion_services import exclusion_detail
from .facts import Status, _facts, _is_paused, _verdict_status
from .lanes import sync_lane_wake_on_commit
from .models import (
    GreenhouseIntegration,
    SyncRecord,
)
from .notes import (
    note_reference,
)
from .policy import Decision, Reason, Review, decide
from .sensitive_review import message_matches, review_rules_for, sensitive_review_open
from .transcripts import transcript_quiet, transcript_record_joined

# One logger for the whole sync, as before it was split into modules.
logger = logging.getLogger("apps.greenhouse.sync")


def _is_recordable(message: Message) -> bool:
    """Only what actually went out or came in becomes a record."""
    if message.direction == Message.Direction.OUTBOUND:
        return message.status in (Message.Status.SENT, Message.Status.DELIVERED)
    return message.status == Message.Status.RECEIVED


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
    facts = _facts(
        message=message,
        integration=integration,
        paused=_is_paused(thread.prospect_id),
        review=Review.NOT_NEEDED,
    )
    verdict = decide(facts)
    # Sensitive words: whatever would be written (now or once a hold ends) waits for review.
    rules = review_rules_for(integration) if verdict.decision != Decision.SKIP else None
    matched = message_matches(message, rules)
    if matched:
        verdict = decide(replace(facts, review=Review.PENDING))
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
                reason_detail=exclusion_detail(message, verdict.reason),
            )
    except IntegrityError:
        return SyncRecord.objects.get(message_id=message.pk)  # created at the same moment
    record.note_ref = note_reference(record.pk)
    SyncRecord.objects.filter(pk=record.pk).update(note_ref=record.note_ref)
    if matched:
        assert rules is not None
        sensitive_review_open(record=record, matched=matched, rules=rules)
    quiet = transcript_quiet(integration)
    if pending and quiet and verdict.reason == Reason.SMS_TRANSCRIPT:
        # The conversation's SMS wait for it to be quiet, then make one note (transcripts.py).
        due = transcript_record_joined(record=record, quiet=quiet, now=timezone.now())
        sync_lane_wake_on_commit(team_id=record.team_id, at=due)
    elif pending:
        sync_lane_wake_on_commit(team_id=record.team_id)  # the team's one wake-up (lanes.py)
    return record
