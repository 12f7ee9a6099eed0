"""Deploy checks (`manage.py check --deploy`): embedded defaults that must not reach production,
and protections that production must not run without (errors)."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register(deploy=True)
def production_settings(app_configs, **kwargs):
    problems: list[CheckMessage] = []

    def warn(id_, msg, hint):
        problems.append(Warning(msg, hint=hint, id=f"outreach.{id_}"))

    if settings.USING_DEV_SECRET_KEY:
        warn(
            "W001",
            "SECRET_KEY is not set; a development key from VAR_DIR is in use.",
            "Set SECRET_KEY to a long random value.",
        )
    if settings.USING_DEV_ENCRYPTION_KEY:
        warn(
            "W002",
            "FIELD_ENCRYPTION_KEYS is not set; a development key is in use.",
            "Set FIELD_ENCRYPTION_KEYS (see .env.example).",
        )
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        warn("W003", "The database is SQLite.", "Set DATABASE_URL to PostgreSQL.")
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        warn(
            "W004",
            "Celery uses the embedded filesystem broker.",
            "Set CELERY_BROKER_URL to Redis or RabbitMQ.",
        )
    if settings.EMAIL_BACKEND.startswith(("apps.messaging.", "apps.harvest_sandbox.")):
        warn("W005", "Email goes to the development outbox.", "Set ANYMAIL_ESP and its settings.")
    if settings.SMS_BACKEND.endswith("DevOutboxSmsBackend"):
        warn(
            "W006",
            "SMS goes to the development outbox.",
            "Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
        )
    if not settings.PUBLIC_BASE_URL.startswith("https://"):
        warn("W007", "PUBLIC_BASE_URL is not https.", "Webhooks and links must use https.")
    if settings.DEV_TOOLS:
        warn("W008", "DEV_TOOLS is on: development pages are reachable.", "Unset DEV_TOOLS.")
    if not settings.STAFF_REQUIRE_2FA:
        problems.append(
            Error(
                "STAFF_REQUIRE_2FA is off: support staff reach every team's data in the admin "
                "with a password alone.",
                hint="Unset STAFF_REQUIRE_2FA (or set it to true) and enrol each staff member "
                "with `manage.py staff_totp_enroll <username>`.",
                id="outreach.E001",
            )
        )
    return problems
