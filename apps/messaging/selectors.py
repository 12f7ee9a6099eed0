"""Reads shared by views and admin."""

from collections import defaultdict

from django.db.models import Count, QuerySet

from apps.teams.models import Team

from .models import Channel, Message, Thread


def thread_list(*, team: Team) -> QuerySet[Thread]:
    return (
        Thread.objects.filter(team=team)
        .select_related("prospect", "owner", "virtual_number", "enrollment__sequence")
        .annotate(message_count=Count("messages"))
        .order_by("-last_message_at", "-created_at", "-pk")
    )


def thread_messages(*, thread: Thread) -> QuerySet[Message]:
    return thread.messages.select_related("sender", "sequence_step").order_by("created_at", "id")


def sms_team_ids(*, provider_ids) -> dict[str, int]:
    """{Twilio MessageSid: team id} of the outbound SMS among `provider_ids`."""
    return dict(
        Message.objects.filter(
            channel=Channel.SMS,
            direction=Message.Direction.OUTBOUND,
            provider_message_id__in=list(provider_ids),
        ).values_list("provider_message_id", "team_id")
    )


def thread_message_ids(*, thread_ids) -> dict[int, list[str]]:
    """{thread id: the RFC Message-IDs of its messages, oldest first}: the history a reply in
    the thread refers to. One query for any number of threads; a thread without any maps to []."""
    history: dict[int, list[str]] = defaultdict(list)
    for thread_id, message_id in (
        Message.objects.filter(thread_id__in=list(thread_ids))
        .exclude(message_id=None)
        .order_by("created_at", "id")
        .values_list("thread_id", "message_id")
    ):
        history[thread_id].append(message_id)
    return history
