"""The sync's beat sweeper: what a lost broker message, a dead worker or a connection that came
back left waiting is found here and queued again (the shared outbox's rescue, apps/core/outbox.py,
then the lanes of teams with due records, lanes.py), records the signal missed are created,
prospects not in Greenhouse yet are looked up again when due (waiting.py), unhealthy
connections are tested again, and candidate directories' passes a crash left are queued again
(directory.py). Everything is idempotent, so any number of beats may
run it.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.messaging.models import Message

from .connection import greenhouse_integration_test_connection
from .directory import directories_sweep
from .lanes import sync_lanes_sweep
from .models import GreenhouseIntegration, SyncRecord
from .sync import HELD_FOR_CONNECTION, Status, sync_record_create
from .waiting import prospect_lookups_sweep

logger = logging.getLogger(__name__)

BACKFILL_BATCH = 500
BACKFILL_WINDOW = timedelta(days=1)


def sync_records_sweep(
    *,
    now: datetime | None = None,
    stale_after: timedelta | None = None,
    grace: timedelta | None = None,
    lease: timedelta | None = None,
) -> dict[str, int]:
    """Release records held for the connection once it is healthy; create records the signal
    missed (older than `grace`); rescue what lost its worker; queue what is due and has no task
    on its way (`lease`: settings.QUEUE_LEASE). Then the same for bot emails. Returns counts,
    for logs and tests."""
    from .alerts import alert_emails_sweep
    from .bot_notice import bot_notices_sweep, review_notices_sweep
    from .sensitive_review import sensitive_reviews_expire

    now = now or timezone.now()
    stale_after = stale_after or timedelta(seconds=settings.GREENHOUSE_SYNC_STALE_AFTER)
    grace = (
        grace if grace is not None else timedelta(seconds=settings.GREENHOUSE_SYNC_PENDING_GRACE)
    )
    counts = {}
    healthy = GreenhouseIntegration.objects.filter(
        health=GreenhouseIntegration.Health.OK, sync_enabled_by_support=True, sync_on=True
    ).values("team_id")
    # Pending with no lease: the queueing step of the sweep below takes them at once, oldest
    # message first (and each thread in order: the writer waits for older ones). Their attempts
    # start again: those an outage used up say nothing about the next try.
    counts["released"] = SyncRecord.objects.filter(
        status=Status.HELD, reason__in=HELD_FOR_CONNECTION, team_id__in=healthy
    ).update(status=Status.PENDING, next_attempt_at=now, queued_at=None, last_error="", attempts=0)
    counts["backfilled"] = _backfill_missing(now=now, grace=grace)
    # Sensitive messages nobody reviewed in time: the team's choice (queued below when written).
    expired = sensitive_reviews_expire(now=now)
    counts["review_expired_written"] = expired["written"]
    counts["review_expired_skipped"] = expired["skipped"]
    counts["review_caught_up"] = expired["caught_up"]
    # The read-back on the next attempt decides whether a dead worker's POST went through.
    # Only the rescue is the outbox's (batch=0): what is due is queued per team, by its lane.
    result = SyncRecord.sweep(
        now=now,
        stale_after=stale_after,
        lease=lease,
        batch=0,
        gave_up_error=(
            "The worker stopped while writing this note too many times. It may have been "
            "written: check the candidate in Greenhouse."
        ),
        rescued_error="The worker stopped while writing; checking Greenhouse before writing again.",
    )
    counts.update(gave_up=result.gave_up, rescued=result.rescued)
    counts["queued"] = sync_lanes_sweep(now=now, lease=lease)  # teams whose lane was queued
    # Prospects not in Greenhouse yet: the window, then the re-lookups that are due (waiting.py).
    counts.update(prospect_lookups_sweep(now=now, stale_after=stale_after, lease=lease))
    counts["bot_notices"] = bot_notices_sweep(now=now, stale_after=stale_after, lease=lease)
    # Backfills (backfill.py) whose records are all done: finished (their pages say so anyway).
    from .backfill_progress import backfills_finish

    counts["backfills_finished"] = backfills_finish(now=now)

    # Automatic candidate creations (issue 15) that were never queued, lost, or are due again.
    from .creation import candidate_creations_sweep

    counts["creations"] = candidate_creations_sweep(now=now)

    counts["review_notices"] = review_notices_sweep(now=now, stale_after=stale_after, lease=lease)

    # Candidate directories (directory.py): a pass a crash left, a crawl due again.
    counts["directories"] = directories_sweep(now=now)
    counts["alert_emails"] = alert_emails_sweep(now=now, stale_after=stale_after, lease=lease)
    return counts


def _backfill_missing(*, now: datetime, grace: timedelta) -> int:
    """Records the signal should have created but did not (its receiver failed and logged)."""
    created = 0
    for integration in GreenhouseIntegration.objects.filter(
        sync_enabled_by_support=True, sync_on=True
    ):
        since = max(integration.sync_on_since or now, now - BACKFILL_WINDOW)
        missing = (
            Message.objects.filter(
                team_id=integration.team_id,
                created_at__gte=since,
                created_at__lt=now - grace,
                sync_record__isnull=True,
            )
            .filter(
                Q(
                    direction=Message.Direction.OUTBOUND,
                    status__in=(Message.Status.SENT, Message.Status.DELIVERED),
                )
                | Q(direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED)
            )
            .order_by("created_at", "pk")[:BACKFILL_BATCH]
        )
        for message in missing:
            created += sync_record_create(message=message) is not None
    return created


def recheck_delay(*, unhealthy_for: timedelta) -> timedelta:
    """How long after its last test an unhealthy connection is tested again: half the time it
    has been unhealthy, within GREENHOUSE_RECHECK_MIN_DELAY and _MAX_DELAY. Fast at first (a
    short outage ends soon after Greenhouse is back), slower through a long one."""
    low = timedelta(seconds=settings.GREENHOUSE_RECHECK_MIN_DELAY)
    high = timedelta(seconds=settings.GREENHOUSE_RECHECK_MAX_DELAY)
    return min(high, max(low, unhealthy_for / 2))


def greenhouse_connections_recheck(*, now: datetime | None = None) -> int:
    """Test again the connections that need attention while records are held for them, each
    when its delay (`recheck_delay`) has passed; a passing test makes the next sweep release
    those records."""
    now = now or timezone.now()
    waiting = SyncRecord.objects.filter(status=Status.HELD, reason__in=HELD_FOR_CONNECTION).values(
        "team_id"
    )
    integrations = GreenhouseIntegration.objects.filter(
        health=GreenhouseIntegration.Health.NEEDS_ATTENTION,
        sync_enabled_by_support=True,
        team_id__in=waiting,
    )
    checked = 0
    for integration in integrations:
        since = integration.unhealthy_since or integration.last_checked_at or now
        last = integration.last_checked_at
        if last is not None and now < last + recheck_delay(unhealthy_for=now - since):
            continue
        greenhouse_integration_test_connection(integration=integration)
        checked += 1
    return checked
