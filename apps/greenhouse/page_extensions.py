"""What this app adds to other apps' pages, through apps.core.extensions (they never import it):
the candidate's pause switch on the prospect page, each message's sync status and the thread's
note visibility on the thread page, the sync summary on a team admin's home page, the Team
settings tabs, and the warning about sync plus a Maildrop BCC where a BCC is set (team default,
sequence) or used (enrollment)."""

from django.template.loader import render_to_string

from apps.core.extensions import annotator, nav_item, panel
from apps.sequences.models import split_addresses
from apps.teams.bcc import has_greenhouse_maildrop

from . import maildrop, selectors
from .backfill_progress import backfill_offered_for_prospect
from .forms import ThreadVisibilityForm
from .models import CandidateLink, NoteVisibility, ProspectSyncPause, ThreadNoteVisibility
from .not_in_greenhouse import (
    prospect_not_in_greenhouse_yet,
    prospects_not_in_greenhouse_yet,
    review_queue_url,
)
from .visibility import may_change_visibility, note_visibility_for, stricter_choices


def register_nav() -> None:
    for order, (label, url_name) in enumerate(
        [
            ("Greenhouse connection", "greenhouse:connection"),
            ("Sync", "greenhouse:settings"),
            ("Exclusions", "greenhouse:exclusions"),
            ("User mapping", "greenhouse:users"),
            ("Sync log", "greenhouse:log"),
        ],
        start=20,
    ):
        nav_item(section="settings", label=label, url_name=url_name, audience="admin", order=order)
    # Everyone in a team: recruiters review their own prospects, admins the team's.
    nav_item(
        section="main",
        label="Review queue",
        url_name="greenhouse:review",
        audience="member",
        order=34,
    )
    # Sensitive mail waiting for its recruiter (sensitive_review.py).
    nav_item(
        section="main",
        label="Sensitive mail",
        url_name="greenhouse:sensitive-reviews",
        audience="member",
        order=35,
    )


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
    integration = selectors.greenhouse_integration_for_team(team_id=prospect.team_id)
    link = CandidateLink.objects.filter(prospect=prospect).first()
    return render_to_string(
        "greenhouse/_prospect_panel.html",
        {
            "prospect": prospect,
            "link": link,
            "candidate_url": selectors.candidate_feed_url(integration=integration, link=link),
            "pause": ProspectSyncPause.objects.filter(prospect=prospect).first(),
            "integration": integration,
            "unmapped": selectors.prospect_unmapped_recruiters(
                integration=integration, prospect=prospect
            ),
            "not_in_greenhouse": prospect_not_in_greenhouse_yet(link=link),
            "review_url": review_queue_url(),
            "backfill_offered": _is_admin(request)
            and backfill_offered_for_prospect(prospect=prospect, link=link),
        },
        request=request,
    )


def _is_admin(request) -> bool:
    membership = getattr(request, "membership", None)
    return bool(membership is not None and membership.is_admin)


@panel("thread.detail")
def thread_sync_panel(request, *, thread) -> str:
    integration = selectors.greenhouse_integration_for_team(team_id=thread.team_id)
    team_default = (integration.note_visibility if integration else "") or NoteVisibility.PUBLIC
    override = ThreadNoteVisibility.objects.select_related("set_by").filter(thread=thread).first()
    effective = note_visibility_for(
        team_default=team_default, thread_override=override.visibility if override else None
    )
    # Offered to the thread's owner and team admins, when there is something to choose.
    may_change = may_change_visibility(getattr(request, "membership", None), thread) and bool(
        override or stricter_choices(team_default)
    )
    return render_to_string(
        "greenhouse/_thread_panel.html",
        {
            "thread": thread,
            "paused": ProspectSyncPause.objects.filter(
                prospect_id=thread.prospect_id, paused=True
            ).exists(),
            "team_default": NoteVisibility(team_default),
            "override": override,
            "effective": NoteVisibility(effective),
            # The team's default became as strict or stricter: the thread's choice has no effect.
            "override_idle": override is not None and override.visibility != effective,
            "visibility_form": ThreadVisibilityForm(
                initial={"visibility": override.visibility if override else ""},
                team_default=team_default,
            )
            if may_change
            else None,
            "visibility_events": selectors.thread_visibility_events(thread=thread)[:5],
        },
        request=request,
    )


@panel("home")
def home_sync_panel(request, *, membership) -> str:
    """Team admins see the sync's state and backlog; recruiters whether it is on for them."""
    if membership is None:
        return ""
    integration = selectors.greenhouse_integration_for_team(team_id=membership.team_id)
    if not membership.is_admin:
        return render_to_string(
            "greenhouse/_home_panel_recruiter.html",
            {"integration": integration, "sync_active": selectors.sync_state(integration).on},
            request=request,
        )
    return render_to_string(
        "greenhouse/_home_panel.html",
        {
            "integration": integration,
            "state": selectors.sync_state(integration),
            "backlog": selectors.sync_backlog(team_id=membership.team_id),
        },
        request=request,
    )


# --- Sync plus a Maildrop BCC --------------------------------------------------------------------


def _maildrop_overlap(request, *, team_id: int, bcc: str, where: str) -> str:
    """The warning, while the sync is on, where a BCC is set or used (`where`: "default",
    "sequence" or "enroll"). On the BCC settings it shows whatever the BCC is (a Maildrop
    address may be one click away); on the enrollment page only when it is Maildrop."""
    integration = selectors.greenhouse_integration_for_team(team_id=team_id)
    if not maildrop.sync_is_live(integration):
        return ""
    bccs_maildrop = has_greenhouse_maildrop(split_addresses(bcc or ""))
    if where == "enroll" and not bccs_maildrop:
        return ""
    assert integration is not None  # sync_is_live
    return render_to_string(
        "greenhouse/_maildrop_overlap.html",
        {
            "integration": integration,
            "bccs_maildrop": bccs_maildrop,
            "where": where,
            "maildrop_is_public": maildrop.MAILDROP_IS_PUBLIC,
            "consequence": maildrop.CONSEQUENCES[integration.maildrop_overlap],
            "to_keep_private": maildrop.TO_KEEP_EMAILS_PRIVATE,
        },
        request=request,
    )


@panel("team.default_bcc")
def team_default_bcc_overlap(request, *, team) -> str:
    return _maildrop_overlap(request, team_id=team.pk, bcc=team.default_bcc, where="default")


@panel("sequence.bcc")
def sequence_bcc_overlap(request, *, sequence) -> str:
    return _maildrop_overlap(request, team_id=sequence.team_id, bcc=sequence.bcc, where="sequence")


@panel("sequence.enroll")
def sequence_enroll_overlap(request, *, sequence) -> str:
    return _maildrop_overlap(request, team_id=sequence.team_id, bcc=sequence.bcc, where="enroll")


# How many names the enrollment page lists of the prospects not in Greenhouse yet.
NOT_IN_GREENHOUSE_NAMED = 20


@panel("sequence.enroll")
def sequence_enroll_not_in_greenhouse(request, *, sequence) -> str:
    """The prospects offered for enrollment who are not in Greenhouse yet (issue 15, item 5):
    their messages will wait for a candidate, and the review queue settles them."""
    from apps.sequences.selectors import prospects_not_enrolled

    integration = selectors.greenhouse_integration_for_team(team_id=sequence.team_id)
    if integration is None:
        return ""
    offered = prospects_not_enrolled(sequence=sequence).order_by()
    ids = prospects_not_in_greenhouse_yet(
        team_id=sequence.team_id, prospect_ids=offered.values_list("pk", flat=True)
    )
    if not ids:
        return ""
    named = list(
        offered.filter(pk__in=ids).order_by("last_name", "first_name")[:NOT_IN_GREENHOUSE_NAMED]
    )
    return render_to_string(
        "greenhouse/_enroll_not_in_greenhouse.html",
        {"prospects": named, "more": len(ids) - len(named), "review_url": review_queue_url()},
        request=request,
    )


@panel("page.banner")
def alert_banner(request) -> str:
    """The team's open alerts (alerts.py), on every page, for team admins only: the pages that
    fix them (connection, sync log) are admins' pages, so a recruiter would get a link to a 403."""
    from apps.core.extensions import membership_of

    from .alerts import team_alerts_open

    membership = membership_of(request)
    if membership is None or not membership.is_admin:
        return ""
    alerts = team_alerts_open(team_id=membership.team_id)
    if not alerts:
        return ""
    return render_to_string("greenhouse/_alert_banner.html", {"alerts": alerts}, request=request)
