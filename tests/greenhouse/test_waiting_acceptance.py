"""Acceptance of issue 15 item 1, with real Celery worker processes and the Harvest sandbox over
HTTP: a prospect emailed (a sequence, their reply, the recruiter's answer) before they exist in
Greenhouse; then the candidate is added to the running sandbox. With no manual step (only the
beat's sweep ticking), every waiting message becomes a note, in order, exactly once, with the
date it was sent or received."""

import time
from collections import Counter
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from apps.greenhouse.models import GreenhouseIntegration, ProspectLookup, SyncRecord
from apps.greenhouse.policy import Reason
from apps.greenhouse.tasks import sync_records_sweep_task
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.outbound import thread_reply_create
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import (
    email_reply,
    enroll_and_dispatch_all_steps,
    our_notes,
    outbound,
)
from tests.greenhouse.test_sync_acceptance import worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status
LINUS = "linus.unknown@example.com"


def held_waiting() -> int:
    return SyncRecord.objects.filter(
        status=Status.HELD, reason=Reason.NOT_IN_GREENHOUSE_YET
    ).count()


def test_messages_to_a_prospect_not_in_greenhouse_yet_are_written_once_the_candidate_appears(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    # Looked up again 1 s after the first hold, then every 2 s (production: 2 min, 10 min, ...).
    env = worker_env(settings, GREENHOUSE_WAITING_LOOKUP_SCHEDULE="1,2")
    celery_worker_factory(concurrency=2, extra_env=env)

    def beat() -> None:
        sync_records_sweep_task.delay()  # what the beat sends every GREENHOUSE_SYNC_SWEEP_INTERVAL

    enroll_and_dispatch_all_steps(synced, [synced.linus])
    thread = Thread.objects.get(prospect=synced.linus, channel=Channel.EMAIL)
    wait_for(lambda: outbound(thread).filter(status=Message.Status.SENT).count() == 3)
    email_reply(thread, text="Happy to talk, Rob.")
    thread_reply_create(thread=thread, sender=synced.rob, body="Great! Tuesday at 10?")
    wait_for(lambda: outbound(thread).filter(status=Message.Status.SENT).count() == 4)
    email_reply(thread, text="Tuesday works.")
    wait_for(lambda: held_waiting() == 6, message="the 6 messages did not all wait")

    # Waiting: one re-lookup for the prospect, however many messages; it keeps finding nothing.
    lookup = ProspectLookup.objects.get()
    wait_for(
        lambda: (beat() or True) and ProspectLookup.objects.get().step >= 2,
        interval=1,
        message="the prospect was not looked up again on the schedule",
    )
    assert held_waiting() == 6 and our_notes_for_linus(harvest_sandbox) == []

    # The messages are an hour old by now (as if the candidate was added later that day).
    hour = timedelta(hours=1)
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        sync_on_since=timezone.now() - 2 * hour
    )
    for message in thread.messages.all():
        Message.objects.filter(pk=message.pk).update(
            created_at=message.created_at - hour,
            sent_at=message.sent_at - hour if message.sent_at else None,
            received_at=message.received_at - hour if message.received_at else None,
        )
    linus = harvest_sandbox.add_candidate(first_name="Linus", last_name="Unknown", emails=[LINUS])

    def all_written() -> bool:
        beat()
        return SyncRecord.objects.filter(thread=thread, status=Status.WRITTEN).count() == 6

    wait_for(all_written, interval=1, message="the waiting messages were not written")
    time.sleep(3)  # more ticks and lookups change nothing
    beat()
    time.sleep(2)

    messages = list(thread.messages.order_by("created_at", "id"))
    notes = sorted(our_notes_for_linus(harvest_sandbox), key=lambda n: n["id"])
    assert len(notes) == 6  # exactly once
    records = {r.message_id: r for r in SyncRecord.objects.filter(thread=thread)}
    refs = Counter(r.note_ref for r in records.values() for n in notes if r.note_ref in n["body"])
    assert set(refs.values()) == {1}
    for message, note in zip(messages, notes, strict=True):  # in message order
        record = records[message.pk]
        assert record.note_id == note["id"] and note["candidate_id"] == linus["id"]
        assert note["body"].startswith(message.body_text.strip()[:20])
        inbound = message.direction == Message.Direction.INBOUND
        at = (message.received_at if inbound else message.sent_at) or message.created_at
        verb = "Received" if inbound else "Sent"
        line = f"{verb} {at.astimezone(UTC):%a %d %b %Y, %H:%M} UTC (written to Greenhouse later)."
        assert line in note["body"]
    lookup.refresh_from_db()
    assert lookup.status == ProspectLookup.Status.DONE


def our_notes_for_linus(sandbox) -> list[dict]:
    if not any(a["value"] == LINUS for c in sandbox.candidates() for a in c["email_addresses"]):
        return []  # not in Greenhouse (yet)
    return our_notes(sandbox, LINUS)
