import enum
from datetime import datetime, timedelta

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
        """`wake_coalesced` for the event a webhook request just stored, as one hand-written
        statement: the request path's only statement besides the INSERT, so Django does not
        build and compile it for every request (about a fifth of a request's time)."""
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
        return oldest is not None and cls.wake_coalesced(pk=oldest, now=now)

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
