import enum

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core import crypto
from apps.core.backoff import RetryPolicy
from apps.core.outbox import OutboxBase
from apps.core.tones import TonedChoices
from apps.messaging.models import Channel, Message, Thread
from apps.sequences.models import Prospect
from apps.teams.models import Team

from .harvest import hosts
from .policy import EXPLANATIONS, CandidateMatch, Reason, UnknownRecipients


def default_api_base_url() -> str:
    """Only for migrations 0001-0004, from when a connection stored its own URLs."""
    return hosts.host_profile(hosts.default_host_key()).api_base_url


def default_token_url() -> str:
    """Only for migrations 0001-0004, from when a connection stored its own URLs."""
    return hosts.host_profile(hosts.default_host_key()).token_url


def host_choices() -> list[tuple[str, str]]:
    """The operator's Greenhouse host profiles (settings.GREENHOUSE_HOSTS), read when used."""
    return [
        (profile.key, f"{profile.label} ({profile.api_base_url})")
        for profile in hosts.host_profiles().values()
    ]


def default_host() -> str:
    return hosts.default_host_key()


class NoteVisibility(models.TextChoices):
    """Harvest's write spelling. Public is what the product spec describes (and warns about)."""

    PUBLIC = "public", "Public: everyone with access to the candidate"
    PRIVATE = "private", "Private: users allowed to see private notes"
    ADMIN_ONLY = "admin_only", "Admin only: Job Admins and Site Admins"


class MaildropOverlap(models.TextChoices):
    """What the sync does with an email that also went to Greenhouse Maildrop (a BCC). Maildrop
    logs its own copy, public whatever the team's note visibility; writing ours too shows every
    such email twice. Skipping is the default: it removes the duplicate, and writing both keeps
    nothing private that Maildrop has not already made public."""

    SKIP_SYNC_NOTE = "skip_sync_note", "Skip the sync note for emails BCC'd to Maildrop"
    WRITE_BOTH = "write_both", "Write both: Maildrop's copy and the sync note"


class GreenhouseIntegration(models.Model):
    """A team's connection to its Greenhouse account: Harvest v3 OAuth client credentials.

    The client secret is stored encrypted and is write-only: set it with `set_client_secret()`,
    read it only to mint a token (`get_client_secret()`); it is never displayed, not even in part.

    `host` names one of the operator's host profiles (settings.GREENHOUSE_HOSTS): a connection
    holds no URL, so nothing a tenant enters decides where the secret is sent.
    """

    class Health(TonedChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        OK = "ok", "OK"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

        TONES = enum.nonmember({"ok": "ok", "needs_attention": "bad", "unchecked": "warn"})

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, related_name="greenhouse_integration"
    )
    client_id = models.CharField(
        "client ID",
        max_length=255,
        help_text="Greenhouse → Configure → Dev Center → API Credentials → Harvest V3 (OAuth).",
    )
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    client_secret_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    acting_user_id = models.PositiveBigIntegerField(
        "acting Greenhouse user ID",
        null=True,
        blank=True,
        help_text=(
            "The user tokens act as (OAuth `sub`). Must be a Site Admin, since Harvest list "
            "endpoints require one. Empty: the credential's integration service user."
        ),
    )
    host = models.CharField(
        "Greenhouse host",
        max_length=50,
        choices=host_choices,
        default=default_host,
        help_text="One of the host profiles in the server's settings (GREENHOUSE_HOSTS).",
    )
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNCHECKED)
    last_error = models.TextField(blank=True, help_text="What was wrong at the last check.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Since when the connection has needed attention (the recheck's delay grows with it), and
    # since when because Greenhouse could not be reached at all (records held for the outage).
    unhealthy_since = models.DateTimeField(null=True, blank=True, editable=False)
    unreachable_since = models.DateTimeField(null=True, blank=True, editable=False)

    # Activity sync: support staff enable the feature (only with healthy credentials), then a
    # team admin switches it on and off and chooses the visibility of the notes.
    sync_enabled_by_support = models.BooleanField("sync enabled by support", default=False)
    sync_enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    sync_enabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_on = models.BooleanField("sync on", default=False, editable=False)
    # Messages from before this moment are never synced (no backfill of old conversations).
    sync_on_since = models.DateTimeField(null=True, blank=True, editable=False)
    sync_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    sync_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    note_visibility = models.CharField(
        max_length=20,
        choices=NoteVisibility.choices,
        default=NoteVisibility.PUBLIC,
        editable=False,
    )
    maildrop_overlap = models.CharField(
        "emails also BCC'd to Maildrop",
        max_length=20,
        choices=MaildropOverlap.choices,
        default=MaildropOverlap.SKIP_SYNC_NOTE,
        editable=False,
    )
    # Issue 15: prospects no Greenhouse candidate matches.
    unknown_recipients = models.CharField(
        "recipients not in Greenhouse",
        max_length=10,
        choices=[
            (
                UnknownRecipients.WAIT,
                "Wait for them to appear in Greenhouse, and list them for review",
            ),
            (UnknownRecipients.CREATE, "Create them in Greenhouse (after checking every email)"),
            (UnknownRecipients.SKIP, "Skip their messages"),
        ],
        default=UnknownRecipients.WAIT,
        editable=False,
    )
    waiting_days = models.PositiveSmallIntegerField(
        "days to wait for a candidate",
        default=30,
        editable=False,
        help_text="How long messages wait for their prospect to appear in Greenhouse.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team"]
        indexes = [models.Index(fields=["health"])]

    def __str__(self):
        return f"Greenhouse for {self.team}" if self.team_id else "Greenhouse integration"

    def set_client_secret(self, value: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(value) if value else ""
        self.client_secret_set_at = timezone.now() if value else None

    def get_client_secret(self) -> str:
        """The plain secret. Raises crypto.SecretDecryptionError when no key decrypts it."""
        return crypto.decrypt(self.client_secret_encrypted) if self.client_secret_encrypted else ""

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def client_secret_summary(self) -> str:
        """All that is ever shown of the secret: whether it is set, and when."""
        if not self.client_secret_encrypted:
            return "not configured"
        try:
            self.get_client_secret()
        except crypto.SecretDecryptionError:
            return "configured, but it cannot be decrypted with the current FIELD_ENCRYPTION_KEYS"
        if self.client_secret_set_at is None:
            return "configured"
        return f"configured, set {timezone.localtime(self.client_secret_set_at):%Y-%m-%d %H:%M %Z}"

    @property
    def host_label(self) -> str:
        """The host profile's name, or a warning when the operator no longer configures it."""
        profile = hosts.host_profiles().get(self.host)
        return profile.label if profile else f"{self.host} (not configured on this server)"

    def candidate_url(self, candidate_id: int | None) -> str:
        """The candidate's activity feed in this host's web app ("" when unknown)."""
        profile = hosts.host_profiles().get(self.host)
        return profile.candidate_url(candidate_id) if profile else ""

    @property
    def is_healthy(self) -> bool:
        return self.health == self.Health.OK


class GreenhouseUserMapping(models.Model):
    """Which Greenhouse user a team member is, so notes are attributed to the right recruiter.

    Found by email through Harvest (`source=email`) or set by a team admin (`source=admin`, kept
    by later refreshes). `greenhouse_user_id` is empty when the last lookup found no usable user;
    `problem` then says why.
    """

    class Source(models.TextChoices):
        EMAIL = "email", "Found by email"
        ADMIN = "admin", "Set by an admin"

    integration = models.ForeignKey(
        GreenhouseIntegration, on_delete=models.CASCADE, related_name="user_mappings"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="greenhouse_mappings"
    )
    greenhouse_user_id = models.PositiveBigIntegerField("Greenhouse user ID", null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EMAIL)
    problem = models.CharField(max_length=300, blank=True)
    looked_up_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration", "user"]
        verbose_name = "Greenhouse user mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "user"], name="greenhouse_mapping_unique_per_user"
            ),
        ]

    def __str__(self):
        target = self.greenhouse_user_id or "unmapped"
        return f"{self.user} → Greenhouse user {target}"


class CandidateLink(models.Model):
    """Which Greenhouse candidate a prospect is, resolved once by email and then reused.

    `match` "one" is final (until Greenhouse says the candidate is gone); "none" and "several"
    are looked up again once GREENHOUSE_LOOKUP_CACHE_SECONDS have passed (candidates.py).
    Support staff settle "several" by choosing one.
    """

    class Source(models.TextChoices):
        EMAIL = "email", "Found by email"
        SUPPORT = "support", "Chosen by support"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.OneToOneField(
        Prospect, on_delete=models.CASCADE, related_name="greenhouse_link"
    )
    candidate_id = models.PositiveBigIntegerField("Greenhouse candidate ID", null=True, blank=True)
    match = models.CharField(
        max_length=10,
        choices=[(m.value, m.value) for m in CandidateMatch if m != CandidateMatch.UNKNOWN],
    )
    candidate_ids_seen = models.JSONField(default=list, blank=True)
    emails_searched = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.EMAIL)
    resolved_at = models.DateTimeField()

    class Meta:
        ordering = ["-resolved_at"]
        verbose_name = "Greenhouse candidate link"
        indexes = [
            models.Index(fields=["team", "match"]),
            # Search of the sync log by Greenhouse candidate id.
            models.Index(fields=["candidate_id"], name="candidatelink_candidate_id"),
        ]

    def __str__(self):
        target = self.candidate_id or self.match
        return f"{self.prospect} → Greenhouse candidate {target}"


class PauseVia(models.TextChoices):
    EMAIL_LINK = "email_link", "Link in the bot email"
    APP = "app", "In the app"


class ProspectSyncPause(models.Model):
    """Whether sync is paused for one prospect (email and SMS). `resume_version` is in every
    pause link; a resume bumps it, so links sent before the resume no longer pause."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.OneToOneField(Prospect, on_delete=models.CASCADE, related_name="sync_pause")
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    paused_via = models.CharField(max_length=20, choices=PauseVia.choices, blank=True)
    resume_version = models.PositiveIntegerField(default=0)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-paused_at"]
        verbose_name = "candidate sync pause"

    def __str__(self):
        return f"{self.prospect}: {'paused' if self.paused else 'syncing'}"


class SyncPauseEvent(models.Model):
    """Audit: every pause and resume, who did it, when and how (never edited)."""

    class Action(models.TextChoices):
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    via = models.CharField(max_length=20, choices=PauseVia.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # For link clicks: whom the link was sent to (anyone holding the email can click it).
    link_recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "candidate sync pause event"

    def __str__(self):
        return f"{self.get_action_display()} {self.prospect} ({self.get_via_display()})"


class SyncRecord(OutboxBase):
    """One per message: the outbox entry (what to write) and its log (what happened, and why).

    The row is written in the message's own transaction; the Celery task only wakes a worker
    (the claim, retries and the sweep are apps/core/outbox.py's).
    `post_started_at` is committed before every POST: when it is set and `note_id` is empty, an
    earlier attempt may have written the note, so the worker reads the candidate's notes back
    and looks for `note_ref` before it posts again.
    """

    class Status(TonedChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        WRITTEN = "written", "Written"
        SKIPPED = "skipped", "Skipped"
        HELD = "held", "Held"
        FAILED = "failed", "Failed"

        TONES = enum.nonmember(
            {
                "pending": "info",
                "in_progress": "info",
                "written": "ok",
                "held": "warn",
                "failed": "bad",
            }
        )

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.IN_PROGRESS
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.greenhouse.tasks.sync_record_write_task"
    OUTBOX_ERROR_FIELD = "last_error"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="sync_record")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="sync_records")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="sync_records")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Message.Direction.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=30, choices=[(r.value, r.value) for r in Reason])
    candidate_id = models.PositiveBigIntegerField("Greenhouse candidate ID", null=True, blank=True)
    note_id = models.PositiveBigIntegerField("Greenhouse note ID", null=True, blank=True)
    note_ref = models.CharField("note reference", max_length=40, blank=True)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).
    post_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["status", "claimed_at"]),
            models.Index(fields=["thread", "status"]),
            # The team's sync log: newest first (keyset on id), filtered by status or reason.
            models.Index(fields=["team", "id"], name="syncrecord_team_id"),
            models.Index(fields=["team", "status", "id"], name="syncrecord_team_status_id"),
            models.Index(fields=["team", "reason", "id"], name="syncrecord_team_reason_id"),
            # The backlog's recent write rate.
            models.Index(fields=["team", "written_at"], name="syncrecord_team_written"),
            # Operators' figures across teams: notes written lately and their latency.
            models.Index(fields=["written_at"], name="syncrecord_written_at"),
            # Search by Greenhouse note id (support and team admins paste it from Greenhouse).
            models.Index(fields=["note_id"], name="syncrecord_note_id"),
            # The support dashboard: counts per day, team and status (an index-only scan).
            models.Index(
                fields=["created_at", "team", "status"], name="syncrecord_day_team_status"
            ),
        ]

    def __str__(self):
        return f"Sync of message {self.message_id}: {self.get_status_display()}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=settings.GREENHOUSE_SYNC_MAX_ATTEMPTS,
            base_delay=settings.GREENHOUSE_SYNC_RETRY_BASE_DELAY,
            max_delay=settings.GREENHOUSE_SYNC_RETRY_MAX_DELAY,
        )

    @property
    def explanation(self) -> str:
        """Why it was (or will be) synced, skipped or held, in words people understand."""
        try:
            return EXPLANATIONS[Reason(self.reason)]
        except ValueError:
            return self.reason


class SyncAttempt(models.Model):
    """One external step of a record (candidate lookup, read-back, POST), logged before the
    call and completed after it, so a crash leaves a row that says where it stopped."""

    class Kind(models.TextChoices):
        LOOKUP = "lookup", "Candidate lookup"
        READ_BACK = "read_back", "Read notes back"
        POST = "post", "Write note"

    class Outcome(models.TextChoices):
        STARTED = "started", "Started (no answer recorded)"
        OK = "ok", "OK"
        FOUND = "found", "Found the note on read-back"
        NOT_FOUND = "not_found", "Not found on read-back"
        RETRY = "retry", "Will retry"
        ERROR = "error", "Error"
        STOPPED = "stopped", "Stopped by a switch before it was sent"

    record = models.ForeignKey(SyncRecord, on_delete=models.CASCADE, related_name="attempts_log")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.STARTED)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["record", "started_at"]),
            # Operators' 429 counts (all time per team, and lately): the few refused attempts.
            models.Index(
                fields=["started_at", "record"],
                condition=models.Q(http_status=429),
                name="syncattempt_rate_limited",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.get_outcome_display()}"


class BotNotice(OutboxBase):
    """The one bot email per synced thread, to the recruiter who owns it (never the candidate).

    An outbox row (apps/core/outbox.py) whose task takes the thread's id.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.SENDING
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.greenhouse.tasks.bot_notice_send_task"
    OUTBOX_TASK_ARG = "thread_id"
    MAX_ATTEMPTS = 5

    thread = models.OneToOneField(Thread, on_delete=models.CASCADE, related_name="bot_notice")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    recipient = models.CharField(max_length=320, blank=True)
    # Our RFC 5322 Message-ID, without angle brackets.
    rfc_message_id = models.CharField("Message-ID", max_length=998)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"Bot email for thread {self.thread_id}: {self.get_status_display()}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        # An email like the notes' sync: the same waits, fewer attempts.
        return RetryPolicy(
            max_attempts=cls.MAX_ATTEMPTS,
            base_delay=settings.GREENHOUSE_SYNC_RETRY_BASE_DELAY,
            max_delay=settings.GREENHOUSE_SYNC_RETRY_MAX_DELAY,
        )


class SyncLane(models.Model):
    """A team's one wake-up for its sync records (apps/greenhouse/lanes.py): at most one
    `sync_team_write_task` of the team is on its way at a time, however many records arrive.

    `queued_at` is the lease (as in apps/core/outbox.py) and the task's token: NULL, none on
    its way; older than QUEUE_LEASE, taken for lost. `due_at`: when that task runs (a countdown
    to a retry or a rate slot). `budget_until`: the credential's next rate slot, as the last
    batch learned it; a wake-up before it would only find the budget closed.
    """

    team = models.OneToOneField(Team, on_delete=models.CASCADE, primary_key=True, related_name="+")
    queued_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    budget_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Sync lane of team {self.team_id}"


# The alerts to team admins (issue 16): their models' module says why it is separate.
from .alert_models import AlertCause, AlertEmail, TeamAlert  # noqa: E402, F401

# The switch history is a model of its own module (switch_history.py says why); imported here so
# that `from .models import SwitchEvent` works like every other model of the app.
from .switch_history import SwitchEvent  # noqa: E402, F401
