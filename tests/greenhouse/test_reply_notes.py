"""Reply notes carry the new text, not the quoted history or the signature (issue 16, clean
notes); the message itself stays whole in Outreach.

The worker test posts real-shaped Gmail, Outlook and Apple Mail replies (tests/fixtures/replies/)
to Anymail's Postmark inbound webhook; a real worker process stores them, and writes the notes
to the Harvest sandbox over HTTP, where the test reads them back.
"""

import base64
import json
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from apps.greenhouse.models import SyncRecord
from apps.greenhouse.notes import CUT_LINE, email_note, reference_line, sender_line
from apps.messaging.addressing import reply_address
from apps.messaging.models import InboundEvent, Message
from apps.messaging.outbound import thread_reply_create
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, three_step_sequence
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import enroll_and_dispatch_all_steps, our_notes, write_all
from tests.greenhouse.test_inbound_shapes import FOOTER, WEBHOOK_SECRET, postmark_payload
from tests.greenhouse.test_sync_acceptance import GRACE, worker_env

REPLIES = Path(__file__).resolve().parents[1] / "fixtures" / "replies"
QUOTED = "Hi Grace, would you have 20 minutes this week? Rob"
EMAIL = {
    "subject": "Re: Quick question",
    "from_address": GRACE,
    "to": ["rob@acme.example"],
    "cc": [],
    "reference": "OR-7-abc",
}


def note_text(body: str) -> str:
    return body.split(FOOTER)[0]


# --- The note's body ---------------------------------------------------------------------------


def test_a_reply_note_has_the_new_text_a_cut_line_and_the_reference():
    body_text = (
        "Yes, Tuesday.\n\nSent from my iPhone\n\n"
        f"> On Jul 13, 2026, at 4:02 PM, Rob wrote:\n> {QUOTED}\n"
    )
    note = email_note(**EMAIL, body_text=body_text, body_html="", reply=True)
    assert note.body == f"Yes, Tuesday.\n\n{CUT_LINE}\n\n{reference_line('OR-7-abc')}"


def test_a_message_that_is_not_a_reply_is_written_whole():
    body_text = f"Hi Grace,\n\n> {QUOTED}\n\n-- \nRob"
    note = email_note(**EMAIL, body_text=body_text, body_html="", reply=False)
    assert note_text(note.body) == body_text


def test_a_reply_with_nothing_cut_has_no_cut_line():
    note = email_note(**EMAIL, body_text="Tuesday works.", body_html="", reply=True)
    assert note_text(note.body) == "Tuesday works."
    assert CUT_LINE not in note.body


def test_a_reply_that_is_only_a_quote_keeps_the_whole_message():
    body_text = f"On Mon, Jul 13, 2026 at 4:02 PM Rob <rob@acme.example> wrote:\n\n> {QUOTED}"
    note = email_note(**EMAIL, body_text=body_text, body_html="", reply=True)
    assert note_text(note.body) == body_text
    assert CUT_LINE not in note.body


def test_the_sender_line_stays_first_and_an_html_only_reply_is_cut_too():
    html = (REPLIES / "21_gmail_html_only.eml").read_text().split("\n\n", 1)[1]
    sender = sender_line(name="Rob", email="rob@acme.example", direction="inbound")
    note = email_note(**EMAIL, body_text="", body_html=html, sender=sender, reply=True)
    expected = (REPLIES / "21_gmail_html_only.expected.txt").read_text().strip()
    assert note_text(note.body) == f"{sender}\n\n{expected}\n\n{CUT_LINE}"


# --- The recruiter's answer in the thread, written in-process ----------------------------------


@pytest.fixture
def sent(synced):
    sequence = three_step_sequence(team=synced.team, owner=synced.rob)
    prospects_enroll(sequence=sequence, prospects=[synced.grace], enrolled_by=synced.rob)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Message.objects.get(direction=Message.Direction.OUTBOUND)


@pytest.mark.django_db
def test_a_recruiters_answer_that_quotes_is_written_without_the_quote(
    sent, synced, harvest_sandbox
):
    body = (
        "Great, Tuesday at 10 it is.\n\n"
        "On Tue, Jul 14, 2026 at 9:12 AM Grace Hopper <grace.hopper@example.com> wrote:\n"
        "> Tuesday works for me.\n"
    )
    answer = thread_reply_create(thread=sent.thread, sender=synced.rob, body=body)
    deliver_queued()
    assert set(write_all()) == {"written"}

    record = SyncRecord.objects.get(message=answer)
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert note_text(note["body"]) == f"Great, Tuesday at 10 it is.\n\n{CUT_LINE}"
    answer.refresh_from_db()
    assert answer.body_text == body.strip()  # the message itself is kept whole
    # The sequence's first email (no reply) was written as it was sent.
    first = SyncRecord.objects.get(message=sent)
    first_note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == first.note_id)
    assert note_text(first_note["body"]) == sent.body_text.strip()


@pytest.mark.django_db
def test_a_sequences_follow_up_step_is_written_as_composed(synced, harvest_sandbox):
    """Step 2 answers step 1 in the thread (In-Reply-To), but it is the sequence's own email:
    its signature stays, as on step 1."""
    body = "Bumping this, {{ first_name }}.\n\n-- \nRob Recruiter\nAcme Talent"
    sequence = three_step_sequence(team=synced.team, owner=synced.rob)
    step = sequence.steps.order_by("position")[1]
    step.body_template = body
    step.save(update_fields=["body_template"])
    enroll_and_dispatch_all_steps(synced, [synced.grace], sequence=sequence)
    deliver_queued()
    assert set(write_all()) == {"written"}

    follow_up = Message.objects.get(sequence_step=step)
    assert follow_up.in_reply_to  # threaded under step 1
    record = SyncRecord.objects.get(message=follow_up)
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert note_text(note["body"]) == "Bumping this, Grace.\n\n-- \nRob Recruiter\nAcme Talent"
    assert CUT_LINE not in note["body"]


# --- End to end: a real worker, the webhook, the sandbox over HTTP -----------------------------

SHAPES = [
    "01_gmail_top_post",
    "07_outlook_365_alternative",
    "08_outlook_web_html_only",
    "12_apple_mail_macos",
    "13_iphone_sent_from",
]


def _post_raw(client, shape: str, thread, in_reply_to: str) -> str:
    """POST the fixture as Postmark does (raw MIME, HTTP Basic); returns its Message-ID part."""
    unique = uuid.uuid4().hex[:12]
    raw = (
        (REPLIES / f"{shape}.eml")
        .read_text(encoding="utf-8")
        .replace("%REPLY%", reply_address(thread.pk))
        .replace("%IN_REPLY_TO%", in_reply_to)
        .replace("%MSGID%", unique)
    )
    raw = raw.replace("\r\n", "\n").replace("\n", "\r\n")
    payload = postmark_payload(raw=raw, to_address=reply_address(thread.pk), bcc_full=False)
    credentials = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    response = client.post(
        "/anymail/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200
    return unique


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_writes_gmail_outlook_and_apple_replies_without_their_history(
    synced, harvest_sandbox, celery_worker_factory, settings, client, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    sequence = three_step_sequence(team=synced.team, owner=synced.rob)
    prospects_enroll(sequence=sequence, prospects=[synced.grace], enrolled_by=synced.rob)
    sequence_steps_dispatch(now=timezone.now())
    sent = Message.objects.get(direction=Message.Direction.OUTBOUND)
    wait_for(
        lambda: Message.objects.filter(pk=sent.pk, status=Message.Status.SENT).exists(),
        message="the worker did not send the sequence's first email",
    )

    posted = {_post_raw(client, shape, sent.thread, sent.message_id): shape for shape in SHAPES}
    wait_for(
        lambda: (
            InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED).count() == len(SHAPES)
        ),
        message="the worker did not process the stored inbound events",
    )
    wait_for(
        lambda: (
            SyncRecord.objects.filter(thread=sent.thread, status=SyncRecord.Status.WRITTEN).count()
            == 1 + len(SHAPES)
        ),
        message="the reply notes were not written",
    )

    notes = {n["id"]: n for n in our_notes(harvest_sandbox, GRACE)}
    assert len(notes) == 1 + len(SHAPES)  # each once
    replies = Message.objects.filter(direction=Message.Direction.INBOUND)
    assert replies.count() == len(SHAPES)
    for reply in replies:
        shape = next(s for unique, s in posted.items() if unique in reply.message_id)
        expected = (REPLIES / f"{shape}.expected.txt").read_text(encoding="utf-8").strip()
        note = notes[SyncRecord.objects.get(message=reply).note_id]
        assert note["type"] == "EMAIL"
        assert note_text(note["body"]) == f"{expected}\n\n{CUT_LINE}", shape
        assert "20 minutes" not in note["body"], shape
        assert "Sent from my iPhone" not in note["body"], shape
        # The message in Outreach keeps everything, the quoted history included.
        assert "20 minutes" in reply.body_text, shape
