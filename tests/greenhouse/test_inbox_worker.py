"""A real worker process turns a stored webhook event into its Message and the Message's sync
record, and the note reaches the Harvest sandbox over HTTP: the webhook request itself only
stored the signed SMS (apps/messaging/inbox.py)."""

import uuid

import pytest

from apps.greenhouse.models import SyncRecord
from apps.messaging.models import InboundEvent, Message
from tests.fixtures.messaging import twilio_post
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import our_notes
from tests.greenhouse.test_sync_acceptance import GRACE, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_turns_stored_sms_events_into_messages_and_sync_records(
    synced, harvest_sandbox, celery_worker_factory, settings, client
):
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    phone = synced.grace.phones.values_list("number", flat=True)[0]
    sids = [f"SM{uuid.uuid4().hex}" for _ in range(3)]
    for index, sid in enumerate(sids):
        params = {
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": phone,
            "To": synced.number.number,
            "Body": f"Hi Rob, reply {index}.",
        }
        response = twilio_post(client, "/webhooks/twilio/sms/", params, process=False)
        assert response.status_code == 200
    # A redelivery of the first, while the others wait or are being processed.
    twilio_post(client, "/webhooks/twilio/sms/", {**params, "MessageSid": sids[0]}, process=False)
    assert InboundEvent.objects.count() == 3

    wait_for(
        lambda: InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count() == 3,
        message="the worker did not process the stored events",
    )
    replies = Message.objects.filter(direction=Message.Direction.INBOUND).order_by("id")
    assert [m.provider_message_id for m in replies] == sids  # received order, once each
    records = SyncRecord.objects.filter(message__in=replies)
    assert records.count() == 3
    wait_for(
        lambda: records.filter(status=SyncRecord.Status.WRITTEN).count() == 3,
        message="the sync records were not written",
    )
    bodies = [n["body"] for n in our_notes(harvest_sandbox, GRACE)]
    assert sum("(inbound)" in body for body in bodies) == 3
