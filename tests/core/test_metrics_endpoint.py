"""/metrics: who may read it, that reading it changes nothing, and core's figures (queue depths
counted in the real broker of this run, embedded folder or Redis; the workers' heartbeat; the
outboxes' due rows) against known rows and messages."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core.broker import configured_queue_names, queue_depths
from apps.core.models import WorkerPing
from apps.core.tasks import worker_ping_answer_task
from apps.greenhouse.models import SyncRecord
from tests.fixtures.staff import log_in_staff
from tests.fixtures.worker import TEST_QUEUE, broker_messages, broker_purge
from tests.greenhouse.factories import SyncRecordFactory

TOKEN = "scrape-token-for-tests-7Qm2"


def _samples(response) -> dict[str, dict[tuple, float]]:
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def empty_queue():
    broker_purge()
    yield
    broker_purge()


@pytest.mark.django_db
def test_the_scrape_token_opens_it_and_a_wrong_one_is_refused(client, token):
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 403
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_without_a_token_setting_no_header_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer x").status_code == 403


@pytest.mark.django_db
def test_staff_need_their_second_factor_and_members_never_see_it(client, token):
    User = get_user_model()
    member = User.objects.create_user("member", "m@example.com", "pw")
    client.force_login(member)
    assert client.get("/metrics").status_code == 404

    staff = User.objects.create_user("support", "s@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 403  # STAFF_REQUIRE_2FA is on in the suite
    log_in_staff(client, staff)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_only_reads_are_allowed_and_a_scrape_writes_nothing(client, token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.post("/metrics", **auth).status_code == 405
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics", **auth).status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() not in ("SELECT",)]
    assert writes == []


@pytest.mark.django_db
def test_queue_depth_is_counted_in_the_broker(client, token, empty_queue):
    assert TEST_QUEUE in configured_queue_names()
    assert queue_depths([TEST_QUEUE]) == {TEST_QUEUE: 0}
    for _ in range(3):
        worker_ping_answer_task.apply_async(args=[0])

    samples = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"))

    assert broker_messages() == 3  # the test helper's own count agrees
    assert samples["outreach_queue_messages"][(("queue", TEST_QUEUE),)] == 3
    assert samples["outreach_broker_up"][()] == 1
    assert queue_depths(["a-queue-nobody-declared"]) == {"a-queue-nobody-declared": 0}


def test_queue_names_tolerate_every_form_of_configuration():
    from kombu import Queue

    class Conf:
        task_default_queue = "default"
        task_queues = [Queue("sync"), "send"]
        task_routes = {"apps.x.*": {"queue": "beat"}, "apps.y.t": "ignored-router-name"}
        beat_schedule = {"a": {"task": "t", "options": {"queue": "beat"}}, "b": {"task": "t"}}

    assert configured_queue_names(Conf()) == [
        "beat",
        "default",
        "ignored-router-name",
        "send",
        "sync",
    ]
    Conf.task_queues = {"inbound": {}}  # a dict of names
    Conf.task_routes = None
    assert "inbound" in configured_queue_names(Conf())


@pytest.mark.django_db
def test_worker_heartbeat_and_outbox_due(client, token):
    now = timezone.now()
    answered = WorkerPing.objects.create()
    WorkerPing.objects.filter(pk=answered.pk).update(
        requested_at=now - timedelta(minutes=3), answered_at=now - timedelta(minutes=2)
    )
    waiting = WorkerPing.objects.create()
    WorkerPing.objects.filter(pk=waiting.pk).update(requested_at=now - timedelta(seconds=90))
    due = SyncRecordFactory(status=SyncRecord.Status.PENDING)
    SyncRecord.objects.filter(pk=due.pk).update(created_at=now - timedelta(minutes=10))
    retry = SyncRecordFactory(status=SyncRecord.Status.PENDING)
    SyncRecord.objects.filter(pk=retry.pk).update(next_attempt_at=now - timedelta(minutes=4))
    SyncRecordFactory(status=SyncRecord.Status.PENDING, next_attempt_at=now + timedelta(hours=1))
    SyncRecordFactory(status=SyncRecord.Status.WRITTEN)

    samples = _samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}"))

    heartbeat = samples["outreach_worker_ping_answered_timestamp_seconds"][()]
    assert heartbeat == pytest.approx((now - timedelta(minutes=2)).timestamp(), abs=1)
    assert 90 <= samples["outreach_worker_ping_oldest_unanswered_seconds"][()] < 150
    kind = (("kind", "greenhouse.syncrecord"),)
    assert samples["outreach_outbox_due"][kind] == 2
    assert 600 <= samples["outreach_outbox_oldest_due_seconds"][kind] < 660
