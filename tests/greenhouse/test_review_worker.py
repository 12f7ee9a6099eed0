"""The team choice "create unknown recipients" end to end: real Celery worker processes (two, of
two pool processes each), the Harvest sandbox over HTTP. Many waiting messages of one prospect
and many creation tasks at once make exactly one `POST /v3/candidates`, then every message is
written in order, once."""

import pytest

from apps.greenhouse.models import (
    CandidateCreation,
    CandidateLink,
    GreenhouseIntegration,
    ReviewAction,
    SyncRecord,
)
from apps.greenhouse.policy import UnknownRecipients
from apps.greenhouse.tasks import candidate_create_task
from apps.messaging.models import Channel, Thread
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import enroll_and_dispatch_all_steps, our_notes, write_all
from tests.greenhouse.test_sync_acceptance import worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status
LINUS = "linus.unknown@example.com"


def test_many_waiting_messages_and_concurrent_workers_create_one_candidate(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.CREATE, candidate_tag="Added from Outreach"
    )
    # Slow answers widen the window in which two workers could both decide to create.
    harvest_sandbox.configure(latency_ms=300)
    enroll_and_dispatch_all_steps(synced, [synced.linus])  # Linus is not in Greenhouse
    deliver_queued()
    # The records' first decision, here (as a worker would): held to create the candidate; each
    # queued a creation task on commit, and more are queued, all waiting for the workers.
    assert write_all() == ["held"] * 3
    assert set(SyncRecord.objects.values_list("reason", flat=True)) == {"candidate_to_create"}
    for _ in range(9):
        candidate_create_task.delay(synced.linus.pk)
    # Four pool processes take four of the twelve tasks at once; a second worker joins.
    celery_worker_factory(concurrency=4, extra_env=worker_env(settings))
    celery_worker_factory(concurrency=1, extra_env=worker_env(settings))
    thread = Thread.objects.get(prospect=synced.linus, channel=Channel.EMAIL)

    wait_for(
        lambda: SyncRecord.objects.filter(thread=thread, status=Status.WRITTEN).count() == 3,
        message="the waiting messages were not written after the candidate was created",
    )
    posts = [r for r in harvest_sandbox.requests(path="/v3/candidates") if r["method"] == "POST"]
    assert [p["status"] for p in posts] == [201]
    created = [c for c in harvest_sandbox.candidates() if c["first_name"] == "Linus"]
    assert len(created) == 1 and created[0]["tags"] == ["Added from Outreach"]
    candidate_id = created[0]["id"]

    link = CandidateLink.objects.get(prospect=synced.linus)
    assert (link.match, link.candidate_id, link.source) == ("one", candidate_id, "created")
    creation = CandidateCreation.objects.get(prospect=synced.linus)
    assert (creation.status, creation.candidate_id) == ("created", candidate_id)
    records = list(SyncRecord.objects.filter(thread=thread).order_by("message__created_at"))
    notes = sorted(our_notes(harvest_sandbox, LINUS), key=lambda n: n["id"])
    assert [n["id"] for n in notes] == [r.note_id for r in records]  # in order, each once
    assert [a.action for a in ReviewAction.objects.filter(prospect=synced.linus)] == ["create"]


@pytest.mark.django_db(transaction=True)
def test_creations_racing_in_threads_send_one_post(synced, harvest_sandbox):
    """Six callers at the same instant, each on its own database connection: the lease lets one
    send the POST; the others are told it is in progress (or find it done)."""
    import threading

    from django.db import connection

    from apps.greenhouse.creation import candidate_create
    from tests.greenhouse.test_candidate_gone import sms_to

    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        unknown_recipients=UnknownRecipients.WAIT
    )
    sms_to(synced, synced.linus, "Hello")
    write_all()
    harvest_sandbox.configure(latency_ms=200)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def create():
        try:
            start.wait()
            outcomes.append(candidate_create(synced.linus, by=synced.ada).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    posts = [r for r in harvest_sandbox.requests(path="/v3/candidates") if r["method"] == "POST"]
    assert len(posts) == 1, outcomes
    assert outcomes.count("created") >= 1 and set(outcomes) <= {"created", "busy"}
