"""Turning sync off holds up to the instant of the POST (issue 12, part 1; a pause goes through
the same gate): real Celery worker processes, the Harvest sandbox over HTTP answering slowly, so
a team's batch holds claimed records, one of them between its decision and its POST (its
candidate lookup on the wire), when the switch commits. (No worker waits in the rate budget any
more: a record without a slot goes back to pending, apps/greenhouse/batch.py.)

The switch commits only after the POSTs already on the wire are answered, and no POST starts
after it (apps/greenhouse/gate.py); so no note in the sandbox may be newer than the moment the
switch took the gate (`sync_changed_at` / `paused_at`, set under it, before its commit)."""

from datetime import datetime, timedelta

import pytest

from apps.greenhouse.models import PauseVia, ProspectSyncPause, SyncAttempt, SyncRecord
from apps.greenhouse.pausing import prospect_sync_pause
from apps.greenhouse.policy import Reason
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.switches import team_sync_turn_off
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import add_prospect
from tests.greenhouse.test_sync_acceptance import worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status


def many_candidates(world, sandbox, count: int) -> list:
    prospects = []
    for n in range(count):
        email = f"gate.{n}@example.com"
        sandbox.add_candidate(first_name="Gate", last_name=f"Candidate {n}", emails=[email])
        phone = f"+1415555{n:04d}"
        prospects.append(
            add_prospect(world, first="Gate", last=f"Candidate {n}", email=email, phone=phone)
        )
    return prospects


def slow_world(synced, harvest_sandbox, celery_worker_factory, settings, tmp_path):
    # 400 ms per answer: a batch of 8 records (a lookup and a POST each) takes seconds.
    harvest_sandbox.configure(rate_limit=40, rate_window=3, latency_ms=400)
    env = worker_env(
        settings,
        GREENHOUSE_RATE_MAX_WAIT="30",
        GREENHOUSE_SYNC_STALE_AFTER="120",
        GREENHOUSE_SWITCH_LOCK_DIR=str(settings.GREENHOUSE_SWITCH_LOCK_DIR),
    )
    celery_worker_factory(concurrency=4, extra_env=env)


def api_notes(sandbox) -> list[dict]:
    return [n for n in sandbox.notes() if n["source"] == "api"]


def created(note) -> datetime:
    return datetime.fromisoformat(note["created_at"].replace("Z", "+00:00"))


@pytest.fixture
def gate_dir(settings, tmp_path):
    settings.GREENHOUSE_SWITCH_LOCK_DIR = str(tmp_path / "switch")


def settled() -> bool:
    # The beat sweeper's part, run from here: records a rate limit sent back to pending.
    sync_records_sweep(lease=timedelta(seconds=5))
    return not SyncRecord.objects.filter(status__in=(Status.PENDING, Status.IN_PROGRESS)).exists()


def wait_settled(what: str) -> None:
    wait_for(settled, interval=0.5, message=what)


def in_progress() -> int:
    return SyncRecord.objects.filter(status=Status.IN_PROGRESS).count()


def lookup_on_the_wire() -> bool:
    """A claimed record decided to sync and is looking its candidate up: its POST comes next."""
    return (
        in_progress() >= 3
        and SyncAttempt.objects.filter(
            kind=SyncAttempt.Kind.LOOKUP, outcome=SyncAttempt.Outcome.STARTED
        ).exists()
    )


def test_nothing_is_written_after_sync_is_turned_off(
    synced, harvest_sandbox, celery_worker_factory, settings, tmp_path, gate_dir
):
    slow_world(synced, harvest_sandbox, celery_worker_factory, settings, tmp_path)
    prospects = many_candidates(synced, harvest_sandbox, 8)
    for prospect in prospects:
        sms_send(sender=synced.rob, prospect=prospect, body=f"Hello {prospect.last_name}")
    deliver_queued()
    wait_for(lookup_on_the_wire, interval=0.02, message="no records were claimed")

    team_sync_turn_off(team=synced.team, by=synced.ada)
    synced.integration.refresh_from_db()
    switched_at = synced.integration.sync_changed_at

    # With the beat's sweeper (run by settled()): a record a 429 sent back to pending is queued
    # again, and then stopped by the switch.
    wait_settled("records still in progress after the switch")
    late = [n for n in api_notes(harvest_sandbox) if created(n) > switched_at]
    assert late == [], f"notes written after sync was turned off at {switched_at}: {late}"
    records = list(SyncRecord.objects.all())
    written = [r for r in records if r.status == Status.WRITTEN]
    assert len(written) == len(api_notes(harvest_sandbox))
    assert all(r.status in (Status.WRITTEN, Status.SKIPPED) for r in records)
    stopped = SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.STOPPED)
    assert stopped.exists(), "no claimed record reached the gate after the switch"
    for attempt in stopped:
        record = attempt.record
        assert (record.status, record.reason) == (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
        assert record.last_error.startswith(
            f"Stopped before writing: sync turned off by {synced.ada}"
        )
        assert record.post_started_at is None  # nothing was sent for it


def test_nothing_is_written_for_a_candidate_after_the_pause(
    synced, harvest_sandbox, celery_worker_factory, settings, tmp_path, gate_dir
):
    slow_world(synced, harvest_sandbox, celery_worker_factory, settings, tmp_path)
    prospects = many_candidates(synced, harvest_sandbox, 8)
    for prospect in prospects:
        sms_send(sender=synced.rob, prospect=prospect, body=f"Hello {prospect.last_name}")
    deliver_queued()
    wait_for(lambda: in_progress() >= 3, message="no records were claimed")

    # Pause a candidate whose record a worker holds, later in its batch.
    claimed = SyncRecord.objects.filter(status=Status.IN_PROGRESS).order_by("-pk").first()
    assert claimed is not None
    paused_prospect = claimed.prospect
    prospect_sync_pause(prospect=paused_prospect, via=PauseVia.APP, by=synced.rob)
    paused_at = ProspectSyncPause.objects.get(prospect=paused_prospect).paused_at
    assert paused_at is not None

    wait_settled("records still waiting after the pause")
    candidate_id = harvest_sandbox.candidate_id(paused_prospect.emails.get().email)
    late = [
        n
        for n in api_notes(harvest_sandbox)
        if n["candidate_id"] == candidate_id and created(n) > paused_at
    ]
    assert late == [], f"notes written for the paused candidate after {paused_at}: {late}"
    mine = SyncRecord.objects.get(pk=claimed.pk)
    print(f"\npaused candidate's claimed record ended {mine.status} ({mine.reason})")
    if mine.status == Status.SKIPPED:  # it had not been sent when the pause committed
        assert mine.reason == Reason.CANDIDATE_PAUSED
        assert mine.post_started_at is None
    else:  # sent before the pause took the gate: written, and before the pause
        assert mine.status == Status.WRITTEN
    # Everyone else's notes go on.
    others = SyncRecord.objects.exclude(prospect=paused_prospect)
    assert {r.status for r in others} == {Status.WRITTEN}
    assert (
        len(api_notes(harvest_sandbox)) == SyncRecord.objects.filter(status=Status.WRITTEN).count()
    )
