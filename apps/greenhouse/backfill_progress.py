"""Reads about backfills (backfill.py): their progress (done, waiting, time left at the team's
allowance), the team's latest, where one is offered (the sync page once sync is on, a prospect's
page once they are linked late), and the sweep's "finished"."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from apps.sequences.models import Prospect

from .backfill import LATE_LINK_REASONS, NEVER_BACKFILLED, backfill_until
from .models import Backfill, CandidateLink, GreenhouseIntegration, SyncRecord
from .policy import CandidateMatch
from .selectors import sync_max_rate_per_minute

Status = SyncRecord.Status


@dataclass(frozen=True)
class Progress:
    written: int
    waiting: int  # pending or being written
    held: int
    skipped: int  # the writer's fresher facts said no (a pause since, a switch-off...)
    failed: int
    eta: timedelta | None  # None: nothing waiting
    rate_per_minute: float

    @property
    def done(self) -> int:
        return self.written + self.skipped + self.failed

    @property
    def finished(self) -> bool:
        return self.waiting == 0


def backfill_progress(*, backfill: Backfill) -> Progress:
    """Done, waiting and the time left, at the best rate the team's allowance gives (each note
    is one request; a prospect not looked up yet costs one lookup more)."""
    counts = dict(
        SyncRecord.objects.filter(backfill=backfill)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    waiting = counts.get(Status.PENDING, 0) + counts.get(Status.IN_PROGRESS, 0)
    rate = sync_max_rate_per_minute()
    eta = None
    if waiting:
        unlinked = (
            SyncRecord.objects.filter(
                backfill=backfill, status__in=(Status.PENDING, Status.IN_PROGRESS)
            )
            .exclude(prospect__greenhouse_link__match=CandidateMatch.ONE)
            .values("prospect_id")
            .distinct()
            .count()
        )
        eta = timedelta(minutes=(waiting + unlinked) / rate)
    return Progress(
        written=counts.get(Status.WRITTEN, 0),
        waiting=waiting,
        held=counts.get(Status.HELD, 0),
        skipped=counts.get(Status.SKIPPED, 0),
        failed=counts.get(Status.FAILED, 0),
        eta=eta,
        rate_per_minute=rate,
    )


def backfills_for_team(*, team_id: int, prospect_id: int | None = None, limit: int = 10):
    backfills = Backfill.objects.filter(team_id=team_id).select_related("prospect")
    if prospect_id is not None:
        backfills = backfills.filter(prospect_id=prospect_id)
    return list(backfills[:limit])


def backfills_finish(*, now: datetime | None = None) -> int:
    """Mark running backfills with no record left on its way as finished (the beat's sweep).
    Returns how many."""
    busy = SyncRecord.objects.filter(
        backfill_id=OuterRef("pk"), status__in=(Status.PENDING, Status.IN_PROGRESS)
    )
    return (
        Backfill.objects.filter(status=Backfill.Status.RUNNING)
        .filter(~Exists(busy))
        .update(status=Backfill.Status.FINISHED, finished_at=now or timezone.now())
    )


# --- Where a backfill is offered ---------------------------------------------------------------


def backfill_offered_for_team(*, integration: GreenhouseIntegration | None) -> bool:
    """After sync is turned on: offered while skipped messages from before it exist."""
    until = backfill_until(integration=integration)
    if until is None or integration is None:
        return False
    return (
        SyncRecord.objects.filter(
            team_id=integration.team_id, status=Status.SKIPPED, message__created_at__lt=until
        )
        .exclude(reason__in=NEVER_BACKFILLED)
        .exists()
    )


def backfill_offered_for_prospect(*, prospect: Prospect, link: CandidateLink | None) -> bool:
    """A prospect linked late: linked to one candidate now, with messages skipped before for
    having none."""
    if link is None or link.match != CandidateMatch.ONE:
        return False
    return SyncRecord.objects.filter(
        prospect=prospect, status=Status.SKIPPED, reason__in=LATE_LINK_REASONS
    ).exists()
