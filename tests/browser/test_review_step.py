"""The review of sensitive mail in headless Chromium (issue 16, item 2): the team admin turns it
on from the sync settings, a sensitive reply waits, the recruiter follows the candidate page's
link, edits the note's text and approves; another is dropped. The notes are then written by the
real sync, in-process, to the sandbox (no CSP violation on any page)."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import ReviewRules, SensitiveReview, SyncRecord
from apps.greenhouse.policy import Reason, Review
from tests.browser.scenes import synced_world
from tests.fixtures.browser import log_in
from tests.greenhouse.sync_helpers import email_reply, our_notes, write_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
GRACE = "grace.hopper@example.com"


def test_the_review_step_from_the_rules_to_the_approved_note(page, harvest_sandbox):
    world = synced_world(harvest_sandbox)

    # The team admin turns the review on, with the defaults offered.
    log_in(page, "ada")
    page.goto("/team/greenhouse/sync/")
    rules = page.locator("[data-review-rules]")
    expect(rules.get_by_label("Sensitive words and patterns")).to_have_value(
        "salary\ncompensation\noffer letter\nvisa\nmedical\n[ssn]\n[iban]"
    )
    rules.get_by_label("Hold sensitive messages for review").check()
    rules.get_by_role("button", name="Save review rules").click()
    expect(page.locator(".flash")).to_contain_text("Review rules saved.")
    expect(page.locator("table.switch-history")).to_contain_text("Review of sensitive mail changed")
    assert ReviewRules.objects.get().enabled

    approved = SyncRecord.objects.get(
        message=email_reply(world.thread, text="My salary expectation is 150k.")
    )
    dropped = SyncRecord.objects.get(message=email_reply(world.thread, text="My visa expires."))
    assert {approved.status, dropped.status} == {SyncRecord.Status.HELD}

    # The recruiter: the candidate page says two wait, with links.
    page.context.clear_cookies()
    log_in(page, "rob")
    page.goto(f"/prospects/{world.grace.pk}/sync/")
    waiting = page.locator("[data-waiting-reviews]")
    expect(waiting).to_contain_text("2 messages with Grace Hopper wait for review")
    waiting.get_by_role("link", name="salary").click()

    expect(page.locator("[data-matched]")).to_have_text("salary")
    page.get_by_label("The note's text").fill("Shared a salary range: see Outreach.")
    page.get_by_role("button", name="Approve and write to Greenhouse").click()
    expect(page.locator(".flash")).to_contain_text("with your edited text")
    expect(page.locator("[data-state]")).to_have_text("Approved")

    page.goto("/reviews/")
    page.locator("table.reviews tr", has_text="Waiting for review").get_by_role("link").click()
    expect(page.locator("[data-matched]")).to_have_text("visa")
    page.get_by_role("button", name="Drop: never write it").click()
    expect(page.locator(".flash")).to_contain_text("never written to Greenhouse")

    assert write_all() == ["written"]
    approved.refresh_from_db()
    dropped.refresh_from_db()
    assert SensitiveReview.objects.get(record=approved).state == Review.APPROVED
    assert (dropped.status, dropped.reason) == (SyncRecord.Status.SKIPPED, Reason.REVIEW_DROPPED)
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == approved.note_id)
    assert note["body"].startswith("Shared a salary range: see Outreach.\n\n")
    assert not any("visa expires" in n["body"] for n in our_notes(harvest_sandbox, GRACE))
