"""What a message looks like as a Greenhouse note. Pure functions: no database, no network.

Each note ends with a reference line ("ref OR-<record id>-<mac>"). Harvest v3 has no idempotency
key and notes cannot be edited or deleted, so after an ambiguous write the worker reads the
candidate's notes back and looks for this reference before it posts again. The reference is
short, stable for a record and carries nothing secret (a MAC keyed by SECRET_KEY, so two
installations writing to one Greenhouse account never match each other's notes).

Greenhouse dates a note by when it is written. A note written long after its message (it waited
for its candidate to appear in Greenhouse, or for an outage to end) says when the message was
sent or received, in a line above the reference.

A note's author in Greenhouse is the recruiter's mapped Greenhouse user. A recruiter not mapped
yet gets the connection's acting user as author, and nothing in Greenhouse would say the note is
someone else's: the body then opens with a sender line naming the real recruiter.

A reply's note carries its new text only (apps/messaging/replies.py): the quoted history is
already on the feed as the earlier messages' notes, and a note cannot be edited later. A line
says when something was left out; the message itself stays whole in Outreach.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from django.utils.crypto import salted_hmac

from apps.core.text import html_to_text
from apps.messaging.replies import reply_split

# Harvest's maximum body length is undocumented; one client caps at 50,000 characters.
MAX_BODY = 45_000
REF_PREFIX = "OR"
CUT_LINE = "(Quoted text and signature not shown; the full message is in Outreach.)"


def note_reference(record_id: int) -> str:
    mac = salted_hmac("greenhouse.note-reference", str(record_id), algorithm="sha256")
    return f"{REF_PREFIX}-{record_id}-{mac.hexdigest()[:10]}"


def reference_line(reference: str) -> str:
    return f"— Synced by Outreach · ref {reference}"


def note_has_reference(note: dict[str, Any], reference: str) -> bool:
    # A trailing boundary so that OR-1-… never matches inside OR-12-….
    body = str(note.get("body") or "") + "\n" + str(note.get("body_with_tags") or "")
    return re.search(re.escape(reference) + r"(?![0-9a-z-])", body) is not None


def email_address(address: str) -> str:
    """An address as a note carries it: an IDN domain in its ASCII (A-label) form, the same
    mailbox in the form every address validator accepts; a non-ASCII local part (RFC 6531) has
    no ASCII form and is kept as it is."""
    local, at, domain = address.strip().rpartition("@")
    if not at or domain.isascii():
        return address.strip()
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address.strip()


def sender_line(*, name: str, email: str, direction: str) -> str:
    """The first line of a note whose author in Greenhouse is not its recruiter (not mapped)."""
    who = f"{name} <{email}>" if name and email else (name or email or "an Outreach user")
    verb = "Sent by" if direction == "outbound" else "Received by"
    return (
        f"{verb} {who} in Outreach. They are not mapped to a Greenhouse user yet, so Greenhouse "
        "names the connection's user as this note's author."
    )


def dated_line(*, at: datetime, direction: str) -> str:
    """The line of a note written long after its message (one that waited for its candidate,
    say): Greenhouse dates a note by its writing, so the note says when the message was sent
    or received. In UTC, the one zone every reader of the candidate can convert from."""
    verb = "Sent" if direction == "outbound" else "Received"
    return f"{verb} {at.astimezone(UTC):%a %d %b %Y, %H:%M} UTC (written to Greenhouse later)."


def _with_dated(text: str, dated: str) -> str:
    return f"{text.strip()}\n\n{dated}" if dated else text


def _with_sender(text: str, sender: str) -> str:
    return f"{sender}\n\n{text.strip()}" if sender else text


def addresses(values: Iterable[object] | None) -> list[str]:
    """Bare addresses from "Name <a@x>" strings (Greenhouse wants addresses, not display names),
    each once, in order; what names no mailbox (an empty group, "<>") is left out."""
    found: list[str] = []
    for _, spec in getaddresses([str(v) for v in values or []]):
        spec = email_address(spec)
        if "@" in spec and spec not in found:
            found.append(spec)
    return found


@dataclass(frozen=True)
class NoteContent:
    note_type: str
    body: str
    subject: str | None = None
    email_from: list[str] = field(default_factory=list)
    email_to: list[str] = field(default_factory=list)
    email_cc: list[str] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        """Arguments for HarvestClient.note_create (without candidate, author, visibility)."""
        kwargs: dict[str, Any] = {"note_type": self.note_type, "body": self.body}
        if self.note_type == "EMAIL":
            kwargs.update(
                subject=self.subject,
                email_from=self.email_from,
                email_to=self.email_to,
                email_cc=self.email_cc,
            )
        return kwargs


def _with_reference(text: str, reference: str) -> str:
    footer = "\n\n" + reference_line(reference)
    text = text.strip() or "(no text)"
    if len(text) + len(footer) > MAX_BODY:
        text = text[: MAX_BODY - len(footer) - 20].rstrip() + "\n[… shortened]"
    return text + footer


def email_note(
    *,
    subject: str,
    from_address: str,
    to: list[str],
    cc: list[str],
    body_text: str,
    body_html: str,
    reference: str,
    sender: str = "",
    dated: str = "",
    reply: bool = False,
) -> NoteContent:
    """`sender`: a sender_line() when the note's author in Greenhouse is not its recruiter;
    `dated`: a dated_line() when the note is written long after the message.
    `reply`: the message answers an earlier one (it may quote it): only its new text is kept."""
    if reply:
        parsed = reply_split(body_text, body_html)
        text = f"{parsed.text}\n\n{CUT_LINE}" if parsed.cut else parsed.text
    else:
        text = body_text if body_text.strip() else html_to_text(body_html)
    if dated:
        text = _with_dated(text if text.strip() else "(no text)", dated)
    return NoteContent(
        note_type="EMAIL",
        subject=(subject or "").strip() or "(no subject)",
        email_from=addresses([from_address]) or [from_address],
        email_to=addresses(to),
        email_cc=addresses(cc),
        body=_with_reference(_with_sender(text, sender), reference),
    )


def sms_note(
    *,
    from_number: str,
    to_number: str,
    direction: str,
    text: str,
    reference: str,
    sender: str = "",
    dated: str = "",
) -> NoteContent:
    header = f"SMS from {from_number} to {to_number} ({direction})"
    body = _with_dated(_with_sender(f"{header}\n\n{text}", sender), dated)
    return NoteContent(note_type="NOTE", body=_with_reference(body, reference))


@dataclass(frozen=True)
class TranscriptLine:
    """One SMS of a transcript note: when, which way, who, what."""

    at: datetime
    direction: str  # "outbound" or "inbound"
    who: str
    text: str


def sms_transcript_note(
    *, lines: list[TranscriptLine], reference: str, sender: str = ""
) -> NoteContent:
    """One note for a burst of SMS (transcripts.py): every message in order, the reference once.
    `lines` must be in message order; times are shown in the server's time zone."""
    rows = []
    for line in lines:
        arrow = "→" if line.direction == "outbound" else "←"
        text = line.text.strip() or "(no text)"
        rows.append(f"{line.at:%Y-%m-%d %H:%M} {arrow} {line.who} ({line.direction}): {text}")
    count = len(lines)
    header = f"SMS conversation, {count} message{'s' if count != 1 else ''}"
    body = _with_sender(header + "\n\n" + "\n".join(rows), sender)
    return NoteContent(note_type="NOTE", body=_with_reference(body, reference))
