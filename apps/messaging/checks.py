"""Deploy checks for the webhooks of this app."""

import os

from django.conf import settings
from django.core.checks import Warning, register


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
