"""The scheduler: find enrollments whose next step is due and create that step's message, once.

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

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import Enrollment, SequenceStep

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
    from apps.messaging.services import sequence_step_messages_create

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
            # Steps were removed since: nothing left to send.
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
