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
from .policy import EXPLANATIONS, CandidateMatch, Reason, Review, UnknownRecipients


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
    # Messages from before this moment are not synced, unless a team admin backfills them.
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
    # Issue 16: SMS as one transcript note per conversation once it has been quiet this long
    # (transcripts.py); empty: one note per message.
    sms_transcript_quiet_seconds = models.PositiveIntegerField(
        "SMS transcript quiet time (seconds)", null=True, blank=True, editable=False
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
    candidate_tag = models.CharField(
        "tag for candidates this app creates",
        max_length=100,
        blank=True,
        default="",
        editable=False,
        help_text='Added to every candidate this app creates, e.g. "Added from Outreach".',
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
        DIRECTORY = "directory", "Found in the candidate directory"
        SUPPORT = "support", "Chosen by support"
        MANUAL = "manual", "Chosen in the review queue"
        CREATED = "created", "Created in Greenhouse by this app"

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


class ThreadNoteVisibility(models.Model):
    """One thread's own visibility for its later notes, stricter than the team's default
    (apps/greenhouse/visibility.py decides which one a note gets). No row: the team's default."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    thread = models.OneToOneField(
        Thread, on_delete=models.CASCADE, related_name="note_visibility_override"
    )
    visibility = models.CharField(max_length=20, choices=NoteVisibility.choices)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "thread note visibility"

    def __str__(self):
        return f"{self.thread}: {self.get_visibility_display()}"


class ThreadVisibilityEvent(models.Model):
    """Audit: every change of a thread's note visibility, who made it and when (never edited).
    An empty `visibility` means the thread went back to the team's default."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")
    previous = models.CharField(max_length=20, choices=NoteVisibility.choices, blank=True)
    visibility = models.CharField(max_length=20, choices=NoteVisibility.choices, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_name = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "thread visibility event"

    def __str__(self):
        before, after = self.previous or "team default", self.visibility or "team default"
        return f"{self.thread}: {before} → {after}"


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
    # Which entry of the team's exclusions skipped it (issue 16), e.g. "acme.example" or
    # "Auto-Submitted: auto-replied"; "" for every other reason.
    reason_detail = models.CharField("excluded by", max_length=200, blank=True, default="")
    candidate_id = models.PositiveBigIntegerField("Greenhouse candidate ID", null=True, blank=True)
    note_id = models.PositiveBigIntegerField("Greenhouse note ID", null=True, blank=True)
    note_ref = models.CharField("note reference", max_length=40, blank=True)
    # attempts, claimed_at, next_attempt_at, queued_at: the outbox's (OutboxBase).
    post_started_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    written_at = models.DateTimeField(null=True, blank=True)
    # The backfill that released this record (a message from before sync could write it), if
    # any: the explanation says so, and the writer tells the policy (backfill.py).
    backfill = models.ForeignKey(
        "greenhouse.Backfill",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="records",
        editable=False,
    )
    # The visibility the note was written with (visibility.py); empty until written.
    visibility = models.CharField(max_length=20, choices=NoteVisibility.choices, blank=True)
    # Issue 16, SMS transcripts (transcripts.py): the record was made while the team wrote SMS
    # as transcripts, and the lead record of the transcript it belongs to (the lead owns the
    # note: its note_ref is the transcript's one reference, its post_started_at the read-back's
    # cue; the other members wait HELD until the lead's outcome settles them).
    in_transcript = models.BooleanField(default=False)
    transcript_lead = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

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
    def reason_explanation(self) -> str:
        """The reason's explanation alone (no query)."""
        try:
            return EXPLANATIONS[Reason(self.reason)]
        except ValueError:
            return self.reason

    @property
    def explanation(self) -> str:
        """Why it was (or will be) synced, skipped or held, in words people understand; with
        the backfill that released it, if any (select_related("backfill") where it is listed)."""
        text = self.reason_explanation
        if self.backfill_id is not None:
            text = f"{text} {self.backfill_line}"
        return text

    @property
    def backfill_line(self) -> str:
        """What the backfill that released this record adds to its explanation ("")."""
        if self.backfill_id is None:
            return ""
        backfill = self.backfill
        if backfill is None:
            return ""
        when = f"{timezone.localtime(backfill.created_at):%Y-%m-%d %H:%M}"
        who = f" by {backfill.requested_by_name}" if backfill.requested_by_name else ""
        done = {
            self.Status.WRITTEN.value: "Written by a backfill",
            self.Status.SKIPPED.value: "Looked at again by a backfill",
            self.Status.HELD.value: "Held for a backfill",
        }.get(str(self.status), "Queued by a backfill")
        return f"{done} started{who} on {when}: the message is from before it could be synced."


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


class ProspectLookup(OutboxBase):
    """The scheduled re-lookup of a prospect that no Greenhouse candidate matched yet, while
    messages of theirs wait ("not in Greenhouse yet", issue 15; waiting.py does the work).

    One row per prospect however many of its messages wait, so a due time costs one lookup (the
    prospect's every address), not one per message. An outbox row (apps/core/outbox.py):
    `next_attempt_at` is when the next lookup is due, `queued_at` the lease of the task on its
    way, `attempts` the failed tries of the current due time (bounded; then the schedule goes
    on), `step` how many lookups found nothing since the prospect started waiting (it picks the
    next interval of GREENHOUSE_WAITING_LOOKUP_SCHEDULE). Done: nothing waits any more.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the next lookup"
        LOOKING = "looking", "Looking up"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.LOOKING
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.greenhouse.tasks.prospect_lookup_task"
    OUTBOX_ERROR_FIELD = "last_error"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.OneToOneField(
        Prospect, on_delete=models.CASCADE, related_name="greenhouse_lookup"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    step = models.PositiveSmallIntegerField(default=0)
    waiting_since = models.DateTimeField()
    last_looked_up_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["next_attempt_at", "id"]
        verbose_name = "Greenhouse re-lookup of a waiting prospect"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="prospectlookup_due"),
            models.Index(fields=["status", "claimed_at"], name="prospectlookup_claimed"),
        ]

    def __str__(self):
        return f"Re-lookup of {self.prospect}: {self.get_status_display()}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=settings.GREENHOUSE_WAITING_LOOKUP_MAX_ATTEMPTS,
            base_delay=settings.GREENHOUSE_SYNC_RETRY_BASE_DELAY,
            max_delay=settings.GREENHOUSE_SYNC_RETRY_MAX_DELAY,
        )


# --- Issue 16, item 2: review before writing, for sensitive mail (review.py, sensitive.py) -------


class ReviewExpiry(models.TextChoices):
    """What happens to a sensitive message nobody reviewed within the team's review time."""

    SKIP = "skip", "Skip it: nothing is written"
    WRITE = "write", "Write it as it is"


class ReviewRules(models.Model):
    """A team's sensitive words and patterns, and how long a match waits for its recruiter.

    Off until a team admin turns it on; the default list is offered (sensitive.DEFAULT_TERMS).
    Its own row rather than columns of the integration: the rules change on their own page
    section, and each change is a row of the switch history."""

    integration = models.OneToOneField(
        GreenhouseIntegration, on_delete=models.CASCADE, related_name="review_rules"
    )
    enabled = models.BooleanField("hold sensitive messages for review", default=False)
    terms = models.TextField("sensitive words and patterns", blank=True)
    review_hours = models.PositiveIntegerField("review time (hours)", default=72)
    on_expiry = models.CharField(
        "when nobody reviews in time",
        max_length=10,
        choices=ReviewExpiry.choices,
        default=ReviewExpiry.SKIP,
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "review rules"
        verbose_name_plural = "review rules"

    def __str__(self):
        return f"Review rules of {self.integration}"


class SensitiveReview(models.Model):
    """One sensitive message waiting for (or past) its recruiter's review.

    The record stays HELD (AWAITING_REVIEW) while `state` is pending; the policy reads `state`
    (the `review` fact) each time it decides. `edited_text` replaces the note's text, never the
    sent mail. `matched` holds the rules' labels, never the matched text."""

    record = models.OneToOneField(SyncRecord, on_delete=models.CASCADE, related_name="review")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="+")
    matched = models.JSONField(default=list)
    state = models.CharField(
        max_length=20,
        choices=[
            (Review.PENDING.value, "Waiting for review"),
            (Review.APPROVED.value, "Approved"),
            (Review.DROPPED.value, "Dropped"),
            (Review.EXPIRED_WRITE.value, "Not reviewed in time: written"),
            (Review.EXPIRED_SKIP.value, "Not reviewed in time: skipped"),
        ],
        default=Review.PENDING.value,
    )
    edited_text = models.TextField(blank=True)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "state", "created_at"], name="greenhouse_review_team"),
            models.Index(fields=["state", "expires_at"], name="greenhouse_review_due"),
        ]

    def __str__(self):
        return f"Review of sync record {self.record_id}: {self.get_state_display()}"

    @property
    def is_pending(self) -> bool:
        """Still to be decided: pending, and its record still waiting to be written (a record
        settled meanwhile for another cause, such as no candidate or sync turned off, leaves
        nothing to decide)."""
        return self.state == Review.PENDING and self.record.status in (
            SyncRecord.Status.PENDING,
            SyncRecord.Status.HELD,
        )


class ReviewNotice(OutboxBase):
    """The bot email telling the recruiter that a sensitive message waits for their review
    (bot_notice.py), one per review; an outbox row whose task takes the review's id."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    OUTBOX_PENDING = Status.PENDING
    OUTBOX_CLAIMED = Status.SENDING
    OUTBOX_FAILED = Status.FAILED
    OUTBOX_TASK = "apps.greenhouse.tasks.review_notice_send_task"
    OUTBOX_TASK_ARG = "review_id"
    MAX_ATTEMPTS = 5

    review = models.OneToOneField(SensitiveReview, on_delete=models.CASCADE, related_name="notice")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    recipient = models.CharField(max_length=320, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="greenhouse_revnotice")]

    def __str__(self):
        return f"Review email for review {self.review_id}: {self.get_status_display()}"

    @classmethod
    def outbox_retry_policy(cls) -> RetryPolicy:
        return BotNotice.outbox_retry_policy()


class CandidateDirectory(models.Model):
    """A team's index of its Greenhouse candidates' email addresses (apps/greenhouse/directory.py
    says why and how): the state of its crawls and refreshes, one row per team.

    A pass (a full crawl, or a refresh of what changed since the last one) goes page by page;
    `next_url` is the saved cursor link of its next page, so a crashed pass goes on where it
    stopped. `lease_until` makes one pass at a time per team. `refreshed_at`: when the last
    finished pass started (the index holds every candidate updated before it). `key_id`: which
    hash key and which Greenhouse account the entries are for (another one: they are dropped).
    """

    class Pass(models.TextChoices):
        IDLE = "", "None running"
        CRAWL = "crawl", "Full crawl"
        REFRESH = "refresh", "Refresh"

    team = models.OneToOneField(Team, on_delete=models.CASCADE, primary_key=True, related_name="+")
    key_id = models.CharField(max_length=64, blank=True)
    complete = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    crawled_at = models.DateTimeField(null=True, blank=True)
    # The full crawls so far; a crawl's entries carry its number, and the older ones go at its end.
    generation = models.PositiveIntegerField(default=0)
    pass_kind = models.CharField(max_length=10, choices=Pass.choices, default=Pass.IDLE, blank=True)
    pass_started_at = models.DateTimeField(null=True, blank=True)
    pass_since = models.DateTimeField(null=True, blank=True)
    next_url = models.TextField(blank=True)
    pages = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # A pass task on its way (so records queue one, not one each), like SyncLane.queued_at.
    queued_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "candidate directory"
        verbose_name_plural = "candidate directories"

    def __str__(self):
        state = "complete" if self.complete else "not complete"
        return f"Candidate directory of team {self.team_id} ({state})"


class DirectoryEntry(models.Model):
    """One address of one Greenhouse candidate of the team, as a keyed hash only (HMAC-SHA256 of
    the normalised address with a server key): the table never holds an address, and an id is
    learned only for an address we already hold."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)
    candidate_id = models.PositiveBigIntegerField()
    generation = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "digest", "candidate_id"], name="directoryentry_unique"
            )
        ]
        indexes = [models.Index(fields=["team", "candidate_id"], name="directoryentry_candidate")]

    def __str__(self):
        return f"Candidate {self.candidate_id} of team {self.team_id}"


class DirectoryFetch(models.Model):
    """One request of a directory pass, logged before it is sent and completed after it (as
    SyncAttempt is for a record's): a crash leaves a row that says where the pass stopped."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started (no answer recorded)"
        OK = "ok", "OK"
        NO_SLOT = "no_slot", "Not sent: no rate slot"
        ERROR = "error", "Error"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10)  # crawl, refresh or verify
    page = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.STARTED)
    candidates = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["team", "started_at"], name="directoryfetch_team")]

    def __str__(self):
        return f"Directory {self.kind} page {self.page}: {self.get_outcome_display()}"


# The alerts to team admins (issue 16): their models' module says why it is separate.
from .alert_models import AlertCause, AlertEmail, TeamAlert  # noqa: E402, F401

# The switch history is a model of its own module (switch_history.py says why); imported here so
# that `from .models import SwitchEvent` works like every other model of the app.
# The same for backfills (backfill_models.py).
from .backfill_models import Backfill  # noqa: E402, F401

# Models of their own modules (each says why): the team's exclusion lists.
from .exclusion_list import ExclusionChange, TeamExclusions  # noqa: E402, F401

# The review queue's models (review_models.py).
from .review_models import (  # noqa: E402, F401
    CandidateCreation,
    ProspectSyncIgnore,
    ReviewAction,
)
from .switch_history import SwitchEvent  # noqa: E402, F401
