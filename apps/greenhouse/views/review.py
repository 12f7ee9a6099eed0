"""The review queue (issue 15): prospects whose messages wait for their Greenhouse candidate,
or for a person to choose among several, with the actions link, create in Greenhouse, ignore
(and stop ignoring).

Team admins see the team's prospects, a recruiter the prospects they own; another team's
prospect, or a colleague's for a recruiter, answers 404 (its existence is not revealed). Every
action is a POST with CSRF; a GET never changes anything, nor calls Greenhouse. The candidates'
details come from Greenhouse on a "show candidates" POST, which renders the page with them."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_admin_required, team_member_required

from .. import review_selectors, selectors
from ..creation import candidate_create
from ..models import CandidateLink, GreenhouseIntegration
from ..review import (
    prospect_candidate_link,
    prospect_sync_ignore,
    prospect_sync_unignore,
    review_candidates_lookup,
)

MAX_TAG_LENGTH = 100


def _prospect(request, pk) -> Prospect:
    """The prospect, if this user may act on it: 404 for another team's, and for a recruiter,
    for a colleague's."""
    prospect = get_for_team_or_404(Prospect.objects.select_related("owner"), request.team, pk=pk)
    if not request.membership.is_admin and prospect.owner_id != request.user.pk:
        raise Http404("No such prospect.")
    return prospect


def _queue_page(request, *, shown: dict | None = None, status: int = 200):
    is_admin = request.membership.is_admin
    page, rows = review_selectors.review_queue_page(
        team_id=request.team.pk,
        user=request.user,
        is_admin=is_admin,
        page_number=request.GET.get("page") or request.POST.get("page") or 1,
    )
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    return render(
        request,
        "greenhouse/review_queue.html",
        {
            "page": page,
            "rows": rows,
            "integration": integration,
            "is_admin": is_admin,
            "shown": shown or {},
            "max_rows": review_selectors.PAGE_SIZE * review_selectors.MAX_PAGES,
        },
        status=status,
    )


def _back(request, prospect=None):
    if prospect is not None and request.POST.get("next") == "prospect":
        return redirect("greenhouse:prospect-sync", pk=prospect.pk)
    page = request.POST.get("page", "")
    url = redirect("greenhouse:review")
    if page.isdigit():
        url["Location"] += f"?page={page}"
    return url


@team_member_required
def review_queue(request):
    return _queue_page(request)


@require_POST
@team_member_required
def review_candidates_show(request, pk):
    """The candidates Greenhouse has for the prospect's emails (by id), or found by another
    email address or an id the person typed. Reads Greenhouse, changes nothing here."""
    prospect = _prospect(request, pk)
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    if integration is None:
        messages.error(request, "Greenhouse is not connected for your team.")
        return _back(request)
    email = request.POST.get("email", "").strip()
    typed = request.POST.get("candidate_id", "").strip()
    ids: list[int] = []
    if typed:
        if not typed.isdigit() or not 0 < int(typed) < 2**63:
            messages.error(request, "Enter a Greenhouse candidate ID (a number).")
            return _back(request)
        ids = [int(typed)]
    elif not email:
        link = prospect.greenhouse_link if hasattr(prospect, "greenhouse_link") else None
        ids = [int(i) for i in (link.candidate_ids_seen if link else []) or []]
    lookup = review_candidates_lookup(integration=integration, ids=ids, email=email)
    shown = {
        prospect.pk: {
            "candidates": lookup.candidates,
            "error": lookup.error,
            "searched": email or typed,
        }
    }
    return _queue_page(request, shown=shown)


@require_POST
@team_member_required
def review_link(request, pk):
    prospect = _prospect(request, pk)
    try:
        released = prospect_candidate_link(
            prospect=prospect, candidate_id=request.POST.get("candidate_id"), by=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request, prospect)
    link = CandidateLink.objects.get(prospect=prospect)
    messages.success(
        request,
        f"{prospect} is now linked to Greenhouse candidate {link.candidate_id}; "
        f"{released} waiting message{'s' if released != 1 else ''} will be written to it in order.",
    )
    return _back(request, prospect)


@require_POST
@team_member_required
def review_create(request, pk):
    prospect = _prospect(request, pk)
    result = candidate_create(prospect, by=request.user)
    (messages.success if result.ok else messages.error)(request, result.message)
    return _back(request, prospect)


@require_POST
@team_member_required
def review_ignore(request, pk):
    prospect = _prospect(request, pk)
    changed, skipped = prospect_sync_ignore(prospect=prospect, by=request.user)
    messages.success(
        request,
        f"{prospect} is ignored: none of their messages will be written to Greenhouse "
        f"({skipped} waiting skipped)."
        if changed
        else f"{prospect} was already ignored.",
    )
    return _back(request, prospect)


@require_POST
@team_member_required
def review_unignore(request, pk):
    prospect = _prospect(request, pk)
    changed = prospect_sync_unignore(prospect=prospect, by=request.user)
    messages.success(
        request,
        f"{prospect} is no longer ignored: their new messages are synced again (those skipped "
        "while ignored stay skipped)."
        if changed
        else f"{prospect} was not ignored.",
    )
    return _back(request, prospect)


@require_POST
@team_admin_required
def review_tag_set(request):
    """The tag every candidate created from this app gets (blank: none). Team admins only."""
    integration = GreenhouseIntegration.objects.filter(team=request.team).first()
    if integration is None:
        messages.error(request, "Greenhouse is not connected for your team yet; ask support.")
        return _back(request)
    tag = " ".join(request.POST.get("candidate_tag", "").split())
    if len(tag) > MAX_TAG_LENGTH:
        messages.error(request, f"A tag has at most {MAX_TAG_LENGTH} characters.")
        return _back(request)
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(candidate_tag=tag)
    messages.success(
        request,
        f"Candidates created from here are tagged “{tag}”."
        if tag
        else "Created candidates get no tag.",
    )
    return _back(request)
