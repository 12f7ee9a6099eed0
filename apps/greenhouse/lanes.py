"""One wake-up per team: the coalesced lane of a team's sync records.

A task per record meant a task per record in the broker, and "wake the next record of the
thread" added duplicates (2.04 tasks per note). A team's records share one credential and one
rate budget, so they are worked by one task at a time, `sync_team_write_task` (batch.py), which
writes a batch of them and queues itself again behind the other teams. The SyncLane row is its
outbox lease (apps/core/outbox.py's semantics, on the team instead of the record):

- `sync_lane_wake()` queues the team's task unless one is on its way (queued or running): a
  conditional UPDATE on the lane compares the `queued_at` it read, so of any number of callers at
  once exactly one queues. The new `queued_at` is the task's token. It runs on commit of the
  caller's transaction (a record that is not committed yet must not be looked for), and a publish
  that fails gives the lease back so the next sweep queues at once.
- A task that comes later than needed (a countdown to a record's retry) is superseded by an
  earlier wake-up; it finds its token gone and does nothing. A wake-up is never earlier than the
  budget's next slot (`budget_until`): it would only find the budget closed.
- `sync_lane_release()`: the task, done with its batch, gives the lane back *then* looks again
  (`sync_lane_next`): a record that arrived while it ran either saw the lane taken and is found by
  this look, or came after the release and queued a task itself; only one of the two queues.
- Records due later (the budget's next slot, a short retry) get a wake-up with that countdown, up
  to GREENHOUSE_SYNC_LANE_HORIZON away (never further, also for a budget a 429 closed for
  minutes: the broker's timeouts assume no longer hold): a 30 s rate window cannot wait for the
  20 s sweep. It is
  still only a wake-up: the rows are the truth, and the sweep (`sync_lanes_sweep`) queues the lane
  of any team with due records whose lease is free or ran out (a lost message, a dead worker).
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min, Q
from django.utils import timezone

from apps.core.outbox import queue_lease

from .models import SyncLane, SyncRecord

logger = logging.getLogger(__name__)

Status = SyncRecord.Status


def sync_lane_wake_on_commit(*, team_id: int, at: datetime | None = None) -> None:
    """`sync_lane_wake` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(sync_lane_wake, team_id=team_id, at=at), robust=True)


def sync_lane_wake(
    *,
    team_id: int,
    at: datetime | None = None,
    now: datetime | None = None,
    lease: timedelta | None = None,
) -> bool:
    """Queue the team's sync task to run at `at` (now by default), unless one is on its way that
    runs no later (`lease`: settings.QUEUE_LEASE). Returns whether this call queued it."""
    now = now or timezone.now()
    lease = lease if lease is not None else queue_lease()
    at = max(at or now, now)
    lane = SyncLane.objects.filter(team_id=team_id).values("queued_at", "due_at", "budget_until")
    current = lane.first()
    if current is not None and current["budget_until"] is not None:
        at = max(at, current["budget_until"])
    if at - now > timedelta(seconds=settings.GREENHOUSE_SYNC_LANE_HORIZON):
        # A worker holds a countdown task unacknowledged until it is due, and the broker's
        # timeouts (Redis's visibility timeout = QUEUE_LEASE, RabbitMQ's consumer_timeout) are
        # set for holds up to the horizon (config/settings.py). Further off (a 429's
        # Retry-After): no task, no lease taken; the sweep queues it once it is within reach.
        return False
    if current is None:
        try:
            with transaction.atomic():
                SyncLane.objects.create(team_id=team_id, queued_at=now, due_at=at)
        except IntegrityError:
            return False  # created at the same moment by a caller who queued the task
    else:
        queued_at = current["queued_at"]
        on_its_way = queued_at is not None and queued_at >= now - lease
        if on_its_way and (current["due_at"] is None or current["due_at"] <= at):
            return False
        # Compare-and-set on the lease read above: of concurrent callers, one wins.
        if not SyncLane.objects.filter(team_id=team_id, queued_at=queued_at).update(
            queued_at=now, due_at=at
        ):
            return False
    _publish(team_id=team_id, token=now, countdown=(at - now).total_seconds())
    return True


def _publish(*, team_id: int, token: datetime, countdown: float) -> None:
    from .tasks import sync_team_write_task

    try:
        sync_team_write_task.apply_async(
            args=(team_id,), kwargs={"token": token.isoformat()}, countdown=max(0.0, countdown)
        )
    except Exception:
        logger.exception("Could not queue the sync of team %s; the sweeper will", team_id)
        # Not in the broker after all: give the lease back so the next sweep queues it.
        SyncLane.objects.filter(team_id=team_id, queued_at=token).update(queued_at=None)


def sync_lane_holds(*, team_id: int, token: datetime) -> bool:
    """Whether the task of `token` still owns the team's lane (not superseded, not taken over
    after its lease ran out)."""
    return SyncLane.objects.filter(team_id=team_id, queued_at=token).exists()


def sync_lane_release(
    *,
    team_id: int,
    token: datetime | None,
    progressed: bool,
    budget_until: datetime | None = None,
) -> bool:
    """The task of `token` is done with its batch: give the lane back, then look again and queue
    the next batch (behind the other teams already queued). `progressed`: the batch settled at
    least one record; one that only found records waiting (for an older message of their thread
    held elsewhere, say) does not queue itself again at once, or it would spin: those are woken
    by the older record's end, or by the sweep. `budget_until`: the credential's next slot, when
    the budget stopped the batch. Returns whether a next task was queued."""
    now = timezone.now()
    if token is not None:
        released = SyncLane.objects.filter(team_id=team_id, queued_at=token).update(
            queued_at=None, due_at=None, budget_until=budget_until
        )
        if not released:
            return False  # another task owns the lane now: it looks for itself
    elif budget_until is not None:
        SyncLane.objects.filter(team_id=team_id).update(budget_until=budget_until)
    at = sync_lane_next(team_id=team_id, now=now, progressed=progressed, not_before=budget_until)
    if at is None:
        return False
    return sync_lane_wake(team_id=team_id, at=at)


def sync_lane_next(
    *,
    team_id: int,
    now: datetime,
    progressed: bool = True,
    not_before: datetime | None = None,
) -> datetime | None:
    """When the team's next batch should run: now if records are due (and the last batch got
    on), at `not_before` (the budget's slot) if it stopped the batch, or when the soonest record
    comes due within the horizon; None: nothing for the lane to do soon (the sweep takes what
    comes due later)."""
    pending = SyncRecord.objects.filter(team_id=team_id, status=Status.PENDING)
    soonest = pending.aggregate(
        later=Min("next_attempt_at", filter=Q(next_attempt_at__gt=now)),
        due=Min("pk", filter=Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)),
    )
    if soonest["due"] is not None and not_before is not None:
        return max(now, not_before)
    if soonest["due"] is not None and progressed:
        return now
    later = soonest["later"]
    horizon = timedelta(seconds=settings.GREENHOUSE_SYNC_LANE_HORIZON)
    if later is not None and later <= now + horizon:
        return later
    return None


def sync_lanes_sweep(*, now: datetime | None = None, lease: timedelta | None = None) -> int:
    """Queue the lane of every team with due pending records and no task on its way (or one whose
    lease ran out: lost). Returns how many were queued."""
    now = now or timezone.now()
    teams = (
        SyncRecord.objects.filter(status=Status.PENDING)
        .filter(Q(next_attempt_at=None) | Q(next_attempt_at__lte=now))
        .order_by()
        .values_list("team_id", flat=True)
        .distinct()
    )
    return sum(sync_lane_wake(team_id=team_id, now=now, lease=lease) for team_id in set(teams))
