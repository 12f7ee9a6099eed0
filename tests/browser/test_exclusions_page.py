"""The exclusions page of issue 16 in headless Chromium: the proposed lists and the rule for
mixed recipients, a bad line refused with everything typed kept, the preview of the waiting
messages a change skips, back to editing, the save, its history and the sync log's "excluded
by" (no CSP violation or JavaScript error on any of them: the page fixture checks)."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import ExclusionChange, SyncRecord, TeamExclusions
from apps.greenhouse.policy import Reason
from tests.browser.scenes import demo_team
from tests.fixtures.browser import log_in
from tests.greenhouse.factories import SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
Status = SyncRecord.Status


def waiting_reply(team, owner, *, sender: str, status=Status.PENDING):
    prospect = ProspectFactory(team=team, first_name="Grace", last_name="Hopper")
    ProspectEmailFactory(prospect=prospect, email=f"grace.{prospect.pk}@example.com")
    thread = ThreadFactory(team=team, prospect=prospect, owner=owner)
    message = MessageFactory(
        thread=thread,
        direction="inbound",
        from_address=sender,
        to_addresses=["rob@acme.example"],
        status="received",
    )
    return SyncRecordFactory(message=message, status=status, reason=Reason.FIRST_REPLY)


def test_an_admin_edits_the_exclusions_with_a_preview_before_saving(page):
    team, users = demo_team()
    agency = [
        waiting_reply(team, users["rob"], sender="pat@agency.example"),
        waiting_reply(team, users["rob"], sender="lee@agency.example", status=Status.HELD),
    ]
    grace = waiting_reply(team, users["rob"], sender="grace.hopper@example.com")

    log_in(page, "ada")
    page.goto("/team/greenhouse/sync/")
    page.get_by_role("link", name="Exclusions").click()
    expect(page.locator("[data-mixed-rule]")).to_contain_text("The counterpart decides.")
    expect(page.locator("[data-proposed]")).to_contain_text("acme.example")
    expect(page.get_by_label("The team's own domains (internal mail)")).to_have_value(
        "acme.example"
    )
    expect(page.get_by_label("Automated senders")).to_have_value(
        "noreply@\nno-reply@\nmailer-daemon@\npostmaster@"
    )

    listed = page.get_by_label("Excluded addresses and domains")
    listed.fill("agency.example\nnot an address\nboss@rival.example")
    page.get_by_role("button", name="Check what this changes").click()
    expect(page.locator(".errorlist")).to_contain_text("Line 2, “not an address”")
    expect(listed).to_have_value("agency.example\nnot an address\nboss@rival.example")

    listed.fill("agency.example\nboss@rival.example")
    page.get_by_role("button", name="Check what this changes").click()
    preview = page.locator("[data-preview]")
    expect(preview.locator("[data-preview-count]")).to_contain_text(
        "2 waiting messages will not be written."
    )
    expect(preview).to_contain_text("listed: agency.example")
    assert not TeamExclusions.objects.exists()  # nothing saved before the confirmation

    page.get_by_role("button", name="Back to editing").click()
    expect(listed).to_have_value("agency.example\nboss@rival.example")
    page.get_by_role("button", name="Check what this changes").click()
    page.get_by_role("button", name="Save exclusions").click()
    expect(page.locator(".flash")).to_contain_text("2 waiting messages will not be written.")
    expect(page.locator("table.exclusion-history")).to_contain_text("listed: agency.example")
    expect(page.locator("[data-proposed]")).to_have_count(0)

    for record in agency:
        record.refresh_from_db()
        assert (record.status, record.reason_detail) == (Status.SKIPPED, "agency.example")
    grace.refresh_from_db()
    assert grace.status == Status.PENDING
    assert ExclusionChange.objects.get().by == users["ada"]

    page.goto("/team/greenhouse/log/?status=skipped")
    expect(page.locator(".excluded-by").first).to_contain_text("Excluded by: agency.example")
