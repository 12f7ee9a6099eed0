import enum

from django.conf import settings
from django.db import models

from apps.core.backoff import RetryPolicy
from apps.core.outbox import OutboxBase
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
