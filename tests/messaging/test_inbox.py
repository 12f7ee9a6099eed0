"""Accept, then process, inbound webhooks (apps/messaging/inbox.py): the request stores a signed
SMS or an authenticated email once and answers; one processor task is queued however many
requests arrive while one is on its way; the processor makes each Message exactly once, also
with two processors at once; bad payloads fail visibly; a crashed processor's events are
finished by the sweep; a broker that is down costs the request nothing.

Signatures are twilio's RequestValidator's, emails are Postmark webhook posts of real messages
(tests/fixtures/inbound_email). Tasks go to the real broker of the test run and are counted
there (not consumed: the tests run the processor as the task would). Runs on the embedded
default (SQLite, filesystem broker) and on PostgreSQL + Redis.
"""

import base64
import json
import threading
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.messaging import inbox
from apps.messaging.addressing import reply_address
from apps.messaging.inbox import inbound_events_process, inbound_events_sweep
from apps.messaging.models import InboundEvent, Message
from apps.messaging.steps import sequence_steps_dispatch
from apps.messaging.tasks import inbound_events_process_task, messages_sweep_task
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, three_step_sequence, twilio_post
from tests.fixtures.staff import log_in_staff
from tests.fixtures.worker import broker_messages, broker_purge

pytestmark = pytest.mark.django_db(transaction=True)

SMS_URL = "/webhooks/twilio/sms/"
POSTMARK_URL = "/anymail/postmark/inbound/"
WEBHOOK_SECRET = "anymail-user:anymail-pass"
SHAPES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "inbound_email"
Status = InboundEvent.Status


@pytest.fixture(autouse=True)
def empty_queue():
    broker_purge()
    yield
    broker_purge()


def sms(index: int = 0, **overrides) -> dict:
    params = {
        "MessageSid": f"SM{index:032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550101",
        "To": "+15005550006",
        "Body": f"Reply {index}",
        "NumMedia": "0",
    }
    return {**params, **overrides}


def post_sms(client, index: int = 0, **overrides):
    return twilio_post(client, SMS_URL, sms(index, **overrides), process=False)


def inbound_messages():
    return Message.objects.filter(direction=Message.Direction.INBOUND)


# --- Accept ------------------------------------------------------------------------------------


def test_a_signed_sms_is_stored_and_answered_and_the_message_is_made_by_the_processor(
    client, world
):
    response = post_sms(client)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert b"<Response></Response>" in response.content
    event = InboundEvent.objects.get()
    assert (event.provider, event.channel, event.status) == ("twilio", "sms", Status.PENDING)
    assert event.provider_event_id == "SM" + "0" * 32
    assert event.payload["Body"] == "Reply 0" and event.payload["From"] == "+14155550101"
    assert not inbound_messages().exists()  # nothing but the event in the request
    assert broker_messages() == 1

    assert inbound_events_process() == 1
    event.refresh_from_db()
    message = inbound_messages().get()
    assert (event.status, event.outcome) == (Status.PROCESSED, f"message {message.pk}")
    assert event.attempts == 1 and event.processed_at is not None
    assert message.thread.prospect == world.prospect
    assert message.provider_message_id == event.provider_event_id


def test_the_webhooks_one_statement_insert_stores_what_the_orm_would_and_a_duplicate_nothing():
    fields = {"provider": "twilio", "channel": "sms", "provider_event_id": "SM" + "7" * 32}
    payload = {"Body": "Très bien ☃", "From": "+14155550101"}
    before = timezone.now()
    assert InboundEvent.insert_ignoring_duplicate(**fields, payload=payload, raw=b"\x00mime")
    assert not InboundEvent.insert_ignoring_duplicate(**fields, payload={"Body": "other"})
    stored = InboundEvent.objects.get()
    assert (stored.payload, bytes(stored.raw)) == (payload, b"\x00mime")
    assert before <= stored.received_at <= timezone.now()
    # Every other column as the ORM would have written it (the fields' defaults).
    expected = InboundEvent(**fields, payload=payload, raw=b"\x00mime")
    others = [
        f.attname
        for f in InboundEvent._meta.concrete_fields
        if not f.primary_key and f.name not in InboundEvent._INSERT_GIVEN
    ]
    assert others  # status, attempts, the outbox's columns...
    assert {n: getattr(stored, n) for n in others} == {n: getattr(expected, n) for n in others}


def test_a_redelivered_sms_answers_200_and_stores_nothing_new(client, world):
    assert post_sms(client).status_code == 200
    assert post_sms(client).status_code == 200
    assert InboundEvent.objects.count() == 1
    assert broker_messages() == 1
    inbound_events_process()
    # Twilio retries after we processed it: still one event, one message.
    assert post_sms(client).status_code == 200
    inbound_events_process()
    assert InboundEvent.objects.count() == 1
    assert inbound_messages().count() == 1


def test_requests_while_a_processor_task_is_on_its_way_queue_no_other(client, world):
    for index in range(6):
        assert post_sms(client, index).status_code == 200
    assert InboundEvent.objects.count() == 6
    assert broker_messages() == 1  # coalesced: one task for six requests
    # The task runs (claims everything); the next request wakes a new one.
    assert inbound_events_process() == 6
    assert post_sms(client, 6).status_code == 200
    assert broker_messages() == 2
    assert inbound_events_process() == 1
    assert inbound_messages().count() == 7


def test_a_lost_processor_task_holds_the_inbox_back_for_the_wake_lease_at_most(client, world):
    post_sms(client, 0)
    broker_purge()  # the task is lost (a broker restart without persistence)
    post_sms(client, 1)
    assert broker_messages() == 0  # coalesced behind the lost one, while its lease is live
    assert inbound_events_sweep() == 0
    later = timezone.now() + InboundEvent.WAKE_LEASE + timedelta(seconds=1)
    assert inbound_events_sweep(now=later) == 1
    assert broker_messages() == 1
    assert inbound_events_process() == 2
    assert inbound_messages().count() == 2


def test_the_request_answers_when_the_broker_is_down_and_the_sweep_queues_the_task(
    client, world, caplog
):
    with mock.patch.object(
        inbound_events_process_task, "apply_async", side_effect=OperationalError("down")
    ):
        assert post_sms(client).status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == Status.PENDING
    assert event.queued_at is None  # the lease was dropped at once
    assert broker_messages() == 0
    assert "a sweeper will pick the work up" in caplog.text
    # The broker is back: the messaging sweeper queues one processor task, and only one.
    assert messages_sweep_task() == 1
    assert messages_sweep_task() == 0
    assert broker_messages() == 1
    assert inbound_events_process() == 1
    assert inbound_messages().count() == 1


def test_a_bad_signature_or_payload_stores_no_event(client, world):
    assert twilio_post(client, SMS_URL, sms(), signature="bad", process=False).status_code == 403
    params = sms(MessageSid="not a sid")
    assert twilio_post(client, SMS_URL, params, process=False).status_code == 400
    assert not InboundEvent.objects.exists()
    assert broker_messages() == 0


# --- Email ---------------------------------------------------------------------------------------


@pytest.fixture
def sent(world):
    """Step 1 of a sequence, sent to Grace."""
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Message.objects.get()


def postmark(client, sent, shape="01_gmail_reply.eml"):
    text = (SHAPES_DIR / shape).read_text(encoding="utf-8")
    raw = (
        text.replace("%REPLY%", reply_address(sent.thread_id))
        .replace("%IN_REPLY_TO%", sent.message_id)
        .replace("%MSGID%", "inbox-test")
        .replace("\r\n", "\n")
        .replace("\n", "\r\n")
    )
    payload = {
        "RawEmail": raw,
        "OriginalRecipient": reply_address(sent.thread_id),
        "MessageID": "5d1b2e6c-0000-4000-8000-000000000001",
    }
    credentials = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    return client.post(
        POSTMARK_URL,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )


def test_an_inbound_email_is_stored_as_mime_once_and_processed_into_its_thread(
    client, settings, sent, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    broker_purge()  # the send task of the step (delivered above)
    assert postmark(client, sent).status_code == 200
    assert postmark(client, sent).status_code == 200  # Postmark retries
    event = InboundEvent.objects.get()
    assert (event.provider, event.channel) == ("postmark", "email")
    assert b"Content-Type" in bytes(event.raw)
    assert event.payload["event_id"] == "5d1b2e6c-0000-4000-8000-000000000001"
    assert event.payload["envelope_recipient"] == reply_address(sent.thread_id)
    assert not inbound_messages().exists()
    assert broker_messages() == 1

    assert inbound_events_process() == 1
    reply = inbound_messages().get()
    assert reply.thread_id == sent.thread_id
    assert reply.provider_message_id == "5d1b2e6c-0000-4000-8000-000000000001"
    assert reply.message_id == event.provider_event_id


# --- Process -------------------------------------------------------------------------------------


def test_a_bad_payload_is_a_failed_event_with_its_reason_and_the_others_are_processed(
    client, world
):
    for index in range(3):
        post_sms(client, index)
    # A row that cannot be read (an older format, or edited by hand): kept, failed, explained.
    InboundEvent.objects.filter(provider_event_id=sms(1)["MessageSid"]).update(
        payload={"MessageSid": sms(1)["MessageSid"], "To": "+15005550006"}
    )
    assert inbound_events_process() == 2
    bad = InboundEvent.objects.get(status=Status.FAILED)
    assert bad.provider_event_id == sms(1)["MessageSid"]
    assert bad.last_error == "Missing or invalid SMS fields: From."
    assert InboundEvent.objects.filter(status=Status.PROCESSED).count() == 2
    assert inbound_messages().count() == 2
    assert inbound_events_sweep() == 0  # failed stays failed


def test_support_sees_failed_events_in_the_admin_and_can_process_them_again(client, world):
    post_sms(client)
    InboundEvent.objects.update(payload={})
    inbound_events_process()
    user = get_user_model().objects.create_superuser("support", "support@example.com", "pw")
    staff = log_in_staff(client, user)
    url = reverse("admin:messaging_inboundevent_changelist")
    page = staff.get(url, {"status__exact": "failed"}).content.decode()
    assert "SM" + "0" * 32 in page
    event = InboundEvent.objects.get()
    change = staff.get(reverse("admin:messaging_inboundevent_change", args=[event.pk]))
    assert "Missing or invalid SMS fields: From, To, MessageSid." in change.content.decode()
    # Fixed (as support would after a bug fix), then "process again".
    InboundEvent.objects.update(payload=sms())
    broker_purge()  # the first task, run above
    response = staff.post(url, {"action": "process_again", "_selected_action": [event.pk]})
    assert response.status_code == 302
    assert broker_messages() == 1
    assert inbound_events_process() == 1
    assert inbound_messages().count() == 1


def test_an_unexpected_error_is_retried_with_backoff_and_the_batch_goes_on(client, world):
    for index in range(4):
        post_sms(client, index)
    real = inbox._record

    def flaky(event):
        if event.provider_event_id == sms(1)["MessageSid"]:
            raise RuntimeError("database hiccup")
        return real(event)

    with mock.patch.object(inbox, "_record", flaky):
        assert inbound_events_process() == 3
    retried = InboundEvent.objects.get(status=Status.PENDING)
    assert retried.provider_event_id == sms(1)["MessageSid"]
    assert "Attempt 1 of 5 failed" in retried.last_error
    assert "RuntimeError: database hiccup" in retried.last_error
    assert retried.next_attempt_at > timezone.now()
    assert inbound_events_sweep() == 0  # not due yet
    later = retried.next_attempt_at + timedelta(seconds=1)
    assert inbound_events_sweep(now=later) == 1
    InboundEvent.objects.update(next_attempt_at=timezone.now())  # as when it is due
    assert inbound_events_process() == 1
    assert inbound_messages().count() == 4


def test_a_processor_crash_mid_batch_leaves_the_rest_pending_and_the_sweep_finishes_them(
    client, world
):
    for index in range(5):
        post_sms(client, index)
    broker_purge()  # the processor task was taken by the worker that crashes
    real = inbox._record

    def crash_on_the_third(event):
        if event.provider_event_id == sms(2)["MessageSid"]:
            raise SystemExit("worker shutting down")  # not an Exception: the batch stops
        return real(event)

    with mock.patch.object(inbox, "_record", crash_on_the_third), pytest.raises(SystemExit):
        inbound_events_process()
    assert inbound_messages().count() == 2
    rest = InboundEvent.objects.filter(status=Status.PENDING).order_by("received_at", "id")
    assert [e.provider_event_id for e in rest] == [sms(i)["MessageSid"] for i in (2, 3, 4)]
    assert [e.attempts for e in rest] == [1, 0, 0]  # only the one it was working on counts
    assert all(e.queued_at is None and e.claimed_at is None for e in rest)
    assert broker_messages() == 0
    # The messaging sweeper (beat's task, run here) queues one processor task, which finishes
    # them, once each.
    assert messages_sweep_task() == 1
    assert broker_messages() == 1
    assert inbound_events_process() == 3
    assert inbound_messages().count() == 5
    assert InboundEvent.objects.filter(status=Status.PROCESSED).count() == 5


def test_events_of_a_processor_that_died_are_taken_back_once_stale(client, world):
    for index in range(3):
        post_sms(client, index)
    broker_purge()
    # Claimed, then the process was SIGKILLed: nothing gave them back.
    claimed = InboundEvent.claim_batch(size=10, now=timezone.now() - timedelta(seconds=5))
    assert len(claimed) == 3
    assert inbound_events_process() == 0  # nothing to take: all claimed
    assert inbound_events_sweep() == 0  # not stale yet
    assert inbound_events_sweep(stale_after=timedelta(seconds=1)) == 1
    assert InboundEvent.objects.filter(status=Status.PENDING).count() == 3
    assert InboundEvent.objects.filter(last_error=inbox.RESCUED).count() == 3
    assert inbound_events_process() == 3
    assert inbound_messages().count() == 3


def test_two_processors_at_once_make_each_message_exactly_once(client, world):
    for index in range(40):
        post_sms(client, index)
    barrier = threading.Barrier(2, timeout=60)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            counts.append(inbound_events_process(batch=5))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert sum(counts) == 40
    assert inbound_messages().count() == 40
    assert InboundEvent.objects.filter(status=Status.PROCESSED, attempts=1).count() == 40


def test_the_processor_takes_events_in_received_order(client, world):
    for index in range(4):
        post_sms(client, index)
    inbound_events_process(batch=2)
    bodies = list(inbound_messages().order_by("id").values_list("body_text", flat=True))
    assert bodies == [f"Reply {i}" for i in range(4)]


def test_a_long_backlog_is_handed_to_a_next_task_after_max_batches(client, world):
    for index in range(5):
        post_sms(client, index)
    broker_purge()
    assert inbound_events_process(batch=2, max_batches=1) == 2
    assert broker_messages() == 1  # its successor
    assert inbound_events_process(batch=2, max_batches=5) == 3
    assert broker_messages() == 1  # done: no successor
