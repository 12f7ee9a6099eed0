import enum
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.core.backoff import RetryPolicy
from apps.core.outbox import OutboxBase, SweepResult
from apps.core.queue import queue_tasks_on_commit
from apps.core.text import validate_no_control_characters
from apps.core.tones import TonedChoices
from apps.sequences.models import Enrollment, Prospect, SequenceStep
from apps.teams.models import Team

logger = logging.getLogger(__name__)

# InboundEvent's INSERT per database alias (InboundEvent._insert_statement).
_INSERT_STATEMENTS: dict[str, tuple[str, list[tuple[str | None, Any]]]] = {}


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class VirtualPhoneNumber(models.Model):
    """A recruiter's Twilio number. SMS sent or received on it belongs to that recruiter."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="phone_numbers")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="virtual_number"
    )
    number = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +14155550100")
    twilio_sid = models.CharField("Twilio SID", max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        verbose_name = "virtual phone number"

    def __str__(self):
        return self.number


class Thread(models.Model):
    """One email or SMS conversation between a recruiter and one prospect."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="threads")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="threads")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="threads",
        help_text="The recruiter the conversation belongs to.",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Set when the thread was started by a sequence.
    enrollment = models.OneToOneField(
        Enrollment, on_delete=models.SET_NULL, null=True, blank=True, related_name="thread"
    )
    virtual_number = models.ForeignKey(
        VirtualPhoneNumber,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="threads",
    )
    # Every later email of the thread is "Re: <subject>": no line breaks or control characters.
    subject = models.CharField(
        max_length=500, blank=True, validators=[validate_no_control_characters]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-created_at"]
        constraints = [
            # Inbound SMS is matched by (virtual number, prospect): one conversation per pair.
            models.UniqueConstraint(
                fields=["virtual_number", "prospect"],
                condition=models.Q(channel="sms"),
                name="one_sms_thread_per_number_and_prospect",
            ),
            models.CheckConstraint(
                condition=~models.Q(channel="sms") | models.Q(virtual_number__isnull=False),
                name="sms_thread_has_virtual_number",
            ),
        ]
        indexes = [models.Index(fields=["team", "prospect"])]

    def __str__(self):
        label = self.subject or f"#{self.pk}"
        return f"{self.get_channel_display()} with {self.prospect}: {label}"


class Message(OutboxBase):
    """One email or SMS, sent or received, as it went over the wire.

    Outbound messages are an outbox (apps/core/outbox.py): "queued" until a worker claims one
    ("sending"), then "sent" or "failed", or "queued" again with `next_attempt_at` after a
    transient error. Inbound messages are not (OUTBOX_SCOPE).
    """

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound"
        INBOUND = "inbound", "Inbound"

    class Status(TonedChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        RECEIVED = "received", "Received"

        TONES = enum.nonmember(
            {
                "queued": "info",
                "sending": "info",
                "sent": "ok",
                "delivered": "ok",
                "received": "ok",
                "failed": "bad",
                "bounced": "bad",
            }
        )

    OUTBOX_PENDING = Status.QUEUED
    OUTBOX_CLAIMED = Status.SENDING
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.messaging.tasks.message_send_task"
    OUTBOX_SCOPE = models.Q(direction=Direction.OUTBOUND)
    RETRY_POLICY = RetryPolicy(max_attempts=5, base_delay=30.0, max_delay=1800.0)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The recruiter who sent it (outbound only).",
    )
    # The sequence step that produced it; one message per enrollment step, enforced below.
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    sequence_step = models.ForeignKey(
        SequenceStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Header values (checked in forms, e.g. the admin's; sending refuses them too).
    from_address = models.CharField(max_length=320, validators=[validate_no_control_characters])
    to_addresses = models.JSONField(default=list)
    cc_addresses = models.JSONField(default=list, blank=True)
    bcc_addresses = models.JSONField(default=list, blank=True)
    subject = models.CharField(
        max_length=998, blank=True, validators=[validate_no_control_characters]
    )
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    # RFC 5322 threading (email only), without angle brackets. NULL (not "") where absent, so
    # the unique constraints below ignore messages that have none.
    message_id = models.CharField("Message-ID", max_length=998, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField("In-Reply-To", max_length=998, blank=True)
    references = models.TextField(blank=True)
    # The ESP's message id or Twilio's MessageSid.
    provider_message_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).
    # Inbound only: whether the From address (email) or number (SMS) is one of the prospect's.
    # Replies are matched by token or headers, not by From, which anyone can forge.
    sender_is_prospect = models.BooleanField(null=True, blank=True)
    # Inbound email only: the header that marks it as sent by a machine (automated.py), e.g.
    # "Auto-Submitted: auto-replied"; "" for mail a person wrote. The team's exclusions read it.
    automated_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="message_rfc_id_unique"),
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="message_provider_id_unique"
            ),
            models.UniqueConstraint(
                fields=["enrollment", "sequence_step"],
                condition=models.Q(enrollment__isnull=False, sequence_step__isnull=False),
                name="one_message_per_enrollment_step",
            ),
        ]
        indexes = [
            models.Index(fields=["thread", "created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.get_channel_display()} #{self.pk}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        return cls.RETRY_POLICY

    @property
    def is_outbound(self) -> bool:
        return self.direction == self.Direction.OUTBOUND


class UnmatchedInbound(models.Model):
    """Inbound email or SMS that matched no thread, kept for support staff instead of dropped."""

    class Reason(models.TextChoices):
        NO_THREAD = "no_thread", "No thread matches its reply address or headers"
        BAD_TOKEN = "bad_token", "Reply address with an invalid signature"
        UNKNOWN_NUMBER = "unknown_number", "Sent to a number that is not a virtual number"
        UNKNOWN_SENDER = "unknown_sender", "Sender's number belongs to no prospect of the team"
        TOO_LARGE = (
            "too_large",
            "Over INBOUND_EMAIL_MAX_BYTES: the ESP was told to retry; only its start is kept",
        )

    channel = models.CharField(max_length=10, choices=Channel.choices)
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # Known for SMS to one of our numbers; unknown for email that matched nothing.
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    from_address = models.CharField(max_length=320, blank=True)
    to_addresses = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField(blank=True)
    message_id = models.CharField("Message-ID", max_length=998, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField("In-Reply-To", max_length=998, blank=True)
    references = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    provider = models.CharField(max_length=50, blank=True, help_text="ESP name or Twilio.")
    raw = models.TextField(blank=True, help_text="The message as received (email: MIME).")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "unmatched inbound message"
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="unmatched_rfc_id_unique"),
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"], name="unmatched_provider_id_unique"
            ),
        ]

    def __str__(self):
        return f"Unmatched {self.get_channel_display()} from {self.from_address or '?'}"


class InboundEvent(OutboxBase):
    """A verified inbound webhook request (Twilio SMS, Anymail inbound email), stored as it came
    before anything else is done with it: the webhook answers once this row is written, and
    the processor (inbox.py) turns it into a Message or an UnmatchedInbound later.

    Accept-then-process keeps the request to the signature check and one INSERT, so a burst of
    replies needs few web workers and Twilio or the ESP never waits on our matching. A second
    delivery of the same request (same MessageSid, Message-ID or ESP event id) hits the unique
    constraint and stores nothing new. The row is an outbox (apps/core/outbox.py): claim,
    lease and sweep are the shared ones, except that one processor task serves every row.
    """

    class Status(TonedChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Processing"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

        TONES = enum.nonmember(
            {"pending": "info", "claimed": "info", "processed": "ok", "failed": "bad"}
        )

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.CLAIMED
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.messaging.tasks.inbound_events_process_task"
    OUTBOX_ERROR_FIELD = "last_error"
    RETRY_POLICY = RetryPolicy(max_attempts=5, base_delay=10.0, max_delay=600.0)
    # The wake-up lease: shorter than QUEUE_LEASE, because one lost processor task holds back
    # every event that coalesced behind it, not one row. A task slower than this to start costs
    # one more task (claims are exclusive), never a second processing.
    WAKE_LEASE = timedelta(seconds=30)

    provider = models.CharField(max_length=50, help_text="twilio, or the ESP's name.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # Twilio's MessageSid; the email's Message-ID, else the ESP's event id, else a digest.
    provider_event_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now)
    # SMS: the form fields Twilio signed. Email: the ESP's name, event id, envelope recipient.
    payload = models.JSONField(default=dict, blank=True)
    # Email: the message as MIME (at most inbound.INBOUND_EVENT_MAX_BYTES); SMS: empty.
    raw = models.BinaryField(blank=True, default=b"")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    last_error = models.TextField(blank=True)
    # What processing made of it: "message 12", "unmatched 3", "duplicate".
    outcome = models.CharField(max_length=100, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound webhook event"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_event_id"], name="inbound_event_provider_id_unique"
            ),
        ]
        indexes = [models.Index(fields=["status", "received_at", "id"])]

    def __str__(self):
        return f"{self.provider} {self.provider_event_id}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        return cls.RETRY_POLICY

    # --- The webhook's INSERT ---------------------------------------------------------------------

    # Given by the caller; every other column gets its field's constant default.
    _INSERT_GIVEN = frozenset(
        {"provider", "channel", "provider_event_id", "payload", "raw", "received_at"}
    )

    @classmethod
    def _insert_statement(cls, connection) -> tuple[str, list[tuple[str | None, Any]]]:
        """INSERT ... ON CONFLICT DO NOTHING of every concrete column but the primary key and
        the nullable ones whose default is NULL (left out, they are NULL), built once per
        database: the SQL, and per column (given field name, None) or (None, the field's
        default prepared for the database)."""
        if connection.alias in _INSERT_STATEMENTS:
            return _INSERT_STATEMENTS[connection.alias]
        qn = connection.ops.quote_name
        columns: list[str] = []
        slots: list[tuple[str | None, Any]] = []
        for field in cls._meta.concrete_fields:
            if field.primary_key:
                continue
            if field.name in cls._INSERT_GIVEN:
                columns.append(qn(field.column))
                slots.append((field.name, None))
                continue
            if field.has_default() and callable(field.default):
                raise TypeError(
                    f"{cls.__name__}.{field.name} has a callable default: give it in "
                    "insert_ignoring_duplicate (_INSERT_GIVEN)."
                )
            default = field.get_db_prep_save(field.get_default(), connection)
            if default is None and field.null:
                continue
            columns.append(qn(field.column))
            slots.append((None, default))
        sql = (
            f"INSERT INTO {qn(cls._meta.db_table)} ({', '.join(columns)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING"
        )
        _INSERT_STATEMENTS[connection.alias] = (sql, slots)
        return sql, slots

    @classmethod
    def insert_ignoring_duplicate(
        cls,
        *,
        provider: str,
        channel: str,
        provider_event_id: str,
        payload: dict,
        raw: bytes = b"",
    ) -> bool:
        """Store one event as ONE statement, committed by itself (the webhooks run in
        autocommit): True when stored, False when the provider id was already there (a
        redelivery stores nothing). What `bulk_create(ignore_conflicts=True)` did, without its
        BEGIN and COMMIT round trips and the building and compiling of the statement, which
        were most of a webhook request's CPU (docs/benchmarks.md, section 4)."""
        connection = connections[router.db_for_write(cls)]
        sql, slots = cls._insert_statement(connection)
        ops = connection.ops
        given = {
            "provider": provider,
            "channel": channel,
            "provider_event_id": provider_event_id,
            "payload": ops.adapt_json_value(payload, None),
            "raw": bytes(raw),
            "received_at": ops.adapt_datetimefield_value(timezone.now()),
        }
        params = [given[name] if name else default for name, default in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount == 1

    # --- One processor for every row: wake-ups and sweeps are coalesced ------------------------

    @classmethod
    def _ready(cls, now: datetime, lease: timedelta) -> Q:
        """Pending, due, and no live wake-up lease of its own."""
        return Q(
            Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
            Q(queued_at=None) | Q(queued_at__lt=now - lease),
            status=cls.Status.PENDING,
        )

    @classmethod
    def wake_coalesced(cls, *, now: datetime | None = None, **lookup) -> bool:
        """Take the wake-up lease on the ready event matching `lookup`, unless another pending
        event holds a live one (its processor task is on its way: it will claim that event,
        then claim again and find this one), and queue the processor task on commit if taken.
        Run it after the event's INSERT committed, so that the processor's next claim sees it."""
        now = now or timezone.now()
        lease = cls.WAKE_LEASE
        leased = cls.objects.filter(status=cls.Status.PENDING, queued_at__gte=now - lease)
        rows = cls._update_returning(
            cls.objects.filter(
                cls._ready(now, lease), ~Exists(leased.exclude(pk=OuterRef("pk"))), **lookup
            ),
            {"queued_at": now},
        )
        cls._queue_on_commit([pk for pk, _ in rows], now)
        return bool(rows)

    @classmethod
    def wake_after_insert(cls, *, provider: str, provider_event_id: str) -> bool:
        """The wake-up of the event a webhook request just stored (its INSERT committed): the
        Redis lease when there is one (wake.py: no SQL), else `wake_coalesced` as one
        hand-written statement, so Django does not build and compile it for every request
        (about a fifth of a request's time)."""
        lease = cls._redis_lease()
        if lease is not None:
            woken = cls._wake_redis(lease)
            if woken is not None:
                return woken
        now = timezone.now()
        connection = connections[router.db_for_write(cls)]
        qn = connection.ops.quote_name
        table, pending = qn(cls._meta.db_table), cls.Status.PENDING.value
        sql = (
            f"UPDATE {table} SET {qn('queued_at')} = %s"  # noqa: S608  (our own names)
            f" WHERE {qn('provider')} = %s AND {qn('provider_event_id')} = %s"
            f" AND {qn('status')} = %s"
            f" AND ({qn('next_attempt_at')} IS NULL OR {qn('next_attempt_at')} <= %s)"
            f" AND ({qn('queued_at')} IS NULL OR {qn('queued_at')} < %s)"
            f" AND NOT EXISTS (SELECT 1 FROM {table} other WHERE other.{qn('status')} = %s"
            f" AND other.{qn('queued_at')} >= %s AND other.{qn('id')} <> {table}.{qn('id')})"
            f" RETURNING {qn('id')}"
        )
        adapt = connection.ops.adapt_datetimefield_value
        cutoff = adapt(now - cls.WAKE_LEASE)
        params = [adapt(now), provider, provider_event_id, pending, adapt(now), cutoff]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, pending, cutoff])
            ids = [row[0] for row in cursor.fetchall()]
        cls._queue_on_commit(ids, now)
        return bool(ids)

    @classmethod
    def wake_oldest(cls, *, now: datetime | None = None) -> bool:
        """Wake the processor for the oldest ready event, coalesced as a request's wake-up."""
        now = now or timezone.now()
        oldest = (
            cls.objects.filter(cls._ready(now, cls.WAKE_LEASE))
            .order_by("received_at", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if oldest is None:
            return False
        lease = cls._redis_lease()
        if lease is not None:
            woken = cls._wake_redis(lease, now=now)
            if woken is not None:
                return woken
        return cls.wake_coalesced(pk=oldest, now=now)

    # --- The lease in Redis (wake.py), when there is one ----------------------------------------

    @staticmethod
    def _redis_lease():
        from .wake import wake_lease

        return wake_lease()

    @classmethod
    def _wake_redis(cls, lease, *, now: datetime | None = None) -> bool | None:
        """Take the Redis lease and queue the processor task if taken (given back at once when
        the broker refuses it, so that the next request or sweep queues it). None when Redis
        cannot be reached: the caller uses the column lease instead."""
        import redis

        try:
            if not lease.take(now):
                return False
        except redis.RedisError as exc:
            logger.warning("Inbox wake-up lease in Redis unavailable (%r); using the column", exc)
            return None

        def unsent(_arg_lists):
            try:
                lease.release()
            except redis.RedisError:
                logger.warning("Could not give back the inbox wake-up lease; it runs out")

        queue_tasks_on_commit(import_string(cls.OUTBOX_TASK), [[]], on_failure=unsent)
        return True

    @classmethod
    def wake_lease_release(cls) -> None:
        """A processor starts (before its first claim): the next stored event wakes another
        (wake.py says why here and not at the end). The column lease needs nothing: a claim
        clears it on the rows it takes."""
        import redis

        lease = cls._redis_lease()
        if lease is None:
            return
        try:
            lease.release()
        except redis.RedisError as exc:
            logger.warning("Could not give back the inbox wake-up lease (%r); it runs out", exc)

    @classmethod
    def sweep_coalesced(
        cls,
        *,
        stale_after: timedelta,
        gave_up_error: str,
        rescued_error: str,
        now: datetime | None = None,
    ) -> SweepResult:
        """The outbox's sweep with one processor task for all rows: events of dead processors
        go back to pending (or fail after the last attempt), then the oldest ready event gets
        a wake-up unless one is on its way."""
        now = now or timezone.now()
        result = SweepResult()
        result.gave_up, result.rescued = cls._rescue_stale(
            now=now,
            stale_after=stale_after,
            gave_up_error=gave_up_error,
            rescued_error=rescued_error,
        )
        result.queued = int(cls.wake_oldest(now=now))
        return result

    @classmethod
    def claim_batch(cls, *, size: int, now: datetime | None = None) -> list["InboundEvent"]:
        """Claim up to `size` due pending events, oldest first, each for one caller only: rows
        locked by another processor are skipped (PostgreSQL), and the UPDATE is conditional
        (SQLite has no row locks: a row another processor took is not returned)."""
        now = now or timezone.now()
        with transaction.atomic(using=router.db_for_write(cls)):
            ids = list(
                cls.objects.filter(
                    Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
                    status=cls.Status.PENDING,
                )
                .order_by("received_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:size]
            )
            if not ids:
                return []
            won = cls._update_returning(
                cls.objects.filter(pk__in=ids, status=cls.Status.PENDING),
                {
                    "status": cls.Status.CLAIMED,
                    "claimed_at": now,
                    "attempts": F("attempts") + 1,
                    "queued_at": None,
                },
            )
        return list(cls.objects.filter(pk__in=[pk for pk, _ in won]).order_by("received_at", "id"))

    @classmethod
    def _queue_on_commit(cls, args: list, queued_at: datetime) -> None:
        """However many rows a wake-up leased, one processor task is queued. If the broker
        refuses it, the leases are dropped so that the next sweep queues it again."""
        if not args:
            return
        keys = list(args)

        def unsent(_arg_lists):
            cls.objects.filter(pk__in=keys, queued_at=queued_at).update(queued_at=None)

        queue_tasks_on_commit(import_string(cls.OUTBOX_TASK), [[]], on_failure=unsent)
