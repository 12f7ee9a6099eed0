"""The three journeys of the issue, in headless Chromium against the real server."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import GreenhouseIntegration, ProspectSyncPause, SyncRecord
from tests.browser.scenes import demo_team, sandbox_integration, send_bot_email, synced_world
from tests.fixtures.browser import log_in
from tests.greenhouse.factories import SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_team_admin_connects_greenhouse_and_turns_sync_on(page, harvest_sandbox):
    team, users = demo_team()
    # Support enabled the team earlier (on the sandbox's host profile); the credential it had
    # then has been revoked since.
    integration = sandbox_integration(
        team,
        harvest_sandbox,
        client_id="revoked-client",
        client_secret="revoked-secret-0000",
        acting_user_id=None,
        health=GreenhouseIntegration.Health.NEEDS_ATTENTION,
        last_error="Bad credentials: the client secret is wrong.",
        sync_enabled_by_support=True,
    )

    log_in(page, "ada")
    page.get_by_role("link", name="Team settings").click()
    page.get_by_role("link", name="Greenhouse connection").click()
    expect(page.get_by_text("Needs attention")).to_be_visible()
    expect(page.get_by_label("Client secret")).to_have_value("")  # write-only

    page.get_by_label("Client ID").fill(harvest_sandbox.client_id)
    page.get_by_label("Client secret").fill(harvest_sandbox.client_secret)
    page.get_by_label("Acting Greenhouse user ID").fill(
        str(harvest_sandbox.user_id("ada@acme.example"))
    )
    expect(page.get_by_label("API base URL")).to_have_count(0)  # hosts are not the team's
    page.get_by_role("button", name="Save and test").click()
    expect(page.locator(".flash")).to_contain_text("Connected")
    expect(page.locator(".status-list")).to_contain_text("Connected")
    expect(page.locator(".status-list")).to_contain_text("configured, set ")
    assert harvest_sandbox.client_secret not in page.content()
    assert f"…{harvest_sandbox.client_secret[-4:]}" not in page.content()

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash")).to_contain_text("Connected: Greenhouse issued a token")

    page.get_by_role("link", name="Sync", exact=True).click()
    # The public-notes warning (the page's other note is the duplicate risk of creating).
    expect(page.get_by_role("note").filter(has_text="Warning")).to_contain_text(
        "visible to everyone with access to that candidate"
    )
    page.get_by_label("Sync email and SMS activity to Greenhouse").check()
    page.get_by_role("button", name="Save sync settings").click()
    expect(page.locator(".flash")).to_contain_text("Greenhouse sync settings saved.")

    integration.refresh_from_db()
    assert integration.sync_on and integration.sync_changed_by == users["ada"]
    assert integration.health == GreenhouseIntegration.Health.OK
    assert integration.client_id == harvest_sandbox.client_id
    assert integration.get_client_secret() == harvest_sandbox.client_secret


def test_a_recruiter_pauses_a_candidate_from_the_bot_emails_link(
    page,
    live_server,
    harvest_sandbox,
    anymail_outbox,
    settings,
):
    world = synced_world(harvest_sandbox)
    settings.PUBLIC_BASE_URL = live_server.url  # the link in the email points at this server
    pause_link = send_bot_email(world)

    log_in(page, "rob")
    page.goto(pause_link)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Pause Greenhouse sync for Grace Hopper?"
    )
    assert not ProspectSyncPause.objects.filter(paused=True).exists()  # opening changes nothing

    page.get_by_role("button", name="Pause sync for Grace Hopper").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sync paused for Grace Hopper")

    state = ProspectSyncPause.objects.get(prospect=world.grace)
    assert state.paused and state.paused_via == "email_link" and state.paused_by == world.rob
    # The candidate's page says so, and offers to resume.
    page.goto(f"/prospects/{world.grace.pk}/sync/")
    expect(page.get_by_role("button", name="Resume sync")).to_be_visible()


def test_support_filters_failed_syncs_and_retries_one(page):
    team, users = demo_team()
    thread = ThreadFactory(team=team, owner=users["rob"])
    failed = SyncRecordFactory(
        message=MessageFactory(thread=thread),
        status=SyncRecord.Status.FAILED,
        last_error="Greenhouse had a server error (502); try again in a few minutes.",
    )
    written = SyncRecordFactory(
        message=MessageFactory(thread=thread), status=SyncRecord.Status.WRITTEN, note_id=99
    )

    log_in(page, "support", admin=True)
    page.goto("/admin/greenhouse/syncrecord/")
    page.locator("#changelist-filter").get_by_role("link", name="Failed").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("server error (502)")

    rows.first.locator("input.action-select").check()
    page.locator("select[name=action]").select_option("retry")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("1 record queued again")

    failed.refresh_from_db()
    written.refresh_from_db()
    assert failed.status == SyncRecord.Status.PENDING and failed.last_error == ""
    assert written.status == SyncRecord.Status.WRITTEN
