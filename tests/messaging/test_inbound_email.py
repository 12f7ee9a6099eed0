import base64
import json

import pytest
from anymail.inbound import AnymailInboundMessage
from anymail.signals import AnymailInboundEvent, inbound
from django.utils import timezone

from apps.messaging.addressing import reply_address, thread_id_from_reply_address
from apps.messaging.inbound import email_record_inbound
from apps.messaging.models import Message, UnmatchedInbound
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.models import Enrollment
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, process_inbox, three_step_sequence

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "anymail-user:anymail-pass"


@pytest.fixture
def sent(world):
    """Step 1 of a sequence, sent to Grace."""
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Message.objects.get()


def deliver(message, esp_name="Test", event_id=None):
    """As Anymail's webhook views do after validating the request, then the inbox processor."""
    event = AnymailInboundEvent(event_type="inbound", message=message, event_id=event_id)
    inbound.send(sender=object(), event=event, esp_name=esp_name)
    process_inbox()


def reply(*, to, headers=(), from_email="Grace Hopper <grace@example.com>", text="Sounds good"):
    return AnymailInboundMessage.construct(
        from_email=from_email,
        to=to,
        subject="Re: Quick question, Grace",
        text=text,
        headers=[("Message-ID", "<reply-1@mail.example.com>"), *headers],
    )


def test_the_reply_address_round_trips_and_survives_lower_casing(settings, anymail_outbox):
    address = reply_address(1234)
    local = address.split("@")[0]
    assert local.startswith("reply.1234.")
    assert len(local) <= 64
    assert "+" not in address
    assert thread_id_from_reply_address(address) == (1234, False)
    assert thread_id_from_reply_address(address.upper()) == (1234, False)
    tampered = address.replace("reply.1234.", "reply.1235.")
    assert thread_id_from_reply_address(tampered) == (None, True)
    assert thread_id_from_reply_address("rob@acme.example") == (None, False)


def test_a_reply_is_matched_by_its_token(sent):
    deliver(reply(to=reply_address(sent.thread_id)))
    stored = Message.objects.get(direction=Message.Direction.INBOUND)
    assert stored.thread_id == sent.thread_id
    assert stored.status == Message.Status.RECEIVED
    assert stored.from_address == "grace@example.com"
    assert stored.body_text == "Sounds good"
    assert stored.message_id == "reply-1@mail.example.com"
    assert stored.sender_is_prospect is True
    assert Enrollment.objects.get().status == Enrollment.Status.REPLIED


def test_the_envelope_recipient_carries_the_token_when_to_does_not(sent):
    message = reply(to="rob@acme.example")
    message.envelope_recipient = reply_address(sent.thread_id)
    deliver(message)
    assert Message.objects.get(direction="inbound").thread_id == sent.thread_id


def test_a_reply_is_matched_by_in_reply_to(sent):
    deliver(reply(to="rob@acme.example", headers=[("In-Reply-To", f"<{sent.message_id}>")]))
    assert Message.objects.get(direction="inbound").thread_id == sent.thread_id


def test_a_reply_is_matched_by_references(sent):
    refs = f"<unknown@elsewhere> <{sent.message_id}>"
    deliver(reply(to="rob@acme.example", headers=[("References", refs)]))
    assert Message.objects.get(direction="inbound").thread_id == sent.thread_id


def test_a_forged_token_falls_back_to_headers_or_is_kept_unmatched(sent):
    forged = reply_address(sent.thread_id).replace(f"reply.{sent.thread_id}.", "reply.999999.")
    deliver(reply(to=forged))
    assert not Message.objects.filter(direction="inbound").exists()
    kept = UnmatchedInbound.objects.get()
    assert kept.reason == UnmatchedInbound.Reason.BAD_TOKEN


def test_mail_that_matches_nothing_is_kept_for_support(sent):
    deliver(reply(to="rob@acme.example", from_email="stranger@example.org"), event_id="ev-1")
    assert not Message.objects.filter(direction="inbound").exists()
    kept = UnmatchedInbound.objects.get()
    assert kept.channel == "email"
    assert kept.reason == UnmatchedInbound.Reason.NO_THREAD
    assert kept.from_address == "stranger@example.org"
    assert kept.message_id == "reply-1@mail.example.com"
    assert kept.body_text == "Sounds good"
    assert kept.raw.startswith("From: stranger@example.org")
    # Redelivered: still one row.
    deliver(reply(to="rob@acme.example", from_email="stranger@example.org"), event_id="ev-1")
    assert UnmatchedInbound.objects.count() == 1


def test_the_same_delivery_twice_is_stored_once(sent):
    deliver(reply(to=reply_address(sent.thread_id)))
    deliver(reply(to=reply_address(sent.thread_id)))
    assert Message.objects.filter(direction="inbound").count() == 1


def test_a_reply_from_another_address_is_stored_but_flagged(sent):
    deliver(reply(to=reply_address(sent.thread_id), from_email="someone@else.example"))
    stored = Message.objects.get(direction="inbound")
    assert stored.sender_is_prospect is False


def test_text_with_nul_characters_is_stored_without_them(sent):
    result = email_record_inbound(
        inbound=reply(to=reply_address(sent.thread_id), text="hi\x00there"), esp_name="Test"
    )
    assert result.message.body_text == "hithere"


# --- Over HTTP, through Anymail's Postmark inbound webhook --------------------------------------


def postmark_payload(*, to, message_id="<pm-reply@mail.example.com>", in_reply_to=None):
    headers = [{"Name": "Message-ID", "Value": message_id}]
    if in_reply_to:
        headers.append({"Name": "In-Reply-To", "Value": in_reply_to})
    return {
        "FromFull": {"Email": "grace@example.com", "Name": "Grace Hopper"},
        "ToFull": [{"Email": to, "Name": ""}],
        "OriginalRecipient": to,
        "Subject": "Re: Quick question, Grace",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "TextBody": "Happy to chat.",
        "Headers": headers,
    }


def auth_header(secret):
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def post_postmark(client, payload, headers):
    """POST like Postmark, then run the inbox processor as its task would."""
    response = client.post(
        "/anymail/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        headers=headers,
    )
    process_inbox()
    return response


def test_the_postmark_inbound_webhook_stores_a_reply(client, settings, sent, postmark_webhooks):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    payload = postmark_payload(to=reply_address(sent.thread_id))
    response = post_postmark(client, payload, auth_header(WEBHOOK_SECRET))
    assert response.status_code == 200
    stored = Message.objects.get(direction="inbound")
    assert stored.thread_id == sent.thread_id
    assert stored.body_text == "Happy to chat."
    assert stored.provider_message_id == "22c74902-a0c1-4511-804f-341342852c90"
    # Postmark retries: one row.
    assert post_postmark(client, payload, auth_header(WEBHOOK_SECRET)).status_code == 200
    assert Message.objects.filter(direction="inbound").count() == 1


@pytest.mark.parametrize("headers", [{}, auth_header("anymail-user:wrong")])
def test_the_inbound_webhook_refuses_missing_or_wrong_credentials(
    client, settings, sent, headers, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    payload = postmark_payload(to=reply_address(sent.thread_id))
    assert post_postmark(client, payload, headers).status_code == 400
    assert not Message.objects.filter(direction="inbound").exists()


def test_without_a_configured_secret_every_webhook_call_is_refused(client, sent, postmark_webhooks):
    # Settings put an unguessable secret in place when ANYMAIL_WEBHOOK_SECRET is not set (tests
    # run without DEV_TOOLS): a caller without credentials is refused, not accepted.
    from django.conf import settings

    assert settings.ANYMAIL["WEBHOOK_SECRET"][0].startswith("unset:")
    payload = postmark_payload(to=reply_address(sent.thread_id))
    assert post_postmark(client, payload, {}).status_code == 400
    assert (
        post_postmark(client, payload, auth_header("dev:dev-anymail-webhook-secret")).status_code
        == 400
    )
    assert not Message.objects.filter(direction="inbound").exists()
