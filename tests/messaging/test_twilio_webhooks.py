from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from twilio.request_validator import RequestValidator

from apps.messaging.models import Message, Thread, UnmatchedInbound
from apps.messaging.outbound import sms_send
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.models import Enrollment, ProspectPhone
from apps.sequences.services import prospects_enroll, sequence_create
from tests.fixtures.messaging import PUBLIC_BASE_URL, TWILIO_TOKEN, deliver_queued, twilio_post

pytestmark = pytest.mark.django_db

SMS_URL = "/webhooks/twilio/sms/"
STATUS_URL = "/webhooks/twilio/status/"
SID = "SM" + "a" * 32


def inbound_params(**overrides):
    params = {
        "MessageSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550101",
        "To": "+15005550006",
        "Body": "Yes, call me tomorrow",
        "NumMedia": "0",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def test_a_signed_inbound_sms_is_stored_in_the_prospects_thread(client, world):
    response = twilio_post(client, SMS_URL, inbound_params())
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert b"<Response>" in response.content
    message = Message.objects.get()
    assert message.direction == Message.Direction.INBOUND
    assert message.channel == "sms"
    assert message.provider_message_id == SID
    assert message.body_text == "Yes, call me tomorrow"
    assert message.thread.prospect == world.prospect
    assert message.thread.virtual_number == world.number
    assert message.thread.owner == world.owner


def test_inbound_sms_joins_the_existing_thread(client, world):
    outbound = sms_send(sender=world.owner, prospect=world.prospect, body="Hi Grace")
    twilio_post(client, SMS_URL, inbound_params())
    assert Thread.objects.count() == 1
    assert Message.objects.get(direction="inbound").thread == outbound.thread


def test_a_repeated_message_sid_is_stored_once(client, world):
    assert twilio_post(client, SMS_URL, inbound_params()).status_code == 200
    assert twilio_post(client, SMS_URL, inbound_params()).status_code == 200
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "signature", ["", "bm90LXRoZS1yaWdodC1zaWduYXR1cmU=", "computed-with-the-wrong-token"]
)
def test_a_missing_or_bad_signature_is_refused_and_nothing_stored(client, world, signature):
    if signature == "computed-with-the-wrong-token":
        response = twilio_post(client, SMS_URL, inbound_params(), token="another-token")
    else:
        response = twilio_post(client, SMS_URL, inbound_params(), signature=signature)
    assert response.status_code == 403
    assert not Message.objects.exists()
    assert not UnmatchedInbound.objects.exists()


def test_a_signature_over_other_parameters_is_refused(client, world):
    signed = inbound_params(Body="harmless")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE_URL + SMS_URL, signed)
    response = client.post(
        SMS_URL, inbound_params(Body="tampered"), headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_without_an_auth_token_the_webhooks_refuse_everything(client, world, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    # Signed with the empty key, which anyone could do.
    response = twilio_post(client, SMS_URL, inbound_params(), token="")
    assert response.status_code == 403
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"From": None},
        {"To": None},
        {"MessageSid": None},
        {"To": "not a number"},
        {"From": "+1" + "5" * 30},
        {"MessageSid": "SM'; DROP TABLE"},
    ],
)
def test_malformed_payloads_get_400_never_500(client, world, overrides):
    response = twilio_post(client, SMS_URL, inbound_params(**overrides))
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_get_is_not_allowed(client, world):
    assert client.get(SMS_URL).status_code == 405


def test_nul_characters_in_the_body_are_dropped(client, world):
    assert twilio_post(client, SMS_URL, inbound_params(Body="a\x00b")).status_code == 200
    assert Message.objects.get().body_text == "ab"


def test_sms_to_an_unknown_number_is_kept_for_support(client, world):
    response = twilio_post(client, SMS_URL, inbound_params(To="+15005550999"))
    assert response.status_code == 200
    assert not Message.objects.exists()
    kept = UnmatchedInbound.objects.get()
    assert kept.reason == UnmatchedInbound.Reason.UNKNOWN_NUMBER
    assert kept.provider_message_id == SID


def test_sms_from_a_number_of_no_prospect_is_kept_for_support(client, world):
    response = twilio_post(client, SMS_URL, inbound_params(From="+14155559999"))
    assert response.status_code == 200
    assert not Thread.objects.exists()
    kept = UnmatchedInbound.objects.get()
    assert kept.reason == UnmatchedInbound.Reason.UNKNOWN_SENDER
    assert kept.team == world.team
    # Twilio redelivers: still one row.
    twilio_post(client, SMS_URL, inbound_params(From="+14155559999"))
    assert UnmatchedInbound.objects.count() == 1


def test_stop_opts_the_number_out_and_blocks_sms_until_start(client, world):
    twilio_post(client, SMS_URL, inbound_params(Body=" stop "))
    phone = ProspectPhone.objects.get(pk=world.phone.pk)
    assert phone.opted_out_at is not None
    with pytest.raises(ValidationError, match="opted out of SMS"):
        sms_send(sender=world.owner, prospect=world.prospect, body="Still there?")

    twilio_post(client, SMS_URL, inbound_params(Body="START", MessageSid="SM" + "b" * 32))
    phone.refresh_from_db()
    assert phone.opted_out_at is None
    assert sms_send(sender=world.owner, prospect=world.prospect, body="Welcome back").pk


def test_an_opt_out_between_queueing_and_sending_fails_the_message(client, world):
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    twilio_post(client, SMS_URL, inbound_params(Body="STOP"))
    deliver_queued()
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert "opted out of SMS" in message.error


def test_an_sms_reply_stops_the_sms_sequence(client, world):
    sequence = sequence_create(
        team=world.team,
        owner=world.owner,
        name="Texts",
        steps=[
            {"channel": "sms", "body_template": "Hi {{ first_name }}"},
            {"channel": "sms", "body_template": "Again", "delay": timedelta(days=1)},
        ],
    )
    (enrollment,) = prospects_enroll(
        sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner
    ).enrolled
    sequence_steps_dispatch(now=timezone.now())
    twilio_post(client, SMS_URL, inbound_params())
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.REPLIED


# --- Status callbacks ---------------------------------------------------------------------------


def status_params(sid, status, **extra):
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}


def test_status_callbacks_update_the_status_monotonically(client, world):
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    deliver_queued()
    message.refresh_from_db()
    sid = message.provider_message_id
    assert twilio_post(client, STATUS_URL, status_params(sid, "delivered")).status_code == 204
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    twilio_post(client, STATUS_URL, status_params(sid, "sent"))  # late
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED


def test_a_failed_status_records_twilios_error_code(client, world):
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    deliver_queued()
    message.refresh_from_db()
    params = status_params(message.provider_message_id, "undelivered", ErrorCode="30003")
    twilio_post(client, STATUS_URL, params)
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error == "Twilio reported undelivered (error 30003)"


def test_status_callbacks_need_a_signature_and_a_valid_payload(client, world):
    message = sms_send(sender=world.owner, prospect=world.prospect, body="Hi")
    deliver_queued()
    message.refresh_from_db()
    params = status_params(message.provider_message_id, "delivered")
    assert twilio_post(client, STATUS_URL, params, signature="").status_code == 403
    assert twilio_post(client, STATUS_URL, {"MessageStatus": "delivered"}).status_code == 400
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    # An unknown message id is acknowledged (a retry would not help) and changes nothing.
    assert twilio_post(client, STATUS_URL, status_params(SID, "delivered")).status_code == 204
