"""The Greenhouse hosts the client may contact: the operator's named profiles of
settings.GREENHOUSE_HOSTS (a tenant never types a URL). Every URL, pagination links included, is
checked against their origins before a socket opens.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import HarvestHostNotAllowed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostProfile:
    key: str
    label: str
    api_base_url: str
    token_url: str
    # Where a person sees a candidate's activity feed, "{id}" standing for the candidate id
    # (optional: "" shows the id without a link). A link for browsers; the server never calls it.
    candidate_page: str = ""

    def candidate_url(self, candidate_id: int | None) -> str:
        if not self.candidate_page or not candidate_id:
            return ""
        return self.candidate_page.replace("{id}", str(int(candidate_id)))


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) as urllib3, which opens the connection, reads the URL."""
    try:
        parsed = parse_url(url)
    except (LocationParseError, ValueError, TypeError):
        raise ValueError("not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("not an absolute http(s) URL")
    if parsed.auth:
        raise ValueError("has credentials in it")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.scheme, parsed.host.lower(), port


def host_profiles() -> dict[str, HostProfile]:
    """settings.GREENHOUSE_HOSTS, checked. Raises ImproperlyConfigured with what is wrong."""
    profiles = {}
    for key, spec in (getattr(settings, "GREENHOUSE_HOSTS", None) or {}).items():
        if not isinstance(spec, dict):
            raise ImproperlyConfigured(f"GREENHOUSE_HOSTS[{key!r}] must be an object.")
        urls = {}
        for name in ("api", "token"):
            url = spec.get(name)
            try:
                if not isinstance(url, str):
                    raise ValueError("not a URL")
                _origin(url)
                if parse_url(url).query or parse_url(url).fragment:
                    raise ValueError("has a query or fragment")
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"GREENHOUSE_HOSTS[{key!r}][{name!r}] {exc}: {url!r}."
                ) from None
            urls[name] = url.rstrip("/") if name == "api" else url
        label = str(spec.get("label") or key)
        candidate_page = spec.get("candidate_page") or ""
        try:
            if not isinstance(candidate_page, str):
                raise ValueError("not a URL")
            if candidate_page:
                _origin(candidate_page.replace("{id}", "1"))
                if "{id}" not in candidate_page:
                    raise ValueError("has no {id}")
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"GREENHOUSE_HOSTS[{key!r}]['candidate_page'] {exc}: {candidate_page!r}."
            ) from None
        profiles[str(key)] = HostProfile(
            str(key), label, urls["api"], urls["token"], candidate_page
        )
    if not profiles:
        raise ImproperlyConfigured("GREENHOUSE_HOSTS is empty.")
    if settings.GREENHOUSE_DEFAULT_HOST not in profiles:
        raise ImproperlyConfigured(
            f"GREENHOUSE_DEFAULT_HOST {settings.GREENHOUSE_DEFAULT_HOST!r} is not a key of "
            f"GREENHOUSE_HOSTS ({', '.join(profiles)})."
        )
    return profiles


def host_profile(key: str) -> HostProfile:
    """The configured profile `key`. Raises HarvestHostNotAllowed for any other value."""
    profile = host_profiles().get(key)
    if profile is None:
        raise HarvestHostNotAllowed(
            f"The Greenhouse host {key!r} is not configured on this server."
        )
    return profile


def default_host_key() -> str:
    return settings.GREENHOUSE_DEFAULT_HOST


def allowed_origins() -> frozenset[tuple[str, str, int]]:
    return frozenset(
        _origin(url)
        for profile in host_profiles().values()
        for url in (profile.api_base_url, profile.token_url)
    )


def check_url_allowed(url: str) -> None:
    """Raises HarvestHostNotAllowed unless `url`'s scheme, host and port are those of a
    configured profile."""
    try:
        origin = _origin(url)
    except ValueError:
        origin = None
    if origin is None or origin not in allowed_origins():
        logger.warning("Refused a Greenhouse request to a host outside GREENHOUSE_HOSTS: %r", url)
        raise HarvestHostNotAllowed(
            "This server may only contact the Greenhouse hosts configured by its operator."
        )
