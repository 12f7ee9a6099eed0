"""What support staff use: the admin pages and actions, and `greenhouse_check`."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.greenhouse.connection import greenhouse_user_mappings_refresh
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from apps.teams.models import Membership
from tests.teams.factories import MembershipFactory, TeamFactory, UserFactory

CHANGELIST = "admin:greenhouse_greenhouseintegration_changelist"


def form_data(integration, **changes):
    return {
        "client_id": integration.client_id,
        "client_secret": "",
        "acting_user_id": integration.acting_user_id or "",
        "host": integration.host,
        **changes,
    }


# --- Admin -------------------------------------------------------------------------------------


def test_adding_an_integration_encrypts_the_secret(staff_client, team):
    response = staff_client.post(
        reverse("admin:greenhouse_greenhouseintegration_add"),
        {
            "team": team.pk,
            "client_id": "abc",
            "client_secret": "brand-new-secret-5678",
            "host": "greenhouse",
        },
    )
    assert response.status_code == 302
    integration = GreenhouseIntegration.objects.get(team=team)
    assert integration.host == "greenhouse"
    assert integration.get_client_secret() == "brand-new-secret-5678"
    assert "brand-new" not in integration.client_secret_encrypted


def test_adding_an_integration_without_a_secret_is_refused(staff_client, team):
    response = staff_client.post(
        reverse("admin:greenhouse_greenhouseintegration_add"),
        {"team": team.pk, "client_id": "abc", "client_secret": "", "host": "greenhouse"},
    )
    assert response.status_code == 200
    assert "Enter the client secret." in response.content.decode()
    assert not GreenhouseIntegration.objects.exists()


def test_an_empty_secret_field_keeps_the_stored_secret(staff_client, integration):
    url = reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk])
    before = integration.client_secret_encrypted

    response = staff_client.post(url, form_data(integration, acting_user_id="9001"))

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.acting_user_id == 9001
    assert integration.client_secret_encrypted == before
    assert integration.health == GreenhouseIntegration.Health.UNCHECKED

    staff_client.post(url, form_data(integration, client_secret="replaced-secret-0001"))
    integration.refresh_from_db()
    assert integration.get_client_secret() == "replaced-secret-0001"


@pytest.mark.parametrize("change", [{"client_id": "renamed"}, {"host": "greenhouse"}])
def test_a_new_client_id_or_host_needs_the_secret_again(staff_client, integration, change):
    url = reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk])
    before = (integration.client_id, integration.host, integration.client_secret_encrypted)

    response = staff_client.post(url, form_data(integration, **change))

    assert response.status_code == 200
    assert "Enter the client secret again" in response.content.decode()
    integration.refresh_from_db()
    assert (integration.client_id, integration.host, integration.client_secret_encrypted) == before

    staff_client.post(url, form_data(integration, client_secret="for-the-new-one-0002", **change))
    integration.refresh_from_db()
    assert [getattr(integration, name) for name in change] == list(change.values())
    assert integration.get_client_secret() == "for-the-new-one-0002"


def test_support_chooses_the_host_from_the_configured_profiles_only(staff_client, integration):
    url = reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk])
    page = staff_client.get(url).content.decode()
    assert '<select name="host"' in page
    assert 'value="sandbox" selected' in page and 'value="greenhouse"' in page

    response = staff_client.post(
        url, form_data(integration, host="http://10.0.0.1", client_secret="some-secret-0003")
    )

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    integration.refresh_from_db()
    assert integration.host == "sandbox"


def test_the_test_connection_action(staff_client, integration, harvest_sandbox):
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "test_connection", "_selected_action": [integration.pk]},
        follow=True,
    )

    assert "Connected: Greenhouse issued a token" in response.content.decode()
    integration.refresh_from_db()
    assert integration.health == GreenhouseIntegration.Health.OK

    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "test_connection", "_selected_action": [integration.pk]},
        follow=True,
    )
    assert "Bad credentials" in response.content.decode()
    changelist = staff_client.get(reverse(CHANGELIST) + "?health__exact=needs_attention")
    assert "Bad credentials" in changelist.content.decode()


def test_the_refresh_mappings_action_and_the_gaps_on_the_change_page(
    staff_client, integration, team
):
    MembershipFactory(team=team, user=UserFactory(email="newhire@acme.example"))
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "refresh_user_mappings", "_selected_action": [integration.pk]},
        follow=True,
    )
    assert "2 of 3 team members mapped" in response.content.decode()

    page = staff_client.get(
        reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk])
    ).content.decode()
    assert "newhire@acme.example" in page
    assert "No Greenhouse user has the primary email" in page


def test_an_admin_overrides_a_mapping(staff_client, integration, team):
    greenhouse_user_mappings_refresh(integration=integration)
    rob = Membership.objects.get(team=team, role=Membership.Role.RECRUITER).user
    mapping = GreenhouseUserMapping.objects.get(integration=integration, user=rob)

    response = staff_client.post(
        reverse("admin:greenhouse_greenhouseusermapping_change", args=[mapping.pk]),
        {"greenhouse_user_id": 31337},
    )

    assert response.status_code == 302
    mapping.refresh_from_db()
    assert (mapping.greenhouse_user_id, mapping.source) == (31337, "admin")


def test_a_mapping_for_someone_outside_the_team_is_refused(staff_client, integration):
    outsider = MembershipFactory(team=TeamFactory()).user

    response = staff_client.post(
        reverse("admin:greenhouse_greenhouseusermapping_add"),
        {"integration": integration.pk, "user": outsider.pk, "greenhouse_user_id": 5},
    )

    assert response.status_code == 200
    assert "is not a member of" in response.content.decode()
    assert not GreenhouseUserMapping.objects.exists()


def test_mapping_pages_and_filters_render(staff_client, integration):
    mapping = greenhouse_user_mappings_refresh(integration=integration)[0]
    url = reverse("admin:greenhouse_greenhouseusermapping_changelist")
    for query in ("", "?source__exact=admin", "?greenhouse_user_id__isempty=1", "?q=rob"):
        assert staff_client.get(url + query).status_code == 200
    assert (
        staff_client.get(reverse("admin:greenhouse_greenhouseusermapping_add")).status_code == 200
    )
    change = reverse("admin:greenhouse_greenhouseusermapping_change", args=[mapping.pk])
    assert staff_client.get(change).status_code == 200


# --- greenhouse_check --------------------------------------------------------------------------


def test_greenhouse_check_prints_health_token_and_gaps(capsys, integration, team):
    MembershipFactory(team=team, user=UserFactory(email="newhire@acme.example"))

    call_command("greenhouse_check", "acme", "--refresh-mappings")

    out = capsys.readouterr().out
    assert "Connection test: OK" in out
    assert "Token:           cached, expires in 60 min" in out
    assert "User mapping:    2 of 3 team members mapped" in out
    assert "newhire@acme.example (Recruiter): No Greenhouse user has the primary email" in out


def test_greenhouse_check_without_calling_greenhouse(capsys, integration, harvest_sandbox):
    call_command("greenhouse_check", str(integration.team.pk), "--no-test")

    out = capsys.readouterr().out
    assert "Stored health:   Not checked yet" in out
    assert "Token:           none cached" in out
    assert "not looked up yet" in out
    assert harvest_sandbox.requests() == []


def test_greenhouse_check_fails_when_the_connection_needs_attention(
    capsys, integration, harvest_sandbox
):
    harvest_sandbox.set_faults(down=True)

    with pytest.raises(CommandError, match="needs attention"):
        call_command("greenhouse_check", "acme")
    assert "Host unreachable" in capsys.readouterr().out


def test_greenhouse_check_for_unknown_or_unconnected_teams(db):
    with pytest.raises(CommandError, match="No team"):
        call_command("greenhouse_check", "nope")
    TeamFactory(slug="lonely")
    with pytest.raises(CommandError, match="has not connected Greenhouse"):
        call_command("greenhouse_check", "lonely")


def test_greenhouse_check_lists_the_valid_teams_for_a_wrong_name(integration):
    TeamFactory(slug="lonely")  # not connected: greenhouse_check has nothing to say about it
    TeamFactory(slug="zeta-recruiting")
    GreenhouseIntegration.objects.create(
        team=TeamFactory(slug="beta"), client_id="other", host=integration.host
    )

    with pytest.raises(CommandError) as wrong:
        call_command("greenhouse_check", "acmee")
    assert str(wrong.value) == (
        "No team “acmee”. Did you mean acme? Teams connected to Greenhouse (slug): acme, beta."
    )
    with pytest.raises(CommandError) as unconnected:
        call_command("greenhouse_check", "lonely")
    assert "Teams connected to Greenhouse (slug): acme, beta." in str(unconnected.value)


def test_the_admin_shows_the_slug_greenhouse_check_takes(staff_client, integration):
    url = reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk])
    page = staff_client.get(url).content.decode()
    assert "<code>manage.py greenhouse_check acme</code>" in page


def test_greenhouse_check_says_when_no_team_is_connected(db):
    with pytest.raises(CommandError, match=r"No team “x”\. No team has connected Greenhouse yet\."):
        call_command("greenhouse_check", "x")


def test_connect_the_demo_team_to_the_sandbox_command(capsys, team, harvest_sandbox_fast, settings):
    # The fixture adds the "sandbox" host profile for the running sandbox (DEV_TOOLS does live).
    settings.GREENHOUSE_SANDBOX_CLIENT_ID = harvest_sandbox_fast.client_id
    settings.GREENHOUSE_SANDBOX_CLIENT_SECRET = harvest_sandbox_fast.client_secret

    call_command("greenhouse_connect_sandbox", "--check")

    out = capsys.readouterr().out
    assert "Connected" in out and "2 of 2 team members mapped" in out
    assert GreenhouseIntegration.objects.get(team=team).health == GreenhouseIntegration.Health.OK
