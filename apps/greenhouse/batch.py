"""A team's sync records, written in batches by one task at a time, fairly across teams.

Why batches: a team's records share one credential, one rate budget and one connection, so one
task (`sync_team_write_task`, woken through the team's lane, lanes.py) takes up to
GREENHOUSE_SYNC_BATCH_SIZE of the team's due records in message order, claims them all in one
UPDATE, and writes them in order: the common case at the batch's head together (fastpath.py:
facts loaded for all, one commit before the POSTs, one after), the rest one after the other
through the careful per-record path of sync.py (`_write_claimed`: the switch gate before each
POST, the read-back rule, lookups, errors). Then
it gives the lane back and queues the team's next batch behind every other team's task already
in the queue: a team with 5,000 waiting notes gets one batch per turn, like a team with one.

No worker waits on the rate budget: the first record the budget has no slot for is deferred
(sync.py `_defer`, no attempt counted), the batch's other records go back to pending due at
the same slot, and the lane is woken with a countdown to it.

Exactly once holds as for one record: each claim is exclusive, `post_started_at` is committed
before each POST (in the guard), and a record found with it set and no note id is read back
before anything is posted again. A worker killed mid-batch leaves its records claimed; the
sweep takes them back after GREENHOUSE_SYNC_STALE_AFTER (the read-back decides), and its lane's
lease after QUEUE_LEASE (acks_late redelivers the message sooner on most brokers).

A known limit: the batch takes the team's first due records in message order. When all of them
wait for an older record of their thread that another worker holds (one that died, until the
sweep takes it back), the team's other threads wait too; a batch that settled nothing does not
queue itself again at once (it would spin), the older record's end or the sweep wakes the lane.
"""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from .fastpath import batch_write_fast
from .lanes import sync_lane_holds, sync_lane_release
from .models import SyncRecord
from .sync import Claim, Status, _waits_for_older, _write_claimed

logger = logging.getLogger(__name__)

SETTLED = ("written", Status.SKIPPED, Status.HELD, "failed", "retry")


def sync_team_write(*, team_id: int, token: str | None = None) -> dict[str, int]:
    """Write one batch of the team's due records, then hand the lane on. `token`: the lane's
    lease the task was queued with (None: a task queued by hand, which runs regardless).
    Returns the outcomes counted (for logs, tests and benchmarks)."""
    lease = datetime.fromisoformat(token) if token else None
    if lease is not None and not sync_lane_holds(team_id=team_id, token=lease):
        return {"superseded": 1}  # a sooner wake-up, or the sweep after the lease, took over
    outcomes: dict[str, int] = {}
    deferred_until: datetime | None = None
    try:
        deferred_until = _batch_write(team_id=team_id, outcomes=outcomes)
    finally:
        progressed = any(outcomes.get(outcome) for outcome in SETTLED)
        sync_lane_release(
            team_id=team_id, token=lease, progressed=progressed, budget_until=deferred_until
        )
    return outcomes


def _batch_write(*, team_id: int, outcomes: dict[str, int]) -> datetime | None:
    """Claim and write up to a batch of the team's due records; returns the rate budget's next
    slot when it stopped the batch."""
    now = timezone.now()
    due = Q(next_attempt_at=None) | Q(next_attempt_at__lte=now)
    ids = list(
        SyncRecord.objects.filter(team_id=team_id, status=Status.PENDING)
        .filter(due)
        .order_by("message__created_at", "message_id")
        .values_list("pk", flat=True)[: settings.GREENHOUSE_SYNC_BATCH_SIZE]
    )
    if not ids:
        return None
    # The claim of the whole batch, in one statement (each row checked again: exactly one wins).
    claimed = {
        pk
        for pk, _ in SyncRecord._update_returning(
            SyncRecord.objects.filter(due, pk__in=ids, status=Status.PENDING),
            {
                "status": Status.IN_PROGRESS,
                "claimed_at": now,
                "attempts": F("attempts") + 1,
                "queued_at": None,
            },
        )
    }
    records = SyncRecord.objects.select_related(
        "message__sender", "thread__owner", "thread__virtual_number", "prospect"
    ).in_bulk(claimed)
    started = time.monotonic()
    # No new record after this long (slow answers, lookups), so the records it still holds are
    # never near STALE_AFTER and the other teams get their turn; the rest go back to pending.
    turn = settings.GREENHOUSE_SYNC_BATCH_SECONDS
    # The common case at the batch's head, together (fastpath.py); the rest one by one.
    run = batch_write_fast(
        team_id=team_id,
        records=[records[pk] for pk in ids if pk in claimed],
        claimed_at=now,
        until=started + turn,
    )
    for outcome, count in run.outcomes.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + count
    deferred_until: datetime | None = run.deferred_until
    unclaim: list[int] = []
    for record in run.rest:
        pk = record.pk
        if deferred_until is not None or time.monotonic() - started > turn:
            unclaim.append(pk)
            continue
        if _waits_for_older(record, now):
            unclaim.append(pk)  # after an older message of its thread, held elsewhere
            _count(outcomes, "waiting")
            continue
        claim = Claim(record=record, claimed_at=now, in_batch=True)
        outcome = _write_claimed(claim)
        _count(outcomes, outcome)
        if outcome == "deferred":
            deferred_until = claim.deferred_until
    if unclaim:
        # Back to pending as they were (no attempt counted), due at the budget's slot if it
        # stopped the batch.
        values: dict = {"status": Status.PENDING, "claimed_at": None, "attempts": F("attempts") - 1}
        if deferred_until is not None:
            values["next_attempt_at"] = deferred_until
        SyncRecord.held(claimed_at=now, pk__in=unclaim).update(**values)
    return deferred_until


def _count(outcomes: dict[str, int], outcome: str) -> None:
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
