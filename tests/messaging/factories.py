import factory

from apps.messaging.models import (
    Channel,
    InboundEvent,
    Message,
    Thread,
    UnmatchedInbound,
    VirtualPhoneNumber,
)
from tests.sequences.factories import ProspectFactory
from tests.teams.factories import TeamFactory, UserFactory


class VirtualPhoneNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VirtualPhoneNumber

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    number = factory.Sequence(lambda n: f"+1500555{n:04d}")


class ThreadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Thread

    team = factory.SubFactory(TeamFactory)
    prospect = factory.SubFactory(ProspectFactory, team=factory.SelfAttribute("..team"))
    owner = factory.SubFactory(UserFactory)
    channel = Channel.EMAIL
    subject = "Quick question"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    team = factory.SelfAttribute("thread.team")
    channel = factory.SelfAttribute("thread.channel")
    direction = Message.Direction.OUTBOUND
    from_address = "recruiter@team.example"
    to_addresses = factory.LazyFunction(lambda: ["prospect@candidates.example"])
    subject = factory.SelfAttribute("thread.subject")
    body_text = "Hi there"
    message_id = factory.Sequence(lambda n: f"msg{n}@test.example")


class UnmatchedInboundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UnmatchedInbound

    channel = Channel.EMAIL
    reason = UnmatchedInbound.Reason.NO_THREAD
    from_address = "stranger@example.org"
    to_addresses = factory.LazyFunction(lambda: ["rob@acme.example"])
    subject = "Hello?"
    body_text = "Who is this?"
    message_id = factory.Sequence(lambda n: f"unmatched{n}@mail.example")


class InboundEventFactory(factory.django.DjangoModelFactory):
    """A stored Twilio inbound SMS, as the webhook leaves it for the processor."""

    class Meta:
        model = InboundEvent

    provider = "twilio"
    channel = Channel.SMS
    provider_event_id = factory.Sequence(lambda n: f"SM{n:032d}")
    payload = factory.LazyAttribute(
        lambda o: {
            "MessageSid": o.provider_event_id,
            "From": "+14155550101",
            "To": "+15005550006",
            "Body": "Yes, call me",
        }
    )
