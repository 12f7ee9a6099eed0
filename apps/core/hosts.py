"""Is this deployment reachable only from this machine?

The embedded default runs on 127.0.0.1 with fixed development secrets (the Anymail webhook secret,
the Twilio token) that are in the public repository, so that the local inbound simulators can
sign their requests. That is only harmless when nobody else can reach the server: every host of
ALLOWED_HOSTS and PUBLIC_BASE_URL's host must be loopback. Settings (which secrets to fall back
to) and the deploy checks (an Error for a public deployment with them) both ask here.
"""

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """localhost, *.localhost (RFC 6761), 127.0.0.0/8 or ::1 ("[::1]" as in ALLOWED_HOSTS)."""
    host = (host or "").strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, "*", "" or a pattern: reachable from elsewhere as far as we know


def loopback_only(*, allowed_hosts, public_base_url: str) -> bool:
    """Every allowed host and the public URL's host are loopback. An empty ALLOWED_HOSTS counts
    as loopback: Django then allows only localhost names (DEBUG) or nothing at all."""
    public_host = urlsplit(public_base_url or "").hostname or ""
    return is_loopback_host(public_host) and all(is_loopback_host(h) for h in allowed_hosts)
