"""The connection page's "Next steps" (issue 14 item 11) is a checklist of the team's state:
connected, users mapped, enabled by support, sync on, each done or to do with a link. It is
walked here through a real connection to the local sandbox, support's switch and the team
admin's; the browser test (tests/browser/test_team_pages.py) checks the same in Chromium."""

import re

import pytest
from django.urls import reverse

from apps.greenhouse.switches import (
    team_sync_disable_by_support,
    team_sync_enable_by_support,
    team_sync_turn_on,
)
from apps.harvest_sandbox.services import SANDBOX_HOST
from tests.greenhouse.factories import GreenhouseIntegrationFactory
from tests.teams.factories import UserFactory

pytestmark = pytest.mark.django_db

STEP = re.compile(
    r'<li class="(done|todo)" data-step="(\w+)">.*?<span class="muted">(.*?)</span>\s*'
    r'<a href="([^"]+)">',
    re.S,
)


def checklist(client) -> dict[str, tuple[str, str, str]]:
    page = client.get(reverse("greenhouse:connection"))
    assert page.status_code == 200
    box = page.content.decode().split('id="next-steps"', 1)[1]
    return {key: (state, detail, url) for state, key, detail, url in STEP.findall(box)}


def states(client) -> dict[str, str]:
    return {key: value[0] for key, value in checklist(client).items()}


@pytest.fixture
def ada(client, team):
    user = team.memberships.get(user__username="ada").user
    client.force_login(user)
    return user


def test_the_checklist_follows_the_teams_state(client, team, ada, harvest_sandbox_fast):
    connection = reverse("greenhouse:connection")
    steps = checklist(client)
    assert list(steps) == ["connected", "users_mapped", "enabled_by_support", "sync_on"]
    assert states(client) == dict.fromkeys(steps, "todo")
    assert steps["connected"][2] == connection + "#credential"
    assert steps["users_mapped"][2] == reverse("greenhouse:users")
    assert "team slug “acme”" in steps["enabled_by_support"][1]

    # Saved (support chose the host) but not tested, then tested through the page: the lookup
    # by email maps both members.
    integration = GreenhouseIntegrationFactory(
        team=team,
        client_id=harvest_sandbox_fast.client_id,
        client_secret=harvest_sandbox_fast.client_secret,
        acting_user_id=harvest_sandbox_fast.user_id("ada@acme.example"),
        host=SANDBOX_HOST,
    )
    connected = checklist(client)["connected"]
    assert connected == ("todo", "Saved, not tested yet: press “Test connection”.", connection)
    client.post(reverse("greenhouse:connection-test"))
    integration.refresh_from_db()
    assert integration.is_healthy
    assert states(client) == {
        "connected": "done",
        "users_mapped": "done",
        "enabled_by_support": "todo",
        "sync_on": "todo",
    }
    assert checklist(client)["users_mapped"][1].startswith("All 2 team members mapped")

    support = UserFactory(is_staff=True)
    team_sync_enable_by_support(integration=integration, by=support)
    assert states(client)["enabled_by_support"] == "done"
    assert checklist(client)["sync_on"][1] == "Support has enabled it: turn it on in Sync settings."

    team_sync_turn_on(team=team, by=ada)
    assert set(states(client).values()) == {"done"}

    # Going backwards is shown too: a new member nobody has looked up, support switching off.
    team.memberships.create(user=UserFactory(email="new@acme.example"), role="recruiter")
    integration.refresh_from_db()
    team_sync_disable_by_support(integration=integration, by=support)
    assert states(client) == {
        "connected": "done",
        "users_mapped": "todo",
        "enabled_by_support": "todo",
        "sync_on": "todo",
    }
    assert checklist(client)["users_mapped"][1].startswith("2 of 3 team members mapped")
    assert checklist(client)["sync_on"][1] == (
        "Switched on, but nothing is written until support enables the sync again."
    )


def test_a_failing_connection_is_to_do_with_a_link_to_correct_it(
    client, integration, ada, harvest_sandbox_fast
):
    harvest_sandbox_fast.revoke_credential(harvest_sandbox_fast.client_id)
    client.post(reverse("greenhouse:connection-test"))
    connected = checklist(client)["connected"]
    assert connected[0] == "todo"
    assert connected[1] == "The last test failed: correct the credential and test again."


def test_the_connection_page_shows_the_team_slug(client, integration, ada):
    page = client.get(reverse("greenhouse:connection")).content.decode()
    assert "<dt>Team slug</dt><dd><code>acme</code>" in page
