from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from apps.teams.models import Membership

from .models import GreenhouseIntegration, GreenhouseUserMapping, SyncPauseEvent, SyncRecord


def greenhouse_integration_for_team(*, team_id: int) -> GreenhouseIntegration | None:
    return GreenhouseIntegration.objects.select_related("team").filter(team_id=team_id).first()


def greenhouse_integration_for_team_identifier(identifier: str) -> GreenhouseIntegration | None:
    """By team slug, or by team id when `identifier` is a number (support staff type either)."""
    queryset = GreenhouseIntegration.objects.select_related("team")
    if identifier.isdigit():
        found = queryset.filter(team_id=int(identifier)).first()
        if found:
            return found
    return queryset.filter(team__slug=identifier).first()


def greenhouse_user_id_for(*, integration: GreenhouseIntegration, user) -> int | None:
    """The Greenhouse user a team member's notes are attributed to (None: not mapped)."""
    return (
        GreenhouseUserMapping.objects.filter(integration=integration, user=user)
        .values_list("greenhouse_user_id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class MappingGap:
    user: AbstractBaseUser
    role: str
    reason: str


def greenhouse_user_mapping_gaps(*, integration: GreenhouseIntegration) -> list[MappingGap]:
    """Team members whose notes cannot be attributed to a Greenhouse user, with the reason."""
    mappings = {m.user_id: m for m in integration.user_mappings.all()}
    gaps = []
    memberships = (
        Membership.objects.filter(team_id=integration.team_id)
        .select_related("user")
        .order_by("user__email", "user__username")
    )
    for membership in memberships:
        mapping = mappings.get(membership.user_id)
        if mapping is None:
            reason = "not looked up yet"
        elif mapping.greenhouse_user_id is None:
            reason = mapping.problem or "no Greenhouse user found"
        else:
            continue
        gaps.append(MappingGap(membership.user, membership.get_role_display(), reason))
    return gaps


def sync_records_for_prospect(*, prospect):
    """A prospect's sync log, newest message first ("why was this synced or skipped?")."""
    return (
        SyncRecord.objects.filter(prospect=prospect)
        .select_related("message", "thread")
        .order_by("-message__created_at", "-message_id")
    )


def sync_pause_events_for_prospect(*, prospect):
    return SyncPauseEvent.objects.filter(prospect=prospect).select_related("by", "link_recipient")
