"""A team's stored exclusion lists and the history of their changes (issue 16, item 1).

Why two models: the lists hold only the latest state, which is what the sync reads on every
record; the history says who added or removed which entry and when, and how many waiting
messages the change skipped, so a team admin or support can answer "why did this stop being
synced?" weeks later. Like the switch history (switch_history.py), history rows are written in
the same transaction as the change and never changed or deleted afterwards; the person's name
is copied in, so a row still reads right after their account is gone.

A team without a row uses the defaults (exclusion_services.team_exclusion_rules): its members'
domains as internal, the common automated senders, automated headers on. The first save stores
what the admin confirmed, and from then on the row is the whole truth.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .exclusions import DEFAULT_AUTOMATED_SENDERS, ExclusionRules


def _default_automated_senders() -> list[str]:
    return list(DEFAULT_AUTOMATED_SENDERS)


class TeamExclusions(models.Model):
    team = models.OneToOneField(
        "teams.Team", on_delete=models.CASCADE, related_name="greenhouse_exclusions"
    )
    internal_domains = models.JSONField(
        "the team's own domains", default=list, blank=True, help_text="Internal mail."
    )
    listed = models.JSONField(
        "excluded addresses and domains", default=list, blank=True, help_text="Never synced."
    )
    automated_senders = models.JSONField(default=_default_automated_senders, blank=True)
    automated_headers = models.BooleanField(
        "skip auto-replies and bounces by their headers", default=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "team exclusion list"

    def __str__(self):
        return f"Exclusions of {self.team}" if self.team_id else "Exclusions"

    def rules(self) -> ExclusionRules:
        return ExclusionRules(
            internal_domains=tuple(self.internal_domains or ()),
            listed=tuple(self.listed or ()),
            automated_senders=tuple(self.automated_senders or ()),
            automated_headers=self.automated_headers,
        )


class ExclusionChange(models.Model):
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, related_name="greenhouse_exclusion_changes"
    )
    # Entries as "list: entry", e.g. "internal: acme.example", "listed: agency.example".
    added = models.JSONField(default=list, blank=True)
    removed = models.JSONField(default=list, blank=True)
    # What the change did, in the words support staff and team admins read.
    effect = models.CharField(max_length=300, blank=True)
    skipped = models.PositiveIntegerField("waiting messages skipped", default=0)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_name = models.CharField("by", max_length=200, blank=True)
    at = models.DateTimeField("when", default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "-at"], name="greenhouse_excl_team_at")]
        verbose_name = "exclusion list change"

    def __str__(self):
        return f"Exclusions changed at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("The exclusion history is append-only: a row is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The exclusion history is append-only: a row is never deleted.")
