"""The candidate directory end to end, with a real Celery worker process and the Harvest sandbox
over HTTP: the first unresolved record queues the team's crawl on the sync queue and waits for
it (deferred, no attempt counted), then every prospect is resolved from the directory with no
search by address, and every note is written exactly once."""

from urllib.parse import parse_qs

import pytest

from apps.greenhouse.models import CandidateDirectory, CandidateLink, SyncRecord
from apps.greenhouse.policy import Reason
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.test_batches import exactly_once
from tests.greenhouse.test_sync_acceptance import worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status


def test_a_worker_crawls_then_resolves_every_prospect_from_the_directory(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    settings.GREENHOUSE_DIRECTORY_ENABLED = True
    env = worker_env(settings, GREENHOUSE_DIRECTORY_ENABLED="true", GREENHOUSE_SYNC_BATCH_SIZE="6")
    celery_worker_factory(concurrency=1, extra_env=env)
    prospects = (synced.grace, synced.alan, synced.katherine, synced.linus)
    for n in range(3):
        for prospect in prospects:
            sms_send(sender=synced.rob, prospect=prospect, body=f"Message {n}")
    deliver_queued()
    records = SyncRecord.objects.select_related("message")

    # Linus is not in Greenhouse: his messages wait for the candidate (issue 15's default).
    wait_for(
        lambda: records.filter(status__in=(Status.WRITTEN, Status.HELD)).count() == 12,
        message="not all written or held",
    )
    written = list(records.filter(status=Status.WRITTEN))
    assert len(written) == 9
    held = records.filter(status=Status.HELD)
    assert set(held.values_list("prospect_id", "reason")) == {
        (synced.linus.pk, Reason.NOT_IN_GREENHOUSE_YET)
    }
    exactly_once(harvest_sandbox, written)
    queries = [parse_qs(e["query"]) for e in harvest_sandbox.requests(path="/v3/candidates")]
    assert [q for q in queries if "email" in q] == []  # no search by address
    assert queries == [{"per_page": ["500"]}]  # one crawl page answered for all four
    state = CandidateDirectory.objects.get(pk=synced.team.pk)
    assert state.complete
    sources = set(CandidateLink.objects.values_list("source", flat=True))
    assert sources == {CandidateLink.Source.DIRECTORY}
