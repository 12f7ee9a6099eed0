"""The review queue's models (issue 15): a prospect a person chose never to sync, the audit of
every review action, and the one creation of a prospect's Greenhouse candidate.

Their own module, as switch_history.py is, so the models of the sync proper stay readable;
models.py imports them, so `from .models import ReviewAction` works as for every other model.
`CandidateCreation` is one row per prospect on purpose: it is the lease that lets exactly one
worker (or person) send `POST /v3/candidates` for a prospect, however many of its messages wait
and however many workers run, and the log row written before that call (creation.py)."""

from django.conf import settings
from django.db import models

from apps.sequences.models import Prospect
from apps.teams.models import Team


class ProspectSyncIgnore(models.Model):
    """ "Never sync this prospect", set in the review queue; "stop ignoring" clears it. Every
    change is also a ReviewAction row (who and when)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.OneToOneField(Prospect, on_delete=models.CASCADE, related_name="sync_ignore")
    ignored = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "prospect ignored by the sync"

    def __str__(self):
        return f"{self.prospect}: {'ignored' if self.ignored else 'synced'}"


class ReviewAction(models.Model):
    """Audit: every action of the review queue, by a person or by the team's automatic
    creation (`by` empty), never edited. Shown on the prospect's sync page."""

    class Action(models.TextChoices):
        LINK = "link", "Linked to a candidate"
        CREATE = "create", "Created the candidate in Greenhouse"
        LINK_EXISTING = "link_existing", "Linked: the candidate already existed"
        SEVERAL_FOUND = "several_found", "Not created: several candidates have these emails"
        CREATE_FAILED = "create_failed", "Could not create the candidate"
        IGNORE = "ignore", "Ignored (never sync)"
        UNIGNORE = "unignore", "Stopped ignoring"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    candidate_id = models.PositiveBigIntegerField("Greenhouse candidate ID", null=True, blank=True)
    automatic = models.BooleanField(default=False)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["prospect", "at"])]

    def __str__(self):
        return f"{self.get_action_display()}: {self.prospect}"


class CandidateCreation(models.Model):
    """The creation of one prospect's candidate in Greenhouse: its lease and its log.

    `claimed_at` is the lease (taken by compare-and-set, LEASE long); `post_started_at` is
    committed before `POST /v3/candidates` is sent: when it is set and the status is not
    CREATED, an earlier attempt may have created the candidate, so the next one searches by
    every email first (the dedupe check is the read-back) and, when the search does not find it
    yet, waits for Greenhouse's lag before it posts again."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be created"
        RUNNING = "running", "Being created"
        CREATED = "created", "Created in Greenhouse"
        EXISTED = "existed", "Already in Greenhouse"
        FAILED = "failed", "Could not be created"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.OneToOneField(
        Prospect, on_delete=models.CASCADE, related_name="greenhouse_creation"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    automatic = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    post_started_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    candidate_id = models.PositiveBigIntegerField("Greenhouse candidate ID", null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"Creation of {self.prospect} in Greenhouse: {self.get_status_display()}"
