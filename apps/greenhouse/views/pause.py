"""The pause link of the bot email: no login, the signed token is the authorization to pause.
A GET shows a confirmation; only the POST pauses (mail scanners follow links).
"""

from typing import Any

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.sequences.models import Prospect
from apps.teams.access import membership_for

from ..models import PauseVia, ProspectSyncPause
from ..pausing import PauseLinkInvalid, PauseLinkOutdated, pause_token_read, prospect_sync_pause
from . import request_client


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
    context: dict[str, Any] = {"prospect": prospect, "team": prospect.team}
    if link.version != (state.resume_version if state else 0):
        return _page(request, "outdated", status=410, **context)
    if request.method == "GET":
        return _page(request, "confirm", already=bool(state and state.paused), **context)
    membership = membership_for(request.user)
    by = request.user if membership and membership.team_id == prospect.team_id else None
    try:
        _, changed = prospect_sync_pause(
            prospect=prospect, via=PauseVia.EMAIL_LINK, by=by, link=link, **request_client(request)
        )
    except PauseLinkOutdated:
        return _page(request, "outdated", status=410, **context)
    return _page(request, "paused", changed=changed, **context)


# --- The candidate page (recruiters) -----------------------------------------------------------
