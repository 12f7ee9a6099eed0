from datetime import timedelta

import pytest
from anymail.inbound import AnymailInboundMessage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.messaging.addressing import reply_address
from apps.messaging.inbound import email_record_inbound
from apps.messaging.models import Message, Thread
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.models import Enrollment, SequenceStep
from apps.sequences.services import prospects_enroll, sequence_step_create
from tests.fixtures.messaging import deliver_queued, three_step_sequence
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def run_steps(when):
    created = sequence_steps_dispatch(now=when)
    deliver_queued()
    return created


def test_a_three_step_email_sequence_sends_three_emails_in_one_thread(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    (enrollment,) = prospects_enroll(
        sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner
    ).enrolled
    start = timezone.now()

    assert run_steps(start) == 1
    assert run_steps(start + timedelta(days=1)) == 0  # step 2 waits two days
    assert run_steps(start + timedelta(days=2, minutes=1)) == 1
    assert run_steps(start + timedelta(days=5, minutes=2)) == 1
    assert run_steps(start + timedelta(days=30)) == 0

    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.FINISHED
    thread = Thread.objects.get(enrollment=enrollment)
    first, second, third = Message.objects.filter(thread=thread).order_by("id")
    assert [m.status for m in (first, second, third)] == ["sent"] * 3
    assert len(anymail_outbox) == 3
    e1, e2, e3 = anymail_outbox

    assert e1.subject == "Quick question, Grace"
    assert e1.body == "Hi Grace, chat? Rob"
    assert e1.to == ["grace@example.com"]
    assert e1.from_email == f"{world.owner.get_full_name()} <rob@acme.example>"
    assert e1.extra_headers["Message-ID"] == f"<{first.message_id}>"
    assert first.message_id.endswith("@outreach.test")
    assert "In-Reply-To" not in e1.extra_headers
    assert e1.reply_to == [reply_address(thread.pk)]

    assert e2.subject == "Re: Quick question, Grace"
    assert e2.extra_headers["Message-ID"] == f"<{second.message_id}>"
    assert e2.extra_headers["In-Reply-To"] == f"<{first.message_id}>"
    assert e2.extra_headers["References"] == f"<{first.message_id}>"

    assert e3.subject == "Re: Quick question, Grace"
    assert e3.body == "Last note, Grace Hopper."
    assert e3.extra_headers["In-Reply-To"] == f"<{second.message_id}>"
    assert e3.extra_headers["References"] == f"<{first.message_id}> <{second.message_id}>"
    # The rendered MIME message carries the same headers.
    rendered = e3.message()
    assert rendered["Message-ID"] == f"<{third.message_id}>"
    assert rendered["In-Reply-To"] == f"<{second.message_id}>"
    assert rendered["Reply-To"] == reply_address(thread.pk)
    # The provider's id is stored for the tracking webhook.
    assert all(m.provider_message_id is not None for m in (first, second, third))


def test_a_reply_stops_the_enrollment_before_the_next_step(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    (enrollment,) = prospects_enroll(
        sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner
    ).enrolled
    start = timezone.now()
    run_steps(start)
    thread = Thread.objects.get(enrollment=enrollment)

    reply = AnymailInboundMessage.construct(
        from_email="Grace Hopper <grace@example.com>",
        to=reply_address(thread.pk),
        subject="Re: Quick question, Grace",
        text="Yes, let's talk.",
    )
    result = email_record_inbound(inbound=reply, esp_name="Test")
    assert result.message.thread == thread

    assert run_steps(start + timedelta(days=10)) == 0
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.REPLIED
    assert enrollment.next_step_due_at is None
    assert len(anymail_outbox) == 1


def test_repeated_ticks_create_each_step_message_once(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    now = timezone.now()
    for _ in range(3):
        sequence_steps_dispatch(now=now)
    assert Message.objects.count() == 1
    deliver_queued()
    deliver_queued()
    assert len(anymail_outbox) == 1


def test_each_enrollment_keeps_the_bcc_it_was_enrolled_with(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner, bcc="maildrop@greenhouse.io")
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence.bcc = "audit@acme.example"
    sequence.save()
    run_steps(timezone.now())
    assert anymail_outbox[0].bcc == ["maildrop@greenhouse.io"]
    assert Message.objects.get().bcc_addresses == ["maildrop@greenhouse.io"]


def test_sms_steps_go_out_from_the_owners_virtual_number(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    sequence_step_create(
        sequence=sequence,
        channel=SequenceStep.Channel.SMS,
        body_template="Text me, {{ first_name }}",
    )
    SequenceStep.objects.filter(sequence=sequence, position__in=[2, 3]).delete()
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    now = timezone.now()
    run_steps(now)
    run_steps(now + timedelta(seconds=1))
    sms = Message.objects.get(channel="sms")
    assert sms.from_address == "+15005550006"
    assert sms.to_addresses == ["+14155550101"]
    assert sms.body_text == "Text me, Grace"
    assert sms.status == Message.Status.SENT
    assert sms.thread.virtual_number == world.number


def test_steps_that_cannot_be_sent_stop_the_enrollment_with_a_reason(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    no_email = ProspectFactory(team=world.team)
    (enrollment,) = prospects_enroll(
        sequence=sequence, prospects=[no_email], enrolled_by=world.owner
    ).enrolled
    run_steps(timezone.now())
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.STOPPED
    assert enrollment.stop_reason == "The prospect has no email address."
    assert not Message.objects.exists()


def test_paused_sequences_send_nothing_until_resumed(world, anymail_outbox):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    sequence.is_active = False
    sequence.save()
    assert run_steps(timezone.now()) == 0
    sequence.is_active = True
    sequence.save()
    assert run_steps(timezone.now()) == 1


def _dispatch_queries(world, count):
    sequence = three_step_sequence(team=world.team, owner=world.owner, name=f"S{count}")
    prospects = []
    for _ in range(count):
        prospect = ProspectFactory(team=world.team)
        ProspectEmailFactory(prospect=prospect)
        prospects.append(prospect)
    prospects_enroll(sequence=sequence, prospects=prospects, enrolled_by=world.owner)
    with CaptureQueriesContext(connection) as queries:
        assert sequence_steps_dispatch(now=timezone.now()) == count
    return len(queries)


def test_fan_out_costs_a_constant_number_of_queries_per_message(world):
    five = _dispatch_queries(world, 5)
    fifteen = _dispatch_queries(world, 15)
    per_message = (fifteen - five) / 10
    # Savepoint, thread, message, thread timestamp, enrollment update (+ savepoint release).
    assert per_message <= 7, per_message
    # And the batch-wide reads do not grow with the batch.
    assert five - 5 * per_message <= 12


def test_an_active_enrollment_whose_next_step_was_blanked_is_finished_and_the_batch_goes_on(
    world, anymail_outbox
):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    other = ProspectFactory(team=world.team, first_name="Ada")
    ProspectEmailFactory(prospect=other, email="ada@example.com")
    prospects_enroll(sequence=sequence, prospects=[world.prospect, other], enrolled_by=world.owner)
    blanked = Enrollment.objects.get(prospect=world.prospect)
    sent = Enrollment.objects.get(prospect=other)
    # A hand edit (the admin, a shell) left it active and due with no next step.
    Enrollment.objects.filter(pk=blanked.pk).update(next_step_position=None)
    now = timezone.now()

    assert run_steps(now) == 1

    blanked.refresh_from_db()
    assert blanked.status == Enrollment.Status.FINISHED
    assert blanked.ended_at == now
    assert blanked.next_step_due_at is None
    assert not Message.objects.filter(enrollment=blanked).exists()
    sent.refresh_from_db()
    assert sent.status == Enrollment.Status.ACTIVE
    assert sent.next_step_position == 2
    message = Message.objects.get(enrollment=sent)
    assert message.status == Message.Status.SENT
    assert [email.to for email in anymail_outbox] == [["ada@example.com"]]
