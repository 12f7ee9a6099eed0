"""The preview before a switch (issue 16, item 6) in headless Chromium: turning the sync off,
changing the notes' visibility and changing the default BCC each show what they affect, save
nothing until Confirm, and then save exactly that."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.models import GreenhouseIntegration, SwitchEvent, SyncRecord
from apps.harvest_sandbox.services import SANDBOX_HOST
from apps.messaging.models import Channel
from tests.browser.scenes import demo_team
from tests.fixtures.browser import log_in
from tests.greenhouse.factories import GreenhouseIntegrationFactory, SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory, VirtualPhoneNumberFactory
from tests.sequences.factories import SequenceFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
Status = SyncRecord.Status


def waiting(team, n, channel=Channel.EMAIL):
    number = VirtualPhoneNumberFactory(team=team) if channel == Channel.SMS else None
    thread = ThreadFactory(team=team, channel=channel, virtual_number=number)
    for _ in range(n):
        SyncRecordFactory(message=MessageFactory(thread=thread), status=Status.PENDING)


@pytest.fixture
def syncing():
    team, _users = demo_team()
    integration = GreenhouseIntegrationFactory(
        team=team, host=SANDBOX_HOST, sync_enabled_by_support=True, sync_on=True
    )
    waiting(team, 3)
    waiting(team, 1, Channel.SMS)
    return integration


def test_turning_the_sync_off_shows_what_waits_and_saves_only_on_confirm(page, syncing):
    log_in(page, "ada")
    page.goto("/team/greenhouse/sync/")
    page.get_by_label("Sync email and SMS activity to Greenhouse").uncheck()
    page.get_by_role("button", name="Save sync settings").click()
    preview = page.locator("#switch-preview")
    expect(preview).to_contain_text("4 waiting messages will not be written: 3 emails, 1 SMS.")
    assert GreenhouseIntegration.objects.get(pk=syncing.pk).sync_on  # nothing saved yet

    preview.get_by_role("link", name="Cancel").click()
    expect(page.locator("#switch-preview")).to_have_count(0)
    expect(page.get_by_label("Sync email and SMS activity to Greenhouse")).to_be_checked()
    assert SyncRecord.objects.filter(status=Status.PENDING).count() == 4

    page.get_by_label("Sync email and SMS activity to Greenhouse").uncheck()
    page.get_by_role("button", name="Save sync settings").click()
    page.locator("#switch-preview").get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".flash").first).to_contain_text("Greenhouse sync settings saved.")
    expect(page.locator("body")).to_contain_text("4 waiting messages will not be synced.")
    expect(page.locator("table.switch-history")).to_contain_text("Sync turned off")
    assert not GreenhouseIntegration.objects.get(pk=syncing.pk).sync_on
    assert SyncRecord.objects.filter(status=Status.SKIPPED).count() == 4


def test_changing_the_visibility_shows_the_notes_that_stay_public(page, syncing):
    thread = ThreadFactory(team=syncing.team)
    for _ in range(2):
        SyncRecordFactory(message=MessageFactory(thread=thread), status=Status.WRITTEN)
    log_in(page, "ada")
    page.goto("/team/greenhouse/sync/")
    page.get_by_label("Private: users allowed to see private notes").check()
    page.get_by_role("button", name="Save sync settings").click()
    preview = page.locator("#switch-preview")
    expect(preview).to_contain_text(
        "New notes will be private; 2 notes already written stay public (Greenhouse cannot "
        "edit them)."
    )
    expect(preview).to_contain_text("4 waiting messages will be written private too")
    assert GreenhouseIntegration.objects.get(pk=syncing.pk).note_visibility == "public"
    preview.get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".flash").first).to_contain_text("Greenhouse sync settings saved.")
    integration = GreenhouseIntegration.objects.get(pk=syncing.pk)
    assert (integration.note_visibility, integration.sync_on) == ("private", True)
    assert SwitchEvent.objects.filter(change=SwitchEvent.Change.VISIBILITY).count() == 1


def test_changing_the_default_bcc_shows_what_sequences_keep(page):
    team, users = demo_team()
    team.default_bcc = "maildrop@greenhouse.io"
    team.save(update_fields=["default_bcc"])
    for _ in range(3):
        SequenceFactory(team=team, owner=users["rob"], bcc="maildrop@greenhouse.io")
    log_in(page, "ada")
    page.goto("/team/settings/")
    page.get_by_label("Another address").check()
    page.get_by_label("Custom address").fill("audit@acme.example")
    page.get_by_role("button", name="Save default BCC").click()
    preview = page.locator("#bcc-preview")
    expect(preview).to_contain_text("3 existing sequences keep their BCC maildrop@greenhouse.io.")
    expect(preview).to_contain_text("New sequences get audit@acme.example.")
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@greenhouse.io"

    preview.get_by_role("button", name="Confirm and save").click()
    expect(page.locator(".flash").first).to_contain_text("Default BCC saved.")
    expect(page.locator("body")).to_contain_text("Now: audit@acme.example")
    team.refresh_from_db()
    assert team.default_bcc == "audit@acme.example"
    assert set(team.sequences.values_list("bcc", flat=True)) == {"maildrop@greenhouse.io"}
