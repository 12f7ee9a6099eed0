"""What the policy is told about a record (policy.py decides): the facts read from the database,
and whether an older message of the record's thread is still on its way (notes of a thread reach
Greenhouse in message order, waiting at most ORDER_WAIT_MAX behind a stuck one).

Shared by the creation of records (records.py), the careful writer (writer.py) and the batch's
fast path (fastpath.py, which loads the same facts for a whole batch at once)."""

import logging
from datetime import datetime, timedelta

from django.db.models import Q

from apps.messaging.models import Message
from apps.teams.bcc import has_greenhouse_maildrop

from .models import (
    GreenhouseIntegration,
    MaildropOverlap,
    ProspectSyncPause,
    SyncRecord,
)
from .policy import Decision, Reason, SyncFacts, Verdict

# One logger for the whole sync, as before it was split into modules.
logger = logging.getLogger("apps.greenhouse.sync")

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
        sms_transcript=bool(integration and integration.sms_transcript_quiet_seconds),
    )


def _is_paused(prospect_id: int) -> bool:
    return ProspectSyncPause.objects.filter(prospect_id=prospect_id, paused=True).exists()


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
