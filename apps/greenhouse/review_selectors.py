"""Reads of the review queue (issue 15): the prospects whose messages wait for a person or for
their Greenhouse candidate, one row each, oldest wait first, a page at a time.

A recruiter sees the prospects they own; a team admin every prospect of the team. The queue is
made of held sync records (NOT_IN_GREENHOUSE_YET, CANDIDATE_TO_CREATE, SEVERAL_CANDIDATES),
grouped by prospect in one query per page; the page's links, creations and ignores in one more
each. Nothing here calls Greenhouse (the candidates' details come from a POST, review.py)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import Count, Min, QuerySet

from apps.sequences.models import Prospect

from .models import CandidateCreation, CandidateLink, ProspectSyncIgnore, ReviewAction, SyncRecord
from .policy import Reason, reason_label

QUEUE_REASONS = (
    Reason.NOT_IN_GREENHOUSE_YET,
    Reason.CANDIDATE_TO_CREATE,
    Reason.SEVERAL_CANDIDATES,
)
PAGE_SIZE = 25
MAX_PAGES = 40  # 1,000 prospects: past that, the filters (or Greenhouse) have to help


@dataclass
class QueueRow:
    prospect: Prospect
    waiting: int
    since: datetime
    reasons: list[str]
    link: CandidateLink | None = None
    creation: CandidateCreation | None = None
    candidate_ids: list[int] = field(default_factory=list)

    @property
    def several(self) -> bool:
        return Reason.SEVERAL_CANDIDATES in self.reasons

    @property
    def reason_labels(self) -> list[str]:
        return [reason_label(r) for r in self.reasons]


def _visible_records(*, team_id: int, user, is_admin: bool) -> QuerySet[SyncRecord]:
    records = SyncRecord.objects.filter(
        team_id=team_id, status=SyncRecord.Status.HELD, reason__in=QUEUE_REASONS
    )
    if not is_admin:
        records = records.filter(prospect__owner=user)
    return records


def review_queue_page(*, team_id: int, user, is_admin: bool, page_number=1) -> tuple[Page, list]:
    """(the page, its rows). At most MAX_PAGES pages of PAGE_SIZE prospects."""
    grouped = (
        _visible_records(team_id=team_id, user=user, is_admin=is_admin)
        .values("prospect_id")
        .annotate(waiting=Count("id"), since=Min("message__created_at"))
        .order_by("since", "prospect_id")
    )[: PAGE_SIZE * MAX_PAGES]
    page = Paginator(grouped, PAGE_SIZE).get_page(page_number)
    groups = list(page.object_list)
    ids = [g["prospect_id"] for g in groups]
    prospects = Prospect.objects.select_related("owner").prefetch_related("emails").in_bulk(ids)
    links = {link.prospect_id: link for link in CandidateLink.objects.filter(prospect_id__in=ids)}
    creations = {c.prospect_id: c for c in CandidateCreation.objects.filter(prospect_id__in=ids)}
    reasons: dict[int, set[str]] = {}
    for prospect_id, reason in (
        SyncRecord.objects.filter(
            prospect_id__in=ids, status=SyncRecord.Status.HELD, reason__in=QUEUE_REASONS
        )
        .values_list("prospect_id", "reason")
        .distinct()
    ):
        reasons.setdefault(prospect_id, set()).add(reason)
    rows = []
    for group in groups:
        prospect_id = group["prospect_id"]
        link = links.get(prospect_id)
        rows.append(
            QueueRow(
                prospect=prospects[prospect_id],
                waiting=group["waiting"],
                since=group["since"],
                reasons=sorted(reasons.get(prospect_id, ())),
                link=link,
                creation=creations.get(prospect_id),
                candidate_ids=[int(i) for i in (link.candidate_ids_seen if link else []) or []],
            )
        )
    return page, rows


def review_queue_count(*, team_id: int, user, is_admin: bool) -> int:
    """How many prospects wait in the user's queue (for links from other pages)."""
    return (
        _visible_records(team_id=team_id, user=user, is_admin=is_admin)
        .values("prospect_id")
        .distinct()
        .count()
    )


def review_actions_for_prospect(*, prospect) -> QuerySet[ReviewAction]:
    return ReviewAction.objects.filter(prospect=prospect).select_related("by")


def prospect_is_ignored(*, prospect) -> bool:
    return ProspectSyncIgnore.objects.filter(prospect=prospect, ignored=True).exists()
