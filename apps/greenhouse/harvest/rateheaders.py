"""Greenhouse's rate headers, read the cautious way (the rate budget's input, ratelimit.py).

X-RateLimit-Reset and Retry-After are whole seconds, possibly rounded down, once documented as
an epoch timestamp and sometimes an HTTP date: each value is parsed with how much later than it
the moment it stands for may be (`margin`), and a garbled header counts as absent.
"""

import email.utils
import math
from collections.abc import Mapping
from typing import NamedTuple

MAX_RETRY_AFTER = 300.0


def _number(value: object) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _epoch(value: float, now: float) -> float:
    if value > 1e12:  # milliseconds since the epoch
        return value / 1000
    if value > 1e9:  # seconds since the epoch
        return value
    return now + value  # seconds from now


def _rounding(value: float) -> float:
    """How much later than `value` the moment it stands for may be: whole seconds may have been
    rounded down (Greenhouse does not say which way it rounds), milliseconds hardly matter."""
    if value > 1e12:
        return 0.001 if value == int(value) else 0.0
    return 1.0 if value == int(value) else 0.0


class RateHeaders(NamedTuple):
    limit: int | None
    remaining: int | None
    reset: float | None  # epoch seconds, as given (possibly rounded down)
    margin: float  # how much later than `reset` the window may end


def parse_rate_headers(headers: Mapping[str, str], now: float) -> RateHeaders:
    """The X-RateLimit-* headers; None for a header that is absent or garbled."""
    limit = _number(headers.get("X-RateLimit-Limit"))
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    reset = _number(headers.get("X-RateLimit-Reset"))
    return RateHeaders(
        int(limit) if limit is not None and limit > 0 else None,
        max(0, int(remaining)) if remaining is not None else None,
        _epoch(reset, now) if reset is not None else None,
        _rounding(reset) if reset is not None else 0.0,
    )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait. Retry-After is documented in seconds, but was once documented as an epoch
    timestamp; a value that can only be a timestamp (or an HTTP date) is converted."""
    if not value:
        return None
    number = _number(value)
    if number is not None:
        seconds = _epoch(number, now) - now if number > 1e9 else number
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def refusal_wait(headers: Mapping[str, str], now: float, reserve: float) -> float | None:
    """Seconds after a 429 (answered `now`) until a request surely lands in a new window, from
    Retry-After and X-RateLimit-Reset (None when neither is usable): each is an upper bound of
    the window's end once its rounding margin is added, so the smaller one holds.

    A Retry-After in seconds counts from the moment Greenhouse answered, which is before `now` on
    any clock, so it needs no reserve; a timestamp (epoch, HTTP date, Reset) is Greenhouse's clock
    and gets the edge reserve for the skew."""
    bounds = []
    value = headers.get("Retry-After")
    seconds = parse_retry_after(value, now)
    if seconds is not None:
        number = _number(value)
        if number is not None and number <= 1e9:
            bounds.append(seconds + _rounding(number))
        else:
            stamp = number if number is not None else 0.0  # an HTTP date: whole seconds
            bounds.append(seconds + _rounding(stamp) + reserve)
    rate = parse_rate_headers(headers, now)
    if rate.reset is not None:
        bounds.append(max(0.0, rate.reset + rate.margin + reserve - now))
    return min(min(bounds), MAX_RETRY_AFTER) if bounds else None
