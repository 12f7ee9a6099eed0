"""Outbound messages a person writes: a recruiter's answer in a thread, a one-off SMS.

A service writes the Message row (status "queued") in the caller's transaction and queues
`message_send_task` on commit (delivery.py sends it). The helpers every message-creating module
shares (the `message_recorded` announcement, the sender address, the SMS thread) are here too.
"""

import logging
from collections.abc import Iterable
from email.utils import formataddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.text import header_safe
from apps.sequences.models import Enrollment, Prospect, ProspectPhone, SequenceStep

from .addressing import (
    bracket,
    new_message_id,
    trim_references,
)
from .models import Channel, Message, Thread, VirtualPhoneNumber
from .selectors import thread_message_ids
from .signals import message_recorded

logger = logging.getLogger(__name__)


SMS_MAX_LENGTH = 1600  # Twilio's limit for one message body


def announce_recorded(message: Message, *, created: bool) -> None:
    message_recorded.send(sender=Message, message=message, created=created)


def clean_text(value: str | None) -> str:
    # PostgreSQL refuses NUL characters in text; nothing legitimate needs them.
    return (value or "").replace("\x00", "")


def sender_address(user) -> str:
    if user is not None and user.email:
        return formataddr((header_safe(user.get_full_name()), user.email))
    return settings.DEFAULT_FROM_EMAIL


def reply_subject(subject: str) -> str:
    subject = header_safe(subject)
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def outbound_create(
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
    kept = trim_references(history) if is_email else []
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
        in_reply_to=kept[-1] if kept else "",
        references=bracket(kept),
        status=Message.Status.QUEUED,
        queued_at=timezone.now(),  # the lease of the send task queued on commit
    )
    Thread.objects.filter(pk=thread.pk).update(last_message_at=message.created_at)
    announce_recorded(message, created=True)
    message.wake_on_commit()
    return message


def sms_thread_get_or_create(*, number: VirtualPhoneNumber, prospect: Prospect) -> Thread:
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


def sms_allowed_check(*, team_id: int, number: str) -> None:
    phone = ProspectPhone.objects.filter(team_id=team_id, number=number).first()
    if phone is not None and phone.opted_out_at is not None:
        raise ValidationError(
            f"{number} opted out of SMS (texted STOP) on {phone.opted_out_at:%Y-%m-%d}. "
            "Nothing was sent. They can text START to opt back in."
        )


def _check_sms_body(body: str) -> str:
    body = clean_text(body).strip()
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
        sms_allowed_check(team_id=thread.team_id, number=prospect_number)
        return outbound_create(
            thread=thread,
            sender=sender,
            from_address=number.number,
            to=[prospect_number],
            body=body,
        )
    body = clean_text(body).strip()
    if not body:
        raise ValidationError("The message is empty.")
    to = _prospect_email_for_thread(thread)
    if not to:
        raise ValidationError("The prospect has no email address.")
    history = thread_message_ids(thread_ids=[thread.pk])[thread.pk]
    # A sequence thread keeps the enrollment's BCC, so a maildrop copy covers the whole thread.
    enrollment = thread.enrollment
    return outbound_create(
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
    sms_allowed_check(team_id=prospect.team_id, number=to_number)
    thread = sms_thread_get_or_create(number=number, prospect=prospect)
    return outbound_create(
        thread=thread, sender=sender, from_address=number.number, to=[to_number], body=body
    )
