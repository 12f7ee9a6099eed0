"""A thread's own note visibility, set from the conversation page (the thread's owner or a
team admin). Only a POST changes it; the conversation page shows it (page_extensions.py)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.messaging.models import Thread
from apps.teams.access import get_for_team_or_404, team_member_required

from ..models import NoteVisibility
from ..visibility import may_change_visibility, thread_visibility_set


@require_POST
@team_member_required
def thread_visibility(request, pk):
    thread = get_for_team_or_404(Thread.objects.all(), request.team, pk=pk)
    if not may_change_visibility(request.membership, thread):
        raise PermissionDenied("Only the thread's recruiter or a team admin can change this.")
    visibility = request.POST.get("visibility", "")
    try:
        result = thread_visibility_set(thread=thread, visibility=visibility, by=request.user)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
    else:
        if result is None:
            messages.success(
                request, "This thread's later notes follow the team's default visibility."
            )
        else:
            messages.success(
                request,
                f"This thread's later notes will be written as "
                f"{NoteVisibility(result.visibility).label}. Notes already written keep "
                "theirs: Greenhouse cannot edit them.",
            )
    return redirect("messaging:thread-detail", pk=thread.pk)
