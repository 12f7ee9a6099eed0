from django.conf import settings
from django.db import models


class Team(models.Model):
    """A recruiting team: the tenant. Everything a recruiter sees belongs to one team."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    # Copied into each new sequence when it is created (never into existing ones).
    default_bcc = models.CharField(
        "default BCC",
        max_length=500,
        blank=True,
        help_text="Copied into new sequences only, e.g. maildrop@greenhouse.io.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A user's place in a team. A user belongs to at most one team."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Team admin"
        RECRUITER = "recruiter", "Recruiter"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RECRUITER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user"]
        indexes = [models.Index(fields=["team", "role"])]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN
