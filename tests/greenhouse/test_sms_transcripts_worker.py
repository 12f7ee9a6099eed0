"""Real worker processes write a burst of SMS as ONE transcript note in the Harvest sandbox over
HTTP, once the conversation has been quiet for the team's (here short) quiet time, and a second
burst after another quiet period as a second note (transcripts.py)."""

import time

import pytest

from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.greenhouse.policy import Reason
from apps.messaging.models import Message
from apps.messaging.outbound import sms_send
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import our_notes, sms_reply
from tests.greenhouse.test_sync_acceptance import GRACE, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status
QUIET = 3  # seconds


def test_a_burst_of_sms_is_one_transcript_note_and_a_second_burst_a_second(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        sms_transcript_quiet_seconds=QUIET
    )
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))

    started = time.monotonic()
    sms_send(sender=synced.rob, prospect=synced.grace, body="Hi Grace, Rob from Acme.")
    wait_for(
        lambda: Message.objects.filter(status=Message.Status.SENT).exists(),
        message="the SMS was not sent",
    )
    sms_reply(synced, synced.grace, text="Hi Rob!")
    sms_reply(synced, synced.grace, text="Tuesday works for me.")
    wait_for(
        lambda: SyncRecord.objects.filter(status=Status.WRITTEN).count() == 3,
        timeout=90,  # a deadline for a busy machine, not a speed
        message="the burst was not written",
    )
    assert time.monotonic() - started >= QUIET  # not before the conversation was quiet
    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 1
    body = notes[0]["body"]
    assert body.startswith("SMS conversation, 3 messages")
    texts = ("Hi Grace, Rob from Acme.", "Hi Rob!", "Tuesday works for me.")
    assert [body.index(t) for t in texts] == sorted(body.index(t) for t in texts)
    assert body.count("Synced by Outreach") == 1
    assert set(SyncRecord.objects.values_list("note_id", "reason")) == {
        (notes[0]["id"], Reason.SMS_TRANSCRIPT)
    }

    sms_reply(synced, synced.grace, text="Actually, Wednesday is better.")
    sms_reply(synced, synced.grace, text="Sorry for the back and forth!")
    wait_for(
        lambda: SyncRecord.objects.filter(status=Status.WRITTEN).count() == 5,
        timeout=30,
        message="the second burst was not written",
    )
    time.sleep(QUIET + 1)  # nothing more comes: a transcript is written once
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert len(notes) == 2
    assert notes[1]["body"].startswith("SMS conversation, 2 messages")
    assert "Wednesday" in notes[1]["body"] and "Wednesday" not in notes[0]["body"]
