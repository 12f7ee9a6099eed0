"""Inbound email: match a reply to its thread (Reply-To token, In-Reply-To/References, then the
sender), store it once (Message-ID is unique), stop the enrollments that were answered, and keep
what matches nothing as `UnmatchedInbound`, as well as a trace of an email too large to read.
The SMS vendor's inbound handling (sms/twilio.py) stores through the same helpers.

Real mail comes in every shape (tests/fixtures/inbound_email/): group syntax and empty groups
(`To: undisclosed-recipients:;`), no To at all, display names with commas and encoded words, IDN
domains, charsets Python does not know. Addresses are read from the parsed header (which
understands groups and encoded words) and an empty list is a fact, not an error: a reply whose
To names nobody reached us at its envelope recipient, which is recorded as its To instead.
"""

import hashlib
import logging
from dataclasses import dataclass
from email import policy as email_policy
from email.utils import getaddresses

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.text import html_to_text
from apps.sequences.models import ProspectEmail
from apps.sequences.services import enrollments_stop_on_reply

from .addressing import (
    bracket,
    parse_message_ids,
    thread_id_from_reply_address,
)
from .automated import automated_marker
from .models import Channel, Message, Thread, UnmatchedInbound
from .outbound import announce_recorded, clean_text

logger = logging.getLogger(__name__)


@dataclass
class InboundResult:
    message: Message | None = None
    unmatched: UnmatchedInbound | None = None
    duplicate: bool = False


def answered_enrollments_stop(thread: Thread) -> None:
    ids = set(
        thread.messages.exclude(enrollment=None).values_list("enrollment_id", flat=True).distinct()
    )
    if thread.enrollment_id:
        ids.add(thread.enrollment_id)
    if ids:
        enrollments_stop_on_reply(enrollment_ids=ids)


def inbound_store(*, thread: Thread, **fields) -> Message | None:
    """Store an inbound message in `thread`; None when it is already stored (redelivery)."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                team_id=thread.team_id,
                thread=thread,
                direction=Message.Direction.INBOUND,
                channel=thread.channel,
                status=Message.Status.RECEIVED,
                received_at=timezone.now(),
                **fields,
            )
            Thread.objects.filter(pk=thread.pk).update(last_message_at=message.created_at)
            answered_enrollments_stop(thread)
            announce_recorded(message, created=True)
    except IntegrityError:
        return None
    return message


def unmatched_store(**fields) -> UnmatchedInbound | None:
    try:
        with transaction.atomic():
            return UnmatchedInbound.objects.create(**fields)
    except IntegrityError:
        return None


def _header_addresses(inbound, header: str) -> list[str]:
    """The addresses of every `header` field, in order, once each: groups are flattened, empty
    groups name nobody, display names (with commas, quotes or encoded words) are dropped."""
    found: list[str] = []
    for value in inbound.get_all(header) or []:
        try:
            # The email package's header object (policy.default, as Anymail parses) knows RFC
            # 5322 groups and RFC 2047/6532 names; a plain string (a constructed message) is
            # parsed by the same registry.
            parsed = getattr(value, "addresses", None)
            if parsed is None:
                parsed = email_policy.default.header_factory(header, str(value)).addresses
            specs = [address.addr_spec for address in parsed]
        except Exception:  # a malformed header must not lose the message: it is stored raw
            specs = [spec for _, spec in getaddresses([str(value)])]
        for spec in specs:
            # Raw UTF-8 in a header (RFC 6532) reaches the parsed address as surrogate escapes.
            spec = spec.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()
            if "@" in spec and spec != "<>" and spec not in found:
                found.append(spec)
    return found


def _body_text(inbound, content_type: str) -> str:
    """The first `content_type` body part that is not an attachment, as text. A charset that
    Python does not know (e.g. "unknown-8bit") is read as UTF-8, replacing what is not."""
    for part in inbound.walk():
        if part.get_content_type() != content_type or part.is_attachment():
            continue
        try:
            return clean_text(part.get_content_text())
        except LookupError:
            return clean_text(part.get_content_text(charset="utf-8"))
    return ""


def _match_email_thread(inbound) -> tuple[Thread | None, str]:
    """The thread a reply belongs to: by the signed reply address first, then by headers.

    Returns (thread, "") or (None, the UnmatchedInbound reason).
    """
    candidates = []
    if inbound.envelope_recipient:
        candidates.append(str(inbound.envelope_recipient))
    for header in ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To"):
        candidates.extend(_header_addresses(inbound, header))
    bad_token = False
    for address in candidates:
        thread_id, bad = thread_id_from_reply_address(address)
        bad_token = bad_token or bad
        if thread_id is not None:
            thread = Thread.objects.filter(pk=thread_id, channel=Channel.EMAIL).first()
            if thread is not None:
                return thread, ""
    # Most specific first: the message replied to, then the references, newest first.
    ids = parse_message_ids(inbound["In-Reply-To"])
    ids += list(reversed(parse_message_ids(inbound["References"])))
    if ids:
        known = dict(
            Message.objects.filter(channel=Channel.EMAIL, message_id__in=ids).values_list(
                "message_id", "thread_id"
            )
        )
        for message_id in ids:
            if message_id in known:
                return Thread.objects.get(pk=known[message_id]), ""
    reason = UnmatchedInbound.Reason.BAD_TOKEN if bad_token else UnmatchedInbound.Reason.NO_THREAD
    return None, reason


def email_record_inbound(*, inbound, esp_name: str = "", event_id: str | None = None):
    """An inbound email (AnymailInboundMessage) from Anymail's webhook or the dev simulator."""
    message_ids = parse_message_ids(inbound["Message-ID"])
    message_id = message_ids[0] if message_ids else None
    event_id = str(event_id)[:255] if event_id else None
    # A redelivery (same Message-ID or the ESP's same event id) is stored once.
    if message_id and (
        Message.objects.filter(message_id=message_id).exists()
        or UnmatchedInbound.objects.filter(message_id=message_id).exists()
    ):
        return InboundResult(duplicate=True)
    if event_id and (
        Message.objects.filter(channel=Channel.EMAIL, provider_message_id=event_id).exists()
        or UnmatchedInbound.objects.filter(
            channel=Channel.EMAIL, provider_message_id=event_id
        ).exists()
    ):
        return InboundResult(duplicate=True)

    from_address = (_header_addresses(inbound, "From") or [""])[0].lower()
    to_addresses = _header_addresses(inbound, "To")
    if not to_addresses and inbound.envelope_recipient:
        # `To: undisclosed-recipients:;`, or no To at all: it reached the envelope recipient.
        to_addresses = [str(inbound.envelope_recipient).strip().strip("<>")]
    text = _body_text(inbound, "text/plain")
    html = _body_text(inbound, "text/html")
    if not text and html:
        text = html_to_text(html)
    common = {
        "from_address": from_address[:320],
        "to_addresses": to_addresses,
        "subject": clean_text(str(inbound.subject or ""))[:998],
        "body_text": text,
        "message_id": message_id,
        "in_reply_to": (parse_message_ids(inbound["In-Reply-To"]) or [""])[0],
        "references": bracket(parse_message_ids(inbound["References"])),
        "provider_message_id": event_id,
    }
    thread, reason = _match_email_thread(inbound)
    if thread is None:
        try:
            raw = clean_text(inbound.as_string())
        except Exception:  # a malformed message must still be kept
            raw = ""
        unmatched = unmatched_store(
            channel=Channel.EMAIL, reason=reason, provider=esp_name, raw=raw[:1_000_000], **common
        )
        logger.info("Inbound email from %s matched no thread (%s)", from_address, reason)
        return InboundResult(unmatched=unmatched, duplicate=unmatched is None)
    # The token or headers chose the thread; From is only recorded, never trusted (forgeable).
    is_prospect = ProspectEmail.objects.filter(
        prospect_id=thread.prospect_id, email__iexact=from_address
    ).exists()
    message = inbound_store(
        thread=thread,
        body_html=html,
        sender_is_prospect=is_prospect,
        # Cc as the sender wrote it; Bcc as far as the ESP passes it (Postmark: BccFull, when
        # the address it delivered to is not in To or Cc).
        cc_addresses=_header_addresses(inbound, "Cc"),
        bcc_addresses=_header_addresses(inbound, "Bcc"),
        automated_by=automated_marker(inbound),
        **common,
    )
    return InboundResult(message=message, duplicate=message is None)


def email_record_too_large(*, esp_name: str, size: int, head: bytes) -> UnmatchedInbound | None:
    """A trace of an authenticated inbound email request over INBOUND_EMAIL_MAX_BYTES, which the
    webhook refuses (413) so that the ESP retries, and keeps in its own log. Only `head`, the
    start of the request, was read: for JSON ESPs it holds the sender, the subject and the text,
    which come before the attachments. The ESP's retries of it are kept once."""
    digest = hashlib.sha256(head + f"|{size}|{esp_name}".encode()).hexdigest()
    limit = settings.INBOUND_EMAIL_MAX_BYTES
    unmatched = unmatched_store(
        channel=Channel.EMAIL,
        reason=UnmatchedInbound.Reason.TOO_LARGE,
        provider=esp_name[:50],
        provider_message_id=f"too-large-{digest[:40]}",
        body_text=(
            f"Not stored: the {esp_name} request was {size} bytes, over INBOUND_EMAIL_MAX_BYTES "
            f"({limit}). The ESP was answered 413 and retries it; raise the limit to let a retry "
            "in, or find the message in the ESP's inbound log. The start of the request is below."
        ),
        raw=clean_text(head.decode("utf-8", errors="replace")),
    )
    logger.error(
        "Inbound %s email of %s bytes is over INBOUND_EMAIL_MAX_BYTES (%s): answered 413 so the "
        "ESP retries; its start is kept as unmatched inbound message %s",
        esp_name,
        size,
        limit,
        unmatched.pk if unmatched else "(kept before: a retry)",
    )
    return unmatched
