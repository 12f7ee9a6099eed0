"""Delivery: hand a queued message to Anymail or the SMS backend, once, and record the outcome.

`message_deliver` claims the row (queued -> sending, one conditional UPDATE, so a redelivered task
or a second worker does nothing), sends it, and records "sent" with the provider's id, "failed"
with a plain reason, or back to "queued" with `next_attempt_at` for a transient error. Retries
wait in the database, not in the broker; `messages_sweep` (beat) queues them when due and rescues
rows whose wake-up was lost or whose worker died mid-send. Claim, backoff, lease and sweep are the
shared outbox's (apps/core/outbox.py); this module decides what an error means.
"""

import logging
import smtplib
from datetime import datetime, timedelta
from email.errors import MessageError

from anymail.exceptions import AnymailAPIError, AnymailError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.core import outbox
from apps.core.text import has_control_characters

from .addressing import (
    reply_address,
)
from .models import Channel, Message
from .outbound import announce_recorded, sms_allowed_check
from .sms import SmsError, get_sms_backend

logger = logging.getLogger(__name__)


# Longer than the Celery hard time limit: a row still "sending" after this lost its worker.
SENDING_STALE_AFTER = timedelta(minutes=10)


class PermanentSendError(Exception):
    """No retry can fix it (invalid address, opted out, rejected by the provider)."""


class TransientSendError(Exception):
    """Worth trying again later (provider down, timeout, rate limited)."""


def message_deliver(*, message_id: int) -> str:
    """Send one queued outbound message. Safe to call any number of times for the same id."""
    if Message.claim(pk=message_id) is None:
        Message.release(pk=message_id)  # not due yet: the sweep queues it when it is
        return "skipped"  # sent, failed, claimed by another worker, or not due yet
    message = Message.objects.select_related("thread").get(pk=message_id)
    try:
        if message.channel == Channel.EMAIL:
            provider_id = _send_email(message)
        else:
            provider_id = _send_sms(message)
    except PermanentSendError as exc:
        _mark_failed(message, str(exc))
        return "failed"
    except TransientSendError as exc:
        return _retry_later(message, str(exc))
    _mark_sent(message, provider_id)
    return "sent"


def _describe(exc: Exception) -> str:
    try:
        return str(exc)
    except Exception:  # Anymail's __str__ needs a response object, absent for some errors
        text = " ".join(str(arg) for arg in exc.args)
        status = getattr(exc, "status_code", None)
        return f"{text} (HTTP {status})" if status else text


def _header_problem(message: Message, headers: dict[str, str]) -> str:
    """Why `message` cannot be put into email headers, in words; "" when it can.

    Forms refuse control characters and rendering strips them, but a row can be written some
    other way. Sending it would raise BadHeaderError (or worse, reach an ESP that folds the line
    break into a new header); no retry can fix it, so it is a permanent failure, said plainly.
    """
    fields = (
        ("subject", [message.subject]),
        ("sender (From)", [message.from_address]),
        ("recipient list", [*message.to_addresses, *message.cc_addresses, *message.bcc_addresses]),
        ("threading headers (Message-ID, In-Reply-To, References)", list(headers.values())),
    )
    for label, values in fields:
        if any(has_control_characters(str(value)) for value in values):
            return (
                f"Not sent: the {label} contains a line break or another control character, "
                "which an email header cannot carry. Correct the text it came from (the "
                "sequence step's subject, the prospect's or the sender's name)."
            )
    return ""


def _send_email(message: Message) -> str | None:
    headers = {"Message-ID": f"<{message.message_id}>"}
    if message.in_reply_to:
        headers["In-Reply-To"] = f"<{message.in_reply_to}>"
    if message.references:
        headers["References"] = message.references
    problem = _header_problem(message, headers)
    if problem:
        raise PermanentSendError(problem)
    email = EmailMessage(
        subject=message.subject,
        body=message.body_text,
        from_email=message.from_address,
        to=message.to_addresses,
        cc=message.cc_addresses,
        bcc=message.bcc_addresses,
        reply_to=[reply_address(message.thread_id)],
        headers=headers,
    )
    # Anymail metadata: echoed in tracking events; the team also scopes the development outbox.
    # Anymail reads this attribute off Django's EmailMessage, whose stubs do not declare it.
    email.metadata = {  # type: ignore[attr-defined]
        "outreach_message": str(message.pk),
        "outreach_team": str(message.team_id),
    }
    try:
        email.send()
    except AnymailAPIError as exc:
        status = exc.status_code
        if status is not None and 400 <= status < 500 and status != 429:
            reason = f"The email provider refused the message: {_describe(exc)}"
            raise PermanentSendError(reason) from exc
        reason = f"The email provider did not accept the message: {_describe(exc)}"
        raise TransientSendError(reason) from exc
    except AnymailError as exc:
        # Recipients refused, invalid address, unsupported feature: sending again won't help.
        raise PermanentSendError(f"The email could not be sent: {_describe(exc)}") from exc
    except (BadHeaderError, MessageError) as exc:
        # A header the email library refuses to write (see _header_problem): never retried.
        raise PermanentSendError(
            f"Not sent: an email header could not be written ({exc}). Correct the subject or "
            "the names it came from."
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentSendError(f"The mail server refused the recipients: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"The mail server could not be reached: {exc}") from exc

    status = getattr(email, "anymail_status", None)
    if status is None:
        return None  # a plain Django backend (SMTP) reports no id
    by_address = {addr.lower(): s for addr, s in (status.recipients or {}).items()}
    to_status = by_address.get(message.to_addresses[0].lower())
    if to_status is not None and to_status.status in ("rejected", "invalid"):
        raise PermanentSendError(
            f"The email provider {to_status.status} the recipient {message.to_addresses[0]}."
        )
    provider_id = to_status.message_id if to_status is not None else status.message_id
    if isinstance(provider_id, set):
        provider_id = sorted(str(i) for i in provider_id)[0] if provider_id else None
    return None if provider_id is None else str(provider_id)[:255]


def _send_sms(message: Message) -> str:
    to_number = message.to_addresses[0]
    try:
        sms_allowed_check(team_id=message.team_id, number=to_number)
    except ValidationError as exc:
        raise PermanentSendError(exc.messages[0]) from exc
    try:
        result = get_sms_backend().send(
            from_number=message.from_address,
            to_number=to_number,
            body=message.body_text,
            status_callback=settings.PUBLIC_BASE_URL + reverse("messaging:twilio-status"),
        )
    except SmsError as exc:
        if exc.permanent:
            raise PermanentSendError(str(exc)) from exc
        raise TransientSendError(str(exc)) from exc
    return result.sid


def _mark_sent(message: Message, provider_id: str | None) -> None:
    now = timezone.now()
    fields = {"status": Message.Status.SENT, "sent_at": now, "error": "", "next_attempt_at": None}
    try:
        with transaction.atomic():
            updated = Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
                provider_message_id=provider_id, **fields
            )
            if updated:
                message.refresh_from_db()
                announce_recorded(message, created=False)
    except IntegrityError:
        # The provider reused an id we already hold. The message did go out: record it as sent
        # (never leave it "sending", or the sweeper would send it again).
        with transaction.atomic():
            updated = Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
                provider_message_id=None, **fields
            )
            if updated:
                message.refresh_from_db()
                announce_recorded(message, created=False)
        logger.error("Provider id %r of message %s is not unique", provider_id, message.pk)


def _mark_failed(message: Message, reason: str) -> None:
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.FAILED, error=reason[:2000], next_attempt_at=None
    )
    logger.warning("Message %s failed: %s", message.pk, reason)


def _retry_later(message: Message, reason: str) -> str:
    attempts = message.attempts
    next_at = Message.retry_later(
        pk=message.pk, attempts=attempts, reason=reason, claimed_at=message.claimed_at
    )
    if next_at is None:
        _mark_failed(message, Message.gave_up_error(attempts, reason))
        return "failed"
    logger.info("Message %s will be retried at %s: %s", message.pk, next_at, reason)
    return "retry"


def messages_sweep(
    *,
    now: datetime | None = None,
    stale_after: timedelta = SENDING_STALE_AFTER,
    lease: timedelta | None = None,
) -> int:
    """Re-queue outbound messages whose retry is due, whose send task was lost (its lease ran
    out, settings.QUEUE_LEASE) or whose worker died mid-send. Returns how many send tasks were
    queued; a message whose task is still on its way is left alone."""
    # A worker that died mid-send may or may not have handed the message over (it died between
    # the provider call and the commit). Sending again risks a duplicate; not sending risks
    # silence. We send again.
    result = Message.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        order_by=("created_at", "id"),
        gave_up_error=outbox.SEND_GAVE_UP,
        rescued_error=outbox.SEND_RESCUED,
    )
    return result.queued
