"""A connection names one of the operator's host profiles instead of holding its own URLs.

Team admins used to type the Harvest base URL and the token URL, so one could point the token URL
at a host of theirs and receive the stored secret (or use the server to probe internal hosts).
From now on settings.GREENHOUSE_HOSTS lists the only hosts the server contacts, and a connection
stores the key of one of them in `host`.

Existing rows:
- URLs equal to a configured profile's (scheme and host case-insensitive, trailing slash
  ignored) get that profile's key and keep their secret: nothing changes for them.
- Any other URLs get the default profile. The secret is cleared, since it was entered for other
  hosts and may have been sent to them, and the connection needs attention with an explanation:
  a team admin enters the secret again (and tests), and until then the sync holds its records
  (nothing is lost; they go out once the connection works). The old URLs are not kept.

`client_secret_set_at` is new; secrets stored before are "configured" with no date.
Backwards, the URLs of each row's profile are written back.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import migrations, models

import apps.greenhouse.models

FRESH_SECRET_NEEDED = (
    "This connection used Greenhouse hosts that this server no longer allows, so it now uses "
    "the standard host and its client secret was removed. Enter the client secret again, then "
    "test the connection."
)


def _normalized(url: str) -> tuple[str, str, str]:
    parts = urlsplit((url or "").strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def _profiles() -> dict[str, tuple[str, str]]:
    return {
        key: (spec["api"], spec["token"])
        for key, spec in getattr(settings, "GREENHOUSE_HOSTS", {}).items()
        if isinstance(spec, dict) and spec.get("api") and spec.get("token")
    }


def urls_to_host_keys(apps, schema_editor):
    Integration = apps.get_model("greenhouse", "GreenhouseIntegration")
    by_urls = {
        (_normalized(api), _normalized(token)): key for key, (api, token) in _profiles().items()
    }
    default = settings.GREENHOUSE_DEFAULT_HOST
    for integration in Integration.objects.all():
        key = by_urls.get((_normalized(integration.api_base_url), _normalized(integration.token_url)))
        if key is not None:
            Integration.objects.filter(pk=integration.pk).update(host=key)
            continue
        Integration.objects.filter(pk=integration.pk).update(
            host=default,
            client_secret_encrypted="",
            client_secret_set_at=None,
            health="needs_attention",
            last_error=FRESH_SECRET_NEEDED,
        )


def host_keys_to_urls(apps, schema_editor):
    Integration = apps.get_model("greenhouse", "GreenhouseIntegration")
    profiles = _profiles()
    fallback = profiles.get(
        settings.GREENHOUSE_DEFAULT_HOST,
        ("https://harvest.greenhouse.io", "https://auth.greenhouse.io/token"),
    )
    for integration in Integration.objects.all():
        api, token = profiles.get(integration.host, fallback)
        Integration.objects.filter(pk=integration.pk).update(api_base_url=api, token_url=token)


class Migration(migrations.Migration):
    dependencies = [
        ("greenhouse", "0003_ui_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="greenhouseintegration",
            name="host",
            field=models.CharField(
                choices=apps.greenhouse.models.host_choices,
                default=apps.greenhouse.models.default_host,
                help_text="One of the host profiles in the server's settings (GREENHOUSE_HOSTS).",
                max_length=50,
                verbose_name="Greenhouse host",
            ),
        ),
        migrations.AddField(
            model_name="greenhouseintegration",
            name="client_secret_set_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(urls_to_host_keys, host_keys_to_urls),
        migrations.RemoveField(
            model_name="greenhouseintegration",
            name="api_base_url",
        ),
        migrations.RemoveField(
            model_name="greenhouseintegration",
            name="token_url",
        ),
    ]
