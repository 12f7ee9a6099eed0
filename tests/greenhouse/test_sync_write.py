"""Writing notes: content, decisions at write time, exactly once, retries, holds, the sweeper.

The sandbox is a real Harvest v3 server over HTTP; the workers' service is called in-process.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.greenhouse.connection import greenhouse_integration_test_connection
from apps.greenhouse.harvest.client import HarvestClient
from apps.greenhouse.models import (
    BotNotice,
    CandidateLink,
    GreenhouseIntegration,
    ProspectSyncPause,
    SyncAttempt,
    SyncLane,
    SyncRecord,
)
from apps.greenhouse.notes import reference_line
from apps.greenhouse.policy import Reason, UnknownRecipients
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.switches import candidate_link_choose, team_sync_turn_off
from apps.greenhouse.sync import sync_record_write
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.outbound import sms_send, thread_reply_create
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import (
    email_reply,
    enroll_and_dispatch_all_steps,
    our_notes,
    sms_reply,
    write_all,
)

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
GRACE = "grace.hopper@example.com"


def sequence_thread(world, prospect):
    enroll_and_dispatch_all_steps(world, [prospect])
    deliver_queued()
    return Thread.objects.get(prospect=prospect, channel=Channel.EMAIL)


def due_now(record):
    SyncRecord.objects.filter(pk=record.pk).update(next_attempt_at=timezone.now())


def test_a_sequence_thread_becomes_six_email_notes_in_order(synced, harvest_sandbox):
    thread = sequence_thread(synced, synced.grace)
    email_reply(thread, text="Sounds interesting, tell me more.")
    thread_reply_create(thread=thread, sender=synced.rob, body="Great! Are you free Tuesday?")
    deliver_queued()
    email_reply(thread, text="Tuesday works.")

    outcomes = write_all()

    assert outcomes.count("written") == 6
    messages = list(thread.messages.order_by("created_at", "id"))
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert [n["type"] for n in notes] == ["EMAIL"] * 6
    rob_id = harvest_sandbox.user_id("rob@acme.example")
    for message, note in zip(messages, notes, strict=True):
        record = message.sync_record
        assert record.status == Status.WRITTEN and record.note_id == note["id"]
        assert note["subject"] == message.subject
        assert note["body"].startswith(message.body_text)
        assert note["body"].endswith(reference_line(record.note_ref))
        assert note["email_cc"] == []
        assert note["visibility"] == "publicly_visible"
        assert note["user_id"] == rob_id  # the thread's recruiter, in both directions
        if message.direction == Message.Direction.OUTBOUND:
            assert note["email_from"] == ["rob@acme.example"]
            assert note["email_to"] == [GRACE]
        else:
            assert note["email_from"] == [GRACE]
            # The signed reply address is replaced by the recruiter's address.
            assert note["email_to"] == ["rob@acme.example"]
    reasons = [m.sync_record.reason for m in messages]
    assert (
        reasons == [Reason.SEQUENCE_EMAIL] * 3 + [Reason.FIRST_REPLY] + [Reason.THREAD_MESSAGE] * 2
    )
    assert BotNotice.objects.filter(thread=thread).count() == 1


def test_an_html_only_reply_is_written_as_sanitized_text(synced, harvest_sandbox):
    thread = sequence_thread(synced, synced.grace)
    reply = email_reply(
        thread,
        text="",
        html="<p>Hi Rob,</p><p>Yes &amp; <b>gladly</b>.<br>Grace</p><script>alert(1)</script>",
    )
    write_all()

    note = next(
        n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == reply.sync_record.note_id
    )
    body = note["body"].split("\n\n— Synced by Outreach")[0]
    assert body == "Hi Rob,\n\nYes & gladly.\nGrace"


def test_an_sms_and_its_reply_become_two_notes(synced, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hi Grace, Rob from Acme here.")
    deliver_queued()
    sms_reply(synced, synced.grace, text="Hi Rob!")

    assert write_all().count("written") == 2

    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert [n["type"] for n in notes] == ["NOTE", "NOTE"]
    assert notes[0]["body"].startswith(
        "SMS from +15005550006 to +14155550101 (outbound)\n\nHi Grace, Rob from Acme here."
    )
    assert notes[1]["body"].startswith("SMS from +14155550101 to +15005550006 (inbound)\n\nHi Rob!")
    assert notes[0]["email_from"] is None
    assert {r.reason for r in SyncRecord.objects.all()} == {Reason.SMS}


def test_an_email_outside_any_sequence_thread_is_skipped_with_its_reason(synced, harvest_sandbox):
    thread = Thread.objects.create(
        team=synced.team,
        prospect=synced.grace,
        owner=synced.rob,
        channel=Channel.EMAIL,
        subject="Coffee?",
    )
    thread_reply_create(thread=thread, sender=synced.rob, body="Coffee next week?")
    deliver_queued()

    record = SyncRecord.objects.get()
    assert record.status == Status.SKIPPED
    assert record.reason == Reason.NOT_SEQUENCE_THREAD
    assert "outside" in record.explanation
    assert write_all() == []
    assert our_notes(harvest_sandbox, GRACE) == []


def test_no_candidate_is_skipped_and_several_are_held_until_support_chooses(
    synced, harvest_sandbox
):
    # The team's choice "skip their messages" (the waiting default has tests of its own).
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.SKIP
    )
    sequence_thread(synced, synced.linus)  # not in Greenhouse
    duplicate = harvest_sandbox.add_candidate(
        first_name="Alan", last_name="Turing (dup)", emails=["alan.turing@example.com"]
    )
    enroll_and_dispatch_all_steps(synced, [synced.alan])
    deliver_queued()

    write_all()

    linus = SyncRecord.objects.filter(prospect=synced.linus)
    assert {(r.status, r.reason) for r in linus} == {(Status.SKIPPED, Reason.NO_CANDIDATE)}
    alan = SyncRecord.objects.filter(prospect=synced.alan)
    assert {(r.status, r.reason) for r in alan} == {(Status.HELD, Reason.SEVERAL_CANDIDATES)}
    link = CandidateLink.objects.get(prospect=synced.alan)
    assert len(link.candidate_ids_seen) == 2

    assert candidate_link_choose(link=link, candidate_id=duplicate["id"]) == 3
    write_all()
    assert {(r.status, r.candidate_id) for r in alan.all()} == {(Status.WRITTEN, duplicate["id"])}


@pytest.mark.parametrize("fault", ["write_then_500", "drop_after_write"])
def test_an_ambiguous_write_is_read_back_and_never_posted_twice(synced, harvest_sandbox, fault):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()
    harvest_sandbox.set_faults(**{fault: 1})

    assert sync_record_write(record_id=record.pk) == "retry"
    record.refresh_from_db()
    assert record.status == Status.PENDING and record.post_started_at and record.note_id is None
    assert record.next_attempt_at > timezone.now()
    assert sync_record_write(record_id=record.pk) == "not due"  # retries wait in the database

    due_now(record)
    assert sync_record_write(record_id=record.pk) == "written"

    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 1
    record.refresh_from_db()
    assert record.note_id == notes[0]["id"]
    kinds = list(record.attempts_log.values_list("kind", "outcome"))
    assert (SyncAttempt.Kind.READ_BACK, SyncAttempt.Outcome.FOUND) in kinds
    assert len([k for k in kinds if k[0] == SyncAttempt.Kind.POST]) == 1


def _claim_and_start_post(record):
    """A worker claimed the record and committed post_started_at, then died."""
    past = timezone.now() - timedelta(minutes=30)
    SyncRecord.objects.filter(pk=record.pk).update(
        status=Status.IN_PROGRESS, claimed_at=past, post_started_at=past, attempts=1
    )


@pytest.mark.parametrize("post_landed", [True, False])
def test_a_worker_killed_around_the_post_leaves_exactly_one_note(
    synced,
    harvest_sandbox,
    credentials,
    admin_user_id,
    post_landed,
    django_capture_on_commit_callbacks,
):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()
    _claim_and_start_post(record)
    candidate_id = harvest_sandbox.candidate_id(GRACE)
    if post_landed:  # the dead worker's POST reached Greenhouse before it died
        HarvestClient(credentials, sub=admin_user_id).note_create(
            candidate_id=candidate_id, body=f"Hello\n\n{reference_line(record.note_ref)}"
        )
    assert sync_record_write(record_id=record.pk) == "not pending"  # still claimed

    with (
        mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        counts = sync_records_sweep()
    assert counts["rescued"] == 1
    assert [list(c.kwargs["args"]) for c in queued.call_args_list] == [[record.team_id]]
    assert sync_record_write(record_id=record.pk) == "written"

    assert len(our_notes(harvest_sandbox, GRACE)) == 1
    outcome = SyncAttempt.Outcome.FOUND if post_landed else SyncAttempt.Outcome.NOT_FOUND
    assert record.attempts_log.filter(kind=SyncAttempt.Kind.READ_BACK, outcome=outcome).exists()


@pytest.mark.parametrize("post_landed", [True, False])
def test_turning_sync_off_after_a_possible_post_reads_back_before_calling_it_skipped(
    synced, harvest_sandbox, credentials, admin_user_id, post_landed
):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()
    candidate_id = harvest_sandbox.candidate_id(GRACE)
    # An attempt started its POST, then the answer was lost; the record went back to pending.
    SyncRecord.objects.filter(pk=record.pk).update(
        post_started_at=timezone.now(), candidate_id=candidate_id, attempts=1
    )
    if post_landed:
        HarvestClient(credentials, sub=admin_user_id).note_create(
            candidate_id=candidate_id, body=f"Hello\n\n{reference_line(record.note_ref)}"
        )

    assert team_sync_turn_off(team=synced.team, by=synced.rob) == 0  # left for the read-back
    outcome = sync_record_write(record_id=record.pk)

    record.refresh_from_db()
    if post_landed:
        assert outcome == "written"
        assert record.status == Status.WRITTEN and record.note_id is not None
    else:
        assert outcome == "skipped"
        assert (record.status, record.reason) == (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    assert len(our_notes(harvest_sandbox, GRACE)) == (1 if post_landed else 0)


def test_transient_errors_back_off_then_hold_for_the_outage_not_fail(
    synced, harvest_sandbox, settings
):
    """An outage is not a property of a message: once the retries are used up the record is
    held with "Greenhouse unreachable since …", the connection says so, and the record is
    written when Greenhouse answers again."""
    settings.GREENHOUSE_SYNC_MAX_ATTEMPTS = 3
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()
    harvest_sandbox.set_faults(error_rate=1.0, error_status=503)

    for _ in range(2):
        assert sync_record_write(record_id=record.pk) == "retry"
        due_now(record)
    assert sync_record_write(record_id=record.pk) == Status.HELD

    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.GREENHOUSE_UNREACHABLE)
    assert record.last_error.startswith("Greenhouse unreachable since ")
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION
    assert synced.integration.unreachable_since is not None
    assert synced.integration.last_error.startswith("Greenhouse unreachable since ")

    harvest_sandbox.clear_faults()
    assert greenhouse_integration_test_connection(integration=synced.integration).ok
    assert sync_records_sweep()["released"] == 1
    assert sync_record_write(record_id=record.pk) == "written"
    assert len(harvest_sandbox.notes()) == 1


def test_the_backoff_of_notes_follows_the_settings(settings):
    settings.GREENHOUSE_SYNC_MAX_ATTEMPTS = 4
    settings.GREENHOUSE_SYNC_RETRY_BASE_DELAY = 10
    settings.GREENHOUSE_SYNC_RETRY_MAX_DELAY = 60
    policy = SyncRecord.outbox_retry_policy()
    assert policy.max_attempts == 4
    assert timedelta(seconds=5) <= policy.delay(1) <= timedelta(seconds=10)
    assert timedelta(seconds=20) <= policy.delay(3) <= timedelta(seconds=40)
    assert timedelta(seconds=30) <= policy.delay(9) <= timedelta(seconds=60)


def test_a_refused_note_fails_at_once_with_greenhouses_reason(synced, harvest_sandbox):
    from apps.greenhouse.models import GreenhouseUserMapping

    # Rob is mapped to a Greenhouse user that does not exist: Harvest answers 422.
    GreenhouseUserMapping.objects.filter(integration=synced.integration, user=synced.rob).update(
        greenhouse_user_id=999999
    )
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    record = SyncRecord.objects.get()

    assert sync_record_write(record_id=record.pk) == "failed"
    record.refresh_from_db()
    assert record.last_error == (
        "Greenhouse refused the note: Greenhouse rejected the request: "
        "user_id: User 999999 does not exist."
    )


def test_a_broken_connection_holds_records_until_it_works_again(synced, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="One")
    deliver_queued()
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)

    write_all()

    record = SyncRecord.objects.get()
    assert (record.status, record.reason) == (Status.HELD, Reason.CONNECTION_UNHEALTHY)
    assert "Bad credentials" in record.last_error
    synced.integration.refresh_from_db()
    assert synced.integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION
    sms_send(sender=synced.rob, prospect=synced.grace, body="Two")
    deliver_queued()
    assert SyncRecord.objects.filter(status=Status.HELD).count() == 2  # held when recorded

    harvest_sandbox.add_credential(
        client_id=harvest_sandbox.client_id, client_secret=harvest_sandbox.client_secret
    )
    assert greenhouse_integration_test_connection(integration=synced.integration).ok
    with mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async") as queued:
        counts = sync_records_sweep()
    assert counts["released"] == 2
    assert SyncRecord.objects.filter(status=Status.PENDING).count() == 2
    assert counts["queued"] == queued.call_count == 1  # the team's lane, for both
    assert SyncLane.objects.get(team=synced.team).queued_at is not None
    write_all()
    assert SyncRecord.objects.filter(status=Status.WRITTEN).count() == 2
    assert len(our_notes(harvest_sandbox, GRACE)) == 2


def test_a_newer_message_waits_for_the_older_one_of_its_thread(synced, harvest_sandbox):
    thread = sequence_thread(synced, synced.grace)
    first, second, _ = [m.sync_record for m in thread.messages.order_by("id")]

    assert sync_record_write(record_id=second.pk) == "waiting"
    assert sync_record_write(record_id=first.pk) == "written"
    assert sync_record_write(record_id=second.pk) == "written"


def test_records_pending_for_a_candidate_paused_meanwhile_are_skipped_at_write_time(
    synced, harvest_sandbox
):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    # Paused by a path that does not touch the records: the worker's re-decision catches it.
    ProspectSyncPause.objects.create(team=synced.team, prospect=synced.grace, paused=True)

    assert write_all() == ["skipped"]
    record = SyncRecord.objects.get()
    assert record.reason == Reason.CANDIDATE_PAUSED
    assert our_notes(harvest_sandbox, GRACE) == []


def test_the_sweeper_queues_a_lane_with_due_records_once_its_lease_ran_out(
    synced, harvest_sandbox, settings, django_capture_on_commit_callbacks
):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    sms_send(sender=synced.rob, prospect=synced.alan, body="Hello")
    with (
        mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliver_queued()
    assert queued.call_count == 1  # two records, one wake-up of their team
    lane = SyncLane.objects.get(team=synced.team)
    now = timezone.now()

    def sweep(at):
        with (
            mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async") as queued,
            django_capture_on_commit_callbacks(execute=True),
        ):
            counts = sync_records_sweep(now=at)
        assert counts["queued"] == queued.call_count
        return [list(c.kwargs["args"]) for c in queued.call_args_list]

    assert sweep(now) == []  # its task is on its way
    # Its task was queued longer ago than the lease: taken as lost, queued once for both.
    expired = lane.queued_at + timedelta(seconds=settings.QUEUE_LEASE + 1)
    assert sweep(expired) == [[synced.team.pk]]
    assert sweep(expired + timedelta(seconds=20)) == []
    # Records that are not due do not wake a lane.
    SyncLane.objects.update(queued_at=None)
    SyncRecord.objects.update(next_attempt_at=expired + timedelta(minutes=5))
    assert sweep(expired + timedelta(seconds=40)) == []


def test_a_missing_record_is_created_by_the_sweeper(synced, harvest_sandbox):
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hello")
    deliver_queued()
    message = Message.objects.get()
    SyncRecord.objects.all().delete()  # as if the signal's receiver had failed
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    with mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async"):
        assert sync_records_sweep()["backfilled"] == 1
    assert SyncRecord.objects.get().message == message
