"""The layout per role (nav from the apps' registrations), error pages, and static files in
the production setup (collectstatic + WhiteNoise with DEBUG off)."""

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apps.core import extensions
from tests.teams.factories import recruiter, team_admin

pytestmark = pytest.mark.django_db


def nav_labels(client, path="/") -> list[str]:
    html = client.get(path).content.decode()
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S).group(0)
    return re.findall(r">([^<]+)</a>", nav)


def test_the_nav_shows_what_each_role_may_open(client, settings):
    settings.DEV_TOOLS = False
    rob = recruiter()
    client.force_login(rob)
    assert nav_labels(client) == [
        "Sequences",
        "Prospects",
        "Conversations",
        "Review queue",
        "Sensitive mail",
    ]
    client.force_login(team_admin(rob.membership.team))
    assert nav_labels(client) == [
        "Sequences",
        "Prospects",
        "Conversations",
        "Review queue",
        "Sensitive mail",
        "Team settings",
    ]
    settings.DEV_TOOLS = True
    assert nav_labels(client)[-2:] == ["Dev outbox", "Simulate inbound"]
    rob.is_staff = True
    rob.save()
    client.force_login(rob)
    assert nav_labels(client)[-1] == "Support console"


def test_team_settings_tabs_and_the_active_tab(client):
    client.force_login(team_admin())
    html = client.get(reverse("greenhouse:log")).content.decode()
    tabs = re.search(r'<nav class="tabs".*?</nav>', html, re.S).group(0)
    assert re.findall(r">([^<]+)</a>", tabs) == [
        "Default BCC",
        "Greenhouse connection",
        "Sync",
        "Exclusions",
        "User mapping",
        "Sync log",
    ]
    assert re.findall(r'class="active"[^>]*>([^<]+)</a>', tabs) == ["Sync log"]
    assert re.search(r'class="active"[^>]*>Team settings</a>', html)


def test_a_link_to_a_missing_view_is_left_out(client, monkeypatch):
    # As when the app that registered it is not installed.
    monkeypatch.setattr(extensions, "_nav", list(extensions._nav))
    extensions.nav_item(
        section="main", label="Gone", url_name="nowhere:gone", audience="member", order=9
    )
    client.force_login(recruiter())
    assert "Gone" not in nav_labels(client)


def test_the_login_page_explains_a_wrong_password(client):
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert b"That username and password don't match" in response.content


@pytest.fixture
def production_static(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings.STATIC_ROOT


def test_collectstatic_then_pages_and_their_css_are_served_without_debug(production_static):
    client = Client()  # a new handler: WhiteNoise indexes STATIC_ROOT when it starts
    page = client.get(reverse("login"))
    assert page.status_code == 200
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.content.decode()).group(1)
    response = client.get(css)
    assert response.status_code == 200
    assert b".topbar" in b"".join(response.streaming_content)
    assert "max-age=315360000" in response["Cache-Control"]  # hashed names cache forever
    assert client.get("/static/admin/css/base.css").status_code == 200


def test_the_favicon_is_linked_and_served_without_debug(production_static):
    client = Client()
    page = client.get(reverse("login")).content.decode()
    icon = re.search(r'<link rel="icon" href="(/static/img/favicon\.[0-9a-f]{12}\.svg)"', page)
    assert icon is not None, page
    assert client.get(icon.group(1)).status_code == 200
    legacy = client.get("/favicon.ico")  # asked for by browsers and tools regardless
    assert legacy.status_code == 301 and legacy["Location"] == icon.group(1)


def test_error_pages_use_the_layout_without_debug(production_static, client):
    client.force_login(recruiter())
    page = client.get("/prospects/999999/")
    assert page.status_code == 404 and b"belongs to another team" in page.content
    page = client.get(reverse("teams:settings"))
    assert page.status_code == 403 and b"Only team admins can do this." in page.content
