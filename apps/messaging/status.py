"""Provider status callbacks move a message forward, never backwards (a late "sent" never
overwrites "delivered"). The ESP's tracking events are mapped here; Twilio's status map is the
SMS vendor's (sms/twilio.py), which calls `status_advance` too.
"""

import logging

from django.db import transaction

from .models import Channel, Message
from .outbound import announce_recorded

logger = logging.getLogger(__name__)


# Status order for provider callbacks: a late "sent" never overwrites "delivered".
STATUS_RANK: dict[str, int] = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.BOUNCED: 4,
    Message.Status.FAILED: 4,
}


def status_advance(*, channel: str, provider_id: str, status: str, error: str = "") -> bool:
    """Move a message forward to `status`, never backwards (a late "sent" after "delivered")."""
    lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    fields = {"status": status}
    if error:
        fields["error"] = error[:2000]
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(
                channel=channel,
                direction=Message.Direction.OUTBOUND,
                provider_message_id=provider_id,
                status__in=lower,
            )
            .first()
        )
        if message is None:
            return False
        Message.objects.filter(pk=message.pk).update(**fields)
        if status == Message.Status.SENT:
            message.refresh_from_db()
            announce_recorded(message, created=False)
    return True


ANYMAIL_EVENT_STATUS = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "bounced": Message.Status.BOUNCED,
    "rejected": Message.Status.FAILED,
    "failed": Message.Status.FAILED,
}


def email_tracking_record(*, event, esp_name: str = "") -> bool:
    """Anymail tracking event -> message status. Other event types (opened, clicked) are ignored."""
    status = ANYMAIL_EVENT_STATUS.get(event.event_type)
    if status is None or event.message_id in (None, ""):
        return False
    error = ""
    if status in (Message.Status.BOUNCED, Message.Status.FAILED):
        detail = event.description or event.mta_response or event.reject_reason or ""
        error = f"{esp_name or 'ESP'} reported {event.event_type}: {detail}".strip().rstrip(":")
    return status_advance(
        channel=Channel.EMAIL, provider_id=str(event.message_id), status=status, error=error
    )
