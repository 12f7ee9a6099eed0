from django.conf import settings
from django.db import models

from apps.teams.models import Team

from . import crypto


def default_api_base_url() -> str:
    return settings.GREENHOUSE_API_BASE_URL


def default_token_url() -> str:
    return settings.GREENHOUSE_TOKEN_URL


class GreenhouseIntegration(models.Model):
    """A team's connection to its Greenhouse account: Harvest v3 OAuth client credentials.

    The client secret is stored encrypted and is write-only: set it with `set_client_secret()`,
    read it only to mint a token (`get_client_secret()`); it is never displayed.
    """

    class Health(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        OK = "ok", "OK"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, related_name="greenhouse_integration"
    )
    client_id = models.CharField(
        "client ID",
        max_length=255,
        help_text="Greenhouse → Configure → Dev Center → API Credentials → Harvest V3 (OAuth).",
    )
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    acting_user_id = models.PositiveBigIntegerField(
        "acting Greenhouse user ID",
        null=True,
        blank=True,
        help_text=(
            "The user tokens act as (OAuth `sub`). Must be a Site Admin, since Harvest list "
            "endpoints require one. Empty: the credential's integration service user."
        ),
    )
    api_base_url = models.URLField("API base URL", default=default_api_base_url)
    token_url = models.URLField("token URL", default=default_token_url)
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNCHECKED)
    last_error = models.TextField(blank=True, help_text="What was wrong at the last check.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team"]
        indexes = [models.Index(fields=["health"])]

    def __str__(self):
        return f"Greenhouse for {self.team}" if self.team_id else "Greenhouse integration"

    def set_client_secret(self, value: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(value) if value else ""

    def get_client_secret(self) -> str:
        """The plain secret. Raises crypto.SecretDecryptionError when no key decrypts it."""
        return crypto.decrypt(self.client_secret_encrypted) if self.client_secret_encrypted else ""

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def client_secret_hint(self) -> str:
        """All the admin may show of the secret: whether it is set, and its last 4 characters."""
        if not self.client_secret_encrypted:
            return "not configured"
        try:
            secret = self.get_client_secret()
        except crypto.SecretDecryptionError:
            return "configured, but it cannot be decrypted with the current FIELD_ENCRYPTION_KEYS"
        return f"configured, ends in …{secret[-4:]}" if len(secret) >= 12 else "configured"

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
