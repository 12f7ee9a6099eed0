"""The history of a team's sync switches: who changed what, and when.

The integration row keeps only the latest state, so after support disables and enables a team
again, or a team admin turns the sync off for an afternoon, nothing said when the sync was off
(issue 14, item 10). Each change of a switch appends one row here, written by switches.py in the
same transaction as the change itself, so the history never shows a change that did not commit,
nor misses one that did. Rows are never changed or deleted afterwards (the team's own deletion
aside); the person's name is copied in, so it still reads right after their account is gone.
"""

import enum

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tones import TonedChoices


class SwitchEvent(models.Model):
    class Change(TonedChoices):
        SUPPORT_ENABLED = "support_enabled", "Enabled by support"
        SUPPORT_DISABLED = "support_disabled", "Disabled by support"
        SYNC_ON = "sync_on", "Sync turned on"
        SYNC_OFF = "sync_off", "Sync turned off"
        VISIBILITY = "visibility", "Note visibility changed"
        MAILDROP_OVERLAP = "maildrop_overlap", "Maildrop choice changed"
        UNKNOWN_RECIPIENTS = "unknown_recipients", "Recipients not in Greenhouse: choice changed"
        WAITING_DAYS = "waiting_days", "Waiting window changed"
        REVIEW_RULES = "review_rules", "Review of sensitive mail changed"
        SMS_TRANSCRIPT = "sms_transcript", "SMS notes changed"

        TONES = enum.nonmember(
            {
                "support_enabled": "ok",
                "sync_on": "ok",
                "support_disabled": "bad",
                "sync_off": "bad",
                "visibility": "info",
                "maildrop_overlap": "info",
                "unknown_recipients": "info",
                "waiting_days": "info",
                "review_rules": "info",
                "sms_transcript": "info",
            }
        )

    integration = models.ForeignKey(
        "greenhouse.GreenhouseIntegration", on_delete=models.CASCADE, related_name="switch_events"
    )
    change = models.CharField(max_length=20, choices=Change.choices)
    # The new choice, for the settings with more than two values (visibility, Maildrop,
    # recipients not in Greenhouse, the waiting window).
    value = models.CharField(max_length=200, blank=True)
    # What the change did, in the words support staff and team admins read.
    effect = models.CharField(max_length=300, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_name = models.CharField("by", max_length=200, blank=True)
    at = models.DateTimeField("when", default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["integration", "-at"], name="greenhouse_switch_team_at")]
        verbose_name = "switch history entry"
        verbose_name_plural = "switch history"

    def __str__(self):
        return f"{self.get_change_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("The switch history is append-only: a row is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The switch history is append-only: a row is never deleted.")

    @property
    def tone(self) -> str:
        return self.Change(self.change).tone
