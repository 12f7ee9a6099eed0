"""The main pages render in Chromium with real data, and their screenshots for docs/.

Run with SCREENSHOTS_DIR=docs/screenshots to refresh the committed PNGs; otherwise they go to a
temporary folder (the test still checks that each page renders what it should). Every page is
taken as a user first sees it: 1366 px wide, the default layout (the admin's nav sidebar open).
tests/core/test_readme.py checks that the README shows exactly the PNGs this test takes.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import SyncRecord
from apps.greenhouse.pausing import prospect_sync_pause
from apps.greenhouse.switches import (
    team_sync_disable_by_support,
    team_sync_enable_by_support,
    team_sync_turn_off,
    team_sync_turn_on,
)
from tests.browser.scenes import globex_disabled, record_history, send_bot_email, synced_world
from tests.fixtures.browser import log_in
from tests.greenhouse.factories import SyncRecordFactory
from tests.greenhouse.sync_helpers import email_reply, write_all
from tests.greenhouse.test_candidate_gone import sms_to
from tests.messaging.factories import MessageFactory
from tests.teams.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page, name, *, full_page=True):
        page.wait_for_load_state("load")
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
        assert (folder / f"{name}.png").stat().st_size > 10_000

    return shot


def test_main_pages(page, live_server, harvest_sandbox, anymail_outbox, settings, shots):
    world = synced_world(harvest_sandbox)
    # A history of the switches: support disabled the team for a while, Ada turned it off and on.
    team_sync_disable_by_support(integration=world.integration, by=world.support)
    team_sync_enable_by_support(integration=world.integration, by=world.support)
    team_sync_turn_off(team=world.team, by=world.ada)
    team_sync_turn_on(team=world.team, by=world.ada)
    # Two weeks of history, then today's reply; a newcomer nobody mapped yet, and a hold.
    failed_thread = record_history(world.team, owner=world.rob, seed=1)
    email_reply(world.thread, text="Sounds interesting! Could we talk on Thursday?")
    write_all()
    nina = UserFactory(
        username="nina", first_name="Nina", last_name="Newhire", email="nina@acme.example"
    )
    MembershipFactory(team=world.team, user=nina)
    SyncRecordFactory(
        message=MessageFactory(
            thread=world.thread,
            body_text="Thursday 3pm works. Talk then!",
            from_address="Rob Recruiter <rob@acme.example>",
            to_addresses=["grace.hopper@example.com"],
            sender=world.rob,
            status="sent",
        ),
        status=SyncRecord.Status.HELD,
        reason="connection_unhealthy",
    )
    record_history(globex_disabled(), seed=2)
    prospect_sync_pause(prospect=world.alan, via="app", by=world.rob)
    settings.PUBLIC_BASE_URL = live_server.url
    pause_link = send_bot_email(world)

    log_in(page, "ada")
    page.goto("/team/greenhouse/")
    expect(page.locator(".status-list")).to_contain_text("configured, set ")
    shots(page, "team-greenhouse-connection")
    page.goto("/team/greenhouse/sync/")
    expect(page.locator(".warning-text").first).to_contain_text("public notes")
    expect(page.locator("[data-unknown-recipients] .warning-text")).to_contain_text("duplicates")
    expect(page.locator("table.switch-history tbody tr")).to_have_count(4)
    expect(page.locator("table.switch-history")).to_contain_text("Disabled by support")
    shots(page, "team-sync-settings")
    page.goto("/team/greenhouse/users/")
    expect(page.locator("tr.gap")).to_contain_text("Nina Newhire")
    shots(page, "team-user-mapping")
    page.goto("/team/greenhouse/log/")
    expect(page.locator("table")).to_contain_text("Failed")
    shots(page, "team-sync-log", full_page=False)
    page.goto("/team/greenhouse/log/?status=failed")
    expect(page.locator("tbody tr").first).to_contain_text("server error")
    assert failed_thread.team_id == world.team.pk

    page.context.clear_cookies()
    log_in(page, "rob")
    page.goto("/sequences/")
    expect(page.get_by_role("heading", name="Enrollments in my sequences")).to_be_visible()
    shots(page, "my-sequences")
    page.goto(f"/sequences/{world.sequence.pk}/")
    expect(page.locator("table").nth(1)).to_contain_text("Grace Hopper")
    shots(page, "sequence")
    page.goto(f"/prospects/{world.grace.pk}/")
    expect(page.get_by_role("button", name="Pause sync for this candidate")).to_be_visible()
    shots(page, "prospect")
    page.goto(f"/prospects/{world.grace.pk}/sync/")
    expect(page.locator(".thread-block").first).to_contain_text("Written")
    expect(page.locator(".thread-block").first).to_contain_text("first reply")
    shots(page, "candidate-sync")
    page.goto(f"/conversations/{world.thread.pk}/")
    expect(page.locator(".message .sync").first).to_contain_text("Written")
    shots(page, "conversation")
    sms_to(world, world.linus, "Hi Linus, Rob from Acme. Free for a call this week?")
    write_all()  # Linus is not in Greenhouse yet: his SMS waits for review
    page.goto("/greenhouse/review/")
    expect(page.locator("table[data-review-queue]")).to_contain_text("Linus Unknown")
    shots(page, "review-queue")

    page.context.clear_cookies()
    page.goto(pause_link)
    expect(page.get_by_role("button", name="Pause sync for Grace Hopper")).to_be_visible()
    shots(page, "pause-confirmation")

    log_in(page, "support", admin=True)
    # The admin as it opens: the nav sidebar open (the default).
    page.goto("/admin/")
    expect(page.locator(".outreach-shortcuts")).to_contain_text("Sync dashboard")
    shots(page, "admin-home", full_page=False)
    page.goto("/admin/greenhouse/syncrecord/")
    expect(page.locator("#nav-sidebar")).to_be_visible()
    expect(page.locator("#result_list")).to_be_visible()
    shots(page, "admin-sync-records", full_page=False)
    page.goto("/admin/greenhouse/greenhouseintegration/")
    expect(page.locator("#result_list")).to_contain_text("Disabled by support")
    shots(page, "admin-integrations", full_page=False)
    page.goto(f"/admin/greenhouse/greenhouseintegration/{world.integration.pk}/change/")
    expect(page.locator("body")).to_contain_text("Switch history (newest first)")
    page.locator("h2", has_text="Switch history").scroll_into_view_if_needed()
    shots(page, "admin-integration-history", full_page=False)
    page.goto("/admin/greenhouse/syncrecord/dashboard/")
    expect(page.locator(".dash-team")).to_have_count(2)
    expect(page.locator(".bars .seg.failed").first).to_be_attached()
    shots(page, "admin-sync-dashboard")
