"""A session ends after SESSION_IDLE_TIMEOUT seconds without a request; each request starts
the count again (SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST). The clock is moved by
setting the stored expiry, as the passing of idle time would have left it."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from tests.teams.factories import recruiter

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, settings):
    settings.SESSION_COOKIE_AGE = 600
    user = recruiter()
    response = client.post(
        reverse("login"), {"username": user.username, "password": "pw-for-tests"}
    )
    assert response.status_code == 302
    return client


def stored_session(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def expiry_in(client) -> float:
    return (stored_session(client).expire_date - timezone.now()).total_seconds()


def set_expiry_in(client, seconds: float):
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() + timedelta(seconds=seconds)
    )


def test_each_request_starts_the_idle_count_again(signed_in):
    assert 590 < expiry_in(signed_in) <= 600
    set_expiry_in(signed_in, 30)  # 570 s idle: still signed in...
    response = signed_in.get(reverse("home"))
    assert response.status_code == 200
    assert 590 < expiry_in(signed_in) <= 600  # ...and the count starts again
    assert response.cookies["sessionid"]["max-age"] == 600


def test_an_idle_session_is_logged_out(signed_in):
    set_expiry_in(signed_in, -1)  # 601 s without a request
    response = signed_in.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert signed_in.get(reverse("sequences:sequence-list")).status_code == 302
