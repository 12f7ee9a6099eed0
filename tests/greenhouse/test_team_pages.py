"""Team admin pages (connection, switches, user mapping, sync log, backlog) and the recruiter's
candidate page. Greenhouse is the local Harvest sandbox; nothing is mocked."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse import selectors
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping, SyncRecord
from apps.greenhouse.selectors import SyncLogFilters, sync_backlog, sync_log, sync_log_page
from tests.greenhouse.factories import GreenhouseIntegrationFactory, SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status


@pytest.fixture
def ada(team):
    return team.memberships.get(user__username="ada").user


@pytest.fixture
def rob(team):
    return team.memberships.get(user__username="rob").user


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- The connection ----------------------------------------------------------------------------


def test_a_team_admin_connects_and_the_secret_is_never_shown_back(
    client, team, ada, harvest_sandbox_fast, admin_user_id, settings
):
    settings.GREENHOUSE_DEFAULT_HOST = "sandbox"  # as with DEV_TOOLS; production: "greenhouse"
    client.force_login(ada)
    page = client.get(reverse("greenhouse:connection"))
    assert page.status_code == 200 and b"Not connected yet" in page.content
    response = client.post(
        reverse("greenhouse:connection"),
        {
            "client_id": harvest_sandbox_fast.client_id,
            "client_secret": harvest_sandbox_fast.client_secret,
            "acting_user_id": admin_user_id,
        },
        follow=True,
    )
    assert flash(response)[-1].startswith("Connected")
    integration = GreenhouseIntegration.objects.get(team=team)
    assert integration.host == settings.GREENHOUSE_DEFAULT_HOST == "sandbox"
    assert integration.health == GreenhouseIntegration.Health.OK
    assert integration.get_client_secret() == harvest_sandbox_fast.client_secret
    html = response.content.decode()
    assert harvest_sandbox_fast.client_secret not in html
    # "Configured" and when: no part of the secret, not even its last characters.
    set_at = timezone.localtime(integration.client_secret_set_at)
    assert f"configured, set {set_at:%Y-%m-%d %H:%M}" in html
    assert f"…{harvest_sandbox_fast.client_secret[-4:]}" not in html and "ends in" not in html


def test_an_empty_secret_keeps_the_stored_one_and_a_bad_one_is_explained(
    client, integration, ada, harvest_sandbox_fast
):
    client.force_login(ada)
    data = {
        "client_id": integration.client_id,
        "client_secret": "",
        "acting_user_id": integration.acting_user_id,
    }
    response = client.post(reverse("greenhouse:connection"), data, follow=True)
    assert flash(response)[-1].startswith("Connected")
    response = client.post(
        reverse("greenhouse:connection"),
        {**data, "client_secret": "wrong-secret-1234"},
        follow=True,
    )
    assert flash(response)[-1].startswith("Bad credentials")
    assert "wrong-secret" not in response.content.decode()
    integration.refresh_from_db()
    assert integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION


def test_a_new_connection_needs_a_secret(client, team, ada):
    client.force_login(ada)
    response = client.post(
        reverse("greenhouse:connection"),
        {"client_id": "abc"},
    )
    assert response.status_code == 400 and b"Enter the client secret." in response.content
    assert not GreenhouseIntegration.objects.exists()


def test_test_connection_reports_in_plain_words(client, integration, ada, harvest_sandbox_fast):
    client.force_login(ada)
    response = client.post(reverse("greenhouse:connection-test"), follow=True)
    # Once it works, the team is looked up by email (who wrote each note).
    assert flash(response) == [
        "Connected: Greenhouse issued a token and answered an authorized call. "
        "Looked up by email: 2 of 2 team members mapped."
    ]
    harvest_sandbox_fast.revoke_credential(harvest_sandbox_fast.client_id)
    response = client.post(reverse("greenhouse:connection-test"), follow=True)
    assert flash(response)[0].startswith("Bad credentials")


# --- The sync switches -------------------------------------------------------------------------


def test_the_sync_page_says_what_support_has_to_do(client, integration, ada):
    client.force_login(ada)
    page = client.get(reverse("greenhouse:settings")).content.decode()
    assert "ask your CSM" in page and "Save sync settings" not in page
    response = client.post(reverse("greenhouse:settings"), {"sync_on": "on"})
    assert response.status_code == 400
    integration.refresh_from_db()
    assert not integration.sync_on


def test_the_public_warning_sits_next_to_the_visibility_choice(client, integration, ada):
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(sync_enabled_by_support=True)
    client.force_login(ada)
    page = client.get(reverse("greenhouse:settings")).content.decode()
    public = page.index('value="public"')
    warning = page.index("visible to everyone with access to that candidate")
    private = page.index('value="private"')
    assert public < warning < private


# --- User mapping ------------------------------------------------------------------------------


def test_mapping_gaps_are_highlighted_and_filled_by_email_or_by_hand(
    client, team, integration, ada, rob, harvest_sandbox_fast
):
    nina = UserFactory(username="nina", email="nina@nowhere.example", first_name="Nina")
    MembershipFactory(team=team, user=nina)
    client.force_login(ada)
    page = client.get(reverse("greenhouse:users")).content.decode()
    assert page.count('class="gap"') == 3 and "3 team members without a Greenhouse user" in page

    response = client.post(reverse("greenhouse:users-refresh"), follow=True)
    assert flash(response) == ["Looked up by email: 2 of 3 team members mapped."]
    page = response.content.decode()
    assert page.count('class="gap"') == 1
    assert "No Greenhouse user has the primary email nina@nowhere.example." in page

    response = client.post(
        reverse("greenhouse:user-set", args=[nina.pk]), {"greenhouse_user_id": "777"}, follow=True
    )
    assert "Greenhouse user 777" in flash(response)[0]
    mapping = GreenhouseUserMapping.objects.get(user=nina)
    assert (mapping.greenhouse_user_id, mapping.source) == (777, "admin")
    assert 'class="gap"' not in response.content.decode()
    client.post(reverse("greenhouse:users-refresh"))  # an admin's choice survives a lookup
    assert GreenhouseUserMapping.objects.get(user=nina).greenhouse_user_id == 777

    response = client.post(
        reverse("greenhouse:user-set", args=[nina.pk]), {"greenhouse_user_id": "x"}
    )
    assert response.status_code == 302
    client.post(reverse("greenhouse:user-reset", args=[nina.pk]))
    assert not GreenhouseUserMapping.objects.filter(user=nina).exists()


def test_the_mapping_page_without_a_connection_says_to_connect_first(client, team, ada):
    client.force_login(ada)
    page = client.get(reverse("greenhouse:users")).content.decode()
    assert "Greenhouse is not connected yet" in page
    response = client.post(reverse("greenhouse:users-refresh"), follow=True)
    assert flash(response) == ["Connect Greenhouse first: there is nobody to look up yet."]


# --- The sync log ------------------------------------------------------------------------------


@pytest.fixture
def log(team, rob):
    """Records of two prospects and of another team."""
    grace = ProspectFactory(team=team, first_name="Grace")
    ProspectEmailFactory(prospect=grace, email="grace@example.com")
    alan = ProspectFactory(team=team, first_name="Alan")
    grace_thread = ThreadFactory(team=team, prospect=grace, owner=rob)
    alan_thread = ThreadFactory(team=team, prospect=alan, owner=rob)
    written = SyncRecordFactory(
        message=MessageFactory(thread=grace_thread, message_id="abc@outreach.test"),
        status=Status.WRITTEN,
        note_id=4242,
    )
    failed = SyncRecordFactory(
        message=MessageFactory(thread=alan_thread), status=Status.FAILED, reason="sms"
    )
    skipped = SyncRecordFactory(
        message=MessageFactory(thread=grace_thread), status=Status.SKIPPED, reason="no_candidate"
    )
    SyncRecordFactory(message=MessageFactory(), status=Status.FAILED)  # another team's
    return {"grace": grace, "written": written, "failed": failed, "skipped": skipped}


def _ids(team, **filters):
    return [r.pk for r in sync_log(team_id=team.pk, filters=SyncLogFilters(**filters))]


def test_the_log_filters_and_searches_within_the_team(team, log):
    everything = _ids(team)
    assert everything == sorted(everything, reverse=True) and len(everything) == 3
    assert _ids(team, status="failed") == [log["failed"].pk]
    assert _ids(team, reason="no_candidate") == [log["skipped"].pk]
    assert _ids(team, prospect_id=log["grace"].pk) == [log["skipped"].pk, log["written"].pk]
    assert set(_ids(team, q="GRACE@example.com ")) == {log["skipped"].pk, log["written"].pk}
    assert _ids(team, q="<abc@outreach.test>") == [log["written"].pk]
    assert _ids(team, q="4242") == [log["written"].pk]
    assert _ids(team, q="nobody@example.com") == []
    assert _ids(team, status="written", q="4242") == [log["written"].pk]


def test_the_log_page_paginates_by_keyset_with_a_constant_number_of_queries(
    client, team, ada, log, settings
):
    client.force_login(ada)
    url = reverse("greenhouse:log")

    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    few = queries(url)
    thread = log["written"].thread
    for _ in range(60):
        SyncRecordFactory(message=MessageFactory(thread=thread), status=Status.WRITTEN)
    assert queries(url) == few
    response = client.get(url)
    page = response.context["page"]
    assert len(page.rows) == selectors.SYNC_LOG_PAGE_SIZE and page.count == 63
    older = client.get(f"{url}?before={page.next_before}")
    rest = older.context["page"]
    assert len(rest.rows) == 13 and rest.next_before is None
    assert rest.rows[0].pk < page.rows[-1].pk
    # A search adds its two small lookups (emails, messages), whatever the log's size.
    searched = f"{url}?before={page.next_before}&status=written&q=grace@example.com"
    assert queries(searched) == few + 2


def test_the_log_count_is_capped(team, log, monkeypatch):
    monkeypatch.setattr(selectors, "SYNC_LOG_COUNT_CAP", 2)
    page = sync_log_page(sync_log(team_id=team.pk, filters=SyncLogFilters()))
    assert (page.count, page.count_capped) == (2, True)


def test_a_team_admin_retries_a_failed_record_from_the_log(client, team, ada, log):
    client.force_login(ada)
    response = client.post(
        reverse("greenhouse:record-retry", args=[log["failed"].pk]), {"back": "status=failed"}
    )
    assert response["Location"] == reverse("greenhouse:log") + "?status=failed"
    log["failed"].refresh_from_db()
    assert log["failed"].status == Status.PENDING
    response = client.post(
        reverse("greenhouse:record-retry", args=[log["written"].pk]), follow=True
    )
    assert flash(response)[-1] == "Only failed or held records can be retried; nothing changed."


def test_the_log_page_shows_filters_and_an_empty_state(client, team, ada, log):
    client.force_login(ada)
    page = client.get(reverse("greenhouse:log"), {"status": "held"}).content.decode()
    assert "Nothing matches these filters" in page
    page = client.get(reverse("greenhouse:log"), {"prospect": log["grace"].pk}).content.decode()
    assert "Candidate: Grace" in page


# --- The backlog -------------------------------------------------------------------------------


def _record(thread, status, **fields):
    return SyncRecordFactory(message=MessageFactory(thread=thread), status=status, **fields)


def test_the_backlog_eta_uses_the_recent_write_rate(team, rob):
    now = timezone.now()
    thread = ThreadFactory(team=team, owner=rob)
    for _ in range(30):
        _record(thread, Status.PENDING)
    _record(thread, Status.IN_PROGRESS)
    _record(thread, Status.HELD)
    for minutes in (1, 5, 14):  # 3 in the last 15 minutes, 1 before
        _record(thread, Status.WRITTEN, written_at=now - timedelta(minutes=minutes))
    _record(thread, Status.WRITTEN, written_at=now - timedelta(minutes=20))
    backlog = sync_backlog(team_id=team.pk, now=now)
    assert (backlog.waiting, backlog.held, backlog.written_recently) == (31, 1, 3)
    assert backlog.rate_per_minute == pytest.approx(0.2)
    assert backlog.eta == timedelta(minutes=31 / 0.2) and backlog.eta_basis == "recent"


def test_without_recent_writes_the_eta_assumes_the_rate_limit(team, rob, settings):
    settings.GREENHOUSE_RATE_DEFAULT_LIMIT, settings.GREENHOUSE_RATE_DEFAULT_WINDOW = 50, 30
    thread = ThreadFactory(team=team, owner=rob)
    for _ in range(500):
        _record(thread, Status.PENDING)
    backlog = sync_backlog(team_id=team.pk)
    assert backlog.max_rate_per_minute == 100
    assert backlog.eta == timedelta(minutes=5) and backlog.eta_basis == "rate_limit"


def test_an_empty_backlog_has_no_eta(team):
    backlog = sync_backlog(team_id=team.pk)
    assert (backlog.waiting, backlog.held, backlog.eta) == (0, 0, None)


def test_the_backlog_is_shown_on_the_sync_page(client, team, ada, rob):
    GreenhouseIntegrationFactory(team=team)
    thread = ThreadFactory(team=team, owner=rob)
    for _ in range(3):
        _record(thread, Status.PENDING)
    client.force_login(ada)
    page = client.get(reverse("greenhouse:settings")).content.decode()
    assert "waiting to be written" in page and "best pace" in page


# --- The candidate page and the panels on other apps' pages ------------------------------------


def test_the_candidate_page_groups_messages_by_thread_with_status_and_reason(
    client, team, rob, log
):
    grace = log["grace"]
    queued = MessageFactory(thread=log["written"].thread, status="queued")
    client.force_login(rob)
    with CaptureQueriesContext(connection) as captured:
        page = client.get(reverse("greenhouse:prospect-sync", args=[grace.pk])).content.decode()
    # Constant: among them the review queue's actions on the prospect and the threads' own
    # note visibility (one query each, whatever the number of threads).
    assert len(captured) < 17
    assert "Written" in page and "An email sent by a sequence." in page and "note 4242" in page
    assert "No Greenhouse candidate has this prospect" in page
    assert "Decided once it is sent." in page and queued.body_text in page


def test_the_thread_page_shows_each_messages_sync_status(client, team, rob, log):
    thread = log["written"].thread
    client.force_login(rob)
    page = client.get(reverse("messaging:thread-detail", args=[thread.pk])).content.decode()
    assert page.count('class="sync"') == 2
    assert "An email sent by a sequence." in page and "note 4242" in page
    assert reverse("greenhouse:prospect-sync", args=[thread.prospect_id]) in page


def test_pausing_from_the_prospect_page_returns_there(client, team, rob, log):
    grace = log["grace"]
    client.force_login(rob)
    page = client.get(reverse("sequences:prospect-detail", args=[grace.pk])).content.decode()
    assert "Pause sync for this candidate" in page
    response = client.post(
        reverse("greenhouse:prospect-pause", args=[grace.pk]), {"next": "prospect"}
    )
    assert response["Location"] == reverse("sequences:prospect-detail", args=[grace.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Resume sync" in page
    log["skipped"].refresh_from_db()
    assert log["skipped"].status == Status.SKIPPED


def test_a_team_admins_home_page_summarises_the_sync(client, team, ada, rob):
    client.force_login(ada)
    assert "Greenhouse is not connected yet" in client.get("/").content.decode()
    client.force_login(rob)
    page = client.get("/").content.decode()
    # Recruiters get their own panel (tests/greenhouse/test_small_things.py), not the admin's.
    assert "Connect it</a>" not in page and "Waiting / held" not in page
