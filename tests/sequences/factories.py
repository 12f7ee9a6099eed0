from datetime import timedelta

import factory

from apps.sequences.models import (
    Enrollment,
    Prospect,
    ProspectEmail,
    ProspectPhone,
    Sequence,
    SequenceStep,
)
from tests.teams.factories import TeamFactory, UserFactory


class ProspectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prospect

    team = factory.SubFactory(TeamFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class ProspectEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProspectEmail

    prospect = factory.SubFactory(ProspectFactory)
    team = factory.SelfAttribute("prospect.team")
    email = factory.Sequence(lambda n: f"prospect{n}@candidates.example")
    is_primary = True


class ProspectPhoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProspectPhone

    prospect = factory.SubFactory(ProspectFactory)
    team = factory.SelfAttribute("prospect.team")
    number = factory.Sequence(lambda n: f"+1415555{n:04d}")


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sequence

    team = factory.SubFactory(TeamFactory)
    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Sequence {n}")


class SequenceStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceStep

    sequence = factory.SubFactory(SequenceFactory)
    position = factory.Sequence(lambda n: n + 1)
    channel = SequenceStep.Channel.EMAIL
    delay = timedelta(0)
    subject_template = "Hello {{ first_name }}"
    body_template = "Hi {{ first_name }}, would you like to chat?"


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    sequence = factory.SubFactory(SequenceFactory)
    prospect = factory.SubFactory(ProspectFactory, team=factory.SelfAttribute("..sequence.team"))
    bcc = factory.SelfAttribute("sequence.bcc")
