"""Failed logins are throttled per user name and per IP address, on the app's login and the
admin's, by django-axes counting in the database (so every web process agrees)."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.utils import timezone

from apps.accounts.lockout import login_client_ip
from tests.fixtures.worker import database_url_for_children
from tests.teams.factories import UserFactory

RIGHT = "pw-for-tests"  # UserFactory's password
ATTACKER_IP = "198.51.100.7"
LOGIN_URLS = ["/login/", "/admin/login/"]


@pytest.fixture
def ada(db):
    # Staff, so that the admin's login accepts her too.
    return UserFactory(username="ada", is_staff=True)


def attempt(client, url, username, password, ip=ATTACKER_IP):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, url, times, *, username="ada", ip=ATTACKER_IP):
    return [attempt(client, url, username, f"wrong-{i}", ip).status_code for i in range(times)]


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_after_the_limit_even_the_right_password_is_refused(client, ada, url, settings):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the default, LOGIN_FAILURE_LIMIT
    answers = fail(client, url, limit)
    assert answers[:-1] == [200] * (limit - 1)  # the form again, with its error
    assert answers[-1] == 429  # the failure that reaches the limit gets the lockout page

    response = attempt(client, url, "ada", RIGHT)
    assert response.status_code == 429
    assert not logged_in(client)


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_the_lockout_page_says_what_happened_and_when_to_retry(client, ada, url, settings):
    fail(client, url, settings.AXES_FAILURE_LIMIT)
    response = attempt(client, url, "ada", RIGHT)
    html = response.content.decode()
    assert "Logins are paused" in html
    assert "Too many logins failed for this user name, or from your network (5 within" in html
    assert "refused for 15 minutes, even with the right password" in html
    assert "Try again after" in html
    assert response["Retry-After"] == str(15 * 60)
    assert "<form" not in html  # nothing to submit until the wait is over


def test_a_user_name_is_locked_whatever_address_the_attempts_come_from(client, ada, settings):
    other = UserFactory(username="rob")
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/login/", "ada", "wrong", ip=f"203.0.113.{i + 1}")
    # From an address that never failed: ada stays locked, rob (same address) gets in.
    assert attempt(client, "/login/", "ada", RIGHT, ip="192.0.2.50").status_code == 429
    assert not logged_in(client)
    assert attempt(client, "/login/", other.username, RIGHT, ip="203.0.113.1").status_code == 302
    assert logged_in(client)


def test_an_address_is_locked_whatever_user_names_it_tries(client, ada, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "/login/", f"guess{i}", "wrong")
    # ada never failed, but this address did: refused from here, accepted from elsewhere.
    assert attempt(client, "/login/", "ada", RIGHT).status_code == 429
    assert not logged_in(client)
    assert attempt(client, "/login/", "ada", RIGHT, ip="192.0.2.50").status_code == 302
    assert logged_in(client)


def test_the_app_and_the_admin_share_one_count(client, ada, settings):
    limit = settings.AXES_FAILURE_LIMIT
    fail(client, "/login/", limit - 1)
    assert fail(client, "/admin/login/", 1) == [429]
    assert attempt(client, "/login/", "ada", RIGHT).status_code == 429


def backdate_attempts(by: timedelta):
    AccessAttempt.objects.update(attempt_time=timezone.now() - by)


def test_the_right_password_works_again_once_the_cool_off_has_passed(client, ada, settings):
    fail(client, "/login/", settings.AXES_FAILURE_LIMIT)
    backdate_attempts(settings.AXES_COOLOFF_TIME - timedelta(minutes=1))
    assert attempt(client, "/login/", "ada", RIGHT).status_code == 429  # a minute to go
    # That refused attempt started the wait again; now let all of it pass.
    backdate_attempts(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
    assert attempt(client, "/login/", "ada", RIGHT).status_code == 302
    assert logged_in(client)


def test_failures_below_the_limit_do_not_lock(client, ada, settings):
    fail(client, "/login/", settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "/login/", "ada", RIGHT).status_code == 302


CHILD = """
import json, sys, django
django.setup()
from django.conf import settings
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the suite's
from django.contrib.auth import authenticate
from django.test import RequestFactory
out = {}
for username in sys.argv[1:]:
    request = RequestFactory().post("/login/", REMOTE_ADDR="192.0.2.99")
    user = authenticate(request, username=username, password="pw-for-tests")
    locked = getattr(request, "axes_locked_out", False)
    out[username] = {"user": user and user.username, "locked": locked}
print(json.dumps(out))
"""


@pytest.mark.django_db(transaction=True)
def test_a_lockout_holds_in_every_process(client, ada, settings):
    """Locked out through this process's web client; another process, sharing only the
    database, refuses the right password too (and still lets an innocent user in)."""
    UserFactory(username="rob")
    fail(client, "/login/", settings.AXES_FAILURE_LIMIT)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DATABASE_URL=database_url_for_children(), DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "ada", "rob"],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["ada"] == {"user": None, "locked": True}
    assert found["rob"] == {"user": "rob", "locked": False}


def request_from(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/login/", **extra)


def test_without_trusted_proxies_the_connection_address_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert login_client_ip(request_from("203.0.113.5", "6.6.6.6")) == "203.0.113.5"


def test_behind_trusted_proxies_the_client_address_is_read_from_their_hops(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the address it was connected from; what the client sent is ignored.
    assert login_client_ip(request_from("10.0.0.2", "203.0.113.5")) == "203.0.113.5"
    assert login_client_ip(request_from("10.0.0.2", "6.6.6.6, 203.0.113.5")) == "203.0.113.5"
    settings.TRUSTED_PROXY_COUNT = 2
    assert login_client_ip(request_from("10.0.0.3", "6.6.6.6, 203.0.113.5, 10.0.0.2")) == (
        "203.0.113.5"
    )
    # Not through the proxies, or a header that is not an address: the connection counts.
    assert login_client_ip(request_from("203.0.113.9", "10.0.0.2")) == "203.0.113.9"
    settings.TRUSTED_PROXY_COUNT = 1
    assert login_client_ip(request_from("10.0.0.2", "not-an-ip")) == "10.0.0.2"


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_the_others(client, ada, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/login/",
            {"username": f"guess{i}", "password": "wrong"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=ATTACKER_IP,
        )
    ok = {"username": "ada", "password": RIGHT}
    assert (
        client.post("/login/", ok, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER_IP).status_code
        == 429
    )
    assert (
        client.post("/login/", ok, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.8").status_code
        == 302
    )
