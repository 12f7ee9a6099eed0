"""The step scheduler: find enrollments whose next step is due and create that step's message,
once. It lives in the messaging app because it makes messages: the arrow points from messaging to
sequences, never back (the sequences app imports teams and core only).

Beat runs `sequence_steps_dispatch_task` every few seconds; several ticks may run at once on
several workers. Each batch is one transaction that

1. claims due enrollments: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent ticks
   take disjoint batches; on SQLite the transaction itself is the lock (IMMEDIATE mode takes the
   write lock at BEGIN, so ticks run one after another);
2. creates each step's Message (the unique constraint one_message_per_enrollment_step is the last
   guard: a step can never get two messages);
3. advances next_step_position / next_step_due_at, or ends the enrollment.

Sending happens later, in `message_send_task`, queued when the transaction commits.
"""

# (imports of the step-message part)
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.text import header_safe
from apps.sequences.models import Enrollment, ProspectEmail, ProspectPhone, SequenceStep
from apps.sequences.placeholders import placeholder_values, render_placeholders

from .models import Channel, Message, Thread, VirtualPhoneNumber
from .outbound import (
    SMS_MAX_LENGTH,
    outbound_create,
    reply_subject,
    sender_address,
    sms_thread_get_or_create,
)
from .selectors import thread_message_ids

logger = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_BATCHES_PER_RUN = 20


def sequence_steps_dispatch(*, now: datetime | None = None) -> int:
    """Create the messages of all due steps (up to a bound per run). Returns how many."""
    total = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        claimed, created = _dispatch_batch(now=now or timezone.now())
        total += created
        if claimed < BATCH_SIZE:
            break
    return total


@transaction.atomic
def _dispatch_batch(*, now: datetime) -> tuple[int, int]:
    due_ids = list(
        Enrollment.objects.filter(
            status=Enrollment.Status.ACTIVE,
            next_step_due_at__lte=now,
            sequence__is_active=True,
        )
        .order_by("next_step_due_at", "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:BATCH_SIZE]
    )
    if not due_ids:
        return 0, 0
    enrollments = list(
        Enrollment.objects.filter(pk__in=due_ids)
        .select_related("sequence__owner", "prospect")
        .order_by("next_step_due_at", "pk")
    )
    steps_by_sequence: dict[int, list[SequenceStep]] = {}
    for sequence_step in SequenceStep.objects.filter(
        sequence_id__in={e.sequence_id for e in enrollments}
    ).order_by("sequence_id", "position"):
        steps_by_sequence.setdefault(sequence_step.sequence_id, []).append(sequence_step)

    items = []
    for enrollment in enrollments:
        steps = steps_by_sequence.get(enrollment.sequence_id, [])
        position = enrollment.next_step_position  # None only after a hand edit: nothing to send
        step = next((s for s in steps if position is not None and s.position >= position), None)
        if step is None:
            # Steps were removed since (or the next step was blanked): nothing left to send.
            _finish(enrollment, now)
            continue
        items.append((enrollment, step))

    outcomes = sequence_step_messages_create(items=items)
    created = 0
    for enrollment, step in items:
        outcome = outcomes[enrollment.pk]
        if outcome.stop_reason:
            _stop(enrollment, outcome.stop_reason, now)
            continue
        created += outcome.message is not None
        steps = steps_by_sequence[enrollment.sequence_id]
        following = next((s for s in steps if s.position > step.position), None)
        if following is None:
            _finish(enrollment, now)
        else:
            Enrollment.objects.filter(pk=enrollment.pk).update(
                next_step_position=following.position,
                # Delays count from when the previous step went out (was queued).
                next_step_due_at=now + following.delay,
            )
    logger.info("Dispatched %s due steps (%s enrollments claimed)", created, len(due_ids))
    return len(due_ids), created


def _finish(enrollment: Enrollment, now: datetime) -> None:
    Enrollment.objects.filter(pk=enrollment.pk).update(
        status=Enrollment.Status.FINISHED,
        next_step_position=None,
        next_step_due_at=None,
        ended_at=now,
    )


def _stop(enrollment: Enrollment, reason: str, now: datetime) -> None:
    Enrollment.objects.filter(pk=enrollment.pk).update(
        status=Enrollment.Status.STOPPED,
        stop_reason=reason[:300],
        next_step_position=None,
        next_step_due_at=None,
        ended_at=now,
    )


# --- Step messages -----------------------------------------------------------------------------


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
                    message = outbound_create(
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
                        thread = sms_thread_get_or_create(number=number, prospect=prospect)
                    message = outbound_create(
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
