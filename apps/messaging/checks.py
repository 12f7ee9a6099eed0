"""Deploy checks for the webhooks of this app."""

import os

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(deploy=True)
def webhook_secrets(app_configs, **kwargs):
    problems = []
    if not os.environ.get("ANYMAIL_WEBHOOK_SECRET"):
        problems.append(
            Warning(
                "ANYMAIL_WEBHOOK_SECRET is not set: every Anymail webhook call is refused.",
                hint="Set it to 'user:password' and put those credentials in the ESP's webhook "
                "URLs (https://user:password@host/anymail/<esp>/inbound/).",
                id="messaging.W001",
            )
        )
    if not settings.TWILIO_AUTH_TOKEN:
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
