""" "Not in Greenhouse yet" (issue 15, apps/greenhouse/waiting.py): messages wait, one scheduled
re-lookup per prospect, released in order when the candidate appears, skipped when the window
passes. Against the Harvest sandbox over HTTP, counting the searches it received."""

from datetime import UTC, timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from apps.greenhouse.connection import harvest_client_build
from apps.greenhouse.facts import _facts
from apps.greenhouse.harvest.errors import HarvestRateLimited
from apps.greenhouse.models import (
    CandidateLink,
    GreenhouseIntegration,
    ProspectLookup,
    SyncRecord,
)
from apps.greenhouse.policy import Reason, UnknownRecipients
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.switches import sync_records_retry, team_sync_turn_off
from apps.greenhouse.waiting import lookup_delay, prospect_lookup_run
from apps.messaging.models import Message
from tests.greenhouse.sync_helpers import our_notes, write_all
from tests.greenhouse.test_candidate_gone import sms_to
from tests.sequences.factories import ProspectEmailFactory

Status = SyncRecord.Status
LINUS = "linus.unknown@example.com"
SCHEDULE = [120.0, 600.0, 3600.0, 21600.0, 86400.0]


@pytest.fixture(autouse=True)
def schedule(settings):
    settings.GREENHOUSE_WAITING_LOOKUP_SCHEDULE = SCHEDULE


def searches(sandbox) -> list[str]:
    """The addresses searched, in order."""
    return [
        parse_qs(entry["query"]).get("email", [""])[0]
        for entry in sandbox.requests(path="/v3/candidates")
        if "email" in parse_qs(entry["query"])
    ]


def waiting_for_linus(synced, count=3) -> list[SyncRecord]:
    """`count` SMS to Linus (no Greenhouse candidate), written by the workers: held."""
    records = [sms_to(synced, synced.linus, f"Hello {n}") for n in range(count)]
    write_all()
    for record in records:
        record.refresh_from_db()
    return records


def make_due(lookup: ProspectLookup) -> None:
    ProspectLookup.objects.filter(pk=lookup.pk).update(next_attempt_at=timezone.now())


def test_the_schedule_is_often_at_first_then_less_often_and_the_last_repeats():
    assert [lookup_delay(step).total_seconds() for step in range(7)] == [
        120.0,
        600.0,
        3600.0,
        21600.0,
        86400.0,
        86400.0,
        86400.0,
    ]


def test_messages_of_a_prospect_not_in_greenhouse_wait_with_one_lookup_for_all(
    synced, harvest_sandbox
):
    before = timezone.now()
    records = waiting_for_linus(synced)

    assert {(r.status, r.reason) for r in records} == {(Status.HELD, Reason.NOT_IN_GREENHOUSE_YET)}
    assert "looks again on a schedule" in records[0].explanation
    assert all("Not in Greenhouse yet; looked up again at" in r.last_error for r in records)
    lookup = ProspectLookup.objects.get()  # one row for the prospect, not one per message
    assert lookup.prospect == synced.linus and lookup.status == ProspectLookup.Status.PENDING
    assert lookup.step == 0
    assert before + timedelta(seconds=119) < lookup.next_attempt_at
    assert lookup.next_attempt_at < timezone.now() + timedelta(seconds=121)


def test_one_lookup_per_due_time_then_the_next_interval(synced, harvest_sandbox, settings):
    settings.GREENHOUSE_LOOKUP_CACHE_SECONDS = 0  # every writer search is seen
    waiting_for_linus(synced)
    lookup = ProspectLookup.objects.get()
    searched = len(searches(harvest_sandbox))

    assert prospect_lookup_run(lookup_id=lookup.pk) == "not due"
    make_due(lookup)
    # The sweep queues the due row once; another sweep while its task is on its way does not.
    first, second = sync_records_sweep(), sync_records_sweep()
    assert (first["lookups_queued"], second["lookups_queued"]) == (1, 0)
    assert prospect_lookup_run(lookup_id=lookup.pk) == "not found"
    assert prospect_lookup_run(lookup_id=lookup.pk) == "not due"  # a duplicate task: nothing

    assert searches(harvest_sandbox)[searched:] == [LINUS]  # three messages, one search
    lookup.refresh_from_db()
    assert (lookup.step, lookup.status, lookup.attempts) == (1, "pending", 0)
    assert lookup.next_attempt_at > timezone.now() + timedelta(seconds=599)
    record = SyncRecord.objects.filter(prospect=synced.linus).first()
    assert "still not in Greenhouse. Next lookup at" in record.last_error


def test_when_the_candidate_appears_every_waiting_message_is_written_in_order_with_its_date(
    synced, harvest_sandbox
):
    records = waiting_for_linus(synced)
    # The messages are an hour old when the candidate appears.
    hour_ago = timezone.now() - timedelta(hours=1)
    GreenhouseIntegration.objects.filter(team=synced.team).update(
        sync_on_since=hour_ago - timedelta(hours=1)
    )
    for n, record in enumerate(records):
        sent = hour_ago + timedelta(seconds=n)
        Message.objects.filter(pk=record.message_id).update(created_at=sent, sent_at=sent)
    linus = harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    lookup = ProspectLookup.objects.get()
    make_due(lookup)

    assert prospect_lookup_run(lookup_id=lookup.pk) == "found"
    assert set(
        SyncRecord.objects.filter(prospect=synced.linus).values_list("status", flat=True)
    ) == {Status.PENDING}
    assert write_all() == ["written"] * 3
    assert write_all() == []  # exactly once

    notes = sorted(our_notes(harvest_sandbox, LINUS), key=lambda n: n["id"])
    assert [n["candidate_id"] for n in notes] == [linus["id"]] * 3
    for n, (record, note) in enumerate(zip(records, notes, strict=True)):  # in message order
        record.refresh_from_db()
        assert record.note_id == note["id"] and f"Hello {n}" in note["body"]
        sent = (hour_ago + timedelta(seconds=n)).astimezone(UTC)
        assert f"Sent {sent:%a %d %b %Y, %H:%M} UTC (written to Greenhouse later)." in note["body"]
    assert ProspectLookup.objects.get().status == ProspectLookup.Status.DONE


def test_a_note_written_at_once_carries_no_date_line(synced, harvest_sandbox):
    sms_to(synced, synced.grace, "Hello Grace")
    assert write_all() == ["written"]
    (note,) = our_notes(harvest_sandbox, "grace.hopper@example.com")
    assert "written to Greenhouse later" not in note["body"]


def test_a_new_message_that_finds_the_candidate_lets_the_older_waiting_ones_go_first(
    synced, harvest_sandbox
):
    records = waiting_for_linus(synced, count=2)
    harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    # The cached "none" answer ran out: the next record searches.
    CandidateLink.objects.filter(prospect=synced.linus).update(emails_searched=[])
    newest = sms_to(synced, synced.linus, "Hello 2")

    write_all()

    records.append(newest)
    notes = sorted(our_notes(harvest_sandbox, LINUS), key=lambda n: n["id"])
    for n, (record, note) in enumerate(zip(records, notes, strict=True)):
        record.refresh_from_db()
        assert record.status == Status.WRITTEN and record.note_id == note["id"]
        assert f"Hello {n}" in note["body"]


def test_when_the_window_passes_the_messages_are_skipped_and_no_lookup_is_made(
    synced, harvest_sandbox
):
    records = waiting_for_linus(synced, count=2)
    GreenhouseIntegration.objects.filter(team=synced.team).update(
        waiting_days=1, sync_on_since=timezone.now() - timedelta(days=5)
    )
    Message.objects.filter(pk=records[0].message_id).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    searched = len(searches(harvest_sandbox))

    counts = sync_records_sweep()

    assert counts["expired"] == 1
    records[0].refresh_from_db()
    assert (records[0].status, records[0].reason) == (Status.SKIPPED, Reason.WAIT_EXPIRED)
    assert "never appeared in Greenhouse" in records[0].last_error
    # The other message is inside the window: still waiting. Once it is out too, the lookup
    # skips it with the same reason, without asking Greenhouse.
    Message.objects.filter(pk=records[1].message_id).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    lookup = ProspectLookup.objects.get()
    make_due(lookup)
    assert prospect_lookup_run(lookup_id=lookup.pk) == "nothing waiting"
    records[1].refresh_from_db()
    assert (records[1].status, records[1].reason) == (Status.SKIPPED, Reason.WAIT_EXPIRED)
    assert len(searches(harvest_sandbox)) == searched
    assert ProspectLookup.objects.get().status == ProspectLookup.Status.DONE


def test_a_lookup_with_no_slot_in_the_rate_budget_sends_nothing_and_waits_for_the_slot(
    synced, harvest_sandbox
):
    waiting_for_linus(synced, count=2)
    lookup = ProspectLookup.objects.get()
    harvest_sandbox.configure(rate_limit=2, rate_window=30)
    client = harvest_client_build(integration=synced.integration, max_rate_wait=0)
    with pytest.raises(HarvestRateLimited):  # this process uses the window up
        for _ in range(10):
            client.candidates_by_email("someone@example.com")
    searched = len(searches(harvest_sandbox))
    make_due(lookup)

    assert prospect_lookup_run(lookup_id=lookup.pk) == "deferred"

    assert len(searches(harvest_sandbox)) == searched  # no request without a slot
    lookup.refresh_from_db()
    assert (lookup.status, lookup.step, lookup.attempts) == ("pending", 0, 0)
    assert lookup.next_attempt_at > timezone.now()  # due at the slot, nothing counted


def test_a_switch_off_while_waiting_writes_nothing_and_ends_the_lookups(synced, harvest_sandbox):
    records = waiting_for_linus(synced)
    team_sync_turn_off(team=synced.team, by=synced.ada)
    harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    searched = len(searches(harvest_sandbox))
    lookup = ProspectLookup.objects.get()
    make_due(lookup)

    assert prospect_lookup_run(lookup_id=lookup.pk) == "nothing waiting"

    for record in records:
        record.refresh_from_db()
        assert (record.status, record.reason) == (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    assert write_all() == []
    assert our_notes(harvest_sandbox, LINUS) == []
    assert len(searches(harvest_sandbox)) == searched


def test_the_team_choosing_skip_while_messages_wait_skips_them_at_the_next_lookup(
    synced, harvest_sandbox
):
    records = waiting_for_linus(synced, count=1)
    GreenhouseIntegration.objects.filter(team=synced.team).update(
        unknown_recipients=UnknownRecipients.SKIP
    )
    lookup = ProspectLookup.objects.get()
    make_due(lookup)
    assert prospect_lookup_run(lookup_id=lookup.pk) == "nothing waiting"
    records[0].refresh_from_db()
    assert (records[0].status, records[0].reason) == (Status.SKIPPED, Reason.NO_CANDIDATE)


def test_a_prospect_gaining_an_email_address_is_looked_up_at_once(synced, harvest_sandbox):
    waiting_for_linus(synced, count=2)
    lookup = ProspectLookup.objects.get()
    assert lookup.next_attempt_at > timezone.now()

    ProspectEmailFactory(prospect=synced.linus, email="linus@kernel.example", is_primary=False)

    lookup.refresh_from_db()
    assert lookup.next_attempt_at <= timezone.now() and lookup.queued_at is not None
    harvest_sandbox.add_candidate(
        first_name="Linus", last_name="Unknown", emails=["linus@kernel.example"]
    )
    searched = len(searches(harvest_sandbox))
    assert prospect_lookup_run(lookup_id=lookup.pk) == "found"
    assert sorted(searches(harvest_sandbox)[searched:]) == sorted(
        [LINUS, "linus@kernel.example"]
    )  # every address
    assert write_all() == ["written"] * 2


def test_a_person_retrying_looks_up_at_once(synced, harvest_sandbox):
    records = waiting_for_linus(synced, count=2)
    harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])
    searched = len(searches(harvest_sandbox))

    assert sync_records_retry(records=SyncRecord.objects.filter(pk__in=[r.pk for r in records]))
    assert write_all() == ["written"] * 2
    assert searches(harvest_sandbox)[searched:] == [LINUS]


def test_greenhouse_errors_are_retried_a_few_times_then_the_schedule_goes_on(
    synced, harvest_sandbox, settings
):
    settings.GREENHOUSE_WAITING_LOOKUP_MAX_ATTEMPTS = 3
    waiting_for_linus(synced, count=1)
    lookup = ProspectLookup.objects.get()
    harvest_sandbox.set_faults(error_rate=1.0, error_status=503)

    outcomes = []
    for _ in range(3):
        make_due(lookup)
        outcomes.append(prospect_lookup_run(lookup_id=lookup.pk))

    assert outcomes == ["retry", "retry", "gave up"]
    lookup.refresh_from_db()
    assert (lookup.status, lookup.step, lookup.attempts) == ("pending", 0, 0)
    assert lookup.next_attempt_at > timezone.now() + timedelta(seconds=119)
    assert "Gave up on this lookup after 3 tries" in lookup.last_error
    harvest_sandbox.set_faults(error_rate=0.0)
    make_due(lookup)
    assert prospect_lookup_run(lookup_id=lookup.pk) == "not found"


def test_a_waiting_message_whose_prospect_has_no_lookup_gets_one_from_the_sweep(
    synced, harvest_sandbox
):
    waiting_for_linus(synced, count=2)
    ProspectLookup.objects.all().delete()  # e.g. held while the last lookup was ending

    counts = sync_records_sweep()

    assert counts["lookups_scheduled"] == 1
    lookup = ProspectLookup.objects.get()
    assert lookup.prospect == synced.linus and lookup.status == ProspectLookup.Status.PENDING
    assert sync_records_sweep()["lookups_scheduled"] == 0


def test_a_lookup_whose_worker_died_is_taken_back_by_the_sweep(synced, harvest_sandbox):
    waiting_for_linus(synced, count=1)
    lookup = ProspectLookup.objects.get()
    long_ago = timezone.now() - timedelta(hours=1)
    ProspectLookup.objects.filter(pk=lookup.pk).update(
        status=ProspectLookup.Status.LOOKING, claimed_at=long_ago, attempts=1
    )

    counts = sync_records_sweep()

    assert counts["lookups_rescued"] == 1
    assert prospect_lookup_run(lookup_id=lookup.pk) == "not found"


def test_support_sees_the_waiting_prospects_in_the_django_admin(
    staff_client, synced, harvest_sandbox
):
    waiting_for_linus(synced, count=1)
    page = staff_client.get("/admin/greenhouse/prospectlookup/").content.decode()
    assert "Linus Unknown" in page and "Waiting for the next lookup" in page
    lookup = ProspectLookup.objects.get()
    assert (
        staff_client.get(f"/admin/greenhouse/prospectlookup/{lookup.pk}/change/").status_code == 200
    )


def test_with_create_chosen_the_records_wait_for_the_creation_and_no_lookup_is_scheduled(
    synced, harvest_sandbox
):
    GreenhouseIntegration.objects.filter(team=synced.team).update(
        unknown_recipients=UnknownRecipients.CREATE
    )
    record = sms_to(synced, synced.linus, "Hello")
    write_all()
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.CANDIDATE_TO_CREATE)
    assert not ProspectLookup.objects.exists()


def test_the_facts_carry_the_team_choice_and_the_window(synced):
    record = sms_to(synced, synced.linus, "Hello")
    message = Message.objects.select_related("thread").get(pk=record.message_id)
    integration = GreenhouseIntegration.objects.get(team=synced.team)
    facts = _facts(message=message, integration=integration, paused=False)
    assert (facts.unknown_recipients, facts.waiting_expired) == (UnknownRecipients.WAIT, False)

    integration.unknown_recipients, integration.waiting_days = UnknownRecipients.SKIP, 1
    later = message.created_at + timedelta(days=1, seconds=1)
    facts = _facts(message=message, integration=integration, paused=False, now=later)
    assert (facts.unknown_recipients, facts.waiting_expired) == (UnknownRecipients.SKIP, True)
    earlier = message.created_at + timedelta(hours=23)
    assert not _facts(
        message=message, integration=integration, paused=False, now=earlier
    ).waiting_expired
