"""Sending through the real Twilio backend, with Twilio's HTTP client as the mocked outer edge."""

import json
from unittest import mock

import pytest
from twilio.http.response import Response

from apps.messaging.delivery import message_deliver
from apps.messaging.models import Message
from apps.messaging.outbound import sms_send

pytestmark = pytest.mark.django_db

SID = "SM" + "c" * 32


@pytest.fixture
def twilio(settings, world):
    settings.SMS_BACKEND = "apps.messaging.sms.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    with mock.patch("twilio.http.http_client.TwilioHttpClient.request") as request:
        yield request


def answer(status, body):
    return Response(status, json.dumps(body))


def test_an_sms_goes_out_through_twilio_with_a_status_callback(twilio, world):
    twilio.return_value = answer(201, {"sid": SID, "status": "queued"})
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hello from Rob")
    assert message_deliver(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.provider_message_id == SID
    assert message.status == Message.Status.SENT
    method, url = twilio.call_args.args[:2]
    data = twilio.call_args.kwargs["data"]
    assert method == "POST"
    assert url.endswith("/Messages.json")
    assert data["From"] == "+15005550006"
    assert data["To"] == "+14155550101"
    assert data["Body"] == "Hello from Rob"
    assert data["StatusCallback"] == "https://outreach.test/webhooks/twilio/status/"


def test_an_invalid_number_fails_at_once(twilio, world):
    twilio.return_value = answer(
        400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}
    )
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    assert message_deliver(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "21211" in message.error


def test_a_twilio_outage_is_retried(twilio, world):
    twilio.return_value = answer(503, {"code": 20500, "message": "Internal error", "status": 503})
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    assert message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.next_attempt_at is not None
    assert "Twilio error 20500" in message.error
