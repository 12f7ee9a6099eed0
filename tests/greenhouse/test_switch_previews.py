"""The preview before a switch (issue 16, item 6): turning the sync off and changing the notes'
visibility say what they affect, nothing is saved without the Confirm, and each preview's
figures are what the save then does (saved and counted here)."""

from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, NoteVisibility, SwitchEvent, SyncRecord
from apps.greenhouse.previews import sync_off_preview, visibility_preview
from apps.harvest_sandbox.services import SANDBOX_HOST
from apps.messaging.models import Channel
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.factories import GreenhouseIntegrationFactory, SyncRecordFactory
from tests.greenhouse.sync_helpers import our_notes, write_all
from tests.messaging.factories import MessageFactory, ThreadFactory, VirtualPhoneNumberFactory
from tests.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
URL = "/team/greenhouse/sync/"


def member(team, username):
    return team.memberships.get(user__username=username).user


@pytest.fixture
def on(team):
    return GreenhouseIntegrationFactory(
        team=team, host=SANDBOX_HOST, sync_enabled_by_support=True, sync_on=True
    )


def records(team, n, *, channel=Channel.EMAIL, **fields):
    number = VirtualPhoneNumberFactory(team=team) if channel == Channel.SMS else None
    thread = ThreadFactory(team=team, channel=channel, virtual_number=number)
    return [SyncRecordFactory(message=MessageFactory(thread=thread), **fields) for _ in range(n)]


@pytest.fixture
def backlog(team, on):
    """Waiting: 4 emails (one held) and 2 SMS; one sent once without an answer (read back, not
    skipped); one being written; the rest finished. Another team's waiting record."""
    records(team, 3)
    records(team, 1, status=Status.HELD)
    records(team, 2, channel=Channel.SMS)
    records(team, 1, post_started_at=timezone.now())
    records(team, 1, status=Status.IN_PROGRESS)
    records(team, 2, status=Status.WRITTEN, written_at=timezone.now())
    records(team, 1, status=Status.SKIPPED)
    other = TeamFactory()
    GreenhouseIntegrationFactory(team=other, sync_enabled_by_support=True, sync_on=True)
    records(other, 2)


def settings_post(client, **data):
    data = {"note_visibility": "public", "maildrop_overlap": "skip_sync_note", **data}
    return client.post(URL, data)


def test_turning_the_sync_off_previews_what_it_skips_and_saves_nothing(client, team, backlog):
    client.force_login(member(team, "ada"))
    before = sorted(SyncRecord.objects.values_list("pk", "status"))
    response = settings_post(client)
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "6 waiting messages will not be written: 4 emails, 2 SMS." in page
    assert "1 message was already sent to Greenhouse once without an answer" in page
    assert "1 message being written right now is stopped" in page
    assert 'name="confirm"' in page and "Confirm and save" in page
    # Nothing saved: the switch, the records and the history are as they were.
    assert GreenhouseIntegration.objects.get(team=team).sync_on
    assert sorted(SyncRecord.objects.values_list("pk", "status")) == before
    assert not SwitchEvent.objects.exists()


def test_the_sync_off_preview_counts_what_the_save_skips(client, team, backlog):
    preview = sync_off_preview(team_id=team.pk)
    assert (preview.skipped, preview.skipped_by_channel) == (6, {"email": 4, "sms": 2})
    waiting = set(
        SyncRecord.objects.filter(team=team, status__in=(Status.PENDING, Status.HELD)).values_list(
            "pk", flat=True
        )
    )
    client.force_login(member(team, "ada"))
    response = settings_post(client, confirm="1")
    assert response.status_code == 302
    assert not GreenhouseIntegration.objects.get(team=team).sync_on
    skipped = SyncRecord.objects.filter(pk__in=waiting, status=Status.SKIPPED)
    assert skipped.count() == preview.skipped
    assert SyncRecord.objects.filter(pk__in=waiting, status=Status.PENDING).count() == (
        preview.read_back_first
    )
    event = SwitchEvent.objects.get(change=SwitchEvent.Change.SYNC_OFF)
    assert (
        event.effect
        == f"Nothing more written to Greenhouse; {preview.skipped} waiting messages skipped."
    )
    # The other team's records are untouched.
    assert SyncRecord.objects.exclude(team=team).filter(status=Status.PENDING).count() == 2


def test_the_texts_are_plural_correct(team, on):
    assert (
        sync_off_preview(team_id=team.pk).lines[0] == "No message is waiting: nothing is skipped."
    )
    records(team, 1)
    records(team, 1, channel=Channel.SMS)
    assert sync_off_preview(team_id=team.pk).lines[0] == (
        "2 waiting messages will not be written: 1 email, 1 SMS."
    )
    SyncRecord.objects.filter(channel=Channel.EMAIL).delete()
    assert sync_off_preview(team_id=team.pk).lines[0] == (
        "1 waiting message will not be written: 1 SMS."
    )


@pytest.fixture
def written_history(team, on):
    """A visibility change a week ago: 3 notes written since (public), 2 before it; 2 waiting."""
    changed = timezone.now() - timedelta(days=7)
    SwitchEvent.objects.create(
        integration=on, change=SwitchEvent.Change.VISIBILITY, value="Public", at=changed
    )
    records(team, 2, status=Status.WRITTEN, written_at=changed - timedelta(days=1))
    records(team, 3, status=Status.WRITTEN, written_at=changed + timedelta(days=1))
    records(team, 1)
    records(team, 1, status=Status.HELD)
    return on


def test_changing_the_visibility_previews_the_notes_kept_and_the_ones_to_come(
    client, team, written_history
):
    client.force_login(member(team, "ada"))
    response = settings_post(client, sync_on="on", note_visibility="private")
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert (
        "New notes will be private; 3 notes already written stay public (Greenhouse cannot "
        "edit them)." in page
    )
    assert "2 older notes keep the visibility they were written with." in page
    assert "2 waiting messages will be written private too" in page
    assert GreenhouseIntegration.objects.get(team=team).note_visibility == NoteVisibility.PUBLIC
    assert SwitchEvent.objects.count() == 1


def test_the_visibility_preview_counts_what_the_save_leaves_and_changes(
    client, team, written_history
):
    preview = visibility_preview(integration=written_history, visibility=NoteVisibility.PRIVATE)
    assert (preview.written_since_change, preview.written_before, preview.waiting) == (3, 2, 2)
    client.force_login(member(team, "ada"))
    response = settings_post(client, sync_on="on", note_visibility="private", confirm="1")
    assert response.status_code == 302
    integration = GreenhouseIntegration.objects.get(team=team)
    assert integration.note_visibility == NoteVisibility.PRIVATE  # read when each note is written
    written = SyncRecord.objects.filter(team=team, status=Status.WRITTEN)
    assert written.count() == preview.written_since_change + preview.written_before
    waiting = SyncRecord.objects.filter(team=team, status__in=(Status.PENDING, Status.HELD))
    assert waiting.count() == preview.waiting
    assert SwitchEvent.objects.filter(change=SwitchEvent.Change.VISIBILITY).count() == 2
    # After the change, notes written before it are "older": none is counted as private.
    again = visibility_preview(integration=integration, visibility=NoteVisibility.ADMIN_ONLY)
    assert (again.written_since_change, again.written_before) == (0, 5)
    assert again.lines[0] == "New notes will be admin only; no note was written as private yet."


def test_both_changes_at_once_preview_both(client, team, backlog):
    client.force_login(member(team, "ada"))
    page = unescape(settings_post(client, note_visibility="admin_only").content.decode())
    assert "6 waiting messages will not be written" in page
    assert "New notes will be admin only; 2 notes already written stay public" in page


def test_switches_without_consequences_save_at_once(client, team, on):
    GreenhouseIntegration.objects.filter(pk=on.pk).update(sync_on=False)
    client.force_login(member(team, "ada"))
    assert settings_post(client, sync_on="on").status_code == 302
    assert GreenhouseIntegration.objects.get(pk=on.pk).sync_on
    response = settings_post(client, sync_on="on", maildrop_overlap="write_both")
    assert response.status_code == 302


def test_a_recruiter_gets_no_preview_and_cannot_confirm(client, team, backlog):
    client.force_login(member(team, "rob"))
    assert settings_post(client).status_code == 403
    assert settings_post(client, confirm="1").status_code == 403
    assert GreenhouseIntegration.objects.get(team=team).sync_on
    assert SyncRecord.objects.filter(team=team, status=Status.SKIPPED).count() == 1


def test_the_confirm_needs_the_csrf_token(team, backlog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(team, "ada"))
    assert settings_post(client, confirm="1").status_code == 403
    assert GreenhouseIntegration.objects.get(team=team).sync_on
    page = client.get(URL)
    assert page.status_code == 200 and "Before you save" not in page.content.decode()


def test_the_confirm_form_carries_the_previewed_choices(client, team, backlog):
    client.force_login(member(team, "ada"))
    response = settings_post(client, note_visibility="private", maildrop_overlap="write_both")
    hidden = response.context["confirm_fields"]
    assert dict(hidden) == {"note_visibility": "private", "maildrop_overlap": "write_both"}
    assert settings_post(client, **dict(hidden), confirm="1").status_code == 302
    integration = GreenhouseIntegration.objects.get(team=team)
    assert (integration.sync_on, integration.note_visibility) == (False, "private")
    assert reverse("greenhouse:settings") == URL


# --- Against the sandbox: what the waiting messages become after the save ------------------


def test_waiting_messages_previewed_as_private_are_written_private(client, synced, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Free for a call?")
    sms_send(sender=synced.rob, prospect=synced.grace, body="Tuesday works too.")
    deliver_queued()
    client.force_login(synced.ada)
    data = {"sync_on": "on", "note_visibility": "private", "maildrop_overlap": "skip_sync_note"}
    page = unescape(client.post(URL, data).content.decode())
    assert "2 waiting messages will be written private too" in page
    assert client.post(URL, {**data, "confirm": "1"}).status_code == 302
    assert write_all().count("written") == 2
    notes = our_notes(harvest_sandbox, synced.grace.emails.first().email)
    assert [n["visibility"] for n in notes] == ["privately_visible"] * 2  # read spelling


def test_waiting_messages_previewed_as_skipped_are_never_written(client, synced, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Free for a call?")
    deliver_queued()
    preview = sync_off_preview(team_id=synced.team.pk)
    assert (preview.skipped, preview.skipped_by_channel) == (1, {"sms": 1})
    client.force_login(synced.ada)
    data = {"note_visibility": "public", "maildrop_overlap": "skip_sync_note", "confirm": "1"}
    assert client.post(URL, data).status_code == 302
    assert write_all() == []
    assert our_notes(harvest_sandbox, synced.grace.emails.first().email) == []
    assert SyncRecord.objects.filter(status=Status.SKIPPED).count() == preview.skipped
