"""Teams' batches with real Celery worker processes and the Harvest sandbox over HTTP: every note
exactly once and in message order, a quiet team written while a noisy team's backlog waits for
its allowance (no worker sleeps on the budget), never over the limit, and a worker killed in the
middle of a batch loses and duplicates nothing."""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.sync import sync_record_create
from apps.harvest_sandbox.services import SANDBOX_HOST
from apps.messaging.models import Channel, Message
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.factories import GreenhouseIntegrationFactory
from tests.greenhouse.test_sync_acceptance import worker_env
from tests.messaging.factories import MessageFactory, ThreadFactory, VirtualPhoneNumberFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import TeamFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status


def api_notes(sandbox) -> list[dict]:
    return [n for n in sandbox.notes() if n["source"] == "api"]


def exactly_once(sandbox, records) -> None:
    notes = api_notes(sandbox)
    refs = Counter(r.note_ref for r in records for n in notes if r.note_ref in n["body"])
    assert all(refs[r.note_ref] == 1 for r in records), refs
    assert len(notes) == len(records)
    assert {n["id"] for n in notes} == {r.note_id for r in records}


def in_message_order(records) -> None:
    by_thread: dict[int, list] = {}
    for record in sorted(records, key=lambda r: (r.message.created_at, r.message_id)):
        by_thread.setdefault(record.thread_id, []).append(record.note_id)
    for note_ids in by_thread.values():
        assert note_ids == sorted(note_ids)  # the sandbox numbers notes as they are written


def quiet_team(sandbox):
    """A second team with a credential of its own, one prospect who is a candidate, and an SMS
    thread with them: `reply()` records an inbound SMS (its sync record, woken on commit)."""
    sandbox.add_credential(client_id="quiet-client", client_secret="quiet-secret")
    team = TeamFactory(name="Quiet", slug="quiet")
    owner = UserFactory(username="quiet-rec", email="rec@quiet.example")
    GreenhouseIntegrationFactory(
        team=team,
        client_id="quiet-client",
        client_secret="quiet-secret",
        host=SANDBOX_HOST,
        acting_user_id=sandbox.user_id("ada@acme.example"),
        health=GreenhouseIntegration.Health.OK,
        sync_enabled_by_support=True,
        sync_on=True,
        sync_on_since=timezone.now() - timedelta(minutes=5),
    )
    sandbox.add_candidate(first_name="Quinn", last_name="Quiet", emails=["quinn@quiet.example"])
    prospect = ProspectFactory(team=team, first_name="Quinn", last_name="Quiet", owner=owner)
    ProspectEmailFactory(prospect=prospect, email="quinn@quiet.example")
    number = VirtualPhoneNumberFactory(team=team, user=owner, number="+14155550100")
    thread = ThreadFactory(
        team=team, prospect=prospect, owner=owner, channel=Channel.SMS, virtual_number=number
    )

    def reply() -> SyncRecord:
        with transaction.atomic():
            message = MessageFactory(
                thread=thread,
                direction=Message.Direction.INBOUND,
                status=Message.Status.RECEIVED,
                from_address="+14155550999",
                to_addresses=["+14155550100"],
                body_text="Sounds good, talk soon",
                message_id=None,
            )
            record = sync_record_create(message=message)
        assert record is not None and record.status == Status.PENDING
        return record

    return reply


@pytest.mark.parametrize(
    ("pool", "concurrency"),
    [("prefork", 1), ("threads", 4)],  # threads: how the production Procfile runs the sync queue
)
def test_batches_write_every_note_once_in_message_order(
    synced, harvest_sandbox, celery_worker_factory, settings, pool, concurrency
):
    env = worker_env(settings, GREENHOUSE_SYNC_BATCH_SIZE="4")
    celery_worker_factory(concurrency=concurrency, extra_env=env, pool=pool)
    for n in range(6):
        for prospect in (synced.grace, synced.alan, synced.katherine):
            sms_send(sender=synced.rob, prospect=prospect, body=f"Message {n}")
    deliver_queued()
    records = SyncRecord.objects.select_related("message")

    wait_for(lambda: records.filter(status=Status.WRITTEN).count() == 18, message="not written")

    exactly_once(harvest_sandbox, list(records))
    in_message_order(list(records))
    assert {r.attempts for r in records} == {1}


def test_a_quiet_team_is_written_while_a_noisy_team_waits_for_its_allowance(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    # 3 requests per 3 s for each credential, one worker process: a worker that slept on the
    # noisy team's budget would keep the quiet team's note until the backlog is done.
    limit = 3
    harvest_sandbox.configure(rate_limit=limit, rate_window=3)
    reply = quiet_team(harvest_sandbox)
    celery_worker_factory(concurrency=1, extra_env=worker_env(settings))
    for n in range(5):
        for prospect in (synced.grace, synced.alan, synced.katherine):
            sms_send(sender=synced.rob, prospect=prospect, body=f"Backlog {n}")
    deliver_queued()
    noisy = SyncRecord.objects.filter(team=synced.team)
    wait_for(lambda: noisy.filter(status=Status.WRITTEN).exists(), message="no noisy note")

    quiet = reply()
    wait_for(
        lambda: SyncRecord.objects.filter(pk=quiet.pk, status=Status.WRITTEN).exists(),
        message="the quiet team's note was not written",
    )
    quiet.refresh_from_db()
    left = noisy.exclude(status=Status.WRITTEN).count()
    assert left > 0, "the noisy backlog ended before the quiet team's note: no isolation shown"
    wait_for(lambda: noisy.filter(status=Status.WRITTEN).count() == 15, message="backlog")

    assert max(r.written_at for r in noisy) > quiet.written_at
    for client_id in (harvest_sandbox.client_id, "quiet-client"):
        windows = harvest_sandbox.windows(client_id)
        assert all(w["served"] <= limit for w in windows), windows
        assert sum(w["rejected"] for w in windows) == 0, windows  # never a 429
    exactly_once(harvest_sandbox, list(SyncRecord.objects.all()))


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    # Slow answers, so the kill lands while a batch holds claimed records and POSTs are out.
    harvest_sandbox.configure(latency_ms=150)
    env = worker_env(settings, GREENHOUSE_SYNC_BATCH_SIZE="10")
    first = celery_worker_factory(concurrency=1, extra_env=env)
    for n in range(8):
        for prospect in (synced.grace, synced.alan):
            sms_send(sender=synced.rob, prospect=prospect, body=f"Kill {n}")
    deliver_queued()
    records = SyncRecord.objects.select_related("message")
    wait_for(
        lambda: (
            records.filter(status=Status.WRITTEN).count() >= 2
            and records.filter(status=Status.IN_PROGRESS).count() >= 2
        ),
        interval=0.02,
        message="no batch in flight",
    )
    first.kill()
    celery_worker_factory(concurrency=1, extra_env=env)

    def done():
        # The beat's sweeper, with a short stale threshold and lease: the killed worker's
        # records are taken back (then read back before anything is posted again).
        short = timedelta(seconds=3)
        sync_records_sweep(stale_after=timedelta(seconds=8), grace=short, lease=short)
        return records.filter(status=Status.WRITTEN).count() == 16

    wait_for(done, interval=1, message="not every note was written after the kill")
    exactly_once(harvest_sandbox, list(records))
    in_message_order(list(records))
