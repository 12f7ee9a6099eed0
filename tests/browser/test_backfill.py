"""The backfill in headless Chromium: from the sync settings page to the dry run (per candidate,
what would be written and why not; nothing changes), then the run and its progress."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import Backfill, SyncRecord
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import team_sync_turn_off, team_sync_turn_on
from apps.messaging.outbound import sms_send
from tests.browser.scenes import synced_world
from tests.fixtures.browser import log_in
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import write_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_team_admin_dry_runs_then_runs_a_backfill(page, harvest_sandbox):
    world = synced_world(harvest_sandbox)
    sms_send(sender=world.rob, prospect=world.alan, body="Looked up while sync was on")
    deliver_queued()
    write_all()
    team_sync_turn_off(team=world.team, by=world.ada)
    for body in ("Off 1", "Off 2"):
        sms_send(sender=world.rob, prospect=world.grace, body=body)
    sms_send(sender=world.rob, prospect=world.alan, body="Off 3")
    deliver_queued()
    team_sync_turn_on(team=world.team, by=world.ada)
    skipped = SyncRecord.objects.filter(reason=Reason.SYNC_TURNED_OFF)
    assert skipped.count() == 3

    log_in(page, "ada")
    page.goto("/team/greenhouse/sync/")
    page.get_by_role("link", name="Backfill earlier messages →").click()
    page.get_by_label("the last 7 days before").check()
    page.get_by_role("button", name="Dry run").click()

    plan = page.locator("[data-plan]")
    expect(plan.locator("[data-plan-write]")).to_have_text("3")
    rows = plan.locator("[data-plan-rows] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Grace Hopper").locator("[data-write]")).to_have_text("2")
    expect(rows.filter(has_text="Alan Turing").locator("[data-write]")).to_have_text("1")
    assert "window=7" in page.url
    assert skipped.count() == 3 and not Backfill.objects.exists()  # the dry run changed nothing

    plan.get_by_role("button", name="Run this backfill").click()
    expect(page.locator(".flash")).to_contain_text("Backfill started: 3 message(s) queued")
    progress = page.locator("[data-backfill-progress]")
    expect(progress.locator("[data-waiting]")).to_have_text("3")
    write_all()  # what the team's lane does
    page.reload()
    expect(progress.locator("[data-done]")).to_have_text("3")
    expect(progress.locator("[data-waiting]")).to_have_text("0")
    expect(progress.locator("[data-time-left]")).to_have_text("—")
