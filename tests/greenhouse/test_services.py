"""Integration health, the connection test and the recruiter ↔ Greenhouse user mapping."""

import socket

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError

from apps.greenhouse.connection import (
    greenhouse_integration_create,
    greenhouse_integration_test_connection,
    greenhouse_integration_update,
    greenhouse_user_mapping_reset,
    greenhouse_user_mapping_set,
    greenhouse_user_mappings_refresh,
)
from apps.greenhouse.harvest.hosts import host_profile
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from apps.greenhouse.selectors import greenhouse_user_id_for, greenhouse_user_mapping_gaps
from apps.harvest_sandbox.services import greenhouse_integration_connect_sandbox
from apps.teams.models import Membership
from tests.fixtures.harvest import allow_greenhouse_host
from tests.teams.factories import MembershipFactory, UserFactory

Health = GreenhouseIntegration.Health


def check(integration):
    result = greenhouse_integration_test_connection(integration=integration)
    integration.refresh_from_db()
    return result


# --- Connection test ---------------------------------------------------------------------------


def test_a_good_connection_is_ok(integration, harvest_sandbox):
    result = check(integration)

    assert result.ok
    assert integration.health == Health.OK
    assert integration.last_error == ""
    assert integration.last_checked_at is not None
    calls = [(r["path"], r["query"]) for r in harvest_sandbox.requests()]
    assert calls == [("/token", ""), ("/v3/users", "per_page=1")]


def test_the_connection_test_always_mints_a_fresh_token(integration, harvest_sandbox):
    check(integration)
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)

    assert not check(integration).ok  # a cached token would have hidden the revoked secret


def test_bad_credentials(integration):
    greenhouse_integration_update(integration=integration, client_secret="wrong-secret-1234")

    result = check(integration)

    assert not result.ok
    assert result.message.startswith(
        "Bad credentials: Greenhouse rejected the client ID and secret"
    )
    assert integration.health == Health.NEEDS_ATTENTION
    assert integration.last_error == result.message


def test_missing_scope(integration, harvest_sandbox):
    harvest_sandbox.add_credential(
        client_id="no-users", client_secret="no-users-secret-42", scopes=["harvest:notes:create"]
    )
    greenhouse_integration_update(
        integration=integration, client_id="no-users", client_secret="no-users-secret-42"
    )

    result = check(integration)

    assert result.message.startswith("Missing scope:")
    assert "harvest:users:list" in result.message


def test_acting_user_not_a_site_admin(integration, harvest_sandbox):
    rob = harvest_sandbox.user_id("rob@acme.example")
    greenhouse_integration_update(integration=integration, acting_user_id=rob)

    result = check(integration)

    assert result.message.startswith(f"Not a Site Admin: Greenhouse user {rob} is not a Site Admin")


def test_acting_user_unknown(integration):
    greenhouse_integration_update(integration=integration, acting_user_id=424242)

    assert "did not accept user 424242 as the acting user" in check(integration).message


def test_host_unreachable(integration, harvest_sandbox, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    allow_greenhouse_host(settings, "down", f"http://127.0.0.1:{port}")  # the operator's choice
    greenhouse_integration_update(
        integration=integration, host="down", client_secret=harvest_sandbox.client_secret
    )

    result = check(integration)

    assert result.message.startswith("Host unreachable: Could not connect")
    assert f"127.0.0.1:{port}" in result.message


def test_a_host_profile_with_a_wrong_api_base_url(integration, harvest_sandbox, settings):
    allow_greenhouse_host(
        settings,
        "misrouted",
        harvest_sandbox.url + "/v1",
        label="Misrouted",
        token_url=harvest_sandbox.token_url,
    )
    greenhouse_integration_update(
        integration=integration, host="misrouted", client_secret=harvest_sandbox.client_secret
    )

    message = check(integration).message
    assert "no Harvest v3 API at Misrouted (404)" in message
    assert "Ask support to check the Greenhouse host" in message


def test_a_secret_no_key_decrypts(integration, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    result = check(integration)

    assert "cannot be decrypted" in result.message
    assert integration.health == Health.NEEDS_ATTENTION


# --- Create and update -------------------------------------------------------------------------


def test_create_needs_a_secret_and_stores_it_encrypted(team):
    with pytest.raises(ValidationError):
        greenhouse_integration_create(team=team, client_id="abc", client_secret="  ")

    integration = greenhouse_integration_create(
        team=team, client_id=" abc ", client_secret="s3cret-value-9876"
    )
    assert integration.client_id == "abc"
    assert integration.get_client_secret() == "s3cret-value-9876"
    assert "s3cret" not in integration.client_secret_encrypted


def test_changing_the_credential_makes_the_health_unknown_again(integration):
    check(integration)
    assert integration.health == Health.OK

    greenhouse_integration_update(integration=integration, client_secret="")  # keeps the secret
    assert integration.health == Health.OK
    greenhouse_integration_update(integration=integration, acting_user_id=9002)
    assert integration.health == Health.UNCHECKED


def test_connect_the_demo_team_to_the_sandbox(team, settings, harvest_sandbox):
    integration = greenhouse_integration_connect_sandbox(team=team)

    assert integration.host == "sandbox"
    assert host_profile(integration.host).api_base_url == harvest_sandbox.url
    assert integration.get_client_secret() == settings.GREENHOUSE_SANDBOX_CLIENT_SECRET
    assert greenhouse_integration_connect_sandbox(team=team).pk == integration.pk


def test_the_sandbox_is_no_host_without_its_profile(team, settings):
    settings.GREENHOUSE_HOSTS = {"greenhouse": settings.GREENHOUSE_HOSTS["greenhouse"]}

    with pytest.raises(ImproperlyConfigured, match="DEV_TOOLS"):
        greenhouse_integration_connect_sandbox(team=team)
    assert not GreenhouseIntegration.objects.exists()


# --- User mapping ------------------------------------------------------------------------------


def test_team_members_are_found_by_email(integration, team, harvest_sandbox):
    outsider = UserFactory(email="newhire@acme.example")
    MembershipFactory(team=team, user=outsider)

    mappings = greenhouse_user_mappings_refresh(integration=integration)

    by_email = {m.user.email: m for m in mappings}
    assert by_email["ada@acme.example"].greenhouse_user_id == harvest_sandbox.user_id(
        "ada@acme.example"
    )
    assert by_email["rob@acme.example"].source == GreenhouseUserMapping.Source.EMAIL
    assert by_email["newhire@acme.example"].greenhouse_user_id is None
    gaps = greenhouse_user_mapping_gaps(integration=integration)
    assert [(g.user.email, g.reason) for g in gaps] == [
        ("newhire@acme.example", "No Greenhouse user has the primary email newhire@acme.example.")
    ]


def test_deactivated_and_ambiguous_users_are_gaps_with_a_reason(integration, team, harvest_sandbox):
    harvest_sandbox.add_user(primary_email="gone@acme.example", deactivated=True)
    harvest_sandbox.add_user(primary_email="twice@acme.example")
    harvest_sandbox.add_user(primary_email="twice@acme.example")
    MembershipFactory(team=team, user=UserFactory(email="gone@acme.example"))
    MembershipFactory(team=team, user=UserFactory(email="twice@acme.example"))

    greenhouse_user_mappings_refresh(integration=integration)

    reasons = {
        g.user.email: g.reason for g in greenhouse_user_mapping_gaps(integration=integration)
    }
    assert "is deactivated" in reasons["gone@acme.example"]
    assert "Several Greenhouse users" in reasons["twice@acme.example"]


def test_members_not_looked_up_yet_are_gaps(integration):
    reasons = {
        g.user.email: g.reason for g in greenhouse_user_mapping_gaps(integration=integration)
    }
    assert reasons == {
        "ada@acme.example": "not looked up yet",
        "rob@acme.example": "not looked up yet",
    }


def test_an_admins_choice_survives_a_refresh(integration, team):
    rob = Membership.objects.get(team=team, role=Membership.Role.RECRUITER).user
    greenhouse_user_mapping_set(integration=integration, user=rob, greenhouse_user_id=777)

    greenhouse_user_mappings_refresh(integration=integration)

    assert greenhouse_user_id_for(integration=integration, user=rob) == 777
    greenhouse_user_mapping_reset(integration=integration, user=rob)
    greenhouse_user_mappings_refresh(integration=integration)
    assert greenhouse_user_id_for(integration=integration, user=rob) != 777


def test_only_team_members_can_be_mapped(integration):
    with pytest.raises(ValidationError, match="not a member"):
        greenhouse_user_mapping_set(
            integration=integration, user=UserFactory(), greenhouse_user_id=1
        )


def test_people_who_left_the_team_lose_their_mapping(integration, team):
    greenhouse_user_mappings_refresh(integration=integration)
    rob = Membership.objects.get(team=team, role=Membership.Role.RECRUITER)
    rob.delete()

    greenhouse_user_mappings_refresh(integration=integration)

    assert [m.user.email for m in integration.user_mappings.all()] == ["ada@acme.example"]
