"""Sending and receiving email and SMS.

Outbound: a service writes the Message row (status "queued") in the caller's transaction and
queues `message_send_task` on commit. `message_deliver` claims the row (queued -> sending, one
conditional UPDATE, so a redelivered task or a second worker does nothing), hands it to Anymail
or the SMS backend, and records the outcome: "sent" with the provider's id, "failed" with a
plain reason, or back to "queued" with `next_attempt_at` for a transient error. Retries wait in
the database, not in the broker; `messages_sweep` (beat) queues them when due and rescues rows
whose wake-up was lost or whose worker died mid-send. Claim, backoff, lease and sweep are the
shared outbox's (apps/core/outbox.py); this module decides what an error means.

Inbound: `email_record_inbound` (Anymail's inbound signal) and `sms_record_inbound` (Twilio
webhook) match a thread, store the message once (Message-ID / MessageSid are unique), stop the
enrollments that were answered, and keep what matches nothing as `UnmatchedInbound`, as well as a
trace of an inbound email too large to read (`email_record_too_large`).
"""

import hashlib
import logging
import smtplib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from email.utils import formataddr

from anymail.exceptions import AnymailAPIError, AnymailError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.text import has_control_characters, header_safe, html_to_text
from apps.sequences.models import Enrollment, Prospect, ProspectEmail, ProspectPhone, SequenceStep
from apps.sequences.placeholders import placeholder_values, render_placeholders
from apps.sequences.services import enrollments_stop_on_reply, prospect_phone_set_opt_out

from .addressing import (
    bracket,
    new_message_id,
    parse_message_ids,
    reply_address,
    thread_id_from_reply_address,
    trim_references,
)
from .models import Channel, Message, Thread, UnmatchedInbound, VirtualPhoneNumber
from .selectors import thread_message_ids
from .signals import message_recorded
from .sms import SmsError, get_sms_backend

logger = logging.getLogger(__name__)

# Longer than the Celery hard time limit: a row still "sending" after this lost its worker.
SENDING_STALE_AFTER = timedelta(minutes=10)
SMS_MAX_LENGTH = 1600  # Twilio's limit for one message body

# Twilio's default opt-out and opt-in keywords (a message that is just the word).
SMS_STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE"})
SMS_START_WORDS = frozenset({"START", "YES", "UNSTOP"})

# Status order for provider callbacks: a late "sent" never overwrites "delivered".
STATUS_RANK: dict[str, int] = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.BOUNCED: 4,
    Message.Status.FAILED: 4,
}


class PermanentSendError(Exception):
    """No retry can fix it (invalid address, opted out, rejected by the provider)."""


class TransientSendError(Exception):
    """Worth trying again later (provider down, timeout, rate limited)."""


def _record(message: Message, *, created: bool) -> None:
    message_recorded.send(sender=Message, message=message, created=created)


def _clean_text(value: str | None) -> str:
    # PostgreSQL refuses NUL characters in text; nothing legitimate needs them.
    return (value or "").replace("\x00", "")


def sender_address(user) -> str:
    if user is not None and user.email:
        return formataddr((header_safe(user.get_full_name()), user.email))
    return settings.DEFAULT_FROM_EMAIL


def reply_subject(subject: str) -> str:
    subject = header_safe(subject)
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def _create_outbound(
    *,
    thread: Thread,
    sender,
    from_address: str,
    to: list[str],
    body: str,
    subject: str = "",
    bcc: Iterable[str] = (),
    history: Iterable[str] = (),
    enrollment: Enrollment | None = None,
    step: SequenceStep | None = None,
) -> Message:
    is_email = thread.channel == Channel.EMAIL
    history = trim_references(history) if is_email else []
    message = Message.objects.create(
        team_id=thread.team_id,
        thread=thread,
        direction=Message.Direction.OUTBOUND,
        channel=thread.channel,
        sender=sender,
        enrollment=enrollment,
        sequence_step=step,
        from_address=from_address,
        to_addresses=list(to),
        bcc_addresses=list(bcc) if is_email else [],
        subject=header_safe(subject)[:998] if is_email else "",
        body_text=body,
        message_id=new_message_id() if is_email else None,
        in_reply_to=history[-1] if history else "",
        references=bracket(history),
        status=Message.Status.QUEUED,
        queued_at=timezone.now(),  # the lease of the send task queued on commit
    )
    Thread.objects.filter(pk=thread.pk).update(last_message_at=message.created_at)
    _record(message, created=True)
    message.wake_on_commit()
    return message


def _sms_thread_get_or_create(*, number: VirtualPhoneNumber, prospect: Prospect) -> Thread:
    """The one SMS thread of (virtual number, prospect), created when there is none."""
    thread = Thread.objects.filter(
        channel=Channel.SMS, virtual_number=number, prospect=prospect
    ).first()
    if thread is not None:
        return thread
    try:
        with transaction.atomic():
            return Thread.objects.create(
                team_id=number.team_id,
                prospect=prospect,
                owner_id=number.user_id,
                channel=Channel.SMS,
                virtual_number=number,
            )
    except IntegrityError:
        # Created at the same moment by another request (unique per number and prospect).
        return Thread.objects.get(channel=Channel.SMS, virtual_number=number, prospect=prospect)


# --- Sequence steps -----------------------------------------------------------------------------


@dataclass
class StepOutcome:
    message: Message | None = None
    # Set when the step cannot be sent to this prospect; the enrollment stops with this reason.
    stop_reason: str = ""


def sequence_step_messages_create(
    *, items: list[tuple[Enrollment, SequenceStep]]
) -> dict[int, StepOutcome]:
    """Create the Message of each (enrollment, step), in the scheduler's transaction.

    Enrollments come with `sequence__owner` and `prospect` selected. Everything else is read in a
    fixed number of queries for the whole batch, so each message costs a constant few writes.
    """
    enrollments = [enrollment for enrollment, _ in items]
    prospect_ids = {e.prospect_id for e in enrollments}
    owner_ids = {e.sequence.owner_id for e in enrollments}
    emails: dict[int, str] = {}
    for prospect_id, email in ProspectEmail.objects.filter(
        prospect_id__in=prospect_ids
    ).values_list("prospect_id", "email"):
        emails.setdefault(prospect_id, email)  # primary first (model ordering)
    phones: dict[int, list[ProspectPhone]] = defaultdict(list)
    for phone in ProspectPhone.objects.filter(prospect_id__in=prospect_ids):
        phones[phone.prospect_id].append(phone)
    numbers = {n.user_id: n for n in VirtualPhoneNumber.objects.filter(user_id__in=owner_ids)}
    email_threads = {
        t.enrollment_id: t
        for t in Thread.objects.filter(
            channel=Channel.EMAIL, enrollment_id__in=[e.pk for e in enrollments]
        )
    }
    sms_threads = {
        (t.virtual_number_id, t.prospect_id): t
        for t in Thread.objects.filter(
            channel=Channel.SMS,
            virtual_number__in=numbers.values(),
            prospect_id__in=prospect_ids,
        )
    }
    history = thread_message_ids(thread_ids=[t.pk for t in email_threads.values()])

    outcomes: dict[int, StepOutcome] = {}
    for enrollment, step in items:
        owner = enrollment.sequence.owner
        prospect = enrollment.prospect
        values = placeholder_values(prospect=prospect, sender=owner)
        body = render_placeholders(step.body_template, values)
        try:
            with transaction.atomic():
                if step.channel == SequenceStep.Channel.EMAIL:
                    address = emails.get(prospect.pk)
                    if not address:
                        outcomes[enrollment.pk] = StepOutcome(
                            stop_reason="The prospect has no email address."
                        )
                        continue
                    thread = email_threads.get(enrollment.pk)
                    if thread is None:
                        # Names come from people: never a line break into the header.
                        subject = header_safe(render_placeholders(step.subject_template, values))
                        thread = Thread.objects.create(
                            team_id=enrollment.sequence.team_id,
                            prospect=prospect,
                            owner=owner,
                            channel=Channel.EMAIL,
                            enrollment=enrollment,
                            subject=(subject or header_safe(enrollment.sequence.name))[:500],
                        )
                        subject_line = thread.subject
                    else:
                        subject_line = reply_subject(thread.subject)
                    message = _create_outbound(
                        thread=thread,
                        sender=owner,
                        from_address=sender_address(owner),
                        to=[address],
                        bcc=enrollment.bcc_list,
                        subject=subject_line,
                        body=body,
                        history=history[thread.pk],
                        enrollment=enrollment,
                        step=step,
                    )
                    email_threads[enrollment.pk] = thread
                    if message.message_id:
                        history[thread.pk].append(message.message_id)
                else:
                    number = numbers.get(owner.pk)
                    usable = [p for p in phones[prospect.pk] if p.opted_out_at is None]
                    if number is None:
                        reason = "The sequence owner has no virtual phone number for SMS."
                    elif not phones[prospect.pk]:
                        reason = "The prospect has no phone number."
                    elif not usable:
                        reason = "The prospect opted out of SMS (texted STOP)."
                    else:
                        reason = ""
                    if reason:
                        outcomes[enrollment.pk] = StepOutcome(stop_reason=reason)
                        continue
                    assert number is not None  # no reason to stop: the owner has a number
                    thread = sms_threads.get((number.pk, prospect.pk))
                    if thread is None:
                        thread = _sms_thread_get_or_create(number=number, prospect=prospect)
                    message = _create_outbound(
                        thread=thread,
                        sender=owner,
                        from_address=number.number,
                        to=[usable[0].number],
                        body=body[:SMS_MAX_LENGTH],
                        enrollment=enrollment,
                        step=step,
                    )
                    sms_threads[(number.pk, prospect.pk)] = thread
        except IntegrityError:
            # one_message_per_enrollment_step: this step's message exists already. Never twice.
            logger.warning("Step %s of enrollment %s already has a message", step.pk, enrollment.pk)
            outcomes[enrollment.pk] = StepOutcome()
            continue
        outcomes[enrollment.pk] = StepOutcome(message=message)
    return outcomes


# --- Recruiter messages -------------------------------------------------------------------------


def _prospect_email_for_thread(thread: Thread) -> str | None:
    last_reply = (
        thread.messages.filter(direction=Message.Direction.INBOUND, sender_is_prospect=True)
        .order_by("-created_at", "-id")
        .values_list("from_address", flat=True)
        .first()
    )
    if last_reply:
        return last_reply
    last_sent = (
        thread.messages.filter(direction=Message.Direction.OUTBOUND)
        .order_by("-created_at", "-id")
        .values_list("to_addresses", flat=True)
        .first()
    )
    if last_sent:
        return last_sent[0]
    return thread.prospect.emails.values_list("email", flat=True).first()


def _check_sms_allowed(*, team_id: int, number: str) -> None:
    phone = ProspectPhone.objects.filter(team_id=team_id, number=number).first()
    if phone is not None and phone.opted_out_at is not None:
        raise ValidationError(
            f"{number} opted out of SMS (texted STOP) on {phone.opted_out_at:%Y-%m-%d}. "
            "Nothing was sent. They can text START to opt back in."
        )


def _check_sms_body(body: str) -> str:
    body = _clean_text(body).strip()
    if not body:
        raise ValidationError("The message is empty.")
    if len(body) > SMS_MAX_LENGTH:
        raise ValidationError(f"An SMS can have at most {SMS_MAX_LENGTH} characters.")
    return body


@transaction.atomic
def thread_reply_create(*, thread: Thread, sender, body: str) -> Message:
    """A recruiter's answer from the thread page, sent in the same thread."""
    if thread.channel == Channel.SMS:
        number = thread.virtual_number
        if number is None:
            raise ValidationError("This SMS thread has no virtual number to text from.")
        if number.user_id != sender.pk:
            raise ValidationError(
                f"Only {number.user.get_full_name() or number.user} can text from {number}."
            )
        prospect_number = (
            thread.messages.filter(direction=Message.Direction.INBOUND)
            .order_by("-created_at", "-id")
            .values_list("from_address", flat=True)
            .first()
        ) or thread.prospect.phones.values_list("number", flat=True).first()
        if not prospect_number:
            raise ValidationError("The prospect has no phone number.")
        body = _check_sms_body(body)
        _check_sms_allowed(team_id=thread.team_id, number=prospect_number)
        return _create_outbound(
            thread=thread,
            sender=sender,
            from_address=number.number,
            to=[prospect_number],
            body=body,
        )
    body = _clean_text(body).strip()
    if not body:
        raise ValidationError("The message is empty.")
    to = _prospect_email_for_thread(thread)
    if not to:
        raise ValidationError("The prospect has no email address.")
    history = thread_message_ids(thread_ids=[thread.pk])[thread.pk]
    # A sequence thread keeps the enrollment's BCC, so a maildrop copy covers the whole thread.
    enrollment = thread.enrollment
    return _create_outbound(
        thread=thread,
        sender=sender,
        from_address=sender_address(sender),
        to=[to],
        bcc=enrollment.bcc_list if enrollment else [],
        subject=reply_subject(thread.subject),
        body=body,
        history=history,
    )


@transaction.atomic
def sms_send(*, sender, prospect: Prospect, body: str, to_number: str | None = None) -> Message:
    """A one-off SMS from the recruiter's virtual number."""
    number = VirtualPhoneNumber.objects.filter(user=sender).first()
    if number is None:
        raise ValidationError("You have no virtual phone number yet; ask your team admin.")
    if number.team_id != prospect.team_id:
        raise ValidationError("This prospect belongs to another team.")
    numbers = list(prospect.phones.values_list("number", flat=True))
    if not numbers:
        raise ValidationError(f"{prospect} has no phone number.")
    to_number = to_number or numbers[0]
    if to_number not in numbers:
        raise ValidationError(f"{to_number} is not a phone number of {prospect}.")
    body = _check_sms_body(body)
    _check_sms_allowed(team_id=prospect.team_id, number=to_number)
    thread = _sms_thread_get_or_create(number=number, prospect=prospect)
    return _create_outbound(
        thread=thread, sender=sender, from_address=number.number, to=[to_number], body=body
    )


# --- Delivery -----------------------------------------------------------------------------------


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
    email.metadata = {"outreach_message": str(message.pk), "outreach_team": str(message.team_id)}  # type: ignore[attr-defined]
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
        _check_sms_allowed(team_id=message.team_id, number=to_number)
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
                _record(message, created=False)
    except IntegrityError:
        # The provider reused an id we already hold. The message did go out: record it as sent
        # (never leave it "sending", or the sweeper would send it again).
        with transaction.atomic():
            updated = Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
                provider_message_id=None, **fields
            )
            if updated:
                message.refresh_from_db()
                _record(message, created=False)
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
        gave_up_error="The worker stopped while sending, too many times; not sent again.",
        rescued_error="The worker stopped while sending; sending again.",
    )
    return result.queued


# --- Provider status callbacks ------------------------------------------------------------------


def _status_advance(*, channel: str, provider_id: str, status: str, error: str = "") -> bool:
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
            _record(message, created=False)
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
    return _status_advance(
        channel=Channel.EMAIL, provider_id=str(event.message_id), status=status, error=error
    )


TWILIO_STATUS = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.FAILED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}


def sms_status_record(*, sid: str, status: str, error_code: str = "") -> bool:
    """Twilio status callback. Intermediate statuses (queued, sending) change nothing."""
    new_status = TWILIO_STATUS.get(status.lower())
    if new_status is None:
        return False
    error = ""
    if new_status == Message.Status.FAILED:
        error = f"Twilio reported {status}" + (f" (error {error_code})" if error_code else "")
    return _status_advance(channel=Channel.SMS, provider_id=sid, status=new_status, error=error)


# --- Inbound ------------------------------------------------------------------------------------


@dataclass
class InboundResult:
    message: Message | None = None
    unmatched: UnmatchedInbound | None = None
    duplicate: bool = False


def _stop_answered_enrollments(thread: Thread) -> None:
    ids = set(
        thread.messages.exclude(enrollment=None).values_list("enrollment_id", flat=True).distinct()
    )
    if thread.enrollment_id:
        ids.add(thread.enrollment_id)
    if ids:
        enrollments_stop_on_reply(enrollment_ids=ids)


def _store_inbound(*, thread: Thread, **fields) -> Message | None:
    """Store an inbound message in `thread`; None when it is already stored (redelivery)."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                team_id=thread.team_id,
                thread=thread,
                direction=Message.Direction.INBOUND,
                channel=thread.channel,
                status=Message.Status.RECEIVED,
                received_at=timezone.now(),
                **fields,
            )
            Thread.objects.filter(pk=thread.pk).update(last_message_at=message.created_at)
            _stop_answered_enrollments(thread)
            _record(message, created=True)
    except IntegrityError:
        return None
    return message


def _store_unmatched(**fields) -> UnmatchedInbound | None:
    try:
        with transaction.atomic():
            return UnmatchedInbound.objects.create(**fields)
    except IntegrityError:
        return None


def _header_addresses(inbound, header: str) -> list[str]:
    try:
        return [address.addr_spec for address in inbound.get_address_header(header)]
    except Exception:  # a malformed header must not lose the message: it is stored raw anyway
        return []


def _match_email_thread(inbound) -> tuple[Thread | None, str]:
    """The thread a reply belongs to: by the signed reply address first, then by headers.

    Returns (thread, "") or (None, the UnmatchedInbound reason).
    """
    candidates = []
    if inbound.envelope_recipient:
        candidates.append(str(inbound.envelope_recipient))
    for header in ("To", "Cc", "Delivered-To", "X-Original-To"):
        candidates.extend(_header_addresses(inbound, header))
    bad_token = False
    for address in candidates:
        thread_id, bad = thread_id_from_reply_address(address)
        bad_token = bad_token or bad
        if thread_id is not None:
            thread = Thread.objects.filter(pk=thread_id, channel=Channel.EMAIL).first()
            if thread is not None:
                return thread, ""
    # Most specific first: the message replied to, then the references, newest first.
    ids = parse_message_ids(inbound["In-Reply-To"])
    ids += list(reversed(parse_message_ids(inbound["References"])))
    if ids:
        known = dict(
            Message.objects.filter(channel=Channel.EMAIL, message_id__in=ids).values_list(
                "message_id", "thread_id"
            )
        )
        for message_id in ids:
            if message_id in known:
                return Thread.objects.get(pk=known[message_id]), ""
    reason = UnmatchedInbound.Reason.BAD_TOKEN if bad_token else UnmatchedInbound.Reason.NO_THREAD
    return None, reason


def email_record_inbound(*, inbound, esp_name: str = "", event_id: str | None = None):
    """An inbound email (AnymailInboundMessage) from Anymail's webhook or the dev simulator."""
    message_ids = parse_message_ids(inbound["Message-ID"])
    message_id = message_ids[0] if message_ids else None
    event_id = str(event_id)[:255] if event_id else None
    # A redelivery (same Message-ID or the ESP's same event id) is stored once.
    if message_id and (
        Message.objects.filter(message_id=message_id).exists()
        or UnmatchedInbound.objects.filter(message_id=message_id).exists()
    ):
        return InboundResult(duplicate=True)
    if event_id and (
        Message.objects.filter(channel=Channel.EMAIL, provider_message_id=event_id).exists()
        or UnmatchedInbound.objects.filter(
            channel=Channel.EMAIL, provider_message_id=event_id
        ).exists()
    ):
        return InboundResult(duplicate=True)

    from_address = (_header_addresses(inbound, "From") or [""])[0].lower()
    to_addresses = _header_addresses(inbound, "To")
    text = _clean_text(inbound.text)
    html = _clean_text(inbound.html)
    if not text and html:
        text = html_to_text(html)
    common = {
        "from_address": from_address[:320],
        "to_addresses": to_addresses,
        "subject": _clean_text(str(inbound.subject or ""))[:998],
        "body_text": text,
        "message_id": message_id,
        "in_reply_to": (parse_message_ids(inbound["In-Reply-To"]) or [""])[0],
        "references": bracket(parse_message_ids(inbound["References"])),
        "provider_message_id": event_id,
    }
    thread, reason = _match_email_thread(inbound)
    if thread is None:
        try:
            raw = _clean_text(inbound.as_string())
        except Exception:  # a malformed message must still be kept
            raw = ""
        unmatched = _store_unmatched(
            channel=Channel.EMAIL, reason=reason, provider=esp_name, raw=raw[:1_000_000], **common
        )
        logger.info("Inbound email from %s matched no thread (%s)", from_address, reason)
        return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
    # The token or headers chose the thread; From is only recorded, never trusted (forgeable).
    is_prospect = ProspectEmail.objects.filter(
        prospect_id=thread.prospect_id, email__iexact=from_address
    ).exists()
    message = _store_inbound(
        thread=thread, body_html=html, sender_is_prospect=is_prospect, **common
    )
    return InboundResult(message=message, duplicate=message is None)


def email_record_too_large(*, esp_name: str, size: int, head: bytes) -> UnmatchedInbound | None:
    """A trace of an authenticated inbound email request over INBOUND_EMAIL_MAX_BYTES, which the
    webhook refuses (413) so that the ESP retries, and keeps in its own log. Only `head`, the
    start of the request, was read: for JSON ESPs it holds the sender, the subject and the text,
    which come before the attachments. The ESP's retries of it are kept once."""
    digest = hashlib.sha256(head + f"|{size}|{esp_name}".encode()).hexdigest()
    limit = settings.INBOUND_EMAIL_MAX_BYTES
    unmatched = _store_unmatched(
        channel=Channel.EMAIL,
        reason=UnmatchedInbound.Reason.TOO_LARGE,
        provider=esp_name[:50],
        provider_message_id=f"too-large-{digest[:40]}",
        body_text=(
            f"Not stored: the {esp_name} request was {size} bytes, over INBOUND_EMAIL_MAX_BYTES "
            f"({limit}). The ESP was answered 413 and retries it; raise the limit to let a retry "
            "in, or find the message in the ESP's inbound log. The start of the request is below."
        ),
        raw=_clean_text(head.decode("utf-8", errors="replace")),
    )
    logger.error(
        "Inbound %s email of %s bytes is over INBOUND_EMAIL_MAX_BYTES (%s): answered 413 so the "
        "ESP retries; its start is kept as unmatched inbound message %s",
        esp_name,
        size,
        limit,
        unmatched.pk if unmatched else "(kept before: a retry)",
    )
    return unmatched


def sms_record_inbound(
    *, from_number: str, to_number: str, sid: str, body: str, provider: str = "Twilio"
) -> InboundResult:
    """An inbound SMS on one of our virtual numbers (Twilio webhook, signature already checked)."""
    body = _clean_text(body)
    if (
        Message.objects.filter(channel=Channel.SMS, provider_message_id=sid).exists()
        or UnmatchedInbound.objects.filter(channel=Channel.SMS, provider_message_id=sid).exists()
    ):
        return InboundResult(duplicate=True)
    common = {"from_address": from_number, "body_text": body, "provider_message_id": sid}
    number = VirtualPhoneNumber.objects.filter(number=to_number).first()
    if number is None:
        unmatched = _store_unmatched(
            channel=Channel.SMS,
            reason=UnmatchedInbound.Reason.UNKNOWN_NUMBER,
            to_addresses=[to_number],
            provider=provider,
            **common,
        )
        return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
    keyword = body.strip().upper()
    with transaction.atomic():
        if keyword in SMS_STOP_WORDS:
            prospect_phone_set_opt_out(team=number.team, number=from_number, opted_out=True)
        elif keyword in SMS_START_WORDS:
            prospect_phone_set_opt_out(team=number.team, number=from_number, opted_out=False)
        phone = (
            ProspectPhone.objects.select_related("prospect")
            .filter(team_id=number.team_id, number=from_number)
            .first()
        )
        if phone is None:
            # Nobody of the team has this number: keep it for support rather than invent a
            # prospect from a number alone.
            unmatched = _store_unmatched(
                channel=Channel.SMS,
                reason=UnmatchedInbound.Reason.UNKNOWN_SENDER,
                team_id=number.team_id,
                to_addresses=[to_number],
                provider=provider,
                **common,
            )
            return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
        thread = _sms_thread_get_or_create(number=number, prospect=phone.prospect)
        message = _store_inbound(
            thread=thread, to_addresses=[to_number], sender_is_prospect=True, **common
        )
    return InboundResult(message=message, duplicate=message is None)
