"""A backfill: a team admin's request to write messages from before sync could write them.

Why a row of its own: a message from before sync was turned on (or from before its prospect was
linked to a Greenhouse candidate) is skipped by the policy, and stays skipped. A team admin may
ask, once, for the messages of a chosen window to be written after all (issue 15, item 4). The
row says who asked, when, for which window and scope (the team, or one prospect), what the dry
run counted when it ran, and when the last of its records was done. The records it released
point to it (SyncRecord.backfill), which is how "why was this synced?" says "by a backfill",
how its progress is counted, and how a record is released by one backfill only. Rows are never
edited by people; backfill.py writes them.
"""

import enum

from django.conf import settings
from django.db import models

from apps.core.tones import TonedChoices, tone_of


class Backfill(models.Model):
    class Scope(models.TextChoices):
        TEAM = "team", "The team: messages from before sync was turned on"
        PROSPECT = "prospect", "One prospect: messages from before they were linked"

    class Status(TonedChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

        TONES = enum.nonmember({"running": "info", "finished": "ok"})

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    prospect = models.ForeignKey(
        "sequences.Prospect", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The window: messages created at or after `since` and before `until`.
    since = models.DateTimeField()
    until = models.DateTimeField()
    window_label = models.CharField(max_length=60, help_text="As the admin chose it.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_by_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    # What the dry run said at the moment of the run (backfill.py `Plan.counts`), and how many
    # records this backfill released to be written (always the dry run's "write" count or
    # fewer: a record another backfill released at the same moment is not taken twice).
    counts = models.JSONField(default=dict, blank=True)
    released = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "status"], name="backfill_team_status")]

    def __str__(self):
        who = f" of {self.prospect}" if self.prospect_id else ""
        return f"Backfill{who} ({self.window_label}), {self.get_status_display().lower()}"

    @property
    def tone(self) -> str:
        return tone_of(self.Status, self.status)
