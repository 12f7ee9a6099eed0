"""Team admins' backfill pages: the dry run, the run, and its progress (backfill.py does the work).

The dry run is a GET: it reads local rows only (no Greenhouse call, nothing stored), so a reload,
a bookmark or a link scanner changes nothing, and its window is in the address to share. The run
is a POST with CSRF. Team admins only, for their own team (another team's backfill or prospect is
a 404); recruiters see the result in each message's "why" line.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_admin_required

from .. import selectors
from ..backfill import backfill_plan, backfill_run, backfill_until
from ..backfill_lookups import backfill_lookups
from ..backfill_progress import backfill_progress, backfills_for_team
from ..forms import BackfillWindowForm
from ..models import Backfill


def _page(request, *, prospect: Prospect | None):
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    until = backfill_until(integration=integration, prospect=prospect)
    asked = "window" in request.GET
    form = BackfillWindowForm(request.GET if asked else None)
    plan = None
    if until is not None and asked and form.is_valid():
        try:
            since, label = form.window_of(until=until)
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, errors)
        else:
            plan = backfill_plan(
                team=request.team, since=since, until=until, window_label=label, prospect=prospect
            )
    return render(
        request,
        "greenhouse/backfill.html",
        {
            "integration": integration,
            "prospect": prospect,
            "until": until,
            "form": form,
            "plan": plan,
            "backfills": backfills_for_team(
                team_id=request.team.pk, prospect_id=prospect.pk if prospect else None
            ),
        },
        status=400 if asked and form.errors else 200,
    )


@require_GET
@team_admin_required
def backfill_team(request):
    """The team's backfill: messages from before sync was turned on (the dry run with a window)."""
    return _page(request, prospect=None)


@require_GET
@team_admin_required
def backfill_prospect(request, pk):
    """One prospect's backfill: their messages skipped before they were linked."""
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    return _page(request, prospect=prospect)


@require_POST
@team_admin_required
def backfill_start(request):
    prospect = None
    if request.POST.get("prospect"):
        prospect = get_for_team_or_404(
            Prospect.objects.all(), request.team, pk=request.POST["prospect"]
        )
    back = (
        redirect("greenhouse:prospect-backfill", pk=prospect.pk)
        if prospect is not None
        else redirect("greenhouse:backfill")
    )
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    until = backfill_until(integration=integration, prospect=prospect)
    form = BackfillWindowForm(request.POST)
    if until is None:
        messages.error(request, "Turn the sync on first: a backfill writes through it.")
        return back
    if not form.is_valid():
        messages.error(request, "Choose a window for the backfill; nothing was started.")
        return back
    try:
        since, label = form.window_of(until=until)
        backfill = backfill_run(
            team=request.team,
            by=request.user,
            since=since,
            until=until,
            window_label=label,
            prospect=prospect,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return back
    if backfill.released:
        messages.success(
            request,
            f"Backfill started: {backfill.released} message(s) queued, written at the pace of "
            "Greenhouse's rate limit.",
        )
    else:
        messages.info(request, "Nothing to write in this window: every message there is done.")
    return redirect("greenhouse:backfill-detail", pk=backfill.pk)


@require_POST
@team_admin_required
def backfill_lookup(request):
    """Look up the window's prospects never looked up in Greenhouse (they are, before their
    first note, anyway), then back to the dry run of the same window, exact now."""
    prospect = None
    if request.POST.get("prospect"):
        prospect = get_for_team_or_404(
            Prospect.objects.all(), request.team, pk=request.POST["prospect"]
        )
    form = BackfillWindowForm(request.POST)
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    until = backfill_until(integration=integration, prospect=prospect)
    url = (
        reverse("greenhouse:prospect-backfill", args=[prospect.pk])
        if prospect is not None
        else reverse("greenhouse:backfill")
    )
    if until is None or not form.is_valid():
        messages.error(request, "Choose a window with the sync on; nothing was looked up.")
        return redirect(url)
    try:
        since, _ = form.window_of(until=until)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(url)
    found = backfill_lookups(team=request.team, since=since, until=until, prospect=prospect)
    if found.error:
        messages.error(request, f"Looked up {found.looked_up}, then: {found.error}")
    elif found.left:
        messages.warning(
            request, f"Looked up {found.looked_up}; {found.left} left for lack of time: again."
        )
    else:
        messages.success(request, f"Looked up {found.looked_up} prospect(s) in Greenhouse.")
    window = {"window": form.cleaned_data["window"]}
    if form.cleaned_data.get("since"):
        window["since"] = form.cleaned_data["since"].isoformat()
    return redirect(f"{url}?{urlencode(window)}")


@require_GET
@team_admin_required
def backfill_detail(request, pk):
    backfill = get_for_team_or_404(
        Backfill.objects.select_related("prospect", "requested_by"), request.team, pk=pk
    )
    return render(
        request,
        "greenhouse/backfill_detail.html",
        {"backfill": backfill, "progress": backfill_progress(backfill=backfill)},
    )
