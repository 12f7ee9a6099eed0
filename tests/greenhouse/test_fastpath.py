"""The batch's fast path (apps/greenhouse/fastpath.py): linked prospects' records are written
together, each note exactly once and in message order, with a bounded number of statements per
batch (the batching's correctness, not its speed: that is bench/batch.py's); the unusual record
(here a candidate merged away, 404) leaves the fast run for the careful path; with real worker
processes, a worker killed while a fast batch's POSTs are out loses and duplicates nothing, and a
switch-off or a pause committed during a fast batch stops every POST after it."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.greenhouse.batch import sync_team_write
from apps.greenhouse.models import CandidateLink, SyncAttempt, SyncRecord
from apps.greenhouse.policy import CandidateMatch, Reason
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.switches import team_sync_turn_off
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.test_batches import api_notes, exactly_once, in_message_order
from tests.greenhouse.test_switch_gate import created, many_candidates
from tests.greenhouse.test_sync_acceptance import worker_env

Status = SyncRecord.Status


def link(world, sandbox, prospects) -> None:
    """As a first record's lookup leaves it: each prospect linked to its one candidate."""
    for prospect in prospects:
        CandidateLink.objects.update_or_create(
            prospect=prospect,
            defaults={
                "team": world.team,
                "candidate_id": sandbox.candidate_id(prospect.emails.first().email),
                "match": CandidateMatch.ONE,
                "candidate_ids_seen": [],
                "emails_searched": [],
                "resolved_at": timezone.now(),
            },
        )


def send_rounds(world, prospects, rounds: int, tag: str) -> None:
    for n in range(rounds):
        for prospect in prospects:
            sms_send(sender=world.rob, prospect=prospect, body=f"{tag} {n}")
    deliver_queued()


def batch_statements(team_id: int) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        outcomes = sync_team_write(team_id=team_id)
    return len(queries), outcomes


@pytest.mark.django_db(transaction=True)
def test_a_fast_batch_takes_a_bounded_number_of_statements(synced, harvest_sandbox, settings):
    settings.GREENHOUSE_SYNC_BATCH_SIZE = 12
    prospects = [synced.grace, synced.alan, synced.katherine]
    # The first record of each prospect goes the careful way (its lookup makes the link) and
    # queues the thread's bot notice.
    send_rounds(synced, prospects, 1, "First")
    assert sync_team_write(team_id=synced.team.pk).get("written") == 3
    assert CandidateLink.objects.filter(match=CandidateMatch.ONE).count() == 3

    send_rounds(synced, prospects, 1, "Small")
    small, outcomes = batch_statements(synced.team.pk)
    assert outcomes == {"written": 3}
    send_rounds(synced, prospects, 4, "Large")
    large, outcomes = batch_statements(synced.team.pk)
    assert outcomes == {"written": 12}

    records = list(SyncRecord.objects.select_related("message"))
    assert {r.status for r in records} == {Status.WRITTEN}
    exactly_once(harvest_sandbox, records)
    in_message_order(records)
    # No lookup after the first records; one POST log row per note, each finished OK.
    assert SyncAttempt.objects.filter(kind=SyncAttempt.Kind.LOOKUP).count() == 3
    posts = SyncAttempt.objects.filter(kind=SyncAttempt.Kind.POST)
    assert posts.count() == 18
    assert set(posts.values_list("outcome", "http_status")) == {(SyncAttempt.Outcome.OK, 201)}
    # Statements per batch: a constant, not ~16 per note (the careful path's). Nine more notes
    # add none (a slow run may take the switch gate once more: GATE_HOLD_MAX, 3 statements).
    # Issue 16 added reads once per batch: the team's exclusions (up to 2), the batch's reviews
    # of sensitive mail (1) and its threads' own visibility (1, again under each gate take).
    print(f"\nstatements per fast batch: 3 notes {small}, 12 notes {large}")
    assert small <= 34
    assert large - small <= 3


@pytest.mark.django_db(transaction=True)
def test_a_merged_candidate_leaves_the_fast_run_for_the_careful_path(
    synced, harvest_sandbox, settings
):
    prospects = [synced.grace, synced.alan, synced.katherine]
    link(synced, harvest_sandbox, prospects)
    # Alan's link names a candidate Greenhouse no longer has (merged away): 404 on the POST.
    CandidateLink.objects.filter(prospect=synced.alan).update(candidate_id=999999)
    send_rounds(synced, prospects, 2, "Merged")

    outcomes = sync_team_write(team_id=synced.team.pk)

    assert outcomes.get("written") == 6, outcomes
    records = list(SyncRecord.objects.select_related("message"))
    exactly_once(harvest_sandbox, records)
    in_message_order(records)
    alan = harvest_sandbox.candidate_id(synced.alan.emails.first().email)
    assert {r.candidate_id for r in records if r.prospect_id == synced.alan.pk} == {alan}
    # The 404 is in the log; the notes not sent when it came have no POST row of the fast run.
    assert SyncAttempt.objects.filter(http_status=404).count() == 1
    assert SyncAttempt.objects.filter(kind=SyncAttempt.Kind.POST, http_status=201).count() == 6


# --- Real worker processes ---------------------------------------------------------------------


def fast_posts_in_flight(sandbox) -> bool:
    """A fast batch committed its records' post_started_at together, and its POSTs are out
    (Greenhouse has some of its notes; the batch records them together at its end)."""
    return (
        SyncRecord.objects.filter(status=Status.IN_PROGRESS).exclude(post_started_at=None).count()
        >= 3
        and len(api_notes(sandbox)) >= 1
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_a_fast_batch_loses_and_duplicates_nothing(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    harvest_sandbox.configure(latency_ms=150)
    prospects = [synced.grace, synced.alan]
    link(synced, harvest_sandbox, prospects)
    env = worker_env(settings, GREENHOUSE_SYNC_BATCH_SIZE="10")
    first = celery_worker_factory(concurrency=1, extra_env=env)
    send_rounds(synced, prospects, 8, "Kill")
    records = SyncRecord.objects.select_related("message")
    wait_for(
        lambda: fast_posts_in_flight(harvest_sandbox),
        interval=0.02,
        message="no fast batch in flight",
    )
    first.kill()
    celery_worker_factory(concurrency=1, extra_env=env)

    def done():
        short = timedelta(seconds=3)
        sync_records_sweep(stale_after=timedelta(seconds=8), grace=short, lease=short)
        return records.filter(status=Status.WRITTEN).count() == 16

    wait_for(done, interval=1, message="not every note was written after the kill")
    exactly_once(harvest_sandbox, list(records))
    in_message_order(list(records))
    # The killed batch's records were read back before anything was posted again.
    assert SyncAttempt.objects.filter(kind=SyncAttempt.Kind.READ_BACK).exists()


@pytest.fixture
def gate_dir(settings, tmp_path):
    settings.GREENHOUSE_SWITCH_LOCK_DIR = str(tmp_path / "switch")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_nothing_is_written_after_sync_is_turned_off_during_a_fast_batch(
    synced, harvest_sandbox, celery_worker_factory, settings, gate_dir
):
    harvest_sandbox.configure(rate_limit=40, rate_window=3, latency_ms=400)
    env = worker_env(
        settings,
        GREENHOUSE_SYNC_STALE_AFTER="120",
        GREENHOUSE_SWITCH_LOCK_DIR=str(settings.GREENHOUSE_SWITCH_LOCK_DIR),
    )
    celery_worker_factory(concurrency=2, extra_env=env)
    prospects = many_candidates(synced, harvest_sandbox, 10)
    link(synced, harvest_sandbox, prospects)
    send_rounds(synced, prospects, 1, "Hello")
    wait_for(
        lambda: fast_posts_in_flight(harvest_sandbox),
        interval=0.02,
        message="no fast batch in flight",
    )

    team_sync_turn_off(team=synced.team, by=synced.ada)
    synced.integration.refresh_from_db()
    switched_at: datetime = synced.integration.sync_changed_at

    def settled() -> bool:
        sync_records_sweep(lease=timedelta(seconds=5))
        return not SyncRecord.objects.filter(
            status__in=(Status.PENDING, Status.IN_PROGRESS)
        ).exists()

    wait_for(settled, interval=0.5, message="records still in progress after the switch")
    late = [n for n in api_notes(harvest_sandbox) if created(n) > switched_at]
    assert late == [], f"notes written after sync was turned off at {switched_at}: {late}"
    records = list(SyncRecord.objects.all())
    assert len([r for r in records if r.status == Status.WRITTEN]) == len(
        api_notes(harvest_sandbox)
    )
    stopped = [r for r in records if r.status == Status.SKIPPED]
    assert stopped, "the switch came after the whole batch"
    for record in stopped:
        assert record.reason == Reason.SYNC_TURNED_OFF
        assert record.post_started_at is None  # nothing was sent for it


@pytest.mark.django_db(transaction=True)
def test_a_bug_in_a_fast_batch_fails_its_record_and_leaves_nothing_started(
    synced, harvest_sandbox, settings
):
    from unittest import mock

    from apps.greenhouse import fastpath

    prospects = [synced.grace, synced.alan, synced.katherine]
    link(synced, harvest_sandbox, prospects)
    send_rounds(synced, prospects, 1, "Bug")
    first = SyncRecord.objects.order_by("message__created_at", "message_id").first()
    real = fastpath._note_content

    def buggy(record, **kwargs):
        if record.pk == first.pk:
            raise KeyError("a bug")
        return real(record, **kwargs)

    with mock.patch.object(fastpath, "_note_content", buggy):
        outcomes = sync_team_write(team_id=synced.team.pk)

    assert outcomes.get("failed") == 1 and outcomes.get("written") == 2, outcomes
    first.refresh_from_db()
    assert first.status == Status.FAILED
    assert first.last_error.startswith("A bug in Outreach stopped this note: KeyError")
    assert first.post_started_at is None  # nothing was sent for it
    assert len(api_notes(harvest_sandbox)) == 2
    assert not SyncRecord.objects.filter(status=Status.IN_PROGRESS).exists()
