"""A team's lane: one wake-up on its way per team, however many records arrive, a lost one
queued again after the lease, and no record left behind when a batch ends as another arrives
(lanes.py). Then the team's batch itself, in this process (batch.py)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.greenhouse.batch import sync_team_write
from apps.greenhouse.lanes import sync_lane_release, sync_lane_wake, sync_lanes_sweep
from apps.greenhouse.models import SyncAttempt, SyncLane, SyncRecord
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import our_notes

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
GRACE, ALAN = "grace.hopper@example.com", "alan.turing@example.com"


@pytest.fixture
def published():
    """The team tasks handed to the broker: (team id, token, countdown) per publish."""
    with mock.patch("apps.greenhouse.tasks.sync_team_write_task.apply_async") as apply_async:
        calls = []

        def record(*, args, kwargs, countdown):
            calls.append((args[0], kwargs["token"], countdown))

        apply_async.side_effect = record
        yield calls


def records_for(synced, *prospects, body="Hello"):
    for prospect in prospects:
        sms_send(sender=synced.rob, prospect=prospect, body=body)
    deliver_queued()  # on-commit callbacks do not run in these tests: no wake-up yet
    return list(SyncRecord.objects.filter(status=Status.PENDING).order_by("pk"))


def lane(team):
    return SyncLane.objects.get(team=team)


def test_two_wake_ups_of_a_team_queue_one_task(synced, published):
    assert sync_lane_wake(team_id=synced.team.pk) is True
    assert sync_lane_wake(team_id=synced.team.pk) is False
    assert [team for team, _, _ in published] == [synced.team.pk]
    assert published[0][1] == lane(synced.team).queued_at.isoformat()  # the task's token


def test_a_lost_task_is_queued_again_by_the_sweep_after_the_lease_only(
    synced, harvest_sandbox, published, settings
):
    records_for(synced, synced.grace)
    sync_lane_wake(team_id=synced.team.pk)
    queued_at = lane(synced.team).queued_at
    lease = timedelta(seconds=settings.QUEUE_LEASE)

    assert sync_lanes_sweep(now=queued_at + lease - timedelta(seconds=1)) == 0
    assert sync_lanes_sweep(now=queued_at + lease + timedelta(seconds=1)) == 1
    assert sync_lanes_sweep(now=queued_at + lease + timedelta(seconds=2)) == 0
    assert len(published) == 2


def test_a_record_arriving_while_the_batch_ends_is_found_by_exactly_one_wake_up(
    synced, harvest_sandbox, published
):
    sync_lane_wake(team_id=synced.team.pk)
    token = lane(synced.team).queued_at
    # A record arrives while the team's task runs: its wake-up finds the lane taken.
    records_for(synced, synced.grace)
    assert sync_lane_wake(team_id=synced.team.pk) is False
    # The task ends: it gives the lane back, then looks again and finds the record.
    assert sync_lane_release(team_id=synced.team.pk, token=token, progressed=True) is True
    assert len(published) == 2

    # The other order: the task ends first (nothing pending), then the record arrives.
    SyncRecord.objects.update(status=Status.WRITTEN)
    token = lane(synced.team).queued_at
    assert sync_lane_release(team_id=synced.team.pk, token=token, progressed=True) is False
    records_for(synced, synced.alan)
    assert sync_lane_wake(team_id=synced.team.pk) is True
    assert len(published) == 3


def test_a_sooner_wake_up_supersedes_a_countdown_but_never_comes_before_the_budgets_slot(
    synced, harvest_sandbox, published
):
    now = timezone.now()
    team = synced.team.pk
    # A retry due in 30 s: a countdown task. A new record due now supersedes it.
    assert sync_lane_wake(team_id=team, at=now + timedelta(seconds=30), now=now)
    old_token = published[-1][1]
    assert sync_lane_wake(team_id=team, now=now + timedelta(seconds=1))
    assert published[-1][2] == 0
    # The superseded task wakes up and does nothing, leaving the newer task the lane.
    assert sync_team_write(team_id=team, token=old_token) == {"superseded": 1}
    assert lane(synced.team).queued_at.isoformat() == published[-1][1]

    # The budget stopped a batch until its next slot: a new record's wake-up waits for it too.
    records_for(synced, synced.grace)
    slot = timezone.now() + timedelta(seconds=5)
    token = lane(synced.team).queued_at
    sync_lane_release(team_id=team, token=token, progressed=False, budget_until=slot)
    assert lane(synced.team).due_at == slot  # the look again: due, but not before the slot
    count = len(published)
    assert sync_lane_wake(team_id=team) is False  # on its way, and no sooner would help
    assert len(published) == count


def test_a_publish_that_fails_gives_the_lease_back(synced):
    with mock.patch(
        "apps.greenhouse.tasks.sync_team_write_task.apply_async", side_effect=OSError("down")
    ):
        assert sync_lane_wake(team_id=synced.team.pk) is True
    assert lane(synced.team).queued_at is None  # the next sweep queues it at once


def test_a_batch_writes_in_message_order_then_queues_the_next_behind_the_others(
    synced, harvest_sandbox, published, settings
):
    settings.GREENHOUSE_SYNC_BATCH_SIZE = 3
    records_for(synced, synced.grace, synced.alan, synced.grace, synced.alan, synced.grace)
    sync_lane_wake(team_id=synced.team.pk)

    outcomes = sync_team_write(team_id=synced.team.pk, token=published[-1][1])

    assert outcomes == {"written": 3}
    assert SyncRecord.objects.filter(status=Status.WRITTEN).count() == 3
    assert len(published) == 2 and published[-1][2] == 0  # the rest: next turn, due now
    outcomes = sync_team_write(team_id=synced.team.pk, token=published[-1][1])
    assert outcomes == {"written": 2}
    assert len(published) == 2  # nothing left: no wake-up
    for email in (GRACE, ALAN):
        notes = our_notes(harvest_sandbox, email)
        by_id = sorted(notes, key=lambda n: n["id"])
        records = SyncRecord.objects.filter(note_id__in=[n["id"] for n in notes]).order_by(
            "message__created_at"
        )
        assert [r.note_id for r in records] == [n["id"] for n in by_id]  # message order
    assert {r.attempts for r in SyncRecord.objects.all()} == {1}


def test_a_batch_whose_turn_is_over_gives_the_rest_back_for_its_next_turn(
    synced, harvest_sandbox, published, settings
):
    """GREENHOUSE_SYNC_BATCH_SECONDS: past it a batch starts no new record (but its first), and
    the records it claimed and did not send go back to pending as they were, due now."""
    records_for(synced, synced.grace)
    sync_lane_wake(team_id=synced.team.pk)
    assert sync_team_write(team_id=synced.team.pk, token=published[-1][1]) == {"written": 1}
    records_for(synced, *[synced.grace] * 4)  # linked now: the fast path's
    sync_lane_wake(team_id=synced.team.pk)
    settings.GREENHOUSE_SYNC_BATCH_SECONDS = 0.0

    outcomes = sync_team_write(team_id=synced.team.pk, token=published[-1][1])

    assert outcomes == {"written": 1}
    waiting = SyncRecord.objects.filter(status=Status.PENDING)
    assert waiting.count() == 3
    for record in waiting:
        assert record.attempts == 0 and record.post_started_at is None
        assert record.claimed_at is None
    assert not SyncAttempt.objects.filter(record__in=waiting).exists()  # no POST in their log
    assert published[-1][2] == 0  # the next turn, due now
    assert len(our_notes(harvest_sandbox, GRACE)) == 2


def test_a_batch_the_budget_stops_defers_its_records_to_the_slot_with_no_attempt_counted(
    synced, harvest_sandbox, published, settings
):
    harvest_sandbox.configure(rate_limit=3, rate_window=30)
    records_for(synced, *[synced.grace] * 5)
    sync_lane_wake(team_id=synced.team.pk)

    outcomes = sync_team_write(team_id=synced.team.pk, token=published[-1][1])

    # The lookup and the POSTs use the window's requests; the next record is not sent, and the
    # batch's others wait with it.
    written = outcomes.get("written", 0)
    assert outcomes == ({"written": written, "deferred": 1} if written else {"deferred": 1})
    waiting = SyncRecord.objects.filter(status=Status.PENDING)
    assert waiting.count() == 5 - written
    for record in waiting:
        assert record.attempts == 0 and record.post_started_at is None
        assert record.next_attempt_at > timezone.now()
    assert len(published) == 2 and published[-1][2] > 0  # a countdown to the slot
    assert len(our_notes(harvest_sandbox, GRACE)) == written
    assert sum(w["rejected"] for w in harvest_sandbox.windows(harvest_sandbox.client_id)) == 0


def test_no_wake_up_is_queued_further_off_than_the_horizon_the_sweep_queues_it_in_time(
    synced, harvest_sandbox, published, settings
):
    """A worker holds a countdown task unacknowledged until it is due: on Redis past QUEUE_LEASE
    a second worker gets it too (the visibility timeout), on RabbitMQ past consumer_timeout the
    channel is closed. The settings bound the hold by GREENHOUSE_SYNC_LANE_HORIZON, so no
    wake-up may be further off, also when a 429's Retry-After (up to 300 s) closed the budget."""
    team = synced.team.pk
    horizon = timedelta(seconds=settings.GREENHOUSE_SYNC_LANE_HORIZON)
    sync_lane_wake(team_id=team)
    token = lane(synced.team).queued_at
    records_for(synced, synced.grace)  # due now, but the budget is closed for 5 minutes
    slot = timezone.now() + horizon + timedelta(seconds=240)
    sync_lane_release(team_id=team, token=token, progressed=False, budget_until=slot)
    assert sync_lane_wake(team_id=team) is False
    assert [countdown for _, _, countdown in published] == [0]  # only the first wake-up
    assert lane(synced.team).queued_at is None  # no lease taken: the sweep may queue it

    # The sweep queues it once the slot is within the horizon, with a countdown to the slot.
    assert sync_lanes_sweep(now=slot - horizon - timedelta(seconds=20)) == 0
    assert sync_lanes_sweep(now=slot - horizon + timedelta(seconds=1)) == 1
    assert 0 < published[-1][2] <= horizon.total_seconds()
