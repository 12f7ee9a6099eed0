"""Helpers for the sync tests: a synced world, and the real flows that produce messages."""

import uuid
from datetime import timedelta
from email.utils import make_msgid
from types import SimpleNamespace

from anymail.inbound import AnymailInboundMessage
from django.utils import timezone

from apps.demo import data as demo
from apps.greenhouse.connection import greenhouse_user_mappings_refresh
from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.greenhouse.sync import sync_record_write
from apps.messaging.addressing import bracket, reply_address
from apps.messaging.inbound import email_record_inbound
from apps.messaging.models import Message
from apps.messaging.sms.twilio import sms_record_inbound
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from apps.teams.models import Membership
from tests.fixtures.messaging import three_step_sequence
from tests.messaging.factories import VirtualPhoneNumberFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory, ProspectPhoneFactory


def make_synced_world(*, team, integration):
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        health=GreenhouseIntegration.Health.OK,
        sync_enabled_by_support=True,
        sync_enabled_at=timezone.now(),
        sync_on=True,
        sync_on_since=timezone.now() - timedelta(minutes=5),
    )
    integration.refresh_from_db()
    # As support does when connecting a team: who is who in Greenhouse (notes' authors).
    greenhouse_user_mappings_refresh(integration=integration)
    members = {m.user.username: m.user for m in Membership.objects.filter(team=team)}
    rob, ada = members["rob"], members["ada"]
    number = VirtualPhoneNumberFactory(team=team, user=rob, number=demo.RECRUITER_VIRTUAL_NUMBER)
    prospects = {}
    for first, last, email, phone in demo.DEMO_PROSPECTS:
        prospect = ProspectFactory(team=team, first_name=first, last_name=last, owner=rob)
        ProspectEmailFactory(prospect=prospect, email=email)
        ProspectPhoneFactory(prospect=prospect, number=phone)
        prospects[first.lower()] = prospect
    return SimpleNamespace(
        team=team, integration=integration, rob=rob, ada=ada, number=number, **prospects
    )


def add_prospect(world, *, first, last, email, phone=None):
    prospect = ProspectFactory(team=world.team, first_name=first, last_name=last, owner=world.rob)
    ProspectEmailFactory(prospect=prospect, email=email)
    if phone:
        ProspectPhoneFactory(prospect=prospect, number=phone)
    return prospect


def enroll_and_dispatch_all_steps(world, prospects, *, sequence=None):
    """Enroll `prospects` in a 3-step sequence of Rob's and create all three steps' messages
    (the scheduler, run as if the steps' delays had passed). Returns the sequence."""
    sequence = sequence or three_step_sequence(team=world.team, owner=world.rob)
    prospects_enroll(sequence=sequence, prospects=list(prospects), enrolled_by=world.rob)
    now = timezone.now()
    sequence_steps_dispatch(now=now)
    sequence_steps_dispatch(now=now + timedelta(days=2, minutes=1))
    sequence_steps_dispatch(now=now + timedelta(days=6))
    return sequence


def email_reply(thread, *, text, from_address=None, html=None):
    """The candidate answers in the thread (what Anymail's inbound webhook delivers)."""
    ids = list(
        thread.messages.exclude(message_id=None).order_by("id").values_list("message_id", flat=True)
    )
    from_address = from_address or thread.prospect.emails.values_list("email", flat=True)[0]
    to = reply_address(thread.pk)
    mail = AnymailInboundMessage.construct(
        from_email=from_address,
        to=to,
        subject=f"Re: {thread.subject}",
        text=text,
        html=html,
        headers=[
            ("Message-ID", make_msgid(domain="candidate.example")),
            ("In-Reply-To", f"<{ids[-1]}>"),
            ("References", bracket(ids)),
        ],
    )
    mail.envelope_recipient = to
    return email_record_inbound(inbound=mail, esp_name="Test").message


def sms_reply(world, prospect, *, text):
    phone = prospect.phones.values_list("number", flat=True)[0]
    return sms_record_inbound(
        from_number=phone, to_number=world.number.number, sid=f"SM{uuid.uuid4().hex}", body=text
    ).message


def write_all(max_rounds: int = 20) -> list[str]:
    """What the workers would do: write every pending record, oldest message first."""
    outcomes = []
    for _ in range(max_rounds):
        ids = list(
            SyncRecord.objects.filter(status=SyncRecord.Status.PENDING)
            .order_by("message__created_at", "message_id")
            .values_list("pk", flat=True)
        )
        if not ids:
            break
        outcomes += [sync_record_write(record_id=pk) for pk in ids]
    return outcomes


def our_notes(sandbox, candidate_email):
    candidate_id = sandbox.candidate_id(candidate_email)
    return [
        n for n in sandbox.notes() if n["candidate_id"] == candidate_id and n["source"] == "api"
    ]


def outbound(thread):
    return thread.messages.filter(direction=Message.Direction.OUTBOUND).order_by("id")
