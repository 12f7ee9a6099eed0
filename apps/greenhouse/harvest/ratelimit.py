"""The rate budget of a Greenhouse credential, shared by every process and machine calling Harvest.

Harvest v3 gives each credential an allowance per fixed window (30 s in production); the allowance
is learned from the X-RateLimit-Limit / -Remaining / -Reset headers, which come on every answer.
Within a window the budget spreads what is left evenly over the time that is left (no burst at the
window start, no stall at its end), keeps a small headroom for requests that cross the window edge,
and after the window ends lets one request through alone (the "probe") to learn the new window
before the others follow. A 429 holds every process for Retry-After.

The decisions are pure functions of a small state dict (`decide`, `learn`, `hold`); a store runs
them atomically on the shared state: Redis (WATCH/MULTI) across machines, or a JSON file under an
fcntl lock on one machine (the embedded default).
"""

import email.utils
import fcntl
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from django.conf import settings

if TYPE_CHECKING:
    import redis

PROBE_TIMEOUT = 3.0  # a probe that has not answered by then is presumed lost; another may go
POLL_INTERVAL = 0.01  # how often a waiting caller asks again while a probe is out
WINDOW_EDGE = 0.5  # two Reset values this close denote the same window
MAX_RETRY_AFTER = 300.0
STATE_TTL = 24 * 3600


class RateBudgetExceeded(Exception):
    """Waiting for budget would take longer than the caller allowed."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"Greenhouse rate budget exhausted; next request in {retry_after:.1f} s.")


@dataclass(frozen=True)
class Policy:
    headroom: float = 0.02
    default_limit: int = 50
    default_window: int = 30

    @classmethod
    def from_settings(cls) -> "Policy":
        return cls(
            headroom=settings.GREENHOUSE_RATE_HEADROOM,
            default_limit=settings.GREENHOUSE_RATE_DEFAULT_LIMIT,
            default_window=settings.GREENHOUSE_RATE_DEFAULT_WINDOW,
        )

    def allowance(self, limit: int) -> int:
        reserve = max(1, math.ceil(limit * self.headroom)) if self.headroom > 0 else 0
        return max(1, limit - reserve)


@dataclass(frozen=True)
class Decision:
    delay: float  # seconds
    granted: bool  # True: send after `delay`. False: ask again after `delay`.
    probe: bool = False


# --- The decisions (pure; `state` is mutated in place) ------------------------------------------


def decide(state: dict[str, Any], now: float, policy: Policy, max_delay: float) -> Decision:
    blocked_until = state.get("blocked_until", 0.0)
    if blocked_until > now:
        return Decision(blocked_until - now, granted=False)

    window_end = state.get("window_end")
    if window_end is None or now >= window_end:
        state.update(window_end=None, used=0, next_slot=0.0)
        probe_at = state.get("probe_at")
        if probe_at is not None and now - probe_at < PROBE_TIMEOUT:
            return Decision(POLL_INTERVAL, granted=False)
        state["probe_at"] = now
        return Decision(0.0, granted=True, probe=True)

    left = policy.allowance(state["limit"]) - state.get("used", 0)
    slot = max(now, state.get("next_slot", 0.0))
    if left <= 0 or slot >= window_end:
        return Decision(window_end - now, granted=False)
    if slot - now > max_delay:
        return Decision(slot - now, granted=False)  # not reserved: the caller gives up
    state["used"] = state.get("used", 0) + 1
    # Spread what is left of the allowance evenly over what is left of the window.
    state["next_slot"] = slot + (window_end - slot) / left
    return Decision(slot - now, granted=True)


def learn(
    state: dict[str, Any],
    now: float,
    policy: Policy,
    *,
    probe: bool,
    answered: bool,
    limit: int | None = None,
    remaining: int | None = None,
    reset: float | None = None,
) -> None:
    if probe:
        state["probe_at"] = None
    if not answered:
        return
    window_end = state.get("window_end")
    current = window_end is not None and now < window_end
    if limit is None:
        # No rate headers at all: assume the documented default rather than no limit.
        if not current:
            state.update(
                limit=state.get("limit") or policy.default_limit,
                window_end=now + policy.default_window,
                used=1,
                next_slot=now,
                probe_at=None,
            )
        return
    state["limit"] = limit
    if reset is None:
        reset = now + policy.default_window
    used = limit - (remaining if remaining is not None else limit - 1)
    if reset <= now:
        return  # a late answer from a window that is over (or clocks that disagree)
    if not current or window_end is None or reset > window_end + WINDOW_EDGE:
        state.update(window_end=reset, used=used, next_slot=now, probe_at=None)
    elif reset >= window_end - WINDOW_EDGE:
        # Other processes' requests (or other apps using the credential) count too.
        state["used"] = max(state.get("used", 0), used)


def hold(state: dict[str, Any], now: float, seconds: float) -> None:
    state.update(
        blocked_until=max(state.get("blocked_until", 0.0), now + seconds),
        window_end=None,
        used=0,
        next_slot=0.0,
        probe_at=None,
    )


# --- Header parsing ----------------------------------------------------------------------------


def attempt_count(state: dict[str, Any], now: float, *, limit: int, window: float) -> float:
    """A fixed-window counter of attempts (e.g. a team's connection tests): counts one more and
    returns 0.0, or returns the seconds until the window ends when `limit` are used up (the
    refused attempt is not counted)."""
    if now >= state.get("window_end", 0.0):
        state.update(window_end=now + window, used=0)
    if state.get("used", 0) >= limit:
        return float(state["window_end"] - now)
    state["used"] = state.get("used", 0) + 1
    return 0.0


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


def parse_rate_headers(
    headers: Mapping[str, str], now: float
) -> tuple[int | None, int | None, float | None]:
    """(limit, remaining, reset as epoch seconds); None for a header that is absent or garbled."""
    limit = _number(headers.get("X-RateLimit-Limit"))
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    reset = _number(headers.get("X-RateLimit-Reset"))
    return (
        int(limit) if limit is not None and limit > 0 else None,
        max(0, int(remaining)) if remaining is not None else None,
        _epoch(reset, now) if reset is not None else None,
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


# --- Stores ------------------------------------------------------------------------------------

T = TypeVar("T")


class Store(Protocol):
    """Runs `fn` on a key's state (a JSON-able dict) with no other process in between."""

    def transact(self, key: str, fn: Callable[[dict[str, Any]], T]) -> T: ...

    def delete(self, key: str) -> None: ...


class MemoryStore:
    """One process only (tests, scripts)."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def transact(self, key: str, fn: Callable[[dict[str, Any]], T]) -> T:
        with self._lock:
            state = self._states.setdefault(key, {})
            return fn(state)

    def delete(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)


class FileStore:
    """Every process on one machine: a JSON file per key, changed under an exclusive fcntl lock."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.directory / (key.replace(":", "-").replace("/", "-") + ".json")

    def transact(self, key: str, fn: Callable[[dict[str, Any]], T]) -> T:
        path = self._path(key)
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                try:
                    state = json.loads(handle.read() or "{}")
                except ValueError:
                    state = {}  # a write cut short by a crash: start afresh
                result = fn(state)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state))
                handle.flush()
                return result
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class RedisStore:
    """Every process on every machine: optimistic transactions (WATCH/MULTI/EXEC) in Redis."""

    _clients: dict[str, "redis.Redis"] = {}

    def __init__(self, url: str):
        import redis

        if url not in self._clients:
            self._clients[url] = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=5
            )
        self.redis = self._clients[url]

    def transact(self, key: str, fn: Callable[[dict[str, Any]], T]) -> T:
        from redis.exceptions import WatchError

        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    state = json.loads(raw) if raw else {}
                    result = fn(state)
                    pipe.multi()
                    pipe.set(key, json.dumps(state), ex=STATE_TTL)
                    pipe.execute()
                    return result
                except WatchError:
                    continue  # another process changed the state first: decide again

    def delete(self, key: str) -> None:
        self.redis.delete(key)


def store_from_url(url: str) -> Store:
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        return RedisStore(url)
    if scheme == "file":
        return FileStore(Path(urlsplit(url).path))
    if scheme == "memory":
        return _memory_store
    raise ValueError(f"GREENHOUSE_RATE_BUDGET_URL: unsupported scheme {scheme!r}.")


_memory_store = MemoryStore()


# --- The budget --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    probe: bool


class RateBudget:
    """The budget of one credential. `acquire()` before each request, `record()` after it."""

    def __init__(
        self,
        key: str,
        *,
        store: Store | None = None,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.key = key
        self.store = (
            store if store is not None else store_from_url(settings.GREENHOUSE_RATE_BUDGET_URL)
        )
        self.policy = policy or Policy.from_settings()
        self.clock = clock
        self.sleep = sleep

    @classmethod
    def for_credential(cls, *, api_base_url: str, client_id: str, **kwargs: Any) -> "RateBudget":
        # Greenhouse meters per credential; the host keeps the sandbox's budget apart.
        digest = hashlib.sha256(f"{api_base_url}\n{client_id}".encode()).hexdigest()[:24]
        return cls(f"{settings.GREENHOUSE_KEY_PREFIX}:ratelimit:{digest}", **kwargs)

    def __repr__(self) -> str:
        return f"<RateBudget {self.key}>"

    def acquire(self, *, max_wait: float) -> Grant:
        """Wait until a request may be sent. Raises RateBudgetExceeded when that is more than
        `max_wait` seconds away (nothing is reserved then)."""
        deadline = self.clock() + max_wait
        while True:
            decision = self.store.transact(
                self.key,
                lambda state: decide(
                    state, self.clock(), self.policy, max_delay=deadline - self.clock()
                ),
            )
            if decision.granted:
                if decision.delay > 0:
                    self.sleep(decision.delay)
                return Grant(probe=decision.probe)
            if self.clock() + decision.delay > deadline:
                raise RateBudgetExceeded(decision.delay)
            self.sleep(decision.delay)

    def record(self, grant: Grant, headers: Mapping[str, str] | None) -> None:
        """After the request: its answer's headers, or None when there was no answer."""

        def apply(state: dict[str, Any]) -> None:
            now = self.clock()
            if headers is None:
                learn(state, now, self.policy, probe=grant.probe, answered=False)
                return
            limit, remaining, reset = parse_rate_headers(headers, now)
            learn(
                state,
                now,
                self.policy,
                probe=grant.probe,
                answered=True,
                limit=limit,
                remaining=remaining,
                reset=reset,
            )

        self.store.transact(self.key, apply)

    def hold(self, seconds: float) -> None:
        """Greenhouse answered 429: every process waits `seconds`."""
        self.store.transact(self.key, lambda state: hold(state, self.clock(), seconds))

    def reset(self) -> None:
        self.store.delete(self.key)
