"""Fuzz: Anymail's Postmark inbound and tracking webhooks (the ESP of the existing tests). Wrong
or missing credentials: refused, nothing stored. Right credentials, any body: never a 500, and a
refused request changes nothing."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.greenhouse.models import SyncRecord
from apps.messaging.addressing import reply_address
from apps.messaging.models import InboundEvent, Message, Thread, UnmatchedInbound
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued, process_inbox
from tests.fuzz.strategies import hostile_text, json_values

pytestmark = pytest.mark.django_db

SECRET = "anymail-user:anymail-pass"
PATHS = ["/anymail/postmark/inbound/", "/anymail/postmark/tracking/"]


@pytest.fixture
def anymail_secret(settings, world, postmark_webhooks):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    sms_send(sender=world.owner, prospect=world.prospect, body="Hi")  # a message to track
    deliver_queued()
    return SECRET


def basic(secret):
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


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


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=2000),
    st.text(max_size=200).map(str.encode),
)
wrong_auth = st.one_of(
    st.just({}),
    st.sampled_from(["anymail-user:wrong", "dev:dev-anymail-webhook-secret", ":", "x" * 300]).map(
        basic
    ),
    hostile_text.map(lambda v: {"Authorization": v.encode("ascii", "ignore").decode() or "x"}),
)


@pytest.mark.parametrize("path", PATHS)
@given(body=bodies, headers=wrong_auth)
def test_wrong_or_missing_credentials_store_nothing(client, anymail_secret, path, body, headers):
    before = snapshot()
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    settle()
    assert response.status_code in (400, 401, 403)
    assert snapshot() == before


@pytest.mark.parametrize("path", PATHS)
@given(body=bodies)
def test_any_body_with_the_right_credentials_never_answers_500(client, anymail_secret, path, body):
    before = snapshot()
    response = client.post(
        path, data=body, content_type="application/json", headers=basic(anymail_secret)
    )
    settle()
    assert response.status_code < 500
    if response.status_code >= 400:
        assert snapshot() == before


def postmark_inbound(world, **overrides):
    thread_id = Thread.objects.filter(prospect=world.prospect).values_list("pk", flat=True)[0]
    to = reply_address(thread_id)
    return {
        "FromFull": {"Email": "grace@example.com", "Name": "Grace Hopper"},
        "ToFull": [{"Email": to, "Name": ""}],
        "OriginalRecipient": to,
        "Subject": "Re: hello",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "TextBody": "Happy to chat.",
        "Headers": [{"Name": "Message-ID", "Value": "<pm-fuzz@mail.example.com>"}],
        **overrides,
    }


@given(
    field=st.sampled_from(
        [
            "FromFull",
            "ToFull",
            "OriginalRecipient",
            "Subject",
            "MessageID",
            "TextBody",
            "HtmlBody",
            "Headers",
            "Attachments",
            "Date",
        ]
    ),
    value=json_values,
)
def test_an_inbound_email_with_one_hostile_field_never_answers_500(
    client, world, anymail_secret, field, value
):
    payload = postmark_inbound(world, **{field: value})
    before = snapshot()
    response = client.post(
        "/anymail/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        headers=basic(anymail_secret),
    )
    settle()
    assert response.status_code < 500
    if response.status_code >= 400:
        assert snapshot() == before
