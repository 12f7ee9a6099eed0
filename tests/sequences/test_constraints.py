import pytest
from django.db import IntegrityError

from apps.sequences.models import ProspectEmail
from tests.sequences.factories import (
    EnrollmentFactory,
    ProspectEmailFactory,
    ProspectFactory,
    ProspectPhoneFactory,
    SequenceStepFactory,
)
from tests.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def test_an_email_address_belongs_to_one_prospect_per_team_whatever_its_case():
    first = ProspectEmailFactory(email="Grace@Example.com")
    assert first.email == "grace@example.com"
    other = ProspectFactory(team=first.team)
    with pytest.raises(IntegrityError):
        ProspectEmail.objects.create(prospect=other, email="GRACE@example.com")


def test_the_same_address_may_exist_in_two_teams():
    ProspectEmailFactory(email="grace@example.com")
    ProspectEmailFactory(email="grace@example.com", prospect=ProspectFactory(team=TeamFactory()))
    assert ProspectEmail.objects.filter(email="grace@example.com").count() == 2


def test_a_prospect_has_at_most_one_primary_email():
    email = ProspectEmailFactory(is_primary=True)
    with pytest.raises(IntegrityError):
        ProspectEmailFactory(prospect=email.prospect, is_primary=True)


def test_a_phone_number_belongs_to_one_prospect_per_team():
    phone = ProspectPhoneFactory(number="+14155550100")
    with pytest.raises(IntegrityError):
        ProspectPhoneFactory(number="+14155550100", prospect=ProspectFactory(team=phone.team))


def test_one_enrollment_per_prospect_per_sequence():
    enrollment = EnrollmentFactory()
    with pytest.raises(IntegrityError):
        EnrollmentFactory(sequence=enrollment.sequence, prospect=enrollment.prospect)


def test_step_positions_are_unique_and_start_at_one():
    step = SequenceStepFactory(position=1)
    with pytest.raises(IntegrityError):
        SequenceStepFactory(sequence=step.sequence, position=1)


def test_step_position_zero_is_refused():
    with pytest.raises(IntegrityError):
        SequenceStepFactory(position=0)


def test_the_enrollment_keeps_the_bcc_it_was_created_with():
    enrollment = EnrollmentFactory(sequence__bcc="maildrop@greenhouse.io")
    enrollment.sequence.bcc = "someone@else.example"
    enrollment.sequence.save()
    enrollment.refresh_from_db()
    assert enrollment.bcc_list == ["maildrop@greenhouse.io"]
