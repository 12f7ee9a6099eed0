"""The inbox processor's wake-up (apps/messaging/wake.py, InboundEvent.wake_after_insert): a
stored event never waits for a sweep because its wake-up was coalesced away, with the lease in
Redis and with the column lease of the embedded default, each test on both.

The race the Redis lease must survive: a request stores its event and finds the lease held,
while the processor holding it has made its last, empty claim. If the processor gave the lease
back only then, nobody would process the event until a sweep; it gives it back before its first
claim instead. `test_a_request_after_the_processors_last_claim_still_wakes_one` fails with the
release moved after the loop; the threaded test drives many interleavings with real requests.

Real parts: the Twilio webhook through Django's test client (signed by twilio's
RequestValidator), the test run's database and broker, Redis at TEST_REDIS_URL.
"""

import os
import random
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection

from apps.messaging.inbox import inbound_events_process
from apps.messaging.models import InboundEvent, Message
from apps.messaging.tasks import inbound_events_process_task
from apps.messaging.wake import wake_lease
from tests.fixtures.messaging import twilio_post
from tests.fixtures.worker import broker_messages, broker_purge

pytestmark = pytest.mark.django_db(transaction=True)

SMS_URL = "/webhooks/twilio/sms/"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["redis", "column"])
def lease_kind(request, settings):
    settings.INBOX_WAKE_URL = REDIS_URL if request.param == "redis" else ""
    lease = wake_lease()
    if lease is not None:
        lease.release()
    broker_purge()
    yield request.param
    broker_purge()
    if lease is not None:
        lease.release()


def sms(index: int) -> dict:
    return {
        "MessageSid": f"SM{index:032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550101",
        "To": "+15005550006",
        "Body": f"Reply {index}",
        "NumMedia": "0",
    }


def post_sms(client, index: int):
    response = twilio_post(client, SMS_URL, sms(index), process=False)
    assert response.status_code == 200
    return response


def inbound_messages():
    return Message.objects.filter(direction=Message.Direction.INBOUND)


def test_a_request_after_the_processors_last_claim_still_wakes_one(
    client, world, lease_kind, monkeypatch
):
    post_sms(client, 0)
    assert broker_messages() == 1
    broker_purge()  # a worker took the task: it runs below
    real_claim = InboundEvent.claim_batch
    arrived = []

    def claim_then_a_request(**kwargs):
        events = real_claim(**kwargs)
        if not events and not arrived:
            # The processor found nothing more: a reply arrives before the task ends.
            arrived.append(post_sms(client, 1))
        return events

    monkeypatch.setattr(InboundEvent, "claim_batch", claim_then_a_request)
    assert inbound_events_process() == 1
    assert arrived
    # The reply's request queued a processor task: it is not left for a sweep.
    assert broker_messages() == 1
    monkeypatch.setattr(InboundEvent, "claim_batch", real_claim)
    assert inbound_events_process() == 1
    assert inbound_messages().count() == 2


def test_requests_while_a_task_is_on_its_way_queue_none_and_that_task_takes_them(
    client, world, lease_kind
):
    for index in range(5):
        post_sms(client, index)
    assert broker_messages() == 1
    if lease_kind == "redis":
        assert not InboundEvent.objects.exclude(queued_at=None).exists()  # no SQL lease
        assert wake_lease().held()
    assert inbound_events_process() == 5
    if lease_kind == "redis":
        assert not wake_lease().held()  # given back when the processor started
    post_sms(client, 5)
    assert broker_messages() == 2


def test_replies_racing_processors_are_each_processed_without_a_sweep(
    world, lease_kind, monkeypatch
):
    """Episodes of three replies posted through the webhook at random moments 0-30 ms apart,
    while two processors run as the published tasks ask (one run per task), each pausing at
    random after every claim, the empty last one included: after each episode, once every
    published task has run, every reply of it is a message. No sweep runs."""
    from django.test import Client

    published = threading.Semaphore(0)
    lock = threading.Lock()
    counts = {"published": 0, "done": 0}
    stop = threading.Event()
    errors: list[BaseException] = []
    real_claim = InboundEvent.claim_batch

    def jittery_claim(**kwargs):
        events = real_claim(**kwargs)
        time.sleep(random.uniform(0, 0.03))
        return events

    def publish(*args, **kwargs):
        with lock:
            counts["published"] += 1
        published.release()

    def processor():
        try:
            while not stop.is_set():
                if published.acquire(timeout=0.05):
                    inbound_events_process(batch=2)
                    with lock:
                        counts["done"] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def poster(index):
        try:
            time.sleep(random.uniform(0, 0.25))
            post_sms(Client(), index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def quiet():
        with lock:
            return counts["done"] == counts["published"]

    monkeypatch.setattr(InboundEvent, "claim_batch", jittery_claim)
    monkeypatch.setattr(inbound_events_process_task, "apply_async", publish)
    processors = [threading.Thread(target=processor) for _ in range(2)]
    for thread in processors:
        thread.start()
    stranded = []
    try:
        for episode in range(20):
            posters = [threading.Thread(target=poster, args=(episode * 3 + i,)) for i in range(3)]
            for thread in posters:
                thread.start()
            for thread in posters:
                thread.join(60)
            deadline = time.monotonic() + 30
            while not quiet() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # a processor between its acquire and its count
            while not quiet() and time.monotonic() < deadline:
                time.sleep(0.01)
            left = InboundEvent.objects.exclude(status=InboundEvent.Status.PROCESSED).count()
            if left:
                stranded.append((episode, left))
                assert not errors, errors
                break
    finally:
        stop.set()
        for thread in processors:
            thread.join(60)
    assert not errors, errors
    assert stranded == [], f"replies left for a sweep (episode, how many): {stranded}"
    assert inbound_messages().count() == InboundEvent.objects.count() == 60


def test_a_lease_whose_task_was_lost_runs_out_and_the_next_request_queues_one(
    client, world, lease_kind, monkeypatch
):
    monkeypatch.setattr(InboundEvent, "WAKE_LEASE", timedelta(seconds=1))
    post_sms(client, 0)
    broker_purge()  # the task is lost
    post_sms(client, 1)
    assert broker_messages() == 0  # coalesced behind the lost one
    time.sleep(1.2)  # Redis's own expiry (PX), or the column's cut-off, passes
    post_sms(client, 2)
    assert broker_messages() == 1
    assert inbound_events_process() == 3


def test_with_redis_unreachable_the_request_uses_the_column_lease(client, world, settings, caplog):
    settings.INBOX_WAKE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    broker_purge()
    post_sms(client, 0)
    post_sms(client, 1)
    assert broker_messages() == 1  # still coalesced, by the column
    assert InboundEvent.objects.exclude(queued_at=None).count() == 1
    assert "using the column" in caplog.text
    assert inbound_events_process() == 2  # giving back a lease Redis cannot hear is no error
    broker_purge()


def test_the_redis_lease_is_one_key_per_deployment_with_an_expiry(settings):
    settings.INBOX_WAKE_URL = REDIS_URL
    lease = wake_lease()
    lease.release()
    try:
        assert lease.take() is True
        assert lease.take() is False
        ttl = redis.Redis.from_url(REDIS_URL).pttl(lease.key)
        assert 0 < ttl <= InboundEvent.WAKE_LEASE.total_seconds() * 1000
        from celery import current_app

        assert lease.key == f"{current_app.conf.queue_prefix}:inbox-wake"
    finally:
        lease.release()
    settings.INBOX_WAKE_URL = ""
    assert wake_lease() is None
