"""Reads shared by views and admin."""

from django.db.models import Count, QuerySet

from apps.teams.models import Team

from .models import Message, Thread


def thread_list(*, team: Team) -> QuerySet[Thread]:
    return (
        Thread.objects.filter(team=team)
        .select_related("prospect", "owner", "virtual_number", "enrollment__sequence")
        .annotate(message_count=Count("messages"))
        .order_by("-last_message_at", "-created_at", "-pk")
    )


def thread_messages(*, thread: Thread) -> QuerySet[Message]:
    return thread.messages.select_related("sender", "sequence_step").order_by("created_at", "id")
