"""The Greenhouse connection cannot be turned against us (issue 10, parts 1 and 2).

- The secret goes only to the operator's host profiles: a team admin cannot name a host, support
  staff choose from the profiles, and the Harvest client refuses any other URL before it opens a
  socket, whatever reached the database. A loopback listener stands for a host of the team
  admin's or an internal service: it must count no connection.
- Only Greenhouse's own documented error text reaches a page, cut short and escaped.
- The connection test ends by its wall-clock deadline against a host that drips one byte at a
  time, and each team may save or test only so often.

Everything runs over real HTTP on loopback: the Harvest sandbox, a scripted test double, a
counting listener and a slow-drip server.
"""

import contextlib
import logging
import time
import uuid

import pytest
import urllib3.util.connection
from django.urls import reverse

from apps.greenhouse.connection import (
    greenhouse_integration_test_connection,
    greenhouse_integration_update,
    harvest_client_build,
)
from apps.greenhouse.harvest.client import HarvestClient, HarvestCredentials, new_session
from apps.greenhouse.harvest.deadline import Deadline
from apps.greenhouse.harvest.errors import (
    HarvestDeadlineExceeded,
    HarvestError,
    HarvestHostNotAllowed,
)
from apps.greenhouse.harvest.ratelimit import attempt_count
from apps.greenhouse.models import GreenhouseIntegration
from tests.fixtures.harvest import allow_greenhouse_host
from tests.greenhouse.factories import GreenhouseIntegrationFactory
from tests.teams.factories import TeamFactory, team_admin

pytestmark = pytest.mark.django_db
Health = GreenhouseIntegration.Health

# Generous on a loaded 2-core machine; the drip server would hold a connection for 60 s.
DEADLINE = 2.0
MARGIN = 8.0


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    """Counters and budgets of this test only (team ids repeat between tests)."""
    settings.GREENHOUSE_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
    if settings.GREENHOUSE_RATE_BUDGET_URL.startswith("file://"):
        settings.GREENHOUSE_RATE_BUDGET_URL = f"file://{tmp_path / 'ratelimit'}"


@pytest.fixture
def ada(team):
    return team.memberships.get(user__username="ada").user


@pytest.fixture
def connects(monkeypatch):
    """Every TCP connection urllib3 opens (a spy: the connection still happens)."""
    opened = []
    real = urllib3.util.connection.create_connection

    def spy(address, *args, **kwargs):
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    return opened


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def connection_form(integration, **changes):
    return {
        "client_id": integration.client_id,
        "client_secret": "",
        "acting_user_id": integration.acting_user_id or "",
        **changes,
    }


# --- Where the secret may go -------------------------------------------------------------------


@pytest.mark.parametrize(
    "foreign",
    [
        lambda listener: {"api_base_url": listener.url, "token_url": f"{listener.url}/token"},
        lambda listener: {"token_url": f"{listener.url}/token"},
        lambda listener: {"token_url": "http://169.254.169.254/latest/meta-data/"},
        lambda listener: {"host": "internal"},
    ],
    ids=["own-host", "token-url-only", "internal-address", "host-key"],
)
def test_a_team_admin_cannot_point_the_connection_at_another_host(
    client, integration, ada, listener, harvest_sandbox, foreign
):
    client.force_login(ada)
    before = GreenhouseIntegration.objects.values().get(pk=integration.pk)

    response = client.post(
        reverse("greenhouse:connection"), connection_form(integration, **foreign(listener))
    )

    assert response.status_code == 400
    assert "set by this server&#x27;s operator" in response.content.decode()
    assert GreenhouseIntegration.objects.values().get(pk=integration.pk) == before
    assert harvest_sandbox.requests() == []  # not even tested
    client.post(reverse("greenhouse:connection-test"))  # and the test goes to the sandbox only
    # The test, then the two team members looked up by email: all at the sandbox.
    assert [r["path"] for r in harvest_sandbox.requests()] == ["/token"] + ["/v3/users"] * 3
    assert listener.connections == 0


def test_the_connection_page_has_no_url_field(client, integration, ada):
    client.force_login(ada)
    page = client.get(reverse("greenhouse:connection")).content.decode()

    assert 'name="api_base_url"' not in page and 'name="token_url"' not in page
    assert 'name="host"' not in page
    assert "Local Harvest sandbox" in page  # the host is shown, by the operator's name


@pytest.mark.parametrize(
    "url",
    [
        "{listener}",  # a loopback port nobody configured
        "http://127.0.0.1:{sandbox_port}@127.0.0.1:{listener_port}",  # userinfo trick
        "http://127.0.0.1:{listener_port}#@127.0.0.1:{sandbox_port}",  # fragment trick
        "https://127.0.0.1:{sandbox_port}",  # the sandbox's host, another scheme
        "http://localhost:{sandbox_port}",  # the same machine, another host name
        "http://metadata.google.internal/computeMetadata/v1",  # an internal name
        "file:///etc/passwd",
    ],
)
@pytest.mark.parametrize("which", ["api_base_url", "token_url"])
def test_the_client_refuses_any_url_outside_the_profiles_before_connecting(
    make_client, credentials, harvest_sandbox, listener, connects, url, which
):
    sandbox_port = harvest_sandbox.url.rsplit(":", 1)[1]
    url = url.format(listener=listener.url, listener_port=listener.port, sandbox_port=sandbox_port)
    fields = {
        "api_base_url": credentials.api_base_url,
        "token_url": credentials.token_url,
        which: url if which == "api_base_url" else f"{url}/token",
    }
    foreign = HarvestCredentials(credentials.client_id, credentials.client_secret, **fields)

    with pytest.raises(HarvestHostNotAllowed, match="configured by its operator"):
        make_client(credentials=foreign).users_first_page()

    assert listener.connections == 0
    # Nothing left for the refused host: only the allowed token endpoint, if it came first.
    assert all(port == int(sandbox_port) for _, port in connects)
    assert all(r["path"] == "/token" for r in harvest_sandbox.requests())


def test_a_host_in_the_database_that_the_settings_do_not_name_is_refused(
    client, integration, ada, listener, settings, harvest_sandbox
):
    # Saved while the operator still had a profile for it (or written by hand, or restored
    # from an old backup): the settings decide, not the row.
    allow_greenhouse_host(settings, "retired", listener.url)
    greenhouse_integration_update(
        integration=integration, host="retired", client_secret=harvest_sandbox.client_secret
    )
    settings.GREENHOUSE_HOSTS = {
        k: v for k, v in settings.GREENHOUSE_HOSTS.items() if k != "retired"
    }
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(host="169.254.169.254")

    client.force_login(ada)
    response = client.post(reverse("greenhouse:connection-test"), follow=True)

    assert flash(response) == [
        "This connection's Greenhouse host is not configured on this server. Ask support to "
        "choose one of the configured hosts."
    ]
    integration.refresh_from_db()
    assert integration.health == Health.NEEDS_ATTENTION
    assert integration.last_error == flash(response)[0]
    with pytest.raises(HarvestHostNotAllowed):
        harvest_client_build(integration=integration)  # the sync and every other caller too
    assert listener.connections == 0


def test_a_new_client_id_needs_its_secret(client, integration, ada, harvest_sandbox):
    client.force_login(ada)
    before = integration.client_secret_encrypted

    response = client.post(
        reverse("greenhouse:connection"), connection_form(integration, client_id="other")
    )

    assert response.status_code == 400
    assert "Enter the client secret again" in response.content.decode()
    integration.refresh_from_db()
    assert (integration.client_id, integration.client_secret_encrypted) == (
        harvest_sandbox.client_id,
        before,
    )
    assert harvest_sandbox.requests() == []


def test_the_service_needs_the_secret_for_a_new_host_or_client_id(integration, settings):
    from django.core.exceptions import ValidationError

    allow_greenhouse_host(settings, "proxy", "https://gh-proxy.example")
    for change in ({"host": "proxy"}, {"client_id": "someone-else"}):
        with pytest.raises(ValidationError, match="Enter the client secret again"):
            greenhouse_integration_update(integration=integration, client_secret="", **change)
    integration.refresh_from_db()
    assert integration.host == "sandbox"


def test_redirects_are_not_followed(scripted, listener, settings, team):
    allow_greenhouse_host(settings, "double", scripted.url)
    integration = GreenhouseIntegrationFactory(team=team, host="double")
    scripted.answer("/token", 200, {"access_token": "t-1", "expires_in": 3600})
    scripted.answer("/v3/users", 302, b"", Location=f"{listener.url}/v3/users")

    check = greenhouse_integration_test_connection(integration=integration)

    assert not check.ok
    assert check.message == "Greenhouse answered with a redirect (302), which is not followed."
    scripted.answer("/token", 307, b"", Location=f"{listener.url}/token")
    check = greenhouse_integration_test_connection(integration=integration)
    assert check.message == "Greenhouse's token endpoint gave an unexpected answer (307)."
    assert listener.connections == 0
    assert scripted.requests == [("POST", "/token"), ("GET", "/v3/users"), ("POST", "/token")]


# --- What an answer may put on a page ----------------------------------------------------------


@pytest.fixture
def double(scripted, settings, team):
    allow_greenhouse_host(settings, "double", scripted.url, label="Test double")
    integration = GreenhouseIntegrationFactory(team=team, host="double", acting_user_id=None)
    return scripted, integration


def test_an_answer_that_is_not_greenhouse_s_gets_a_plain_message(client, ada, double, caplog):
    scripted, integration = double
    internals = "<html>Redis 10.0.3.7:6379 refused: NOAUTH; upstream db-primary.internal</html>"
    scripted.answer("/token", 400, internals, content_type="text/html")
    caplog.set_level(logging.WARNING, logger="apps.greenhouse")
    client.force_login(ada)

    response = client.post(reverse("greenhouse:connection-test"), follow=True)

    assert flash(response) == [
        "Bad credentials: Greenhouse refused to issue a token. Check the client ID and secret, "
        "or create new Harvest V3 (OAuth) credentials in Greenhouse (Configure → Dev Center → "
        "API Credentials)."
    ]
    page = response.content.decode()
    assert "10.0.3.7" not in page and "db-primary" not in page
    integration.refresh_from_db()
    assert "10.0.3.7" not in integration.last_error
    assert "10.0.3.7:6379" in caplog.text  # the detail is in the server log


def test_json_in_another_shape_or_type_is_not_shown_either(client, ada, double):
    scripted, _ = double
    client.force_login(ada)
    for status, body, content_type in [
        (400, {"detail": {"message": "probe-marker: 5432 open"}}, "application/json"),
        (400, '{"message": "probe-marker: 5432 open"}', "text/plain"),
        (400, {"message": ["probe-marker: 5432 open"]}, "application/json"),
    ]:
        scripted.answer("/token", status, body, content_type=content_type)
        response = client.post(reverse("greenhouse:connection-test"), follow=True)
        assert "probe-marker" not in response.content.decode()
        assert "Greenhouse refused to issue a token." in flash(response)[0]


def test_greenhouse_s_own_error_text_is_cut_short_and_escaped(client, ada, double):
    scripted, integration = double
    long = "<script>alert('x')</script> " + "A" * 500
    scripted.answer("/token", 400, {"error": "invalid_request", "error_description": long})
    client.force_login(ada)

    response = client.post(reverse("greenhouse:connection-test"), follow=True)

    message = flash(response)[0]
    shown = message[message.index("(") + 1 : message.index(")", message.index("A"))]
    assert shown.startswith("<script>alert('x')</script> AAA") and shown.endswith("A…")
    assert len(shown) <= 200
    page = response.content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    integration.refresh_from_db()
    assert len(integration.last_error) < 400


def test_an_echoed_secret_is_not_repeated(double):
    scripted, integration = double
    secret = integration.get_client_secret()
    scripted.answer("/token", 400, {"errors": [f"client secret {secret} is not valid here"]})

    check = greenhouse_integration_test_connection(integration=integration)

    assert secret not in check.message and "[hidden]" in check.message


# --- The deadline ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["status", "headers", "body"])
def test_a_slow_drip_host_cannot_hold_a_web_worker(client, ada, team, settings, drip_server, mode):
    server = drip_server(mode=mode, interval=0.5, lasts=60.0)
    allow_greenhouse_host(settings, "drip", server.url)  # an operator's host that went bad
    settings.GREENHOUSE_CONNECTION_TEST_DEADLINE = DEADLINE
    integration = GreenhouseIntegrationFactory(team=team, host="drip")
    client.force_login(ada)

    started = time.monotonic()
    response = client.post(reverse("greenhouse:connection-test"), follow=True)
    took = time.monotonic() - started

    assert took < DEADLINE + MARGIN
    assert server.bytes_sent >= 2  # it did drip while the request waited
    assert flash(response) == [
        "Host too slow: Greenhouse did not answer within 2 s. Try again in a few minutes."
    ]
    assert server.cut.wait(MARGIN), "the connection was left open"
    integration.refresh_from_db()
    assert integration.health == Health.NEEDS_ATTENTION


@pytest.mark.parametrize("mode", ["status", "headers"])
def test_the_deadline_bounds_every_call_of_a_client(drip_server, settings, credentials, mode):
    server = drip_server(mode=mode, interval=0.5)
    allow_greenhouse_host(settings, "drip", server.url)
    slow = HarvestCredentials("id", "secret-value", server.url, f"{server.url}/token")

    started = time.monotonic()
    with Deadline(1.0) as deadline, pytest.raises(HarvestDeadlineExceeded) as caught:
        HarvestClient(slow, deadline=deadline, read_retries=2).users_first_page()
    assert time.monotonic() - started < 1.0 + MARGIN
    assert caught.value.retryable
    assert server.cut.wait(MARGIN)
    # Once it has passed, nothing more is sent at all.
    with pytest.raises(HarvestDeadlineExceeded):
        HarvestClient(slow, deadline=deadline).users_first_page()


def test_a_fast_host_is_not_cut(make_client, admin_user_id):
    with Deadline(DEADLINE + MARGIN) as deadline:
        client = make_client(deadline=deadline)
        assert client.users_first_page(per_page=1)
        assert client.candidates_by_email("grace.hopper@example.com")


# --- How often --------------------------------------------------------------------------------


def test_saves_and_tests_are_limited_per_team(client, integration, ada, harvest_sandbox, settings):
    settings.GREENHOUSE_CONNECTION_ATTEMPTS_PER_MINUTE = 3
    client.force_login(ada)
    test_url, save_url = reverse("greenhouse:connection-test"), reverse("greenhouse:connection")

    assert flash(client.post(test_url, follow=True))[-1].startswith("Connected")
    assert flash(client.post(test_url, follow=True))[-1].startswith("Connected")
    saved = client.post(save_url, connection_form(integration, acting_user_id=""), follow=True)
    assert flash(saved)[-1].startswith("Connected")

    refused_test = client.post(test_url)
    refused_save = client.post(save_url, connection_form(integration, acting_user_id="9"))

    for response in (refused_test, refused_save):
        assert response.status_code == 429
        assert "Too many connection saves and tests for your team" in response.content.decode()
    integration.refresh_from_db()
    assert integration.acting_user_id is None  # the refused save changed nothing
    assert len(harvest_sandbox.requests(path="/token")) == 3
    # Another team is not held up by this one.
    other = TeamFactory()
    GreenhouseIntegrationFactory(
        team=other,
        host="sandbox",
        client_id=harvest_sandbox.client_id,
        client_secret=harvest_sandbox.client_secret,
    )
    client.force_login(team_admin(other))
    assert flash(client.post(test_url, follow=True))[-1].startswith("Connected")


def test_the_attempt_window_starts_again():
    state = {}
    assert [attempt_count(state, 100.0, limit=2, window=60.0) for _ in range(3)] == [0, 0, 60.0]
    assert attempt_count(state, 130.0, limit=2, window=60.0) == 30.0
    assert attempt_count(state, 160.0, limit=2, window=60.0) == 0.0
    assert state["used"] == 1


# --- The process's environment does not route the secret ---------------------------------------


def test_the_environments_proxy_and_netrc_do_not_route_or_add_credentials(
    make_client, credentials, harvest_sandbox, listener, monkeypatch, tmp_path
):
    """HTTP(S)_PROXY or a ~/.netrc on the server would send the bearer token through a host
    nobody configured (or add a login to it): the client ignores both."""
    monkeypatch.setenv("HTTP_PROXY", listener.url)
    monkeypatch.setenv("HTTPS_PROXY", listener.url)
    monkeypatch.setenv("NO_PROXY", "")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password leaked\n")
    monkeypatch.setenv("NETRC", str(netrc))

    make_client().users_first_page()
    monkeypatch.undo()  # the sandbox's own control client (plain requests) reads the environment

    assert listener.connections == 0
    assert harvest_sandbox.requests(), "the sandbox was reached directly"
    assert not any(b"leaked" in request for request in listener.requests)


def test_a_proxy_named_in_settings_is_used(make_client, harvest_sandbox, listener, settings):
    settings.GREENHOUSE_HTTPS_PROXY = listener.url

    # The listener answers as if it were Greenhouse: what matters is where the request went.
    with contextlib.suppress(HarvestError):
        make_client(session=new_session()).users_first_page()

    assert listener.connections >= 1
