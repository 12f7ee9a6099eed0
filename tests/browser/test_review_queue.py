"""The review queue in headless Chromium (issue 15): a recruiter sees their prospect waiting,
creates the candidate in Greenhouse with a click (the sandbox over HTTP), chooses among several
candidates after "Show candidates", and ignores a prospect, then stops ignoring it from the
prospect's page."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import CandidateLink, ReviewAction, SyncRecord
from tests.browser.scenes import synced_world
from tests.fixtures.browser import log_in
from tests.greenhouse.sync_helpers import add_prospect, write_all
from tests.greenhouse.test_candidate_gone import sms_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_the_review_queue_creates_links_and_ignores(page, harvest_sandbox):
    world = synced_world(harvest_sandbox)
    sms_to(world, world.linus, "Hi Linus")  # Linus is not in Greenhouse
    twins = "twin@example.com"
    for last in ("One", "Two"):
        harvest_sandbox.add_candidate(first_name="Twin", last_name=last, emails=[twins])
    twin = add_prospect(world, first="Twin", last="Prospect", email=twins, phone="+14155550190")
    sms_to(world, twin, "Hi Twin")
    quiet = add_prospect(
        world, first="Quiet", last="One", email="q@example.com", phone="+14155550191"
    )
    sms_to(world, quiet, "Hi Quiet")
    write_all()

    log_in(page, "rob")
    page.get_by_role("link", name="Review queue").click()
    rows = page.locator("table[data-review-queue] tbody tr")
    expect(rows).to_have_count(3)
    linus_row = rows.filter(has_text="Linus Unknown")
    expect(linus_row).to_contain_text("Not in Greenhouse yet")
    expect(linus_row).to_contain_text("1 message")

    linus_row.get_by_role("button", name="Create in Greenhouse").click()
    expect(page.locator(".flash")).to_contain_text("Created Greenhouse candidate")
    expect(rows).to_have_count(2)
    link = CandidateLink.objects.get(prospect=world.linus)
    assert link.source == "created" and link.candidate_id == harvest_sandbox.candidate_id(
        "linus.unknown@example.com"
    )

    twin_row = rows.filter(has_text="Twin Prospect")
    expect(twin_row).to_contain_text("Several candidates")
    expect(twin_row.get_by_role("button", name="Create in Greenhouse")).to_have_count(0)
    twin_row.get_by_role("button", name="Show candidates").click()
    choices = page.locator("[data-candidates] form")
    expect(choices).to_have_count(2)
    choices.filter(has_text="Twin Two").get_by_role("button", name="Link to this candidate").click()
    expect(page.locator(".flash")).to_contain_text("is now linked to Greenhouse candidate")
    assert CandidateLink.objects.get(prospect=twin).source == "manual"

    rows.filter(has_text="Quiet One").get_by_role("button", name="Ignore (never sync)").click()
    expect(page.locator(".flash")).to_contain_text("Quiet One is ignored")
    expect(page.locator("table[data-review-queue] tbody")).to_contain_text("Nothing waits")
    assert SyncRecord.objects.get(prospect=quiet).reason == "prospect_ignored"

    page.goto(f"/prospects/{quiet.pk}/sync/")
    expect(page.locator("[data-review-actions]")).to_contain_text("Ignored (never sync)")
    page.get_by_role("button", name="Stop ignoring").click()
    expect(page.locator(".flash")).to_contain_text("is no longer ignored")
    expect(page.locator("[data-ignored]")).to_have_count(0)
    assert [a.action for a in ReviewAction.objects.filter(prospect=quiet)] == [
        "unignore",
        "ignore",
    ]
