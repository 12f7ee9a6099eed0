"""Every shape real inbound mail takes ends as a correct Greenhouse note, end to end.

Each raw message in tests/fixtures/inbound_email/ (see its README for where the shapes come
from) is posted to Anymail's real Postmark inbound webhook, signed as Postmark signs it (HTTP
Basic), with the raw MIME in `RawEmail` as Postmark sends it when "include raw email" is on.
The sync writer then writes the notes to the Harvest sandbox over HTTP, and the test reads the
note back from the sandbox: addresses, subject and text, and no record ending with "an
unexpected error".
"""

# ruff: noqa: RUF001 (the typographic quotes, dashes and Cyrillic letters are the point here)

import base64
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone

from apps.greenhouse.models import SyncAttempt, SyncRecord
from apps.greenhouse.sync import sync_record_write
from apps.messaging.addressing import reply_address
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.steps import sequence_steps_dispatch
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import deliver_queued, process_inbox, three_step_sequence
from tests.greenhouse.sync_helpers import our_notes, write_all

pytestmark = pytest.mark.django_db

SHAPES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "inbound_email"
WEBHOOK_SECRET = "anymail-user:anymail-pass"
GRACE = "grace.hopper@example.com"
ROB = "rob@acme.example"  # the thread's recruiter: what a reply to the reply address shows
MIA, PAT = "mia.manager@example.com", "pat.peer@example.com"
FOOTER = "\n\n— Synced by Outreach"


@dataclass(frozen=True)
class Shape:
    file: str
    email_to: list[str]
    body: list[str]  # pieces of text the note's body must contain, in this order
    email_cc: list[str] = field(default_factory=list)
    email_from: list[str] = field(default_factory=lambda: [GRACE])
    subject: str = "Re: Quick question, Grace"
    not_in_body: list[str] = field(default_factory=list)
    bcc_full: bool = False  # Postmark's BccFull: delivered to the reply address, not in To/Cc


SHAPES = [
    Shape("01_gmail_reply.eml", [ROB], ["Hi Rob,", "Sounds good, Tuesday works for me."]),
    Shape("02_undisclosed_recipients.eml", [ROB], ["replying from my phone: yes, let's talk."]),
    Shape(
        "03_undisclosed_found_by_in_reply_to.eml",
        [ROB],
        ["Looping in my manager and a peer"],
        email_cc=[MIA, PAT],
    ),
    Shape("04_empty_group_cc.eml", [ROB], ["An empty group in Cc should not name anybody."]),
    Shape(
        "05_group_syntax_to.eml",
        [ROB, MIA, "ops@example.com"],
        ["Replying to the whole panel."],
        email_cc=[PAT],
    ),
    Shape("06_no_to_header.eml", [ROB], ["there is no To header at all."]),
    Shape("07_several_to.eml", [ROB, PAT, "ops@example.com"], ["Adding Pat and our ops alias."]),
    Shape(
        "08_outlook_cc_manager_and_peer.eml",
        [ROB],
        ["I have copied Mia (my manager) and Pat, who would also like to hear about the role."],
        email_cc=[MIA, PAT],
        subject="RE: Quick question, Grace",
    ),
    Shape(
        "09_display_names_commas_quotes.eml",
        [ROB],
        ["Display names with commas, quotes, semicolons and angle brackets."],
        email_cc=[PAT, MIA],
    ),
    Shape(
        "10_rfc2047_encoded_words.eml",
        [ROB],
        ["Encoded words everywhere — Jürgen and 太郎 are copied."],
        email_cc=["juergen.mueller@example.de", "taro.yamada@example.jp"],
        subject="Re: Quick question, Grace ✔",
    ),
    Shape(
        "11_idn_domain_punycode.eml",
        [ROB],
        ["Copying José at his IDN domain"],
        email_cc=["jose@xn--bcher-kva.example"],
    ),
    Shape(
        "12_idn_smtputf8.eml",
        [ROB],
        ["Internationalised headers (RFC 6532)"],
        # The domain in its ASCII (A-label) form: the same mailbox, in the form every address
        # validator accepts; a non-ASCII local part has no ASCII form and is kept as sent.
        email_cc=["jose@xn--bcher-kva.example", "zoë@xn--bcher-kva.example"],
        subject="Re: Quick question, Grace – ça marche",
    ),
    Shape(
        "13_reply_to_differs.eml",
        [ROB],
        ["Please answer at my personal address from now on."],
    ),
    Shape(
        "14_bcc_only_delivery.eml",
        [ROB],
        ["Writing to your own address, with the thread's reply address in Bcc."],
        email_cc=[MIA],
        bcc_full=True,
    ),
    Shape(
        "15_long_references.eml",
        [ROB],
        ["A thread 180 messages deep"],
        subject="Re: Re: Re: Quick question, Grace",
    ),
    Shape(
        "16_outlook_html_only_cp1252.eml",
        [ROB],
        ["Hi Rob,", "That’s great – the salary range (€80k) works.", "Grace"],
        subject="RE: Quick question, Grace",
        not_in_body=["<p>", "margin"],
    ),
    Shape("17_apple_text_only_flowed.eml", [ROB], ["Plain text only, from Apple Mail."]),
    Shape(
        "18_gmail_alternative_with_attachments.eml",
        [ROB],
        ["My CV and references are attached."],
        not_in_body=["THIS ATTACHMENT TEXT IS NOT THE BODY", "PDF-1.4"],
    ),
    Shape(
        "19_apple_related_inline_image.eml",
        [ROB],
        ["Here is my signature logo inline."],
        not_in_body=["iVBOR"],
    ),
    Shape(
        "20_iso_8859_1_qp.eml",
        [ROB],
        ["Grüße aus München, schön von dir zu hören."],
        subject="Re: Quick question, Grace à bientôt",
    ),
    Shape("21_windows_1252_qp.eml", [ROB], ["“Yes” – I’m in; the € budget is fine."]),
    Shape(
        "22_iso_2022_jp_7bit.eml",
        [ROB],
        ["以上、よろしくお願いします。"],
        subject="Re: ご連絡",
    ),
    Shape("23_koi8_r_base64.eml", [ROB], ["Здравствуйте, Роб! Да, давайте поговорим."]),
    Shape(
        "24_unknown_8bit_charset.eml",
        [ROB],
        ["Café at 10? The label says unknown-8bit, the bytes are UTF-8."],
    ),
    Shape(
        "25_very_long_line_qp.eml",
        [ROB],
        ["START word00000 word00001", "word00600", "word01199 END"],
    ),
    Shape(
        "26_html_only_one_long_line.eml",
        [ROB],
        ["Hi Rob,", "lorem lorem", "Grace"],
        not_in_body=["<p>"],
    ),
]


def test_every_fixture_file_has_a_shape_and_there_are_at_least_20():
    files = sorted(p.name for p in SHAPES_DIR.glob("*.eml"))
    assert files == sorted(s.file for s in SHAPES)
    assert len(files) >= 20


@pytest.fixture
def sent(synced):
    """Step 1 of Rob's sequence, sent to Grace (its note is the thread's first)."""
    sequence = three_step_sequence(team=synced.team, owner=synced.rob)
    prospects_enroll(sequence=sequence, prospects=[synced.grace], enrolled_by=synced.rob)
    sequence_steps_dispatch(now=timezone.now())
    deliver_queued()
    return Message.objects.get(direction=Message.Direction.OUTBOUND)


def raw_message(shape: Shape, thread: Thread, in_reply_to: str) -> str:
    text = (SHAPES_DIR / shape.file).read_text(encoding="utf-8")
    text = (
        text.replace("%REPLY%", reply_address(thread.pk))
        .replace("%IN_REPLY_TO%", in_reply_to)
        .replace("%MSGID%", uuid.uuid4().hex[:12])
    )
    return text.replace("\r\n", "\n").replace("\n", "\r\n")  # as on the wire


def postmark_post(client, payload):
    """POST like Postmark, then run the inbox processor as its task would."""
    credentials = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    response = client.post(
        "/anymail/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )
    process_inbox()
    return response


def postmark_payload(*, raw: str, to_address: str, bcc_full: bool) -> dict:
    """What Postmark posts for an inbound message with "include raw email content" on (the
    parsed fields beside RawEmail are Anymail's to ignore, except the envelope and BccFull)."""
    payload = {
        "RawEmail": raw,
        "OriginalRecipient": to_address,
        "MessageID": str(uuid.uuid4()),
        "Headers": [{"Name": "Return-Path", "Value": f"<{GRACE}>"}],
    }
    if bcc_full:
        payload["BccFull"] = [{"Email": to_address, "Name": "", "MailboxHash": ""}]
    return payload


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.file.removesuffix(".eml"))
def test_an_inbound_shape_becomes_a_correct_note(
    client, settings, sent, harvest_sandbox, postmark_webhooks, shape
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    thread = sent.thread
    raw = raw_message(shape, thread, sent.message_id)
    payload = postmark_payload(
        raw=raw, to_address=reply_address(thread.pk), bcc_full=shape.bcc_full
    )

    assert postmark_post(client, payload).status_code == 200
    reply = Message.objects.get(direction=Message.Direction.INBOUND)
    assert reply.thread_id == thread.pk
    assert reply.channel == Channel.EMAIL

    assert set(write_all()) == {"written"}
    record = SyncRecord.objects.get(message=reply)
    assert record.status == SyncRecord.Status.WRITTEN, record.last_error
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert note["type"] == "EMAIL"
    assert note["email_from"] == shape.email_from
    assert note["email_to"] == shape.email_to
    assert note["email_cc"] == shape.email_cc
    assert note["subject"] == shape.subject
    body = note["body"].split(FOOTER)[0]
    position = 0
    for piece in shape.body:
        found = body.find(piece, position)
        assert found >= 0, f"{piece!r} not in the note's body (after {position}):\n{body}"
        position = found + len(piece)
    for piece in shape.not_in_body:
        assert piece not in body

    # Nothing anywhere ended with the catch-all words.
    errors = [r.last_error for r in SyncRecord.objects.all()]
    errors += list(SyncAttempt.objects.values_list("error", flat=True))
    assert not [e for e in errors if "unexpected error" in e.lower()]


# --- What the writer does with an exception nobody classified ----------------------------------


def _buggy_note(**kwargs):
    raise KeyError("email_to")


def test_an_unclassified_exception_in_the_writer_is_a_bug_with_a_plain_reason(
    sent, harvest_sandbox, caplog
):
    record = SyncRecord.objects.get(message=sent)
    with (
        mock.patch("apps.greenhouse.writer.email_note", _buggy_note),
        caplog.at_level(logging.ERROR, logger="apps.greenhouse.sync"),
    ):
        assert sync_record_write(record_id=record.pk) == "failed"

    record.refresh_from_db()
    # Failed at once (the same code would fail again), saying where the bug is.
    assert record.status == SyncRecord.Status.FAILED
    assert record.attempts == 1
    assert record.last_error == (
        "A bug in Outreach stopped this note: KeyError in "
        "tests/greenhouse/test_inbound_shapes.py, line "
        f"{_buggy_note.__code__.co_firstlineno + 1} (_buggy_note). The traceback is in the "
        "server log; retry the record once the bug is fixed."
    )
    assert "unexpected" not in record.last_error.lower()
    assert our_notes(harvest_sandbox, GRACE) == []
    # Logged with its traceback, for whoever fixes it.
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.exc_info is not None and logged.exc_info[0] is KeyError
    assert f"sync record {record.pk}" in logged.getMessage()
    assert "Traceback (most recent call last)" in caplog.text


def test_a_failure_of_this_servers_cache_is_retried_not_called_a_bug(sent, harvest_sandbox):
    from redis.exceptions import ConnectionError as RedisConnectionError

    record = SyncRecord.objects.get(message=sent)
    with mock.patch(
        "apps.greenhouse.writer.harvest_client_build",
        side_effect=RedisConnectionError("Error 111 connecting to 127.0.0.1:6379."),
    ):
        assert sync_record_write(record_id=record.pk) == "retry"
    record.refresh_from_db()
    assert record.status == SyncRecord.Status.PENDING
    assert record.next_attempt_at is not None
    assert record.last_error.endswith(": This server's database or cache failed (ConnectionError).")
