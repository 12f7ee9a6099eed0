import enum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models.functions import Lower

from apps.core.text import validate_no_control_characters
from apps.core.tones import TonedChoices
from apps.teams.models import Team

from .placeholders import validate_placeholders


def split_addresses(value: str) -> list[str]:
    """'a@x.com, b@y.com' -> ['a@x.com', 'b@y.com'] (lower-cased, blanks dropped)."""
    return [part.strip().lower() for part in value.replace(";", ",").split(",") if part.strip()]


def validate_address_list(value: str) -> None:
    for address in split_addresses(value):
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationError(f"“{address}” is not a valid email address.") from exc


class Prospect(models.Model):
    """A person the team reaches out to (a prospect or candidate)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="prospects")
    # Names are rendered into subjects ({{ first_name }}): no line breaks or control characters.
    first_name = models.CharField(max_length=100, validators=[validate_no_control_characters])
    last_name = models.CharField(
        max_length=100, blank=True, validators=[validate_no_control_characters]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_prospects",
        help_text="The recruiter responsible for this prospect.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["team", "last_name", "first_name"])]

    def __str__(self):
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ProspectEmail(models.Model):
    """An email address of a prospect. Within a team, an address belongs to one prospect."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField()
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "email"]
        constraints = [
            models.UniqueConstraint("team", Lower("email"), name="prospect_email_unique_per_team"),
            models.UniqueConstraint(
                fields=["prospect"],
                condition=models.Q(is_primary=True),
                name="prospect_one_primary_email",
            ),
        ]
        # Support searches sync logs by a candidate's email across teams (stored lower-cased).
        indexes = [models.Index(fields=["email"], name="prospectemail_email")]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        if self.prospect_id and not self.team_id:
            self.team_id = self.prospect.team_id
        super().save(*args, **kwargs)


class ProspectPhone(models.Model):
    """A phone number of a prospect, in E.164 (+14155550100). One prospect per number per team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=20)
    # Set when the prospect texts STOP (or a synonym) to one of our numbers; START clears it.
    opted_out_at = models.DateTimeField("SMS opted out at", null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "number"], name="prospect_phone_unique_per_team"
            ),
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        if self.prospect_id and not self.team_id:
            self.team_id = self.prospect.team_id
        super().save(*args, **kwargs)


class Sequence(models.Model):
    """An ordered series of email and SMS steps sent to each enrolled prospect."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="sequences")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sequences"
    )
    # The subject of a first email step that renders empty.
    name = models.CharField(max_length=200, validators=[validate_no_control_characters])
    # Applies to prospects enrolled after it is set; each enrollment keeps its own copy.
    bcc = models.CharField(
        "BCC",
        max_length=500,
        blank=True,
        validators=[validate_address_list],
        help_text="Comma-separated. Applies only to prospects enrolled after a change.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["team", "is_active"])]

    def __str__(self):
        return self.name

    @property
    def bcc_list(self) -> list[str]:
        return split_addresses(self.bcc)


class SequenceStep(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(help_text="1 for the first step.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    delay = models.DurationField(
        help_text="Wait after the previous step (after enrollment, for the first step)."
    )
    subject_template = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_placeholders, validate_no_control_characters],
        help_text="Email only. Later email steps reply in the same thread (“Re: …”).",
    )
    body_template = models.TextField(
        validators=[validate_placeholders],
        help_text=(
            "Placeholders: {{ first_name }}, {{ last_name }}, {{ full_name }}, "
            "{{ sender_first_name }}."
        ),
    )

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="step_position_unique"),
            models.CheckConstraint(
                condition=models.Q(position__gte=1), name="step_position_positive"
            ),
        ]

    def __str__(self):
        return f"{self.sequence} · step {self.position} ({self.get_channel_display()})"


class Enrollment(models.Model):
    """A prospect in a sequence, with the BCC that was in force when they were added."""

    class Status(TonedChoices):
        ACTIVE = "active", "Active"
        REPLIED = "replied", "Replied"
        FINISHED = "finished", "Finished"
        STOPPED = "stopped", "Stopped"

        TONES = enum.nonmember({"active": "info", "replied": "ok", "stopped": "warn"})

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="enrollments")
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    bcc = models.CharField("BCC", max_length=500, blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # The next step to send and when it is due; cleared when the enrollment ends.
    next_step_position = models.PositiveIntegerField(null=True, blank=True, default=1)
    next_step_due_at = models.DateTimeField(null=True, blank=True)
    # Why the enrollment ended early, in words support staff and recruiters can act on.
    stop_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "prospect"], name="enrollment_unique_per_sequence"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_step_due_at"])]

    def __str__(self):
        return f"{self.prospect} in {self.sequence}"

    @property
    def bcc_list(self) -> list[str]:
        return split_addresses(self.bcc)
