"""A message whose headers cannot be written fails at once with a plain reason.

Before, Django's BadHeaderError escaped the send task and left the message "sending"; the sweeper
took that for a dead worker and sent it again for ~50 minutes before giving up with "the worker
stopped while sending". The rows here are written directly (bypassing the forms, as old data or
another code path would) and go through the real send path with a real email backend.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.messaging import delivery
from apps.messaging.backends import dev_email_outbox_dir
from apps.messaging.delivery import message_deliver, messages_sweep
from apps.messaging.models import Message
from apps.messaging.steps import sequence_steps_dispatch
from apps.messaging.tasks import message_send_task
from apps.sequences.models import Prospect
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import three_step_sequence
from tests.messaging.factories import MessageFactory, ThreadFactory

pytestmark = pytest.mark.django_db

INJECTED_NAME = "Grace\r\nBcc: spy@evil.example"
BACKENDS = {
    "anymail-test": "anymail.backends.test.EmailBackend",
    "dev-outbox": "apps.messaging.backends.DevOutboxEmailBackend",
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, settings):
    settings.EMAIL_BACKEND = BACKENDS[request.param]
    return request.param


def sent_anything() -> bool:
    return bool(mail.outbox) or any(dev_email_outbox_dir().glob("*.eml"))


def queued_message(world, **fields) -> Message:
    thread = ThreadFactory(team=world.team, prospect=world.prospect, owner=world.owner)
    return MessageFactory(thread=thread, status=Message.Status.QUEUED, **fields)


def assert_failed_for_good(message: Message, reason_start: str) -> None:
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error.startswith(reason_start), message.error
    assert message.attempts == 1
    assert message.next_attempt_at is None
    error = message.error
    # Hours later the sweepers find nothing to re-queue: no "the worker stopped while sending".
    for minutes in (11, 60, 120):
        assert messages_sweep(now=timezone.now() + timedelta(minutes=minutes)) == 0
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("failed", 1, error)
    assert not sent_anything()


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Quick question, Grace\r\nBcc: spy@evil.example"},
        {"subject": "Quick question\nX-Injected: yes"},
        {"subject": "Quick question\u2028Grace"},
    ],
)
def test_a_bad_subject_fails_at_once_with_a_plain_reason(world, backend, fields):
    message = queued_message(world, **fields)
    assert message_deliver(message_id=message.pk) == "failed"
    assert_failed_for_good(
        message, "Not sent: the subject contains a line break or another control character"
    )


def test_a_bad_sender_name_fails_the_same_way(world, backend):
    from_address = '"Rob\r\nBcc: spy@evil.example" <rob@acme.example>'
    message = queued_message(world, from_address=from_address)
    assert message_deliver(message_id=message.pk) == "failed"
    assert_failed_for_good(message, "Not sent: the sender (From) contains a line break")


def test_through_the_celery_task_too(world, backend):
    message = queued_message(world, subject="Hi\r\nBcc: spy@evil.example")
    assert message_send_task.apply(args=[message.pk]).get() == "failed"
    assert_failed_for_good(message, "Not sent: the subject contains a line break")


def test_a_header_the_backend_refuses_is_permanent_too(world, settings, monkeypatch):
    # Whatever the check before sending misses, the email library's own refusal (BadHeaderError,
    # raised by the dev outbox backend as it renders the message) is a permanent failure as well.
    settings.EMAIL_BACKEND = BACKENDS["dev-outbox"]
    monkeypatch.setattr(delivery, "_header_problem", lambda message, headers: "")
    message = queued_message(world, subject="Hi\r\nBcc: spy@evil.example")
    assert message_deliver(message_id=message.pk) == "failed"
    assert_failed_for_good(message, "Not sent: an email header could not be written")


def test_names_stored_with_a_line_break_are_flattened_when_rendered(world, backend):
    # Stored around the forms (an import, an old row): rendering keeps them out of the headers.
    Prospect.objects.filter(pk=world.prospect.pk).update(first_name=INJECTED_NAME)
    type(world.owner).objects.filter(pk=world.owner.pk).update(last_name="Smith\nBcc: x@evil.ex")
    world.owner.refresh_from_db()
    world.prospect.refresh_from_db()
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence_steps_dispatch(now=timezone.now())
    message = Message.objects.get()
    assert message.subject == "Quick question, Grace Bcc: spy@evil.example"
    assert message.thread.subject == message.subject
    assert message.from_address == '"Rob Smith Bcc: x@evil.ex" <rob@acme.example>'
    assert message_deliver(message_id=message.pk) == "sent"
    if backend == "anymail-test":
        (email,) = mail.outbox
        assert email.subject == message.subject
        assert email.bcc == []
        raw = email.message().as_string()
    else:
        (path,) = dev_email_outbox_dir().glob("*.eml")
        raw = path.read_text()
    header_block = raw.split("\n\n", 1)[0]  # (the body may hold the name with its line break)
    assert "\nBcc:" not in header_block
    assert "\nSubject: Quick question, Grace Bcc: spy@evil.example\n" in header_block
