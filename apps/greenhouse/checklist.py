"""The "Next steps" box of the connection page: the team's way to a working sync as a checklist
(connected, users mapped, enabled by support, sync on), each item done or to do, with a link to
where it is done. It is read from the database on every page view, so it follows the team's
state; fixed advice would go on saying "connect" to a team that has."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone

from apps.teams.models import Membership, Team

from .models import GreenhouseIntegration
from .selectors import MappingGap

Health = GreenhouseIntegration.Health


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    detail: str
    url: str
    link_text: str


def _when(moment) -> str:
    return f" {timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def _connected(integration: GreenhouseIntegration | None) -> ChecklistItem:
    url = reverse("greenhouse:connection")
    done = integration is not None and integration.health == Health.OK
    if integration is None:
        detail, link = "Enter the Harvest V3 credential and press “Save and test”.", "Connect"
    elif done:
        tested = _when(integration.last_checked_at)
        detail = f"Connected to {integration.host_label}" + (
            f", tested{tested}." if tested else "."
        )
        link = "Connection"
    elif integration.health == Health.UNCHECKED:
        detail, link = "Saved, not tested yet: press “Test connection”.", "Test the connection"
    else:
        detail, link = "The last test failed: correct the credential and test again.", "Correct it"
    if integration is None or integration.health == Health.NEEDS_ATTENTION:
        url += "#credential"
    return ChecklistItem("connected", "Connect Greenhouse", done, detail, url, link)


def _users_mapped(
    team: Team, integration: GreenhouseIntegration | None, unmapped: list[MappingGap]
) -> ChecklistItem:
    members = Membership.objects.filter(team=team).count()
    done = integration is not None and not unmapped
    if integration is None:
        detail = "Members are looked up by email once the connection works."
    elif done:
        detail = f"All {members} team members mapped: each note shows who wrote it."
    else:
        detail = (
            f"{members - len(unmapped)} of {members} team members mapped: Greenhouse shows the "
            "acting user as the author of the others' notes."
        )
    return ChecklistItem(
        "users_mapped", "Map each member to their Greenhouse user", done, detail,
        reverse("greenhouse:users"), "User mapping",
    )  # fmt: skip


def _enabled_by_support(team: Team, integration: GreenhouseIntegration | None) -> ChecklistItem:
    done = integration is not None and integration.sync_enabled_by_support
    if done and integration is not None:
        detail = f"Enabled{_when(integration.sync_enabled_at)}."
    else:
        detail = f"Ask your CSM or support to enable it for your team (team slug “{team.slug}”)."
    return ChecklistItem(
        "enabled_by_support", "Have support enable activity sync", done, detail,
        reverse("greenhouse:settings"), "Sync settings",
    )  # fmt: skip


def _sync_on(integration: GreenhouseIntegration | None) -> ChecklistItem:
    enabled = integration is not None and integration.sync_enabled_by_support
    switched_on = integration is not None and integration.sync_on
    done = enabled and switched_on  # on without support's switch writes nothing
    if done and integration is not None:
        detail = f"On since{_when(integration.sync_on_since)}: new messages go to Greenhouse."
    elif enabled:
        detail = "Support has enabled it: turn it on in Sync settings."
    elif switched_on:
        detail = "Switched on, but nothing is written until support enables the sync again."
    else:
        detail = "Once support has enabled it, turn it on in Sync settings."
    return ChecklistItem(
        "sync_on", "Turn the sync on", done, detail, reverse("greenhouse:settings"),
        "Turn it on" if enabled and not done else "Sync settings",
    )  # fmt: skip


def greenhouse_setup_checklist(
    *, team: Team, integration: GreenhouseIntegration | None, unmapped: list[MappingGap]
) -> list[ChecklistItem]:
    """The four steps in order; `unmapped` is the page's greenhouse_user_mapping_gaps()."""
    return [
        _connected(integration),
        _users_mapped(team, integration, unmapped),
        _enabled_by_support(team, integration),
        _sync_on(integration),
    ]
