"""The team's exclusions (issue 16, item 1): the rules, the headers kept on inbound mail, the
facts both loaders give the policy, the entry stored on a skipped record, and the team admin's
page with its preview before saving (item 6). Real parts: the database, Anymail's MIME parser
and Postmark webhook, the Harvest sandbox for the synced world."""

import pytest
from anymail.inbound import AnymailInboundMessage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apps.greenhouse.exclusion_services import (
    exclusions_preview,
    team_exclusion_rules,
    team_exclusions_save,
)
from apps.greenhouse.exclusions import (
    MIXED_RECIPIENTS_RULE,
    ExclusionRules,
    entries_parse,
    exclusion_match,
)
from apps.greenhouse.facts import _facts
from apps.greenhouse.fastpath import _common_head
from apps.greenhouse.models import ExclusionChange, SyncRecord, TeamExclusions
from apps.greenhouse.policy import Decision, Exclusion, Reason, decide
from apps.greenhouse.sync import sync_record_write
from apps.messaging.addressing import reply_address
from apps.messaging.automated import automated_marker
from apps.messaging.models import Message, Thread
from apps.messaging.outbound import thread_reply_create
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import email_reply, enroll_and_dispatch_all_steps
from tests.greenhouse.test_inbound_shapes import (
    SHAPES_DIR,
    WEBHOOK_SECRET,
    postmark_post,
)
from tests.messaging.factories import MessageFactory

Status = SyncRecord.Status
RULES = ExclusionRules(
    internal_domains=("acme.example",),
    listed=("agency.example", "boss@rival.example", "jobs@"),
)


def match(**kwargs):
    found = exclusion_match(rules=RULES, **{"channel": "email", **kwargs})
    return found.kind, found.entry


# --- The rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Grace <grace.hopper@example.com>", (Exclusion.NONE, "")),
        ("ada@acme.example", (Exclusion.INTERNAL, "acme.example")),
        ("ops@eu.acme.example", (Exclusion.INTERNAL, "acme.example")),  # subdomains too
        ("someone@agency.example", (Exclusion.LISTED, "agency.example")),
        ("boss@rival.example", (Exclusion.LISTED, "boss@rival.example")),
        ("other@rival.example", (Exclusion.NONE, "")),
        ("jobs@anywhere.example", (Exclusion.LISTED, "jobs@")),
        ("NoReply@Service.example", (Exclusion.AUTOMATED, "noreply@")),
        ("mailer-daemon@mx.example", (Exclusion.AUTOMATED, "mailer-daemon@")),
        ("x@notacme.example", (Exclusion.NONE, "")),  # a suffix is not a subdomain
    ],
)
def test_an_inbound_email_is_judged_by_its_sender(sender, expected):
    assert match(direction="inbound", from_address=sender, to_addresses=["rob@acme.example"]) == (
        expected
    )


def test_an_automated_header_excludes_a_reply_unless_the_team_turned_it_off():
    kwargs = {"direction": "inbound", "from_address": "grace.hopper@example.com"}
    marker = "Auto-Submitted: auto-replied"
    assert match(automated_by=marker, **kwargs) == (Exclusion.AUTOMATED, marker)
    off = ExclusionRules(automated_headers=False)
    assert exclusion_match(rules=off, channel="email", automated_by=marker, **kwargs).kind == ""


@pytest.mark.parametrize(
    ("to", "cc", "expected"),
    [
        (["grace.hopper@example.com"], [], (Exclusion.NONE, "")),
        (["ada@acme.example"], ["rob@acme.example"], (Exclusion.INTERNAL, "acme.example")),
        # One candidate among the recipients is enough to sync it.
        (["someone@agency.example"], ["grace.hopper@example.com"], (Exclusion.NONE, "")),
        (["ada@acme.example", "grace.hopper@example.com"], [], (Exclusion.NONE, "")),
        # Every recipient outside the team's domains excluded: excluded, by the first.
        (
            ["ada@acme.example", "Someone <someone@agency.example>"],
            ["jobs@x.example"],
            (Exclusion.LISTED, "agency.example"),
        ),
        ([], [], (Exclusion.NONE, "")),
    ],
)
def test_an_outbound_email_is_excluded_only_when_every_external_recipient_is(to, cc, expected):
    got = match(
        direction="outbound",
        from_address="Rob <rob@acme.example>",
        to_addresses=to,
        cc_addresses=cc,
    )
    assert got == expected


def test_sms_is_never_excluded_by_the_email_lists():
    found = exclusion_match(
        rules=RULES, channel="sms", direction="inbound", from_address="ada@acme.example"
    )
    assert found.kind == Exclusion.NONE


def test_entries_are_checked_line_by_line_and_each_error_names_its_line():
    parsed = entries_parse(
        "Agency.example\n@other.example\nbad domain\n\njobs@\nnot@valid@x\nboss@rival.example\n"
        "agency.example\n# a comment\nx@-bad-.example",
        allow=("address", "domain", "local"),
    )
    assert parsed.entries == ["agency.example", "other.example", "jobs@", "boss@rival.example"]
    assert len(parsed.errors) == 3
    assert parsed.errors[0].startswith("Line 3, “bad domain”")
    assert "Line 6" in parsed.errors[1] and "Line 10" in parsed.errors[2]
    domains_only = entries_parse("ada@acme.example\njobs@", allow=("domain",))
    assert domains_only.entries == [] and "is an address" in domains_only.errors[0]
    assert "is a name without a domain" in domains_only.errors[1]


# --- Headers kept on inbound mail --------------------------------------------------------------


def mime(*headers: str, content_type="text/plain") -> AnymailInboundMessage:
    raw = "\r\n".join(
        [
            "From: Grace Hopper <grace.hopper@example.com>",
            "To: rob@acme.example",
            "Subject: Re: Quick question, Grace",
            "Message-ID: <auto1@example.com>",
            *headers,
            f"Content-Type: {content_type}",
            "",
            "Body.",
        ]
    )
    return AnymailInboundMessage.parse_raw_mime(raw)


@pytest.mark.parametrize(
    ("headers", "content_type", "marker"),
    [
        (["Auto-Submitted: auto-replied"], "text/plain", "Auto-Submitted: auto-replied"),
        (["Auto-Submitted: auto-generated; owner-email=x@y"], "text/plain", "Auto-Submitted: "),
        (["Auto-Submitted: no"], "text/plain", ""),
        (["X-Autoreply: yes"], "text/plain", "X-Autoreply: yes"),
        (["X-Autorespond: Vacation"], "text/plain", "X-Autorespond: Vacation"),
        (["Precedence: bulk"], "text/plain", "Precedence: bulk"),
        (["Precedence: auto_reply"], "text/plain", "Precedence: auto_reply"),
        (["Precedence: list"], "text/plain", ""),
        (
            [],
            'multipart/report; report-type=delivery-status; boundary="b"',
            "Content-Type: multipart/report; report-type=delivery-status",
        ),
        (["Return-Path: <>"], "text/plain", "Return-Path: <>"),
        (["Return-Path: <grace.hopper@example.com>"], "text/plain", ""),
        ([], "text/plain", ""),
    ],
)
def test_the_header_that_marks_mail_as_automated_is_found(headers, content_type, marker):
    found = automated_marker(mime(*headers, content_type=content_type))
    assert found.startswith(marker) if marker else found == ""


def test_a_marker_holds_nothing_the_database_or_a_page_cannot():
    message = mime()
    message["X-Autoreply"] = "yes\x00 \udcff\tthanks"
    marker = automated_marker(message)
    assert marker.startswith("X-Autoreply: yes") and marker.endswith(" thanks")
    assert "\x00" not in marker and "\t" not in marker
    marker.encode("utf-8")  # no surrogate left: PostgreSQL and the pages can hold it


def test_the_envelope_sender_wins_over_a_return_path_inside_the_message():
    message = mime("Return-Path: <>")
    message.envelope_sender = "grace.hopper@example.com"  # what the ESP saw
    assert automated_marker(message) == ""
    message = mime()
    message.envelope_sender = ""  # Postmark's `<>`, unquoted by Anymail
    assert automated_marker(message) == "Return-Path: <>"


def test_real_replies_from_mail_clients_are_not_automated():
    for path in sorted(SHAPES_DIR.glob("*.eml")):
        parsed = AnymailInboundMessage.parse_raw_mime(path.read_text(encoding="utf-8"))
        assert automated_marker(parsed) == "", path.name


# --- The facts, in both loaders, and the entry on the record -----------------------------------


@pytest.fixture
def thread(synced):
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    return Thread.objects.get(prospect=synced.grace, channel="email")


def record_of(message) -> SyncRecord:
    return SyncRecord.objects.get(message=message)


def facts_both_ways(message, integration):
    """The careful path's facts (lists read from the database) and the fast path's (the lists
    loaded once for the batch) must agree."""
    careful = _facts(message=message, integration=integration, paused=False)
    rules = team_exclusion_rules(team_id=message.team_id)
    batch = _facts(message=message, integration=integration, paused=False, exclusion_rules=rules)
    assert careful == batch
    return careful


def test_an_internal_reply_is_skipped_and_says_which_domain(synced, thread):
    reply = email_reply(
        thread, text="Internal note: let's move fast.", from_address=synced.ada.email
    )
    facts = facts_both_ways(reply, synced.integration)
    assert facts.exclusion == Exclusion.INTERNAL
    assert decide(facts).reason == Reason.INTERNAL_MAIL
    record = record_of(reply)
    assert (record.status, record.reason, record.reason_detail) == (
        Status.SKIPPED,
        Reason.INTERNAL_MAIL,
        "acme.example",
    )


def test_a_listed_sender_is_skipped_and_says_which_entry(synced, thread):
    TeamExclusions.objects.create(team=synced.team, listed=["agency.example"])
    reply = email_reply(
        thread, text="We represent this candidate.", from_address="x@agency.example"
    )
    facts = facts_both_ways(reply, synced.integration)
    assert facts.exclusion == Exclusion.LISTED
    record = record_of(reply)
    assert (record.reason, record.reason_detail) == (Reason.EXCLUDED_ADDRESS, "agency.example")


def test_a_no_reply_sender_is_skipped_as_automated(synced, thread):
    reply = email_reply(
        thread, text="Your message was received.", from_address="noreply@ats.example"
    )
    facts = facts_both_ways(reply, synced.integration)
    assert facts.exclusion == Exclusion.AUTOMATED
    record = record_of(reply)
    assert (record.reason, record.reason_detail) == (Reason.AUTOMATED_MAIL, "noreply@")


def test_an_auto_reply_through_postmark_keeps_its_header_and_is_skipped(
    client, settings, synced, thread, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    raw = auto_reply_mime(thread)
    payload = {
        "RawEmail": raw,
        "OriginalRecipient": thread_reply_address(thread),
        "MessageID": "pm-auto-1",
        "Headers": [{"Name": "Return-Path", "Value": "<grace.hopper@example.com>"}],
    }
    assert postmark_post(client, payload).status_code == 200
    reply = Message.objects.get(thread=thread, direction="inbound")
    assert reply.automated_by == "Auto-Submitted: auto-replied"
    facts = facts_both_ways(reply, synced.integration)
    assert decide(facts).reason == Reason.AUTOMATED_MAIL
    record = record_of(reply)
    assert (record.status, record.reason_detail) == (Status.SKIPPED, "Auto-Submitted: auto-replied")


def test_a_bounce_with_an_empty_envelope_sender_is_skipped(
    client, settings, synced, thread, postmark_webhooks
):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [WEBHOOK_SECRET]}
    raw = auto_reply_mime(thread, auto_submitted=False)
    payload = {
        "RawEmail": raw,
        "OriginalRecipient": thread_reply_address(thread),
        "MessageID": "pm-bounce-1",
        "Headers": [{"Name": "Return-Path", "Value": "<>"}],
    }
    assert postmark_post(client, payload).status_code == 200
    record = record_of(Message.objects.get(thread=thread, direction="inbound"))
    assert (record.reason, record.reason_detail) == (Reason.AUTOMATED_MAIL, "Return-Path: <>")


def test_an_outbound_email_only_to_colleagues_is_internal(synced, thread):
    message = MessageFactory(
        thread=thread,
        from_address="Rob <rob@acme.example>",
        to_addresses=["ada@acme.example"],
        status=Message.Status.SENT,
    )
    assert facts_both_ways(message, synced.integration).exclusion == Exclusion.INTERNAL
    to_grace = thread.messages.filter(direction="outbound").first()
    assert facts_both_ways(to_grace, synced.integration).exclusion == Exclusion.NONE


def test_the_fast_path_stops_at_an_excluded_record_and_the_careful_path_says_why(synced, thread):
    """A record waiting when the team adds an entry is skipped by the worker with the entry."""
    records = list(SyncRecord.objects.filter(thread=thread).order_by("message__created_at"))
    assert records and all(r.status == Status.PENDING for r in records)
    TeamExclusions.objects.create(
        team=synced.team, internal_domains=["acme.example"], listed=["example.com"]
    )
    assert _common_head(synced.integration, records, timezone.now()) == []
    assert sync_record_write(record_id=records[0].pk) == "skipped"
    records[0].refresh_from_db()
    assert (records[0].reason, records[0].reason_detail) == (
        Reason.EXCLUDED_ADDRESS,
        "example.com",
    )


def test_a_message_the_lists_do_not_exclude_is_still_written(synced, thread):
    thread_reply_create(thread=thread, sender=synced.rob, body="Are you free Tuesday?")
    deliver_queued()
    message = thread.messages.filter(direction="outbound").last()
    assert decide(facts_both_ways(message, synced.integration)).decision == Decision.SYNC


# --- Saving, with its preview ------------------------------------------------------------------


def test_saving_skips_the_waiting_messages_the_preview_counted(synced, thread):
    waiting = SyncRecord.objects.filter(thread=thread, status__in=(Status.PENDING, Status.HELD))
    assert waiting.count() == 3
    new = ExclusionRules(internal_domains=("acme.example",), listed=("grace.hopper@example.com",))
    assert exclusions_preview(team_id=synced.team.pk, rules=new).count == 3
    assert not TeamExclusions.objects.exists()  # the preview saves nothing
    change = team_exclusions_save(team=synced.team, rules=new, by=synced.ada)
    assert change.skipped == 3 and change.added == ["listed: grace.hopper@example.com"]
    assert "3 waiting messages will not be written." in change.effect
    assert set(
        SyncRecord.objects.filter(thread=thread).values_list("status", "reason", "reason_detail")
    ) == {(Status.SKIPPED, Reason.EXCLUDED_ADDRESS, "grace.hopper@example.com")}
    assert team_exclusions_save(team=synced.team, rules=new, by=synced.ada) is None
    with pytest.raises(ValueError, match="append-only"):
        change.delete()


def thread_reply_address(thread) -> str:
    return reply_address(thread.pk)


def auto_reply_mime(thread, *, auto_submitted: bool = True) -> str:
    """An Outlook-style out-of-office reply (or, without the header, a plain notice)."""
    first = thread.messages.exclude(message_id=None).order_by("id").first()
    lines = [
        "From: Grace Hopper <grace.hopper@example.com>",
        f"To: {thread_reply_address(thread)}",
        "Subject: Automatic reply: Quick question, Grace",
        "Date: Tue, 14 Jul 2026 09:12:44 +0000",
        f"Message-ID: <oof-{thread.pk}-{int(auto_submitted)}@example.com>",
        f"In-Reply-To: <{first.message_id}>",
        f"References: <{first.message_id}>",
        "Thread-Topic: Quick question, Grace",
        "X-MS-Exchange-Inbox-Rules-Loop: grace.hopper@example.com",
        "Content-Language: en-US",
    ]
    if auto_submitted:
        lines.append("Auto-Submitted: auto-replied")
    lines += [
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="us-ascii"',
        "",
        "I am out of the office until Monday with limited access to email.",
        "",
    ]
    return "\r\n".join(lines)


# --- The page -----------------------------------------------------------------------------------


def form_data(rules: ExclusionRules) -> dict:
    return {
        "internal_domains": "\n".join(rules.internal_domains),
        "listed": "\n".join(rules.listed),
        "automated_senders": "\n".join(rules.automated_senders),
        **({"automated_headers": "on"} if rules.automated_headers else {}),
    }


URL = reverse("greenhouse:exclusions")


def test_the_page_shows_the_proposed_lists_and_the_rule_for_mixed_recipients(client, synced):
    client.force_login(synced.ada)
    page = client.get(URL).content.decode()
    assert escape(MIXED_RECIPIENTS_RULE) in page
    assert "Not saved yet" in page and "acme.example" in page and "noreply@" in page
    assert not TeamExclusions.objects.exists()  # GET changes nothing


def test_a_bad_line_is_an_error_that_names_it_and_keeps_everything_typed(client, synced):
    client.force_login(synced.ada)
    data = {
        "internal_domains": "acme.example",
        "listed": "agency.example\nnot an entry\nboss@rival.example",
        "automated_senders": "noreply@",
        "automated_headers": "on",
    }
    response = client.post(URL, data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Line 2, “not an entry”" in page
    assert "agency.example\nnot an entry\nboss@rival.example" in page
    assert not TeamExclusions.objects.exists()


def test_a_change_is_previewed_then_saved_on_confirmation(client, synced, thread):
    client.force_login(synced.ada)
    rules = ExclusionRules(
        internal_domains=("acme.example",), listed=("example.com",), automated_headers=True
    )
    preview = client.post(URL, form_data(rules))
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "3 waiting messages will not be written." in page
    assert "listed: example.com" in page and 'name="confirm"' in page
    assert not TeamExclusions.objects.exists()
    assert SyncRecord.objects.filter(status=Status.PENDING).count() == 3
    back = client.post(URL, {**form_data(rules), "edit": "1"}).content.decode()
    assert "example.com</textarea>" in back and "Check what this changes" in back

    saved = client.post(URL, {**form_data(rules), "confirm": "1"}, follow=True)
    assert "Exclusions saved." in saved.content.decode()
    assert TeamExclusions.objects.get(team=synced.team).listed == ["example.com"]
    assert SyncRecord.objects.filter(status=Status.PENDING).count() == 0
    change = ExclusionChange.objects.get()
    assert change.by == synced.ada and change.skipped == 3
    assert "listed: example.com" in saved.content.decode()  # the history on the page

    log = client.get(reverse("greenhouse:log")).content.decode()
    assert "Excluded by: <code>example.com</code>" in log
    # And on the recruiter's candidate page, beside each message.
    candidate = reverse("greenhouse:prospect-sync", args=[thread.prospect_id])
    assert "excluded by <code>example.com</code>" in client.get(candidate).content.decode()


def test_only_team_admins_reach_the_page(client, synced):
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(synced.rob)  # a recruiter
    assert client.get(URL).status_code == 403
    assert client.post(URL, {**form_data(ExclusionRules()), "confirm": "1"}).status_code == 403
    assert not TeamExclusions.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(synced):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(synced.ada)
    response = strict.post(URL, {**form_data(ExclusionRules()), "confirm": "1"})
    assert response.status_code == 403
    assert not TeamExclusions.objects.exists()


def test_support_sees_the_lists_and_their_history_in_the_admin(staff_client, synced):
    team_exclusions_save(
        team=synced.team, rules=ExclusionRules(listed=("agency.example",)), by=synced.ada
    )
    lists = staff_client.get(reverse("admin:greenhouse_teamexclusions_changelist"))
    history = staff_client.get(reverse("admin:greenhouse_exclusionchange_changelist"))
    assert lists.status_code == history.status_code == 200
    assert "Acme Talent" in lists.content.decode()
    assert "listed: agency.example" in history.content.decode()
