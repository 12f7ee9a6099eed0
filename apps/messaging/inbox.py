"""Accept, then process, inbound webhooks: the request stores what it was sent, the processor
does the rest.

A signed Twilio SMS used to cost 26-35x a trivial view: the request matched the thread, stored
the Message and, through `message_recorded`, the Greenhouse sync record (24 SQL statements and
a Celery publish), although Twilio's answer (empty TwiML) never depended on any of it. Now:

- **Accept** (`inbound_sms_accept`, `inbound_email_accept`), in the request, after the signature
  check: one INSERT ... ON CONFLICT DO NOTHING of an `InboundEvent` (unique per provider id, so a
  redelivery stores nothing new; `InboundEvent.insert_ignoring_duplicate`, one statement that
  commits by itself), then the wake-up lease, and a publish of the processor task only when
  the request took it. The lease is a Redis key when there is Redis (wake.py: one round trip,
  no second SQL statement), else a column of the events (one UPDATE that takes it only when no
  other pending event holds one). Either way it is taken after the INSERT committed (the
  webhooks run in autocommit) and given back by the processor before it claims, so no event
  waits for a sweep because its wake-up was coalesced away. The broker being down costs the
  request nothing (queue.py logs it and the lease is dropped at once); a task the broker lost
  holds the inbox back for `InboundEvent.WAKE_LEASE` (30 s) at most, then the next request or
  sweep queues one.
- **Process** (`inbound_events_process`): claim pending events in received order, a batch at a
  time (FOR UPDATE SKIP LOCKED on PostgreSQL, and a conditional UPDATE everywhere, so two
  processors never take the same event), run the inbound logic of inbound.py / sms/twilio.py
  and mark the event processed in the same transaction as the Message and its sync record.
  Claims stop when one comes back empty. A payload that cannot be read is a failed event with
  the reason (admin: Inbound webhook events), an unexpected error is retried with backoff, and
  a processor that dies mid-batch gives back what it had not started (or the sweep takes it
  back once it is stale).
- **Sweep** (`inbound_events_sweep`, from the messaging sweeper): events of dead processors go
  back to pending, and due pending events whose wake-up was lost get one processor task.
"""

import hashlib
import logging
from datetime import datetime, timedelta

from anymail.inbound import AnymailInboundMessage
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.outbox import ERROR_MAX_LENGTH

from .addressing import parse_message_ids
from .inbound import email_record_inbound, email_record_too_large
from .models import Channel, InboundEvent
from .sms.twilio import sms_fields_problems, sms_record_inbound

logger = logging.getLogger(__name__)

TWILIO = "twilio"
# Events per claim; the processor claims again until a claim comes back empty, at most
# MAX_BATCHES times per task (then it queues its successor, so one task never holds a worker
# for a whole backlog).
BATCH = 50
MAX_BATCHES = 20
# Longer than the Celery hard time limit: an event still claimed after this lost its processor.
CLAIMED_STALE_AFTER = timedelta(minutes=10)
GAVE_UP = "The processor stopped while processing it, too many times; not processed."
RESCUED = "The processor stopped while processing it; processing again."


def inbound_event_max_bytes() -> int:
    """The MIME of an accepted email, at most: its request was at most INBOUND_EMAIL_MAX_BYTES
    (webhooks.py answers 413 past it), and the MIME Anymail rebuilds from a JSON payload is
    about the request's size (both carry attachments in base64); a half more is slack."""
    return settings.INBOUND_EMAIL_MAX_BYTES * 3 // 2


class InboundPayloadError(ValueError):
    """A stored event that no retry can turn into a message (the reason is shown to support)."""


# --- Accept (the request) ------------------------------------------------------------------------


def _without_nul(value: str | None) -> str | None:
    # PostgreSQL's jsonb and text cannot hold U+0000; inbound.py drops it from what it stores too.
    return value.replace("\x00", "") if isinstance(value, str) else value


def _accept(*, provider: str, channel: str, event_id: str, payload: dict, raw: bytes = b"") -> bool:
    """Store the event (nothing when it is a redelivery) and wake the processor, coalesced.
    Returns whether a processor task was queued."""
    event_id = _without_nul(event_id) or ""
    InboundEvent.insert_ignoring_duplicate(
        provider=provider,
        channel=channel,
        provider_event_id=event_id,
        payload={_without_nul(k): _without_nul(v) for k, v in payload.items()},
        raw=raw,
    )
    # After the INSERT committed (autocommit): see InboundEvent.wake_coalesced and wake.py. A
    # redelivery wakes too: its first request may have stopped between its INSERT and this.
    return InboundEvent.wake_after_insert(provider=provider, provider_event_id=event_id)


def inbound_sms_accept(*, fields: dict[str, str]) -> bool:
    """A Twilio inbound SMS whose signature and fields were checked (sms/twilio.py)."""
    return _accept(
        provider=TWILIO,
        channel=Channel.SMS,
        event_id=fields["MessageSid"].strip(),
        payload=fields,
    )


def _mime_bytes(message) -> bytes:
    try:
        return bytes(message.as_bytes())
    except Exception:  # a header the generator refuses: keep its text rather than nothing
        return str(message.as_string()).encode("utf-8", "surrogateescape")


def _email_event_id(message, raw: bytes, event_id: str | None) -> str:
    ids = parse_message_ids(message["Message-ID"])
    key = ids[0] if ids else (str(event_id) if event_id else "")
    if not key or len(key) > 200:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "replace") or raw).hexdigest()
    return key


def _envelope_sender(message) -> str | None:
    sender = getattr(message, "envelope_sender", None)
    return None if sender is None else str(sender)[:320]


def inbound_email_accept(*, message, esp_name: str, event_id: str | None = None) -> bool:
    """An inbound email (AnymailInboundMessage) from Anymail's webhook, already authenticated.
    Its MIME is stored with what is not in it (the ESP, its event id, the envelope recipient)."""
    try:
        raw = _mime_bytes(message)
    except Exception as exc:  # kept, failed, for support: never dropped
        raw = b""
        logger.warning("Inbound %s email could not be serialized: %r", esp_name, exc)
    if len(raw) > inbound_event_max_bytes():
        email_record_too_large(esp_name=esp_name, size=len(raw), head=raw[: 64 * 1024])
        return False
    envelope = getattr(message, "envelope_recipient", None)
    payload = {
        "esp_name": esp_name,
        "event_id": str(event_id)[:255] if event_id else None,
        "envelope_recipient": str(envelope) if envelope else None,
        # "" is the null reverse-path `<>` of bounces (automated.py reads it); None: not known.
        "envelope_sender": _envelope_sender(message),
    }
    return _accept(
        provider=(esp_name or "email")[:50].lower(),
        channel=Channel.EMAIL,
        event_id=_email_event_id(message, raw, event_id),
        payload=payload,
        raw=raw,
    )


# --- Process (the task) --------------------------------------------------------------------------


def _record(event: InboundEvent):
    """Today's inbound logic for one stored event; InboundPayloadError when it cannot be read."""
    if event.channel == Channel.SMS:
        fields = event.payload if isinstance(event.payload, dict) else {}
        problems = sms_fields_problems(fields)
        if problems:
            raise InboundPayloadError(f"Missing or invalid SMS fields: {', '.join(problems)}.")
        return sms_record_inbound(
            from_number=str(fields["From"]).strip(),
            to_number=str(fields["To"]).strip(),
            sid=str(fields["MessageSid"]).strip(),
            body=str(fields.get("Body", "")),
        )
    if event.channel == Channel.EMAIL:
        raw = bytes(event.raw or b"")
        if not raw:
            raise InboundPayloadError("No MIME stored: the ESP's message could not be serialized.")
        try:
            message = AnymailInboundMessage.parse_raw_mime_bytes(raw)
        except Exception as exc:
            raise InboundPayloadError(f"The stored MIME could not be parsed: {exc!r}") from exc
        payload = event.payload if isinstance(event.payload, dict) else {}
        message.envelope_recipient = payload.get("envelope_recipient")
        message.envelope_sender = payload.get("envelope_sender")
        esp_name = payload.get("esp_name") or ""
        return email_record_inbound(
            inbound=message, esp_name=esp_name, event_id=payload.get("event_id")
        )
    raise InboundPayloadError(f"Unknown channel {event.channel!r}.")


def _outcome(result) -> str:
    if result.message is not None:
        return f"message {result.message.pk}"
    if result.unmatched is not None:
        return f"unmatched {result.unmatched.pk}"
    return "duplicate"


def inbound_event_process(event: InboundEvent) -> str:
    """Process one claimed event: processed (with its Message, in one transaction), failed
    (unreadable), or pending again with backoff (anything else). Returns the new status."""
    held = InboundEvent.held(pk=event.pk, claimed_at=event.claimed_at)
    try:
        with transaction.atomic():
            outcome = _outcome(_record(event))
            if not held.update(
                status=InboundEvent.Status.PROCESSED,
                processed_at=timezone.now(),
                outcome=outcome,
                last_error="",
            ):
                # Rescued by a sweep and taken by another processor meanwhile: theirs counts.
                transaction.set_rollback(True)
                return "lost"
    except InboundPayloadError as exc:
        logger.warning("Inbound event %s is unreadable: %s", event.pk, exc)
        held.update(status=InboundEvent.Status.FAILED, last_error=str(exc)[:ERROR_MAX_LENGTH])
        return InboundEvent.Status.FAILED
    except Exception as exc:
        logger.exception("Inbound event %s failed (attempt %s)", event.pk, event.attempts)
        reason = f"{type(exc).__name__}: {exc}"
        if InboundEvent.retry_later(
            attempts=event.attempts, reason=reason, claimed_at=event.claimed_at, pk=event.pk
        ):
            return InboundEvent.Status.PENDING
        held.update(
            status=InboundEvent.Status.FAILED,
            last_error=InboundEvent.gave_up_error(event.attempts, reason)[:ERROR_MAX_LENGTH],
        )
        return InboundEvent.Status.FAILED
    return InboundEvent.Status.PROCESSED


def _give_back(events: list[InboundEvent], *, started: int) -> None:
    """A processor going down gives back its claimed events from `started` on: pending again at
    once, with no lease (so the sweep queues a processor for them). The attempt of the one it was
    working on (rolled back) counts; the others' were never made."""
    for index, event in enumerate(events[started:]):
        InboundEvent.held(pk=event.pk, claimed_at=event.claimed_at).update(
            status=InboundEvent.Status.PENDING,
            claimed_at=None,
            queued_at=None,
            **({} if index == 0 else {"attempts": F("attempts") - 1}),
        )


def inbound_events_process(*, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Process pending events in received order until none is due. Returns how many were
    processed (not counting failed or retried ones). Safe with any number running at once."""
    processed = 0
    # Given back before the first claim, never after the last one (wake.py): a request that
    # finds the lease held can rely on the claims that follow.
    InboundEvent.wake_lease_release()
    for _ in range(max_batches):
        events = InboundEvent.claim_batch(size=batch)
        if not events:
            return processed
        for index, event in enumerate(events):
            try:
                status = inbound_event_process(event)
            except BaseException:
                # The processor is going down (shutdown, time limit, lost database): what it
                # had not finished is pending again at once; the sweep queues it.
                try:
                    _give_back(events, started=index)
                except Exception:
                    logger.exception("Could not give back inbound events; the sweep will")
                raise
            processed += status == InboundEvent.Status.PROCESSED
    # A long backlog: the next task goes on with it (behind whatever else waits).
    InboundEvent.wake_oldest()
    return processed


def inbound_events_retry(*, ids: list[int]) -> int:
    """Support's "process again": failed events of `ids` are pending again with fresh attempts,
    and the processor is woken. Returns how many."""
    count = InboundEvent.objects.filter(pk__in=ids, status=InboundEvent.Status.FAILED).update(
        status=InboundEvent.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        queued_at=None,
        claimed_at=None,
    )
    if count:  # after the UPDATE committed, as a request's wake-up
        InboundEvent.wake_oldest()
    return count


# --- Sweep (beat) --------------------------------------------------------------------------------


def inbound_events_sweep(
    *, now: datetime | None = None, stale_after: timedelta = CLAIMED_STALE_AFTER
) -> int:
    """Give events of dead processors back, and queue one processor task for due pending events
    whose wake-up was lost (its lease ran out, or none was taken). Returns how many tasks were
    queued: 0 or 1, and 0 while a processor task is on its way."""
    result = InboundEvent.sweep_coalesced(
        now=now, stale_after=stale_after, gave_up_error=GAVE_UP, rescued_error=RESCUED
    )
    if result.gave_up or result.rescued:
        logger.warning(
            "Inbound events of dead processors: %s pending again, %s failed",
            result.rescued,
            result.gave_up,
        )
    return result.queued
