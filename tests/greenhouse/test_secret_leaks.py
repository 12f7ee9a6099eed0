"""The client secret (and access tokens) appear in no admin page, HTML view, log line, exception
message or repr."""

import logging
import traceback

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.greenhouse.connection import greenhouse_integration_test_connection, harvest_client_build
from apps.greenhouse.harvest.client import HarvestCredentials
from apps.greenhouse.harvest.errors import HarvestError

GRACE = "grace.hopper@example.com"


@pytest.fixture
def issued_tokens(harvest_sandbox_server):
    return lambda: list(harvest_sandbox_server.state.tokens)


def assert_clean(text: str, secret: str, tokens=()):
    assert secret not in text
    for token in tokens:
        assert token not in text


def test_admin_pages_never_show_the_secret(staff_client, integration, harvest_sandbox):
    secret = harvest_sandbox.client_secret
    pages = [
        reverse("admin:greenhouse_greenhouseintegration_changelist"),
        reverse("admin:greenhouse_greenhouseintegration_change", args=[integration.pk]),
        reverse("admin:greenhouse_greenhouseintegration_add"),
        reverse("admin:greenhouse_greenhouseintegration_history", args=[integration.pk]),
    ]
    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == 200
        assert_clean(response.content.decode(), secret)
    change = staff_client.get(pages[1]).content.decode()
    # "Configured" and when it was set: no part of the secret, not even its last characters.
    assert "configured, set " in change
    assert f"…{secret[-4:]}" not in change and "ends in" not in change


def test_a_secret_typed_into_a_form_with_errors_is_not_sent_back(staff_client, team):
    typed = "typed-secret-Hh47Gg19Ff"
    response = staff_client.post(
        reverse("admin:greenhouse_greenhouseintegration_add"),
        {
            "team": team.pk,
            "client_id": "",  # missing: the form comes back with errors
            "client_secret": typed,
            "host": "greenhouse",
        },
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert typed not in response.content.decode()


def test_reprs_and_strings_hide_the_secret(integration, harvest_sandbox, credentials):
    secret = harvest_sandbox.client_secret
    client = harvest_client_build(integration=integration)

    for value in (integration, credentials, client, client.budget, harvest_sandbox):
        assert_clean(repr(value), secret)
        assert_clean(str(value), secret)


def test_logs_hold_neither_the_secret_nor_tokens(
    caplog, integration, harvest_sandbox, issued_tokens
):
    caplog.set_level(logging.DEBUG)  # everything: our loggers, urllib3, the sandbox
    client = harvest_client_build(integration=integration, read_retries=0, timeout=(1, 1))
    grace = client.candidates_by_email(GRACE)[0]["id"]
    client.note_create(candidate_id=grace, body="hello")
    harvest_sandbox.expire_tokens()
    client.notes_for_candidate(grace)  # a 401 and a refresh
    harvest_sandbox.set_faults(write_then_500=1)
    with pytest.raises(HarvestError):
        client.note_create(candidate_id=grace, body="ambiguous")
    harvest_sandbox.clear_faults()
    greenhouse_integration_test_connection(integration=integration)

    assert len(issued_tokens()) >= 2
    assert "Greenhouse POST /v3/notes" in caplog.text  # the client does log its calls
    assert_clean(caplog.text, harvest_sandbox.client_secret, issued_tokens())


def test_error_messages_and_tracebacks_hold_neither(make_client, harvest_sandbox, issued_tokens):
    secret = harvest_sandbox.client_secret
    raised = []
    wrong = HarvestCredentials(
        harvest_sandbox.client_id, secret + "-old", harvest_sandbox.url, harvest_sandbox.token_url
    )
    client = make_client()
    grace = client.candidates_by_email(GRACE)[0]["id"]
    attempts = [
        lambda: make_client(credentials=wrong).candidates_by_email(GRACE),
        lambda: client.note_create(candidate_id=grace, body=""),
    ]
    for attempt in attempts:
        with pytest.raises(HarvestError) as caught:
            attempt()
        raised.append(caught.value)
    harvest_sandbox.set_faults(drop_after_write=1)
    with pytest.raises(HarvestError) as caught:
        client.note_create(candidate_id=grace, body="x")
    raised.append(caught.value)

    for exc in raised:
        text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
        assert_clean(text, secret + "-old", issued_tokens())
        assert_clean(text, secret)


def test_the_token_cache_holds_tokens_encrypted(make_client, harvest_sandbox, issued_tokens):
    client = make_client()
    client.candidates_by_email(GRACE)

    entry = cache.get(client._token_cache_key)
    [token] = issued_tokens()
    assert token not in repr(entry)
    assert client.credentials.client_secret not in client._token_cache_key


def test_the_support_command_does_not_print_the_secret(capsys, integration, harvest_sandbox):
    call_command("greenhouse_check", integration.team.slug)

    assert_clean(capsys.readouterr().out, harvest_sandbox.client_secret)


def test_a_failed_connection_test_does_not_echo_the_secret(integration, harvest_sandbox):
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)

    check = greenhouse_integration_test_connection(integration=integration)

    assert not check.ok
    assert_clean(check.message, harvest_sandbox.client_secret)
    integration.refresh_from_db()
    assert_clean(integration.last_error, harvest_sandbox.client_secret)
    with pytest.raises(CommandError):
        call_command("greenhouse_check", integration.team.slug)
