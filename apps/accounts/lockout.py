"""The login throttle's two answers that are ours: the page a refused login gets, and the
address it counts per IP.

django-axes does the counting, in the database, so every web process refuses the same logins
(it is not a counter of our own). A locked-out login gets a page that says what happened and
when to try again, with the same status (429) and a Retry-After header, on the app's login and
the admin's alike. Behind reverse proxies the connection comes from the proxy, so the client's
address is read from X-Forwarded-For, but only as many hops as TRUSTED_PROXY_COUNT says: what
the client itself put further left could be anything and is ignored.
"""

import ipaddress
import math

from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.shortcuts import render
from django.utils import timezone


def login_lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds())
    response = render(
        request,
        "accounts/locked_out.html",
        {
            "failure_limit": get_failure_limit(request, credentials),
            "minutes": math.ceil(seconds / 60),
            "retry_at": timezone.now() + cool_off,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(seconds)
    return response


def login_client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    # Each trusted proxy appends the address its connection came from: the client's address is
    # the `hops`-th entry from the right.
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < hops:
        return remote  # did not come through all the proxies: count the connection itself
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
