"""Pointing a team at the local sandbox. It lives with the sandbox, not in apps/greenhouse: the
product never connects to a sandbox by itself, it only uses the host profile that DEV_TOOLS adds
to GREENHOUSE_HOSTS; this development shortcut fills in the sandbox's demo credential."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.greenhouse.connection import (
    greenhouse_integration_create,
    greenhouse_integration_update,
    greenhouse_user_mapping_record_lookup,
)
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from apps.teams.models import Membership, Team

from .state import (
    DEMO_FIRST_USER_ID,  # the first demo user, a Site Admin
    demo_user_ids,
)

SANDBOX_HOST = "sandbox"


def greenhouse_integration_connect_sandbox(*, team: Team) -> GreenhouseIntegration:
    """Development: point `team` at the local Harvest sandbox with its demo credential."""
    if SANDBOX_HOST not in settings.GREENHOUSE_HOSTS:
        raise ImproperlyConfigured(
            f"No “{SANDBOX_HOST}” Greenhouse host profile: the local sandbox is one only with "
            "DEV_TOOLS on (or in GREENHOUSE_EXTRA_HOSTS)."
        )
    fields = {
        "client_id": settings.GREENHOUSE_SANDBOX_CLIENT_ID,
        "acting_user_id": DEMO_FIRST_USER_ID,
        "host": SANDBOX_HOST,
    }
    secret = settings.GREENHOUSE_SANDBOX_CLIENT_SECRET
    integration = GreenhouseIntegration.objects.filter(team=team).first()
    if integration is None:
        return greenhouse_integration_create(team=team, client_secret=secret, **fields)
    return greenhouse_integration_update(integration=integration, client_secret=secret, **fields)


def greenhouse_user_mappings_seed_sandbox(
    *, integration: GreenhouseIntegration
) -> list[GreenhouseUserMapping]:
    """Development: map the team's members who are the sandbox's demo users, as the lookup by
    email finds them once the sandbox is up (seed_demo runs before it starts)."""
    ids = demo_user_ids()
    members = Membership.objects.filter(team_id=integration.team_id).select_related("user")
    return [
        greenhouse_user_mapping_record_lookup(
            integration=integration, user=m.user, greenhouse_user_id=ids[m.user.email]
        )
        for m in members
        if m.user.email in ids
    ]
