"""The alerts' two tables: one open-or-resolved alert per team and cause, and the outbox of the
emails that tell a team's admins about them.

A model module of its own (like switch_history.py) so that the alerts' code stays in two files
(this one and alerts.py) and models.py only imports it.

`TeamAlert` is unique per (team, cause): it is the banner's row (open while `resolved_at` is
NULL) and the email's dedup token. `emailed_on` / `emailed_count` say which day and at which
count the cause was last put in an email; the conditional UPDATE that moves them (alerts.py) is
won by exactly one evaluation, however many run at once, so a cause is in at most one email per
day. `AlertEmail` is an outbox row (apps/core/outbox.py): one per digest, created in the same
transaction as the claims and sent on commit, retried, swept.
"""

import enum

from django.conf import settings
from django.db import models

from apps.core.backoff import RetryPolicy
from apps.core.outbox import OutboxBase
from apps.core.tones import TonedChoices
from apps.teams.models import Team


class AlertCause(TonedChoices):
    CONNECTION = "connection", "The Greenhouse connection needs attention"
    FAILED_RECORDS = "failed_records", "Notes failed to sync"
    REVIEW_WAITING = "review_waiting", "Messages have waited for review for over a day"

    TONES = enum.nonmember({"connection": "bad", "failed_records": "bad", "review_waiting": "warn"})


class TeamAlert(models.Model):
    """One cause of one team that needs an admin: open (`resolved_at` NULL) or resolved."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    cause = models.CharField(max_length=20, choices=AlertCause.choices)
    # How many things the cause is about now (failed records, waiting messages; 1 for the
    # connection), as the last evaluation counted them.
    count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The day (settings.TIME_ZONE) and the count of the last email that named this cause.
    emailed_on = models.DateField(null=True, blank=True)
    emailed_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["team_id", "cause"]
        constraints = [
            models.UniqueConstraint(fields=["team", "cause"], name="teamalert_one_per_team_cause")
        ]
        indexes = [models.Index(fields=["resolved_at", "team"], name="teamalert_open")]

    def __str__(self):
        state = "resolved" if self.resolved_at else "open"
        return f"{self.get_cause_display()} ({self.count}, {state}) for team {self.team_id}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def tone(self) -> str:
        return AlertCause(self.cause).tone


class AlertEmail(OutboxBase):
    """One email to a team's admins naming one or more causes (a digest when several)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.SENDING
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.greenhouse.tasks.alert_email_send_task"
    MAX_ATTEMPTS = 5

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # What the email says, fixed when the causes were claimed: [{"cause": ..., "count": ...}].
    causes = models.JSONField(default=list)
    recipients = models.TextField(blank=True)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="alertemail_status_created")]

    def __str__(self):
        return f"Alert email to team {self.team_id}: {self.get_status_display()}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        # Like the bot email: the sync's waits, fewer attempts.
        return RetryPolicy(
            max_attempts=cls.MAX_ATTEMPTS,
            base_delay=settings.GREENHOUSE_SYNC_RETRY_BASE_DELAY,
            max_delay=settings.GREENHOUSE_SYNC_RETRY_MAX_DELAY,
        )
