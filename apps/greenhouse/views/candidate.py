"""The recruiter's candidate page: each message with its sync status, and the pause switch."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.messaging.models import Message, Thread
from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_member_required

from .. import review_selectors, selectors
from ..backfill_progress import backfill_offered_for_prospect
from ..models import (
    CandidateLink,
    NoteVisibility,
    PauseVia,
    ProspectSyncPause,
    SensitiveReview,
    SyncRecord,
)
from ..not_in_greenhouse import prospect_not_in_greenhouse_yet, review_queue_url
from ..pausing import prospect_sync_pause, prospect_sync_resume
from ..policy import Reason, Review
from ..visibility import note_visibility_for, thread_overrides
from . import request_client

CANDIDATE_MESSAGES_SHOWN = 300


@team_member_required
def prospect_sync(request, pk):
    """The candidate's threads, each message with its sync status and the reason, and the
    pause switch."""
    prospect = get_for_team_or_404(
        Prospect.objects.select_related("owner", "sync_ignore"), request.team, pk=pk
    )
    ignore = getattr(prospect, "sync_ignore", None)  # the review queue's "never sync"
    threads = list(
        Thread.objects.filter(team=request.team, prospect=prospect)
        .select_related("owner", "virtual_number", "enrollment__sequence")
        .order_by("-last_message_at", "-pk")
    )
    thread_messages = list(
        Message.objects.filter(thread__in=threads)
        .select_related("sender")
        .defer("body_html", "references")
        .order_by("-created_at", "-id")[:CANDIDATE_MESSAGES_SHOWN]
    )
    records = selectors.sync_records_by_message(message_ids=[m.pk for m in thread_messages])
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    link = CandidateLink.objects.filter(prospect=prospect).first()
    by_thread: dict[int, list[tuple[Message, SyncRecord | None]]] = {t.pk: [] for t in threads}
    # Each thread's later notes: the team's default or the thread's own (visibility.py).
    overrides = thread_overrides(thread_ids=by_thread)
    team_default = integration.note_visibility if integration else None
    for thread in threads:
        thread.later_notes_visibility = NoteVisibility(  # type: ignore[attr-defined]
            note_visibility_for(team_default=team_default, thread_override=overrides.get(thread.pk))
        ).label
    for message in reversed(thread_messages):  # oldest first within a thread
        by_thread[message.thread_id].append((message, records.get(message.pk)))
    return render(
        request,
        "greenhouse/prospect_sync.html",
        {
            "prospect": prospect,
            "pause": ProspectSyncPause.objects.filter(prospect=prospect).first(),
            "link": link,
            "candidate_url": selectors.candidate_feed_url(integration=integration, link=link),
            "integration": integration,
            "unmapped": selectors.prospect_unmapped_recruiters(
                integration=integration, prospect=prospect
            ),
            "threads": [(thread, by_thread[thread.pk]) for thread in threads],
            "shown_limit": CANDIDATE_MESSAGES_SHOWN,
            "truncated": len(thread_messages) == CANDIDATE_MESSAGES_SHOWN,
            "events": selectors.sync_pause_events_for_prospect(prospect=prospect)[:50],
            "not_in_greenhouse": prospect_not_in_greenhouse_yet(link=link),
            "review_url": review_queue_url(),
            "backfill_offered": request.membership.is_admin
            and backfill_offered_for_prospect(prospect=prospect, link=link),
            "ignored": ignore is not None and ignore.ignored,
            "review_actions": review_selectors.review_actions_for_prospect(prospect=prospect)[:50],
            "may_review": request.membership.is_admin or prospect.owner_id == request.user.pk,
            "waiting_reviews": _waiting_reviews(prospect, records.values()),
        },
    )


def _waiting_reviews(prospect, records) -> list[SensitiveReview]:
    """The prospect's messages waiting for review (review.py). Looked up only when a record shown
    is held for review, so the page costs no query more otherwise."""
    if not any(r.reason == Reason.AWAITING_REVIEW for r in records):
        return []
    return list(
        SensitiveReview.objects.filter(
            prospect=prospect,
            state=Review.PENDING,
            record__status__in=(SyncRecord.Status.PENDING, SyncRecord.Status.HELD),
        ).select_related("record__message")
    )


def _back_to_candidate(request, prospect):
    # Back to the page the button was on (the prospect page or the candidate sync page).
    if request.POST.get("next") == "prospect":
        return redirect("sequences:prospect-detail", pk=prospect.pk)
    return redirect("greenhouse:prospect-sync", pk=prospect.pk)


@require_POST
@team_member_required
def prospect_pause(request, pk):
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    _, changed = prospect_sync_pause(
        prospect=prospect, via=PauseVia.APP, by=request.user, **request_client(request)
    )
    messages.success(
        request,
        f"Sync paused for {prospect}." if changed else f"Sync was already paused for {prospect}.",
    )
    return _back_to_candidate(request, prospect)


@require_POST
@team_member_required
def prospect_resume(request, pk):
    """Recruiters and team admins resume; pause links sent before this stop working."""
    prospect = get_for_team_or_404(Prospect.objects.all(), request.team, pk=pk)
    _, changed = prospect_sync_resume(prospect=prospect, by=request.user, **request_client(request))
    messages.success(
        request,
        f"Sync resumed for {prospect}: new messages are written to Greenhouse again."
        if changed
        else f"Sync was not paused for {prospect}.",
    )
    return _back_to_candidate(request, prospect)


# --- Team admins: the connection ---------------------------------------------------------------
