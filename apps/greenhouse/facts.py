"""What the policy is told about a record (policy.py decides): the facts read from the database,
and whether an older message of the record's thread is still on its way (notes of a thread reach
Greenhouse in message order, waiting at most ORDER_WAIT_MAX behind a stuck one).

Shared by the creation of records (records.py), the careful writer (writer.py) and the batch's
fast path (fastpath.py, which loads the same facts for a whole batch at once)."""

import logging
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from apps.messaging.models import Message
from apps.teams.bcc import has_greenhouse_maildrop

from .exclusion_services import message_exclusion
from .exclusions import ExclusionRules
from .models import (
    GreenhouseIntegration,
    MaildropOverlap,
    ProspectSyncIgnore,
    ProspectSyncPause,
    SensitiveReview,
    SyncRecord,
)
from .policy import Decision, Reason, Review, SyncFacts, UnknownRecipients, Verdict

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
    backfill: bool = False,
    now: datetime | None = None,
    ignored: bool | None = None,
    exclusion_rules: ExclusionRules | None = None,
    review: Review | None = None,
) -> SyncFacts:
    """`earlier_inbound`, `ignored`, `exclusion_rules` (the team's exclusions), `review`: given
    when already known (the batch's fast path loads them once for all its records).
    `backfill`: a backfill released the record (its `backfill` is set, backfill.py).
    `now`: the moment the waiting window is measured at (issue 15), the current time by default."""
    thread = message.thread
    if earlier_inbound is None:
        earlier_inbound = (
            Message.objects.filter(thread_id=thread.pk, direction=Message.Direction.INBOUND)
            .filter(_older_than(message))
            .exists()
        )
    if review is None:
        review = _review_state(message.pk)
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
        backfill=backfill,
        unknown_recipients=(
            UnknownRecipients(integration.unknown_recipients)
            if integration is not None
            else UnknownRecipients.SKIP
        ),
        waiting_expired=_waiting_expired(message, integration, now),
        prospect_ignored=_is_ignored(thread.prospect_id) if ignored is None else ignored,
        exclusion=message_exclusion(message, exclusion_rules).kind,
        review=review,
        sms_transcript=bool(integration and integration.sms_transcript_quiet_seconds),
    )


def _waiting_expired(
    message: Message, integration: GreenhouseIntegration | None, now: datetime | None
) -> bool:
    """Whether the message is older than the team's waiting window (issue 15): a prospect not
    in Greenhouse by then is not waited for any longer."""
    if integration is None:
        return False
    now = now or timezone.now()
    return message.created_at < now - timedelta(days=integration.waiting_days)


def _is_ignored(prospect_id: int) -> bool:
    """A person chose "never sync this prospect" in the review queue."""
    return ProspectSyncIgnore.objects.filter(prospect_id=prospect_id, ignored=True).exists()


def _review_state(message_id: int) -> Review:
    """Where the message's review of sensitive words stands (review.py); none: not needed."""
    state = (
        SensitiveReview.objects.filter(record__message_id=message_id)
        .values_list("state", flat=True)
        .first()
    )
    return Review(state or Review.NOT_NEEDED)


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
