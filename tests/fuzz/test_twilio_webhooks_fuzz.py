"""Fuzz: the Twilio inbound SMS webhook and the status callback. Whatever arrives, signed or not,
the answer is never a 500, and a refused request (4xx) stores and changes nothing."""

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from apps.greenhouse.models import SyncRecord
from apps.messaging.models import InboundEvent, Message, Thread, UnmatchedInbound
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import PUBLIC_BASE_URL, TWILIO_TOKEN, deliver_queued, process_inbox
from tests.fuzz.strategies import TWILIO_FIELDS, form_fields, hostile_text

pytestmark = pytest.mark.django_db

SMS_URL = "/webhooks/twilio/sms/"
STATUS_URL = "/webhooks/twilio/status/"
FORM = "application/x-www-form-urlencoded"


def snapshot():
    return (
        list(Message.objects.order_by("pk").values_list("pk", "status", "error")),
        UnmatchedInbound.objects.count(),
        Thread.objects.count(),
        SyncRecord.objects.count(),
        InboundEvent.objects.count(),
    )


def settle():
    """Run the inbox processor as its task would: every stored event ends processed or failed
    (with its reason), never retried for an error of ours nor left claimed."""
    process_inbox()
    unsettled = InboundEvent.objects.exclude(
        status__in=[InboundEvent.Status.PROCESSED, InboundEvent.Status.FAILED]
    )
    assert not unsettled.exists(), list(unsettled.values("status", "last_error"))


def post(client, path, params, *, signature="valid", token=TWILIO_TOKEN):
    """Form-encoded like Twilio; signed over PUBLIC_BASE_URL + path unless told otherwise."""
    if signature == "valid":
        signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    response = client.post(path, data=urlencode(params), content_type=FORM, headers=headers)
    settle()
    return response


def valid_inbound(world, **overrides):
    return {
        "MessageSid": "SM" + "b" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": world.phone.number,
        "To": world.number.number,
        "Body": "Yes, call me",
        "NumMedia": "0",
        **overrides,
    }


@pytest.fixture
def sent_sms(world):
    sms_send(sender=world.owner, prospect=world.prospect, body="Hi Grace")
    deliver_queued()
    return Message.objects.get(direction="outbound")


UNSIGNED = st.sampled_from(["", "bm90LXRoZS1yaWdodC1zaWduYXR1cmU=", "x" * 500, "wrong-token"])


@pytest.mark.parametrize("path", [SMS_URL, STATUS_URL])
@given(params=form_fields, signature=UNSIGNED)
def test_without_a_valid_signature_nothing_is_stored(client, world, path, params, signature):
    before = snapshot()
    if signature == "wrong-token":
        response = post(client, path, params, token="another-token")
    else:
        response = post(client, path, params, signature=signature)
    assert response.status_code in (400, 403)
    assert snapshot() == before


@pytest.mark.parametrize("path", [SMS_URL, STATUS_URL])
@given(
    body=st.binary(max_size=3000),
    content_type=st.sampled_from(
        [FORM, "multipart/form-data; boundary=xyz", "application/json", "text/plain"]
    ),
)
def test_a_raw_body_of_any_bytes_is_refused_without_a_500(client, world, path, body, content_type):
    before = snapshot()
    response = client.post(
        path, data=body, content_type=content_type, headers={"X-Twilio-Signature": "c2lnbmF0dXJl"}
    )
    settle()
    assert response.status_code in (400, 403)
    assert snapshot() == before


@given(params=form_fields)
def test_a_signed_inbound_payload_of_anything_never_answers_500(client, world, params):
    before = snapshot()
    response = post(client, SMS_URL, params)
    assert response.status_code in (200, 400)
    if response.status_code != 200:
        assert snapshot() == before


@given(field=st.sampled_from(TWILIO_FIELDS), value=hostile_text, sid=st.uuids())
def test_a_signed_inbound_sms_with_one_hostile_field_never_answers_500(
    client, world, field, value, sid
):
    params = {**valid_inbound(world, MessageSid=f"SM{sid.hex}"), field: value}
    before = snapshot()
    response = post(client, SMS_URL, params)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert snapshot() == before
    else:
        # Stored at most once, with the text as sent (NUL characters removed).
        stored = Message.objects.filter(provider_message_id=params["MessageSid"].strip())
        kept = UnmatchedInbound.objects.filter(provider_message_id=params["MessageSid"].strip())
        assert stored.count() + kept.count() <= 1


@given(params=form_fields, use_known_sid=st.booleans())
def test_a_signed_status_callback_of_anything_never_answers_500(
    client, sent_sms, params, use_known_sid
):
    if use_known_sid:
        params = {**params, "MessageSid": sent_sms.provider_message_id}
    before = snapshot()
    response = post(client, STATUS_URL, params)
    assert response.status_code in (204, 400)
    if response.status_code == 400:
        assert snapshot() == before


def test_a_status_callback_never_moves_a_message_backwards(client, sent_sms):
    sid = sent_sms.provider_message_id
    assert post(client, STATUS_URL, {"MessageSid": sid, "MessageStatus": "delivered"}).status_code
    assert post(client, STATUS_URL, {"MessageSid": sid, "MessageStatus": "sent"}).status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == Message.Status.DELIVERED
