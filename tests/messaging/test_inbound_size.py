"""Inbound email size, through Anymail's real Postmark inbound webhook with HTTP Basic auth.

A reply with an ordinary attachment is larger than Django's 2.5 MB request limit; it used to
answer 400 and be stored nowhere. Up to INBOUND_EMAIL_MAX_BYTES it is stored with its text; past
it the ESP is answered 413 (it retries) and a trace is kept for support, never nothing. Every
other view keeps the 2.5 MB limit.
"""

import base64
import json
import os

import pytest
from django.utils import timezone

from apps.messaging.addressing import reply_address
from apps.messaging.models import Message, UnmatchedInbound
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, process_inbox, three_step_sequence

pytestmark = pytest.mark.django_db

SECRET = "anymail-user:anymail-pass"
MB = 1024 * 1024


@pytest.fixture
def thread_id(world, settings, postmark_webhooks):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Message.objects.get().thread_id


def basic(secret):
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def reply_with_attachment(thread_id, *, attachment_bytes: int) -> bytes:
    """Postmark's inbound JSON: headers and text first, the base64 attachment last."""
    payload = {
        "FromFull": {"Email": "grace@example.com", "Name": "Grace Hopper"},
        "ToFull": [{"Email": reply_address(thread_id), "Name": ""}],
        "OriginalRecipient": reply_address(thread_id),
        "Subject": "Re: Quick question, Grace",
        "MessageID": "5c1e2d3f-0000-4000-8000-000000000001",
        "TextBody": "Happy to chat. My portfolio is attached.",
        "Headers": [{"Name": "Message-ID", "Value": "<big-reply@mail.example.com>"}],
        "Attachments": [
            {
                "Name": "portfolio.pdf",
                "ContentType": "application/pdf",
                "ContentLength": attachment_bytes,
                "Content": base64.b64encode(os.urandom(attachment_bytes)).decode(),
            }
        ],
    }
    return json.dumps(payload).encode()


def post(client, body, headers, path="/anymail/postmark/inbound/"):
    """POST like Postmark, then run the inbox processor as its task would."""
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    process_inbox()
    return response


def test_a_10_mb_reply_is_stored_with_its_text(client, thread_id, settings):
    body = reply_with_attachment(thread_id, attachment_bytes=10 * MB)
    assert len(body) > 13 * MB > settings.REQUEST_BODY_MAX_BYTES
    assert len(body) < settings.INBOUND_EMAIL_MAX_BYTES  # the default, 50 MB
    response = post(client, body, basic(SECRET))
    assert response.status_code == 200, response.content[:300]
    stored = Message.objects.get(direction=Message.Direction.INBOUND)
    assert stored.thread_id == thread_id
    assert stored.body_text == "Happy to chat. My portfolio is attached."
    assert stored.message_id == "big-reply@mail.example.com"
    assert not UnmatchedInbound.objects.exists()


def test_past_the_maximum_the_esp_is_told_to_retry_and_a_trace_is_kept(
    client, thread_id, settings, caplog
):
    settings.INBOUND_EMAIL_MAX_BYTES = 1 * MB
    body = reply_with_attachment(thread_id, attachment_bytes=2 * MB)
    response = post(client, body, basic(SECRET))
    assert response.status_code == 413  # Postmark, Mailgun, SendGrid retry anything but 2xx
    assert not Message.objects.filter(direction=Message.Direction.INBOUND).exists()
    trace = UnmatchedInbound.objects.get()
    assert trace.reason == UnmatchedInbound.Reason.TOO_LARGE
    assert trace.provider == "Postmark"
    assert f"was {len(body)} bytes, over INBOUND_EMAIL_MAX_BYTES (1048576)" in trace.body_text
    # The start of the request: who wrote, the subject and the text (before the attachment).
    assert '"Email": "grace@example.com"' in trace.raw
    assert '"Subject": "Re: Quick question, Grace"' in trace.raw
    assert "Happy to chat. My portfolio is attached." in trace.raw
    assert len(trace.raw) <= 64 * 1024
    assert "over INBOUND_EMAIL_MAX_BYTES" in caplog.text
    # The ESP's retry of the same request is refused again and kept once.
    assert post(client, body, basic(SECRET)).status_code == 413
    assert UnmatchedInbound.objects.count() == 1
    # Once the limit is raised, the retry gets in and is stored.
    settings.INBOUND_EMAIL_MAX_BYTES = 50 * MB
    assert post(client, body, basic(SECRET)).status_code == 200
    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 1


@pytest.mark.parametrize("headers", [{}, basic("anymail-user:wrong")])
def test_past_the_maximum_strangers_are_refused_and_leave_nothing(
    client, thread_id, settings, headers
):
    settings.INBOUND_EMAIL_MAX_BYTES = 1 * MB
    body = reply_with_attachment(thread_id, attachment_bytes=2 * MB)
    assert post(client, body, headers).status_code == 400
    assert not UnmatchedInbound.objects.exists()
    assert not Message.objects.filter(direction=Message.Direction.INBOUND).exists()


def test_every_other_view_keeps_the_usual_limit(client, thread_id, settings):
    big = b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1)
    assert post(client, big, basic(SECRET), path="/anymail/postmark/tracking/").status_code == 413
    response = client.post("/login/", data=big, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    # Under the limit, the login page answers as usual (a form error, not a refusal).
    small = b"username=rob&password=wrong&pad=" + b"x" * MB
    response = client.post("/login/", data=small, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
