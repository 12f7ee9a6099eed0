"""Deploy checks for the webhooks of this app: the secrets in effect, the ESP's views."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from apps.core.hosts import loopback_only


def _anymail_secrets() -> list[str]:
    secret = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
    return [secret] if isinstance(secret, str) else list(secret)


@register(deploy=True)
def webhook_secrets(app_configs, **kwargs):
    """Describe the webhook secrets in effect (not only whether the variables are set): unset,
    a random one refuses every call; the fixed development one is public, fine on a loopback-only
    deployment and an Error on any other."""
    public = not loopback_only(
        allowed_hosts=settings.ALLOWED_HOSTS, public_base_url=settings.PUBLIC_BASE_URL
    )
    on_public_host = (
        "ALLOWED_HOSTS or PUBLIC_BASE_URL is not loopback: anyone who reads the repository can "
        "call the webhook"
    )
    problems: list[CheckMessage] = []
    secrets = _anymail_secrets()
    if settings.DEV_ANYMAIL_WEBHOOK_SECRET in secrets:
        if public:
            problems.append(
                Error(
                    "The Anymail webhook secret in effect is the fixed development secret, "
                    f"which is public; {on_public_host} (post replies, change delivery statuses).",
                    hint="Set ANYMAIL_WEBHOOK_SECRET to a random 'user:password'.",
                    id="messaging.E001",
                )
            )
        else:
            problems.append(
                Warning(
                    "The Anymail webhook secret in effect is the fixed development secret "
                    "(DEV_TOOLS on a loopback-only deployment): the local simulator can call "
                    "the webhooks, and so can anyone who reaches this machine.",
                    hint="Set ANYMAIL_WEBHOOK_SECRET before the server is reachable from "
                    "elsewhere.",
                    id="messaging.W001",
                )
            )
    elif not secrets:
        problems.append(
            Error(
                "No Anymail webhook secret is in effect: Anymail accepts every webhook call, "
                "from anyone.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to a random 'user:password'.",
                id="messaging.E004",
            )
        )
    elif all(secret.startswith("unset:") for secret in secrets):
        problems.append(
            Warning(
                "ANYMAIL_WEBHOOK_SECRET is not set: a random secret is in effect, so every "
                "Anymail webhook call is refused.",
                hint="Set it to 'user:password' and put those credentials in the ESP's webhook "
                "URLs (https://user:password@host/anymail/<esp>/inbound/).",
                id="messaging.W001",
            )
        )

    token = settings.TWILIO_AUTH_TOKEN
    if token and token == settings.DEV_TWILIO_AUTH_TOKEN:
        if public:
            problems.append(
                Error(
                    "TWILIO_AUTH_TOKEN in effect is the fixed development token, which is "
                    f"public; {on_public_host} with a valid signature (fake inbound SMS, STOP "
                    "opt-outs, delivery statuses).",
                    hint="Set TWILIO_AUTH_TOKEN to the auth token of the Twilio account.",
                    id="messaging.E002",
                )
            )
        else:
            problems.append(
                Warning(
                    "TWILIO_AUTH_TOKEN in effect is the fixed development token (DEV_TOOLS on a "
                    "loopback-only deployment): the local SMS simulator signs with it.",
                    hint="Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
                    id="messaging.W002",
                )
            )
    elif not token:
        problems.append(
            Warning(
                "TWILIO_AUTH_TOKEN is not set: the Twilio webhooks answer 403.",
                hint="Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
                id="messaging.W002",
            )
        )
    return problems


@register(deploy=True)
def esp_webhooks_configured(app_configs, **kwargs):
    """The webhooks of the ESP in use (the only ones mounted) can start: a missing ESP setting
    (Mailgun's webhook signing key, for one) makes every call to them a 500."""
    from .webhooks import anymail_urlpatterns, esp_in_use

    esp = esp_in_use()
    problems, seen = [], set()
    for pattern in anymail_urlpatterns(esp=esp):
        view_class = pattern.callback.view_class
        if view_class in seen:
            continue
        seen.add(view_class)
        try:
            view_class(**pattern.callback.view_initkwargs)
        except ImproperlyConfigured as exc:
            problems.append(
                Error(
                    f"Anymail's {pattern.name} cannot start: every call to it answers 500. {exc}",
                    hint=f"Set the missing ANYMAIL_{esp.upper()}_... variable (see Anymail's "
                    f"docs for {esp}).",
                    id="messaging.E003",
                )
            )
    return problems
