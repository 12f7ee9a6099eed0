"""Pages for the sync: the pause link (no login), a prospect's sync log with pause/resume, and
the team admin's switches. Team pages go through apps.teams.access; no GET changes anything."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_admin_required, team_member_required

from . import selectors
from .forms import PUBLIC_WARNING, SyncSettingsForm
from .models import NoteVisibility, PauseVia, ProspectSyncPause
from .pausing import (
    PauseLinkInvalid,
    PauseLinkOutdated,
    pause_token_read,
    prospect_sync_pause,
    prospect_sync_resume,
)
from .sync import team_note_visibility_set, team_sync_turn_off, team_sync_turn_on


def _client(request) -> dict:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a proxy rewrites it.
    return {
        "ip_address": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.headers.get("User-Agent", "")[:300],
    }


def _page(request, state: str, status: int = 200, **context):
    return render(request, "greenhouse/pause.html", {"state": state, **context}, status=status)


@require_http_methods(["GET", "POST"])
def pause_link(request, token):
    """GET: a confirmation page, nothing changes (mail scanners open links). POST: pause."""
    try:
        link = pause_token_read(token)
    except PauseLinkInvalid as exc:
        return _page(request, "invalid", status=400, message=str(exc))
    prospect = Prospect.objects.select_related("team").filter(pk=link.prospect_id).first()
    if prospect is None:
        return _page(request, "invalid", status=404, message="This candidate no longer exists.")
    state = ProspectSyncPause.objects.filter(prospect=prospect).first()
    context = {"prospect": prospect, "team": prospect.team}
    if link.version != (state.resume_version if state else 0):
        return _page(request, "outdated", status=410, **context)
    if request.method == "GET":
        return _page(request, "confirm", already=bool(state and state.paused), **context)
    membership = (
        getattr(request.user, "membership", None) if request.user.is_authenticated else None
    )
    by = request.user if membership and membership.team_id == prospect.team_id else None
    try:
        _, changed = prospect_sync_pause(
            prospect=prospect, via=PauseVia.EMAIL_LINK, by=by, link=link, **_client(request)
        )
    except PauseLinkOutdated:
        return _page(request, "outdated", status=410, **context)
    return _page(request, "paused", changed=changed, **context)


@team_member_required
def prospect_sync(request, pk):
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    return render(
        request,
        "greenhouse/prospect_sync.html",
        {
            "prospect": prospect,
            "pause": ProspectSyncPause.objects.filter(prospect=prospect).first(),
            "records": selectors.sync_records_for_prospect(prospect=prospect)[:200],
            "events": selectors.sync_pause_events_for_prospect(prospect=prospect)[:50],
        },
    )


@require_POST
@team_member_required
def prospect_pause(request, pk):
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    _, changed = prospect_sync_pause(
        prospect=prospect, via=PauseVia.APP, by=request.user, **_client(request)
    )
    messages.success(
        request,
        f"Sync paused for {prospect}." if changed else f"Sync was already paused for {prospect}.",
    )
    return redirect("greenhouse:prospect-sync", pk=prospect.pk)


@require_POST
@team_member_required
def prospect_resume(request, pk):
    """Recruiters and team admins resume; pause links sent before this stop working."""
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    _, changed = prospect_sync_resume(prospect=prospect, by=request.user, **_client(request))
    messages.success(
        request,
        f"Sync resumed for {prospect}: new messages are written to Greenhouse again."
        if changed
        else f"Sync was not paused for {prospect}.",
    )
    return redirect("greenhouse:prospect-sync", pk=prospect.pk)


@team_admin_required
def sync_settings(request):
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    status = 200
    form = None
    if integration is not None and integration.sync_enabled_by_support:
        initial = {"sync_on": integration.sync_on, "note_visibility": integration.note_visibility}
        form = SyncSettingsForm(request.POST or None, initial=initial)
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                try:
                    if data["note_visibility"] != integration.note_visibility:
                        team_note_visibility_set(
                            team=request.team, visibility=data["note_visibility"], by=request.user
                        )
                    if data["sync_on"] and not integration.sync_on:
                        team_sync_turn_on(team=request.team, by=request.user)
                    elif not data["sync_on"] and integration.sync_on:
                        skipped = team_sync_turn_off(team=request.team, by=request.user)
                        messages.info(request, f"{skipped} waiting messages will not be synced.")
                except ValidationError as exc:
                    form.add_error(None, exc.messages)
                else:
                    messages.success(request, "Greenhouse sync settings saved.")
                    return redirect("greenhouse:settings")
            status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "greenhouse/settings.html",
        {
            "integration": integration,
            "form": form,
            "public_warning": PUBLIC_WARNING,
            "public": NoteVisibility.PUBLIC,
        },
        status=status,
    )
