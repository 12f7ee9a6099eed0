"""Review before writing, with real Celery worker processes and the Harvest sandbox over HTTP:
a sensitive reply waits (and its recruiter gets the bot email with the link); approved with
edited text it is written once, with that text; dropped it is never written; the review time
running out writes or skips by the team's choice."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.greenhouse.models import ReviewExpiry, SensitiveReview, SyncRecord
from apps.greenhouse.notes import reference_line
from apps.greenhouse.policy import Reason, Review
from apps.greenhouse.sensitive_review import (
    sensitive_review_approve,
    sensitive_review_drop,
    sensitive_reviews_expire,
)
from apps.greenhouse.sweeper import sync_records_sweep
from apps.messaging.models import Channel, Message, Thread
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import email_reply, enroll_and_dispatch_all_steps, our_notes
from tests.greenhouse.test_sensitive_review import rules_on
from tests.greenhouse.test_sync_acceptance import outbox_emails, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status
GRACE, ROB = "grace.hopper@example.com", "rob@acme.example"


def sequence_thread(world):
    enroll_and_dispatch_all_steps(world, [world.grace])
    thread = Thread.objects.get(prospect=world.grace, channel=Channel.EMAIL)
    wait_for(
        lambda: SyncRecord.objects.filter(thread=thread, status=Status.WRITTEN).count() == 3,
        message="the sequence's three emails were not written",
    )
    return thread


def held(message: Message) -> SyncRecord:
    wait_for(lambda: SyncRecord.objects.filter(message=message).exists())
    record = SyncRecord.objects.get(message=message)
    assert (record.status, record.reason) == (Status.HELD, Reason.AWAITING_REVIEW)
    return record


def notes_with(sandbox, reference):
    return [n for n in our_notes(sandbox, GRACE) if reference in n["body"]]


def test_approved_with_edits_is_written_once_with_them_and_dropped_never(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    rules_on(synced)
    thread = sequence_thread(synced)

    approved = held(email_reply(thread, text="My salary expectation is 150k."))
    dropped = held(email_reply(thread, text="Also: my SSN is 123-45-6789."))

    def review_emails():
        return [e for e in outbox_emails(settings) if "Review before" in str(e["Subject"])]

    wait_for(lambda: len(review_emails()) == 2, message="the recruiter got no review emails")
    assert all(str(e["To"]) == ROB for e in review_emails())
    bodies = [e.get_body(("plain",)).get_content() for e in review_emails()]
    assert all(f"{settings.PUBLIC_BASE_URL}/reviews/" in b for b in bodies)
    assert not any("123-45-6789" in b for b in bodies)
    time.sleep(1)  # the workers had their chance: nothing of either is written
    assert notes_with(harvest_sandbox, approved.note_ref) == []

    edited = "Shared their salary range; see Outreach."
    sensitive_review_approve(
        review=SensitiveReview.objects.get(record=approved), by=synced.rob, edited_text=edited
    )
    sensitive_review_drop(review=SensitiveReview.objects.get(record=dropped), by=synced.rob)
    wait_for(
        lambda: SyncRecord.objects.filter(pk=approved.pk, status=Status.WRITTEN).exists(),
        message="the approved message was not written",
    )
    sync_records_sweep()  # a beat later: nothing more is written
    time.sleep(1)

    notes = notes_with(harvest_sandbox, approved.note_ref)
    assert len(notes) == 1
    assert notes[0]["body"] == f"{edited}\n\n{reference_line(approved.note_ref)}"
    dropped.refresh_from_db()
    assert (dropped.status, dropped.reason) == (Status.SKIPPED, Reason.REVIEW_DROPPED)
    assert notes_with(harvest_sandbox, dropped.note_ref) == []
    assert not any("123-45-6789" in n["body"] for n in harvest_sandbox.notes())


def test_the_review_time_running_out_skips_or_writes_by_the_teams_choice(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    celery_worker_factory(concurrency=1, extra_env=worker_env(settings))
    rules_on(synced, hours=1, on_expiry=ReviewExpiry.SKIP)
    thread = sequence_thread(synced)

    skipped = held(email_reply(thread, text="Is there a medical plan?"))
    # The review's clock moves on, the lanes' leases keep real time: a whole sweep at a future
    # `now` would take every lane's lease for lost (sweeper.py runs this with the real time).
    sensitive_reviews_expire(now=timezone.now() + timedelta(hours=2))
    skipped.refresh_from_db()
    assert (skipped.status, skipped.reason) == (Status.SKIPPED, Reason.REVIEW_EXPIRED)

    rules_on(synced, hours=1, on_expiry=ReviewExpiry.WRITE)
    written = held(email_reply(thread, text="And the visa?"))
    sensitive_reviews_expire(now=timezone.now() + timedelta(hours=2))
    wait_for(
        lambda: SyncRecord.objects.filter(pk=written.pk, status=Status.WRITTEN).exists(),
        message="the expired message was not written by the team's choice",
    )
    sensitive_reviews_expire(now=timezone.now() + timedelta(hours=3))  # again: idempotent
    time.sleep(1)

    assert SensitiveReview.objects.get(record=written).state == Review.EXPIRED_WRITE
    notes = notes_with(harvest_sandbox, written.note_ref)
    assert len(notes) == 1 and notes[0]["body"].startswith("And the visa?")
    assert notes_with(harvest_sandbox, skipped.note_ref) == []
