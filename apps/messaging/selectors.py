"""Reads shared by views and admin."""

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
