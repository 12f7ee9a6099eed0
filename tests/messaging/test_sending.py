from datetime import timedelta
from unittest import mock

import pytest
from anymail.exceptions import AnymailAPIError
from anymail.signals import AnymailTrackingEvent, tracking
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.messaging.delivery import message_deliver, messages_sweep
from apps.messaging.models import Message, Thread
from apps.messaging.outbound import sms_send, thread_reply_create
from apps.messaging.signals import message_recorded
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, three_step_sequence

pytestmark = pytest.mark.django_db
MAX_SEND_ATTEMPTS = Message.RETRY_POLICY.max_attempts


@pytest.fixture
def queued(world):
    """One queued email: step 1 of a sequence."""
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    return Message.objects.get()


class FailingBackend:
    """Anymail's test backend, answering with a given error (the ESP is the outer edge)."""

    def __init__(self, error):
        self.error = error

    def __enter__(self):
        original = mail.EmailMessage.send
        error = self.error

        def send(message, fail_silently=False):
            message.anymail_test_response = error
            return original(message, fail_silently)

        self.patch = mock.patch.object(mail.EmailMessage, "send", send)
        self.patch.start()

    def __exit__(self, *exc):
        self.patch.stop()


def test_a_transient_esp_error_is_retried_later_and_visible(
    queued, anymail_outbox, django_capture_on_commit_callbacks
):
    with FailingBackend(AnymailAPIError("Service unavailable", status_code=503)):
        assert message_deliver(message_id=queued.pk) == "retry"
    queued.refresh_from_db()
    assert queued.status == Message.Status.QUEUED
    assert queued.attempts == 1
    assert "Attempt 1 of 5 failed" in queued.error
    assert "Service unavailable" in queued.error
    assert queued.next_attempt_at > timezone.now()
    # Not due yet: a redelivered task does nothing.
    assert message_deliver(message_id=queued.pk) == "skipped"

    # The sweeper queues it once due; then it goes out.
    with (
        mock.patch("apps.messaging.tasks.message_send_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert messages_sweep(now=queued.next_attempt_at - timedelta(seconds=1)) == 0
        assert messages_sweep(now=queued.next_attempt_at + timedelta(seconds=1)) == 1
    apply_async.assert_called_once_with(args=[queued.pk])
    Message.objects.filter(pk=queued.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=queued.pk) == "sent"
    queued.refresh_from_db()
    assert queued.status == Message.Status.SENT
    assert queued.error == ""
    assert queued.attempts == 2


def test_network_errors_without_a_status_are_transient(queued):
    with FailingBackend(AnymailAPIError("Connection reset")):
        assert message_deliver(message_id=queued.pk) == "retry"


def test_retries_are_bounded(queued):
    with FailingBackend(AnymailAPIError("Bad gateway", status_code=502)):
        for attempt in range(1, MAX_SEND_ATTEMPTS + 1):
            Message.objects.filter(pk=queued.pk).update(next_attempt_at=None)
            outcome = message_deliver(message_id=queued.pk)
            assert outcome == ("failed" if attempt == MAX_SEND_ATTEMPTS else "retry")
    queued.refresh_from_db()
    assert queued.status == Message.Status.FAILED
    assert queued.error.startswith(f"Gave up after {MAX_SEND_ATTEMPTS} attempts")


def test_a_4xx_from_the_esp_fails_at_once_with_the_reason(queued):
    with FailingBackend(AnymailAPIError("Invalid 'From' address", status_code=422)):
        assert message_deliver(message_id=queued.pk) == "failed"
    queued.refresh_from_db()
    assert queued.status == Message.Status.FAILED
    assert "refused the message" in queued.error
    assert "Invalid 'From' address" in queued.error


def test_the_retry_delay_of_messages_grows_from_30_s_to_30_min():
    delays = [Message.RETRY_POLICY.delay(n) for n in (1, 2, 3, 10)]
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=30) <= delays[1] <= timedelta(seconds=60)
    assert timedelta(seconds=60) <= delays[2] <= timedelta(seconds=120)
    assert timedelta(minutes=15) <= delays[3] <= timedelta(minutes=30)


def test_a_claimed_message_is_not_sent_twice(queued, anymail_outbox):
    assert message_deliver(message_id=queued.pk) == "sent"
    assert message_deliver(message_id=queued.pk) == "skipped"
    assert len(anymail_outbox) == 1


def test_the_sweeper_rescues_a_message_whose_worker_died_mid_send(
    queued, anymail_outbox, django_capture_on_commit_callbacks
):
    claimed = timezone.now() - timedelta(minutes=30)
    Message.objects.filter(pk=queued.pk).update(
        status=Message.Status.SENDING, claimed_at=claimed, attempts=1, queued_at=None
    )
    with (
        mock.patch("apps.messaging.tasks.message_send_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert messages_sweep() == 1
    apply_async.assert_called_once_with(args=[queued.pk])
    queued.refresh_from_db()
    assert queued.status == Message.Status.QUEUED
    assert "worker stopped" in queued.error
    assert message_deliver(message_id=queued.pk) == "sent"


def test_the_sweeper_requeues_a_message_whose_wake_up_was_lost(
    queued, settings, django_capture_on_commit_callbacks
):
    lease = timedelta(seconds=settings.QUEUE_LEASE)
    with (
        mock.patch("apps.messaging.tasks.message_send_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert messages_sweep() == 0  # just queued: its on-commit task is on the way
        assert messages_sweep(now=queued.queued_at + lease - timedelta(seconds=1)) == 0
        assert messages_sweep(now=queued.queued_at + lease + timedelta(seconds=1)) == 1
    apply_async.assert_called_once_with(args=[queued.pk])


def test_a_recent_claim_is_left_alone_by_the_sweeper(queued, django_capture_on_commit_callbacks):
    Message.objects.filter(pk=queued.pk).update(
        status=Message.Status.SENDING, claimed_at=timezone.now(), queued_at=None
    )
    with (
        mock.patch("apps.messaging.tasks.message_send_task.apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        messages_sweep()
    apply_async.assert_not_called()


def _tracking(event_type, message):
    event = AnymailTrackingEvent(
        event_type=event_type,
        message_id=message.provider_message_id,
        recipient="grace@example.com",
        description="mailbox full" if event_type == "bounced" else None,
    )
    tracking.send(sender=object(), event=event, esp_name="Postmark")


def test_tracking_events_update_the_status_monotonically(queued):
    deliver_queued()
    queued.refresh_from_db()
    _tracking("delivered", queued)
    queued.refresh_from_db()
    assert queued.status == Message.Status.DELIVERED
    _tracking("sent", queued)  # late and out of order
    _tracking("opened", queued)  # not a delivery status
    queued.refresh_from_db()
    assert queued.status == Message.Status.DELIVERED
    _tracking("bounced", queued)
    queued.refresh_from_db()
    assert queued.status == Message.Status.BOUNCED
    assert "mailbox full" in queued.error


def test_message_recorded_is_sent_on_creation_and_when_sent(world, anymail_outbox):
    seen = []

    def receiver(sender, message, created, **kwargs):
        seen.append((message.direction, message.status, created))

    message_recorded.connect(receiver)
    try:
        sequence = three_step_sequence(team=world.team, owner=world.owner)
        prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
        sequence_steps_dispatch(now=timezone.now())
        deliver_queued()
    finally:
        message_recorded.disconnect(receiver)
    assert seen == [("outbound", "queued", True), ("outbound", "sent", False)]


def test_a_recruiter_answer_goes_out_in_the_same_thread(queued, world, anymail_outbox):
    deliver_queued()
    answer = thread_reply_create(thread=queued.thread, sender=world.owner, body="Any news?")
    deliver_queued()
    assert answer.in_reply_to == queued.message_id
    email = anymail_outbox[-1]
    assert email.subject == "Re: Quick question, Grace"
    assert email.to == ["grace@example.com"]
    assert email.extra_headers["In-Reply-To"] == f"<{queued.message_id}>"
    assert email.extra_headers["References"] == f"<{queued.message_id}>"


def test_an_sms_answer_in_a_thread_without_a_number_is_refused_in_plain_words(world):
    # The database refuses such a thread (sms_thread_has_virtual_number); a thread object handed
    # to the service without its number gets a clear error, not an AttributeError, and nothing
    # is written.
    first = sms_send(sender=world.owner, prospect=world.prospect, body="Hello")
    thread = Thread.objects.get(pk=first.thread_id)
    thread.virtual_number = None
    with pytest.raises(ValidationError, match="This SMS thread has no virtual number to text from"):
        thread_reply_create(thread=thread, sender=world.owner, body="Still there?")
    assert list(Message.objects.values_list("pk", flat=True)) == [first.pk]
