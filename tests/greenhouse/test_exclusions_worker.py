"""Acceptance for the team's exclusions (issue 16, item 1): real Celery worker processes write
to the Harvest sandbox over HTTP; an internal-domain reply and an auto-reply posted through
Postmark's real inbound webhook (raw MIME, as Postmark sends it) are never written, while the
candidate's own messages around them are, in order."""

import pytest

from apps.greenhouse.models import SyncRecord
from apps.greenhouse.policy import Reason
from apps.messaging.models import Channel, Message, Thread
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import email_reply, enroll_and_dispatch_all_steps, our_notes
from tests.greenhouse.test_exclusions import auto_reply_mime, thread_reply_address
from tests.greenhouse.test_inbound_shapes import WEBHOOK_SECRET, postmark_post
from tests.greenhouse.test_sync_acceptance import GRACE, outbound, worker_env, written

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status


def sequence_sent(synced):
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)
    wait_for(lambda: outbound(thread).filter(status=Message.Status.SENT).count() == 3)
    wait_for(lambda: written(thread=thread) == 3, message="the sequence's notes")
    return thread


def test_an_internal_domain_reply_is_not_written(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    thread = sequence_sent(synced)

    internal = email_reply(
        thread, text="Ada here: internal only, our budget is 150k.", from_address=synced.ada.email
    )
    reply = email_reply(thread, text="Sounds interesting, tell me more.")
    wait_for(lambda: written(thread=thread) == 4, message="the candidate's reply was not written")

    record = SyncRecord.objects.get(message=internal)
    assert (record.status, record.reason, record.reason_detail) == (
        Status.SKIPPED,
        Reason.INTERNAL_MAIL,
        "acme.example",
    )
    assert record.note_id is None and not record.attempts_log.exists()
    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 4
    assert not any("budget is 150k" in n["body"] for n in notes)
    assert SyncRecord.objects.get(message=reply).note_id in {n["id"] for n in notes}


def test_an_auto_reply_is_not_written(
    synced, harvest_sandbox, celery_worker_factory, settings, client, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    thread = sequence_sent(synced)

    payload = {
        "RawEmail": auto_reply_mime(thread),
        "OriginalRecipient": thread_reply_address(thread),
        "MessageID": "pm-oof-worker",
        "Headers": [{"Name": "Return-Path", "Value": f"<{GRACE}>"}],
    }
    assert postmark_post(client, payload).status_code == 200
    auto = Message.objects.get(thread=thread, direction=Message.Direction.INBOUND)
    reply = email_reply(thread, text="Back now: yes, let's talk on Tuesday.")
    wait_for(lambda: written(thread=thread) == 4, message="the candidate's reply was not written")

    record = SyncRecord.objects.get(message=auto)
    assert (record.status, record.reason, record.reason_detail) == (
        Status.SKIPPED,
        Reason.AUTOMATED_MAIL,
        "Auto-Submitted: auto-replied",
    )
    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 4
    assert not any("out of the office" in n["body"] for n in notes)
    assert SyncRecord.objects.get(message=reply).note_id in {n["id"] for n in notes}
