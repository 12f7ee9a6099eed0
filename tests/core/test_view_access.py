"""Roles and isolation for every view of our apps, found by walking the URL resolver.

Each URL pattern is either described in ACCESS (who may use it, how, on which object) or listed
in EXCLUDED with the reason it has its own authorization; a new view that is in neither fails
`test_every_url_pattern_is_classified`, so none can be forgotten. For each described view:

- anonymous: redirected to the login page;
- support staff without a team: 403, with a link to the support console;
- a member of another team: 404 on object URLs (the object's existence is not revealed);
- a recruiter on a team-admin page: 403;
- a POST without a CSRF token: 403;
- a GET on a POST-only URL: 405 (no GET changes state);
- the right user: 200 (or, for a POST, a redirect or a form error), so the checks above can fail.
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.greenhouse.factories import BackfillFactory, SensitiveReviewFactory, SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import EnrollmentFactory, ProspectFactory, SequenceFactory
from tests.teams.factories import TeamFactory, recruiter, team_admin


@dataclass(frozen=True)
class Access:
    audience: str  # "login" (any signed-in user), "member" (of a team) or "admin" (team admin)
    method: str  # "GET" (a page; forms on it POST to the same URL) or "POST" (POST only)
    obj: str | None = None  # the kind of team object in the URL, if any


ACCESS = {
    "home": Access("login", "GET"),
    "teams:settings": Access("admin", "GET"),
    "sequences:prospect-list": Access("member", "GET"),
    "sequences:prospect-detail": Access("member", "GET", "prospect"),
    "sequences:sequence-list": Access("member", "GET"),
    "sequences:sequence-detail": Access("member", "GET", "sequence"),
    "sequences:sequence-edit": Access("member", "POST", "sequence"),
    "sequences:step-add": Access("member", "POST", "sequence"),
    "sequences:sequence-enroll": Access("member", "GET", "sequence"),
    "sequences:enrollment-stop": Access("member", "POST", "enrollment"),
    "messaging:thread-list": Access("member", "GET"),
    "messaging:thread-detail": Access("member", "GET", "thread"),
    "messaging:thread-reply": Access("member", "POST", "thread"),
    "messaging:sms-send": Access("member", "GET", "prospect"),
    # Development tools (404 unless DEV_TOOLS; on for these tests).
    "messaging:dev-outbox": Access("login", "GET"),
    "messaging:dev-simulate": Access("member", "GET"),
    "messaging:dev-simulate-email": Access("member", "POST"),
    "messaging:dev-simulate-sms": Access("member", "POST"),
    "greenhouse:connection": Access("admin", "GET"),
    "greenhouse:connection-test": Access("admin", "POST"),
    "greenhouse:settings": Access("admin", "GET"),
    "greenhouse:users": Access("admin", "GET"),
    "greenhouse:users-refresh": Access("admin", "POST"),
    "greenhouse:user-set": Access("admin", "POST", "member"),
    "greenhouse:user-reset": Access("admin", "POST", "member"),
    "greenhouse:log": Access("admin", "GET"),
    "greenhouse:exclusions": Access("admin", "GET"),
    "greenhouse:record-retry": Access("admin", "POST", "sync_record"),
    "greenhouse:prospect-sync": Access("member", "GET", "prospect"),
    "greenhouse:prospect-pause": Access("member", "POST", "prospect"),
    "greenhouse:prospect-resume": Access("member", "POST", "prospect"),
    "greenhouse:backfill": Access("admin", "GET"),
    "greenhouse:backfill-run": Access("admin", "POST"),
    "greenhouse:backfill-lookup": Access("admin", "POST"),
    "greenhouse:backfill-detail": Access("admin", "GET", "backfill"),
    "greenhouse:prospect-backfill": Access("admin", "GET", "prospect"),
    "greenhouse:review": Access("member", "GET"),
    "greenhouse:review-tag": Access("admin", "POST"),
    "greenhouse:review-candidates": Access("member", "POST", "prospect"),
    "greenhouse:review-link": Access("member", "POST", "prospect"),
    "greenhouse:review-create": Access("member", "POST", "prospect"),
    "greenhouse:review-ignore": Access("member", "POST", "prospect"),
    "greenhouse:review-unignore": Access("member", "POST", "prospect"),
    "greenhouse:thread-visibility": Access("member", "POST", "thread"),
    "greenhouse:sensitive-reviews": Access("member", "GET"),
    "greenhouse:sensitive-review": Access("member", "GET", "review"),
    "greenhouse:sensitive-review-approve": Access("member", "POST", "review"),
    "greenhouse:sensitive-review-drop": Access("member", "POST", "review"),
    "greenhouse:sensitive-review-rules": Access("admin", "POST"),
}

# Deliberately not covered here: each has its own authorization, tested where it lives.
EXCLUDED = {
    "login": "the login page itself",
    "logout": "POST-only logout of whoever is signed in (Django's view)",
    "accounts:second-factor": "support staff's own second factor (tests/accounts)",
    "healthz": "load-balancer liveness, no data",
    "metrics": "Prometheus scrape: bearer token or verified staff (test_metrics_endpoint)",
    "favicon": "a redirect to the public static icon, no data",
    "messaging:dev-outbox-html": "one dev outbox email, scoped like the outbox by the email's "
    "team (tests/messaging/test_dev_simulate.py)",
    "messaging:twilio-sms": "Twilio webhook: X-Twilio-Signature (tests/messaging)",
    "messaging:twilio-status": "Twilio webhook: X-Twilio-Signature (tests/messaging)",
    "greenhouse:pause-link": "the signed token authorizes (tests/greenhouse); CSRF checked below",
}
EXCLUDED_PREFIXES = {
    "admin/": "the Django admin: staff login, model permissions (tests/core/test_admin_pages.py)",
    "anymail/": "ESP webhooks: HTTP Basic auth with ANYMAIL_WEBHOOK_SECRET (tests/messaging)",
}


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            yield from _walk(pattern.url_patterns, route, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(pattern, URLPattern):
            yield route, f"{namespace}{pattern.name}" if pattern.name else None


ALL_PATTERNS = list(_walk(get_resolver().url_patterns))


def test_every_url_pattern_is_classified():
    ours = [
        (route, name)
        for route, name in ALL_PATTERNS
        if not any(route.startswith(prefix) for prefix in EXCLUDED_PREFIXES)
    ]
    unnamed = [route for route, name in ours if name is None]
    assert not unnamed, f"Name these URL patterns so they can be checked: {unnamed}"
    names = {name for _, name in ours}
    assert names - set(ACCESS) - set(EXCLUDED) == set(), "new views: add them to ACCESS"
    assert set(ACCESS) - names == set(), "ACCESS lists views that no longer exist"
    assert set(EXCLUDED) - names == set(), "EXCLUDED lists views that no longer exist"
    assert not set(ACCESS) & set(EXCLUDED)
    assert len(ACCESS) == 49


@pytest.fixture
def teams(db, settings):
    settings.DEV_TOOLS = True
    ours, theirs = TeamFactory(), TeamFactory()
    world = {
        "admin": team_admin(ours),
        "recruiter": recruiter(ours),
        "other_admin": team_admin(theirs),
        "other_recruiter": recruiter(theirs),
        "staff": get_user_model().objects.create_user("support", is_staff=True),
    }
    sequence = SequenceFactory(team=ours, owner=world["recruiter"])
    prospect = ProspectFactory(team=ours, owner=world["recruiter"])
    thread = ThreadFactory(team=ours, prospect=prospect, owner=world["recruiter"])
    world["objects"] = {
        "prospect": prospect.pk,
        "sequence": sequence.pk,
        "enrollment": EnrollmentFactory(sequence=sequence, prospect=prospect).pk,
        "thread": thread.pk,
        "member": world["recruiter"].pk,
        "sync_record": SyncRecordFactory(message=MessageFactory(thread=thread)).pk,
        "backfill": BackfillFactory(team=ours).pk,
        "review": SensitiveReviewFactory(record__message=MessageFactory(thread=thread)).pk,
    }
    return world


def _url(name, access, teams):
    obj = access.obj
    if obj is None:
        return reverse(name)
    kwarg = "user_id" if obj == "member" else "pk"
    return reverse(name, kwargs={kwarg: teams["objects"][obj]})


def _request(client, method, url):
    return client.get(url) if method == "GET" else client.post(url)


def _right_user(access, teams):
    return teams["admin"] if access.audience == "admin" else teams["recruiter"]


CASES = sorted(ACCESS.items())


@pytest.mark.parametrize(("name", "access"), CASES, ids=[n for n, _ in CASES])
def test_anonymous_users_are_sent_to_the_login_page(client, teams, name, access):
    response = _request(client, access.method, _url(name, access, teams))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize(("name", "access"), CASES, ids=[n for n, _ in CASES])
def test_the_right_user_gets_through(client, teams, name, access):
    client.force_login(_right_user(access, teams))
    response = _request(client, access.method, _url(name, access, teams))
    if access.method == "GET":
        assert response.status_code == 200
    else:  # done (redirect), or a form error: never refused
        assert response.status_code in (302, 400), response.content[:500]


TEAM_CASES = [(n, a) for n, a in CASES if a.audience != "login"]


@pytest.mark.parametrize(("name", "access"), TEAM_CASES, ids=[n for n, _ in TEAM_CASES])
def test_support_staff_without_a_team_are_refused_with_a_way_to_the_console(
    client, teams, name, access
):
    client.force_login(teams["staff"])
    response = _request(client, access.method, _url(name, access, teams))
    assert response.status_code == 403
    assert reverse("admin:index").encode() in response.content


OBJECT_CASES = [(n, a) for n, a in TEAM_CASES if a.obj]


@pytest.mark.parametrize(("name", "access"), OBJECT_CASES, ids=[n for n, _ in OBJECT_CASES])
def test_another_teams_objects_are_not_found(client, teams, name, access):
    # The other team's user has the right role: only the team differs.
    other = teams["other_admin"] if access.audience == "admin" else teams["other_recruiter"]
    client.force_login(other)
    assert _request(client, access.method, _url(name, access, teams)).status_code == 404


ADMIN_CASES = [(n, a) for n, a in TEAM_CASES if a.audience == "admin"]


@pytest.mark.parametrize(("name", "access"), ADMIN_CASES, ids=[n for n, _ in ADMIN_CASES])
def test_recruiters_cannot_use_team_admin_pages(client, teams, name, access):
    client.force_login(teams["recruiter"])
    response = _request(client, access.method, _url(name, access, teams))
    assert response.status_code == 403
    assert b"Only team admins" in response.content


@pytest.mark.parametrize(("name", "access"), CASES, ids=[n for n, _ in CASES])
def test_a_post_without_a_csrf_token_is_refused(teams, name, access):
    client = Client(enforce_csrf_checks=True)
    client.force_login(_right_user(access, teams))
    assert client.post(_url(name, access, teams)).status_code == 403


POST_ONLY = [(n, a) for n, a in CASES if a.method == "POST"]


@pytest.mark.parametrize(("name", "access"), POST_ONLY, ids=[n for n, _ in POST_ONLY])
def test_post_only_urls_refuse_get(client, teams, name, access):
    client.force_login(_right_user(access, teams))
    assert client.get(_url(name, access, teams)).status_code == 405


def test_the_pause_links_post_needs_a_csrf_token(teams):
    from apps.greenhouse.pausing import pause_url
    from apps.sequences.models import Prospect

    prospect = Prospect.objects.get(pk=teams["objects"]["prospect"])
    path = pause_url(prospect=prospect, recipient=teams["recruiter"]).split("://", 1)[1]
    path = path[path.index("/") :]
    client = Client(enforce_csrf_checks=True)
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 403


def test_a_staff_member_without_a_team_lands_in_the_support_console(client, teams):
    client.force_login(teams["staff"])
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_the_sync_dashboard_is_for_staff_only(client, teams):
    url = reverse("admin:greenhouse_syncrecord_dashboard")
    client.force_login(teams["admin"])  # a team admin is not support staff
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
