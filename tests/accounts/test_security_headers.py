"""The Content-Security-Policy on every page, pages that keep to it (no inline script or style,
in the app and in the admin), and `Cache-Control: private` on what a signed-in user sees."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.core.test_admin_pages import REGISTERED, world  # noqa: F401  (a row of every model)
from tests.core.test_view_access import ACCESS, _right_user, _url, teams  # noqa: F401
from tests.fixtures.staff import confirmed_totp_device, log_in_staff
from tests.greenhouse.factories import SyncRecordFactory
from tests.teams.factories import recruiter

pytestmark = pytest.mark.django_db

EXPECTED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def policy_of(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


# What the policy blocks: <style> elements, style="" attributes, scripts without src (JSON
# data blocks are not run, so they are allowed), on*="" handlers and javascript: URLs.
INLINE = [
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    re.compile(r"javascript:", re.I),
]


def inline_code(html: str) -> list[str]:
    return [m.group(0) for pattern in INLINE for m in pattern.finditer(html)]


def assert_keeps_to_the_policy(response, status=200):
    assert response.status_code == status, response.status_code
    assert policy_of(response) == {**policy_of(response), **EXPECTED_POLICY}
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    html = response.content.decode()
    assert inline_code(html) == [], response.wsgi_request.path


def test_the_checker_finds_what_the_policy_would_block():
    html = (
        '<div style="x"></div><style>a{}</style><script>alert(1)</script>'
        '<a onclick="f()" href="javascript:f()">x</a>'
        '<script src="/static/a.js"></script><script type="application/json">{}</script>'
    )
    assert len(inline_code(html)) == 5


def test_the_login_pages_carry_the_policy(client, settings):
    assert_keeps_to_the_policy(client.get(reverse("login")))
    assert_keeps_to_the_policy(client.get(reverse("admin:login")))
    # The lockout page, and the verify page of support staff.
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), {"username": "ada", "password": f"wrong-{i}"})
    locked = client.post(reverse("login"), {"username": "ada", "password": "wrong"})
    assert_keeps_to_the_policy(locked, status=429)
    staff = get_user_model().objects.create_user("staff", is_staff=True)
    confirmed_totp_device(staff)
    client.force_login(staff)
    assert_keeps_to_the_policy(client.get(reverse("accounts:second-factor")))


GET_PAGES = sorted(name for name, access in ACCESS.items() if access.method == "GET")


@pytest.mark.parametrize("name", GET_PAGES)
def test_every_app_page_keeps_to_the_policy(client, teams, name):  # noqa: F811
    access = ACCESS[name]
    client.force_login(_right_user(access, teams))
    assert_keeps_to_the_policy(client.get(_url(name, access, teams)))


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("support", "support@example.com", "pw")
    return log_in_staff(client, user)


def test_the_admin_dashboard_and_index_keep_to_the_policy(staff_client, world):  # noqa: F811
    SyncRecordFactory(status="failed")
    assert_keeps_to_the_policy(staff_client.get(reverse("admin:index")))
    dashboard = staff_client.get(reverse("admin:greenhouse_syncrecord_dashboard"))
    assert_keeps_to_the_policy(dashboard)
    # Bar heights come from the stylesheet (data-pct), not from style attributes.
    assert re.search(r'class="seg failed" data-pct="\d+"', dashboard.content.decode())


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_admin_changelists_and_change_forms_keep_to_the_policy(model, world, staff_client):  # noqa: F811
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    assert_keeps_to_the_policy(staff_client.get(reverse(f"{info}_changelist")))
    obj = model._default_manager.first()
    assert_keeps_to_the_policy(staff_client.get(reverse(f"{info}_change", args=[obj.pk])))
    if admin.site._registry[model].has_add_permission(
        staff_client.get(reverse("admin:index")).wsgi_request
    ):
        assert_keeps_to_the_policy(staff_client.get(reverse(f"{info}_add")))


def test_the_retry_button_of_a_failed_record_keeps_to_the_policy(staff_client):
    record = SyncRecordFactory(status="failed")
    page = staff_client.get(reverse("admin:greenhouse_syncrecord_change", args=[record.pk]))
    assert "Retry this record" in page.content.decode()
    assert_keeps_to_the_policy(page)


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_pages_of_a_signed_in_user_are_private(client):
    client.force_login(recruiter())
    for path in (reverse("home"), reverse("sequences:sequence-list")):
        assert {"private", "no-store"} <= cache_control(client.get(path)), path


def test_admin_pages_are_private(staff_client):
    assert {"private", "no-store"} <= cache_control(staff_client.get(reverse("admin:index")))


def test_public_answers_are_not_marked_private(client):
    assert "private" not in cache_control(client.get(reverse("healthz")))


def test_the_admin_pages_of_other_apps_keep_to_the_policy(staff_client):
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(
        username="ada", ip_address="198.51.100.7", user_agent="", failures_since_start=1
    )
    support = get_user_model().objects.get(username="support")
    for url in (
        reverse("admin:axes_accessattempt_changelist"),
        reverse("admin:axes_accesslog_changelist"),
        reverse("admin:accounts_stafftotpdevice_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[support.pk]),
        reverse("admin:auth_user_password_change", args=[support.pk]),
        reverse("admin:auth_group_add"),
    ):
        assert_keeps_to_the_policy(staff_client.get(url))
