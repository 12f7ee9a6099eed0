import pytest
from django.db import IntegrityError

from apps.messaging.models import Channel
from tests.messaging.factories import MessageFactory, ThreadFactory, VirtualPhoneNumberFactory
from tests.sequences.factories import EnrollmentFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db


def test_an_sms_thread_needs_a_virtual_number():
    with pytest.raises(IntegrityError):
        ThreadFactory(channel=Channel.SMS, virtual_number=None)


def test_one_sms_thread_per_virtual_number_and_prospect():
    number = VirtualPhoneNumberFactory()
    thread = ThreadFactory(channel=Channel.SMS, virtual_number=number, team=number.team)
    with pytest.raises(IntegrityError):
        ThreadFactory(
            channel=Channel.SMS, virtual_number=number, team=number.team, prospect=thread.prospect
        )


def test_email_threads_with_the_same_prospect_are_allowed():
    thread = ThreadFactory()
    ThreadFactory(team=thread.team, prospect=thread.prospect)


def test_an_rfc_message_id_is_stored_once():
    message = MessageFactory(message_id="abc@x.example")
    with pytest.raises(IntegrityError):
        MessageFactory(thread=message.thread, message_id="abc@x.example")


def test_messages_without_ids_do_not_collide():
    thread = ThreadFactory(channel=Channel.SMS, virtual_number=VirtualPhoneNumberFactory())
    MessageFactory(thread=thread, message_id=None, provider_message_id=None)
    MessageFactory(thread=thread, message_id=None, provider_message_id=None)


def test_a_provider_message_id_is_stored_once_per_channel():
    message = MessageFactory(provider_message_id="SM123")
    with pytest.raises(IntegrityError):
        MessageFactory(thread=message.thread, provider_message_id="SM123")


def test_each_enrollment_step_produces_at_most_one_message():
    enrollment = EnrollmentFactory()
    step = SequenceStepFactory(sequence=enrollment.sequence)
    thread = ThreadFactory(team=enrollment.sequence.team, prospect=enrollment.prospect)
    MessageFactory(thread=thread, enrollment=enrollment, sequence_step=step)
    with pytest.raises(IntegrityError):
        MessageFactory(thread=thread, enrollment=enrollment, sequence_step=step)
