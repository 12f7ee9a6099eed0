"""Fixtures and helpers shared by the sequences and messaging tests (imported by their conftest).

The ESP is Anymail's test backend (mail.outbox), Twilio's HTTP client is mocked where a test
sends through the Twilio backend; everything else runs for real.
"""

from datetime import timedelta

import pytest
from django.core import mail
from twilio.request_validator import RequestValidator

from apps.messaging.delivery import message_deliver
from apps.messaging.models import Message
from apps.sequences.services import sequence_create
from tests.messaging.factories import VirtualPhoneNumberFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory, ProspectPhoneFactory
from tests.teams.factories import TeamFactory, recruiter

TWILIO_TOKEN = "test-twilio-auth-token"
PUBLIC_BASE_URL = "https://outreach.test"


@pytest.fixture
def anymail_outbox(settings, tmp_path):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.EMAIL_DOMAIN = "outreach.test"
    settings.REPLY_ADDRESS_DOMAIN = "reply.outreach.test"
    settings.DEV_OUTBOX_DIR = tmp_path / "outbox"
    settings.SMS_BACKEND = "apps.messaging.sms.dev.DevOutboxSmsBackend"
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    mail.outbox = []
    return mail.outbox


@pytest.fixture
def world(anymail_outbox):
    """A team, its recruiter (with a virtual number) and a prospect with an email and a phone."""
    team = TeamFactory()
    owner = recruiter(team, user__first_name="Rob", user__email="rob@acme.example")
    number = VirtualPhoneNumberFactory(team=team, user=owner, number="+15005550006")
    prospect = ProspectFactory(team=team, first_name="Grace", last_name="Hopper", owner=owner)
    ProspectEmailFactory(prospect=prospect, email="grace@example.com")
    phone = ProspectPhoneFactory(prospect=prospect, number="+14155550101")
    return type(
        "World",
        (),
        {"team": team, "owner": owner, "number": number, "prospect": prospect, "phone": phone},
    )


def three_step_sequence(*, team, owner, bcc=None, name="Backend engineers"):
    return sequence_create(
        team=team,
        owner=owner,
        name=name,
        bcc=bcc,
        steps=[
            {
                "subject_template": "Quick question, {{ first_name }}",
                "body_template": "Hi {{ first_name }}, chat? {{ sender_first_name }}",
            },
            {"body_template": "Bumping this, {{ first_name }}.", "delay": timedelta(days=2)},
            {"body_template": "Last note, {{ full_name }}.", "delay": timedelta(days=3)},
        ],
    )


def deliver_queued() -> list[str]:
    """What the send tasks would do: deliver every queued outbound message now."""
    ids = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED
    ).values_list("pk", flat=True)
    return [message_deliver(message_id=pk) for pk in list(ids)]


def twilio_post(client, path, params, *, token=TWILIO_TOKEN, signature=None):
    """POST like Twilio does: form-encoded, signed over PUBLIC_BASE_URL + path."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(path, params, headers=headers)
