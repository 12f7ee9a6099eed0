"""What this app adds to other apps' pages, through apps.core.extensions (they never import it):
the candidate's pause switch on the prospect page, each message's sync status on the thread page,
the sync summary on a team admin's home page, and the Team settings tabs."""

from django.template.loader import render_to_string

from apps.core.extensions import annotator, nav_item, panel

from . import selectors
from .models import ProspectSyncPause


def register_nav() -> None:
    for order, (label, url_name) in enumerate(
        [
            ("Greenhouse connection", "greenhouse:connection"),
            ("Sync", "greenhouse:settings"),
            ("User mapping", "greenhouse:users"),
            ("Sync log", "greenhouse:log"),
        ],
        start=20,
    ):
        nav_item(section="settings", label=label, url_name=url_name, audience="admin", order=order)


def message_sync_context(message, record) -> dict:
    """What one message's sync line says (also used by the candidate page)."""
    return {
        "message": message,
        "record": record,
    }


@annotator("thread.messages")
def thread_message_sync(request, messages) -> dict:
    records = selectors.sync_records_by_message(message_ids=[m.pk for m in messages])
    return {
        message.pk: render_to_string(
            "greenhouse/_message_sync.html", message_sync_context(message, records.get(message.pk))
        )
        for message in messages
    }


@panel("prospect.detail")
def prospect_sync_panel(request, *, prospect) -> str:
    return render_to_string(
        "greenhouse/_prospect_panel.html",
        {
            "prospect": prospect,
            "pause": ProspectSyncPause.objects.filter(prospect=prospect).first(),
            "integration": selectors.greenhouse_integration_for_team(team_id=prospect.team_id),
        },
        request=request,
    )


@panel("thread.detail")
def thread_sync_panel(request, *, thread) -> str:
    return render_to_string(
        "greenhouse/_thread_panel.html",
        {
            "thread": thread,
            "paused": ProspectSyncPause.objects.filter(
                prospect_id=thread.prospect_id, paused=True
            ).exists(),
        },
        request=request,
    )


@panel("home")
def home_sync_panel(request, *, membership) -> str:
    if membership is None or not membership.is_admin:
        return ""
    return render_to_string(
        "greenhouse/_home_panel.html",
        {
            "integration": selectors.greenhouse_integration_for_team(team_id=membership.team_id),
            "backlog": selectors.sync_backlog(team_id=membership.team_id),
        },
        request=request,
    )
