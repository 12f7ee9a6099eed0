"""Deploy check of the Greenhouse host profiles (settings.GREENHOUSE_HOSTS): credentials go to
these hosts, so each must be https unless it is on this machine (the local sandbox). A malformed
profile is not a warning: the app refuses to start (GreenhouseConfig.ready)."""

from urllib.parse import urlsplit

from django.core.checks import Warning, register
from django.core.exceptions import ImproperlyConfigured

from .harvest.hosts import host_profiles

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@register(deploy=True)
def greenhouse_hosts_use_https(app_configs, **kwargs):
    try:
        profiles = host_profiles()
    except ImproperlyConfigured:
        return []  # the app did not start
    problems = []
    for profile in profiles.values():
        for url in (profile.api_base_url, profile.token_url):
            parts = urlsplit(url)
            if parts.scheme != "https" and parts.hostname not in LOOPBACK:
                problems.append(
                    Warning(
                        f"Greenhouse host profile {profile.key!r} sends credentials over plain "
                        f"http to {parts.hostname}.",
                        hint="Use https URLs in GREENHOUSE_HOSTS.",
                        id="greenhouse.W001",
                    )
                )
    return problems
