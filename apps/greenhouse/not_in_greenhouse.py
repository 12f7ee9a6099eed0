"""Which prospects are not in Greenhouse yet, and where a person settles them (issue 15, item 5).

Why one place: the Maildrop preflight, the enrollment page and the recruiter's candidate page
all say the same thing: this prospect has no Greenhouse candidate yet (their link's lookup found
none, or messages of theirs are held "not in Greenhouse yet"), with a link to the review queue,
where a person links, creates or ignores them.
"""

from collections.abc import Iterable

from django.urls import reverse

from .models import CandidateLink, SyncRecord
from .policy import CandidateMatch, Reason


def prospects_not_in_greenhouse_yet(*, team_id: int, prospect_ids: Iterable[int]) -> set[int]:
    """Of `prospect_ids` (the team's), those not in Greenhouse yet: two indexed queries."""
    ids = list(prospect_ids)
    if not ids:
        return set()
    unknown = set(
        CandidateLink.objects.filter(
            team_id=team_id, prospect_id__in=ids, match=CandidateMatch.NONE
        ).values_list("prospect_id", flat=True)
    )
    waiting = set(
        SyncRecord.objects.filter(
            team_id=team_id,
            prospect_id__in=ids,
            status=SyncRecord.Status.HELD,
            reason=Reason.NOT_IN_GREENHOUSE_YET,
        )
        .order_by()
        .values_list("prospect_id", flat=True)
        .distinct()
    )
    return unknown | waiting


def prospect_not_in_greenhouse_yet(*, link: CandidateLink | None) -> bool:
    """For one prospect whose link is loaded already: its lookup found no candidate (a message
    is held "not in Greenhouse yet" only after such a lookup), with no query."""
    return link is not None and link.match == CandidateMatch.NONE


def review_queue_url() -> str:
    """The review queue (issue 15, item 2), where these prospects are linked, created or ignored."""
    return reverse("greenhouse:review")
