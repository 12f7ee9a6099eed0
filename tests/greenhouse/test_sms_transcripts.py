"""SMS as one transcript note per conversation (transcripts.py): the burst waits for the quiet
time, becomes one note with every message in order and one reference, exactly once (the
read-back after an ambiguous POST), and what comes later makes the next note."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, SyncAttempt, SyncRecord
from apps.greenhouse.notes import TranscriptLine, reference_line, sms_transcript_note
from apps.greenhouse.policy import Reason
from apps.greenhouse.switch_history import SwitchEvent
from apps.greenhouse.switches import (
    sync_records_retry,
    team_sms_transcript_set,
    team_sync_turn_off,
)
from apps.greenhouse.sync import sync_record_write
from apps.greenhouse.transcripts import transcripts_option_off
from apps.messaging.models import Message
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import our_notes, sms_reply, write_all

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
GRACE = "grace.hopper@example.com"
QUIET = 60


@pytest.fixture
def transcripts(synced):
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        sms_transcript_quiet_seconds=QUIET
    )
    return synced


def go_quiet(seconds=QUIET + 1):
    """As if the conversation had been quiet for `seconds` more: its clock moved back."""
    shift = timedelta(seconds=seconds)
    Message.objects.update(created_at=F("created_at") - shift)
    SyncRecord.objects.exclude(next_attempt_at=None).update(
        next_attempt_at=F("next_attempt_at") - shift
    )


def burst(world, *texts):
    sms_send(sender=world.rob, prospect=world.grace, body=texts[0])
    deliver_queued()
    for text in texts[1:]:
        sms_reply(world, world.grace, text=text)


def test_the_transcript_note_lists_every_message_in_order_with_one_reference():
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    note = sms_transcript_note(
        lines=[
            TranscriptLine(at, "outbound", "Rob Recruiter +15005550006", "Hi Grace"),
            TranscriptLine(at + timedelta(minutes=2), "inbound", "Grace +14155550101", "Hi!"),
        ],
        reference="ref123",
    )
    assert note.note_type == "NOTE"
    assert note.body.splitlines()[:4] == [
        "SMS conversation, 2 messages",
        "",
        "2026-12-01 09:30 → Rob Recruiter +15005550006 (outbound): Hi Grace",
        "2026-12-01 09:32 ← Grace +14155550101 (inbound): Hi!",
    ]
    assert note.body.count(reference_line("ref123")) == 1


def test_a_burst_waits_for_the_quiet_time_and_each_sms_pushes_it_on(transcripts, harvest_sandbox):
    burst(transcripts, "Hi Grace, Rob here.")
    first = SyncRecord.objects.get()
    assert first.in_transcript and first.reason == Reason.SMS_TRANSCRIPT
    assert "transcript note" in first.explanation
    due = first.next_attempt_at
    assert due > timezone.now() + timedelta(seconds=QUIET - 5)

    sms_reply(transcripts, transcripts.grace, text="Hi Rob!")
    first.refresh_from_db()
    assert first.next_attempt_at > due  # pushed on by the reply
    assert set(SyncRecord.objects.values_list("next_attempt_at", flat=True)) == {
        first.next_attempt_at
    }
    assert set(write_all()) == {"not due"}
    assert our_notes(harvest_sandbox, GRACE) == []

    go_quiet(QUIET // 2)  # half the quiet time: the sweep's task finds it not quiet yet
    SyncRecord.objects.update(next_attempt_at=timezone.now())
    assert write_all(max_rounds=1)[0] == "waiting"
    assert our_notes(harvest_sandbox, GRACE) == []


def test_a_quiet_burst_is_one_note_and_a_second_burst_a_second(transcripts, harvest_sandbox):
    burst(transcripts, "Hi Grace, Rob here.", "Hi Rob!", "Free on Tuesday?")
    go_quiet()
    outcomes = write_all()
    assert outcomes.count("written") == 1

    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 1
    body = notes[0]["body"]
    assert body.startswith("SMS conversation, 3 messages")
    positions = [body.index(t) for t in ("Hi Grace, Rob here.", "Hi Rob!", "Free on Tuesday?")]
    assert positions == sorted(positions)
    assert "(outbound)" in body and "Grace Hopper +14155550101 (inbound)" in body
    assert body.count("Synced by Outreach") == 1
    records = list(SyncRecord.objects.order_by("message__created_at"))
    assert {r.status for r in records} == {Status.WRITTEN}
    assert {r.note_id for r in records} == {notes[0]["id"]}
    assert {r.reason for r in records} == {Reason.SMS_TRANSCRIPT}
    assert reference_line(records[0].note_ref) in body  # the lead's reference, once

    sms_reply(transcripts, transcripts.grace, text="Actually, Wednesday is better.")
    go_quiet()
    assert write_all().count("written") == 1
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert len(notes) == 2
    assert notes[1]["body"].startswith("SMS conversation, 1 message\n")
    assert "Wednesday" in notes[1]["body"] and "Wednesday" not in notes[0]["body"]


def test_a_crash_between_post_and_commit_is_read_back_not_posted_twice(
    transcripts, harvest_sandbox
):
    burst(transcripts, "Hello", "Hi!")
    go_quiet()
    lead, member = SyncRecord.objects.order_by("message__created_at")
    harvest_sandbox.set_faults(write_then_500=1)  # Greenhouse wrote it, the answer was lost

    assert sync_record_write(record_id=lead.pk) == "retry"
    lead.refresh_from_db()
    member.refresh_from_db()
    assert lead.post_started_at and lead.note_id is None
    assert member.status == Status.HELD and member.transcript_lead_id == lead.pk

    # A message that comes meanwhile is not in this transcript: it starts the next one.
    sms_reply(transcripts, transcripts.grace, text="One more thing")
    SyncRecord.objects.filter(pk=lead.pk).update(next_attempt_at=timezone.now())
    assert sync_record_write(record_id=lead.pk) == "written"

    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 1 and "One more thing" not in notes[0]["body"]
    member.refresh_from_db()
    assert member.status == Status.WRITTEN and member.note_id == notes[0]["id"]
    kinds = list(lead.attempts_log.values_list("kind", "outcome"))
    assert (SyncAttempt.Kind.READ_BACK, SyncAttempt.Outcome.FOUND) in kinds
    assert len([k for k in kinds if k[0] == SyncAttempt.Kind.POST]) == 1

    go_quiet()
    assert write_all().count("written") == 1
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert len(notes) == 2 and "One more thing" in notes[1]["body"]


def test_switching_the_option_off_mid_burst_writes_a_note_per_sms_now(transcripts, harvest_sandbox):
    burst(transcripts, "Hello", "Hi!")
    GreenhouseIntegration.objects.update(sms_transcript_quiet_seconds=None)
    transcripts_option_off(team_id=transcripts.team.pk)

    assert write_all().count("written") == 2
    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 2 and all(n["body"].startswith("SMS from") for n in notes)
    assert set(SyncRecord.objects.values_list("reason", flat=True)) == {Reason.SMS}


def test_turning_sync_off_mid_burst_skips_the_burst(transcripts, harvest_sandbox):
    burst(transcripts, "Hello", "Hi!")
    team_sync_turn_off(team=transcripts.team, by=transcripts.rob)
    go_quiet()
    write_all()

    assert our_notes(harvest_sandbox, GRACE) == []
    assert set(SyncRecord.objects.values_list("status", "reason")) == {
        (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    }


SETTINGS = {"sync_on": "on", "note_visibility": "public"}


def test_a_team_admin_chooses_transcripts_on_the_sync_settings_with_a_history_row(
    client, transcripts
):
    GreenhouseIntegration.objects.update(sms_transcript_quiet_seconds=None)
    client.force_login(transcripts.ada)
    url = reverse("greenhouse:settings")
    page = client.get(url).content.decode()
    assert "One transcript note per conversation" in page and 'name="sms_quiet_minutes"' in page

    data = {**SETTINGS, "sms_notes": "transcript", "sms_quiet_minutes": "30"}
    assert client.post(url, data).status_code == 302
    integration = GreenhouseIntegration.objects.get()
    assert integration.sms_transcript_quiet_seconds == 30 * 60
    event = SwitchEvent.objects.get(change=SwitchEvent.Change.SMS_TRANSCRIPT)
    assert event.value == "One transcript note per conversation, after 30 minutes without a new SMS"
    assert event.by == transcripts.ada

    for bad in (
        {"sms_quiet_minutes": "0"},
        {"sms_quiet_minutes": "5000"},
        {"sms_quiet_minutes": ""},
    ):
        response = client.post(url, {**data, **bad})
        assert response.status_code == 400
    integration.refresh_from_db()
    assert integration.sms_transcript_quiet_seconds == 30 * 60

    assert client.post(url, {**SETTINGS, "sms_notes": "message"}).status_code == 302
    integration.refresh_from_db()
    assert integration.sms_transcript_quiet_seconds is None
    assert SwitchEvent.objects.filter(change=SwitchEvent.Change.SMS_TRANSCRIPT).count() == 2
    assert client.post(url, SETTINGS).status_code == 302  # not sent: the choice stays
    assert SwitchEvent.objects.filter(change=SwitchEvent.Change.SMS_TRANSCRIPT).count() == 2


def test_a_recruiter_cannot_change_the_sms_notes(client, transcripts):
    client.force_login(transcripts.rob)
    data = {**SETTINGS, "sms_notes": "message"}
    assert client.post(reverse("greenhouse:settings"), data).status_code == 403
    assert GreenhouseIntegration.objects.get().sms_transcript_quiet_seconds == QUIET


def test_going_back_to_a_note_per_sms_writes_the_waiting_burst_now(transcripts, harvest_sandbox):
    burst(transcripts, "Hello", "Hi!")
    team_sms_transcript_set(team=transcripts.team, quiet_minutes=None, by=transcripts.ada)
    assert write_all().count("written") == 2
    assert len(our_notes(harvest_sandbox, GRACE)) == 2


def test_a_member_retried_while_its_transcript_is_on_its_way_waits_for_it(
    transcripts, harvest_sandbox
):
    burst(transcripts, "Hello", "Hi!")
    go_quiet()
    lead, member = SyncRecord.objects.order_by("message__created_at")
    harvest_sandbox.set_faults(write_then_500=1)
    assert sync_record_write(record_id=lead.pk) == "retry"

    assert sync_records_retry(records=SyncRecord.objects.filter(pk=member.pk)) == 1
    assert sync_record_write(record_id=member.pk) == "waiting"  # behind the older lead
    SyncRecord.objects.filter(pk=member.pk).update(
        created_at=F("created_at") - timedelta(minutes=11)  # no longer waits behind it
    )
    assert sync_record_write(record_id=member.pk) == Status.HELD  # not a note of its own
    SyncRecord.objects.filter(pk=lead.pk).update(next_attempt_at=timezone.now())
    assert sync_record_write(record_id=lead.pk) == "written"
    member.refresh_from_db()
    assert member.status == Status.WRITTEN
    assert len(our_notes(harvest_sandbox, GRACE)) == 1


def test_sync_turned_off_while_a_transcript_may_exist_keeps_its_members_with_it(
    transcripts, harvest_sandbox
):
    burst(transcripts, "Hello", "Hi!")
    go_quiet()
    lead, member = SyncRecord.objects.order_by("message__created_at")
    harvest_sandbox.set_faults(write_then_500=1)
    assert sync_record_write(record_id=lead.pk) == "retry"
    team_sync_turn_off(team=transcripts.team, by=transcripts.ada)
    member.refresh_from_db()
    assert member.status == Status.SKIPPED  # what waits is skipped; the lead is read back

    SyncRecord.objects.filter(pk=lead.pk).update(next_attempt_at=timezone.now())
    assert sync_record_write(record_id=lead.pk) == "written"  # the read-back found the note
    member.refresh_from_db()
    note = our_notes(harvest_sandbox, GRACE)[0]
    assert member.status == Status.WRITTEN and member.note_id == note["id"]
