"""Where the rate budgets' state lives, changed atomically by every process that shares it.

A store runs a function on a key's state (a JSON-able dict) with no other process in between:
- `MemoryStore`: one process (tests, scripts);
- `FileStore`: every process on one machine (the embedded default), a JSON file per key under
  an fcntl lock, replaced by an atomic rename so a process killed mid-write loses nothing;
- `RedisStore`: every process on every machine. Every budget update is one Redis round trip:
  the process keeps the last state it saw of each key with its version, runs the function on
  that copy, and sends ONE script (EVALSHA) that stores the result only if the stored version is
  still the one it started from; otherwise the same reply carries the current state and version,
  and the function runs again on them. With WATCH/GET/MULTI/SET/EXEC an update took three round
  trips at least, twice per Harvest request, in every worker.

A state that vanished (Redis restarted or flushed under running workers) is not a new
credential: requests granted just before may still be on their way, and Greenhouse still counts
the window they land in. A key records a random generation when it is created; a process whose
copy is of another generation, or finds the key gone, knows the state was lost and passes its
last copy to `on_lost`, which may carry forward what is still true (ratelimit.recover).
"""

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

STATE_TTL = 24 * 3600

T = TypeVar("T")
State = dict[str, Any]
OnLost = Callable[[State, State], None]  # (state to go on with, the last copy seen) -> None


class Store(Protocol):
    """Runs `fn` on a key's state (a JSON-able dict) with no other process in between.
    `on_lost(state, previous)`: called before `fn` when the key's state is known to have
    vanished since this process last saw it (`previous`)."""

    def transact(
        self, key: str, fn: Callable[[State], T], *, on_lost: OnLost | None = None
    ) -> T: ...

    def delete(self, key: str) -> None: ...

    def peek(self, key: str) -> State:
        """The key's state as it is, read without changing it (for metrics)."""
        ...


class MemoryStore:
    """One process only (tests, scripts)."""

    def __init__(self) -> None:
        self._states: dict[str, State] = {}
        self._lock = threading.Lock()

    def transact(self, key: str, fn: Callable[[State], T], *, on_lost: OnLost | None = None) -> T:
        with self._lock:
            state = self._states.setdefault(key, {})
            return fn(state)

    def delete(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def peek(self, key: str) -> State:
        with self._lock:
            return dict(self._states.get(key, {}))


class FileStore:
    """Every process on one machine: a JSON file per key, changed under an exclusive fcntl lock
    on a lock file of its own. The new state is written to a temporary file and renamed over
    the old one, so a reader sees the old state or the new, never a file cut short (a worker
    SIGKILLed between a truncate and its write once left an empty file: a budget that forgot
    every grant in flight)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.directory / (key.replace(":", "-").replace("/", "-") + ".json")

    def transact(self, key: str, fn: Callable[[State], T], *, on_lost: OnLost | None = None) -> T:
        path = self._path(key)
        lock = path.with_suffix(".lock")
        with os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT, 0o600), "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(path.read_text() or "{}")
                except FileNotFoundError:
                    state = {}
                except ValueError:
                    state = {}  # not written by this store: start afresh
                result = fn(state)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                with os.fdopen(
                    os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w"
                ) as out:
                    out.write(json.dumps(state))
                os.replace(temporary, path)
                return result
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def peek(self, key: str) -> State:
        try:  # renamed into place whole: never a file cut short
            state: State = json.loads(self._path(key).read_text() or "{}")
        except (FileNotFoundError, ValueError):
            return {}
        return state


# KEYS[1]: the state (a hash: g generation, v version, s JSON). ARGV: the generation and version
# the caller started from ("" and "0" when it had no copy), the new state, a generation for a
# new key, the TTL. Stores the state and returns {1, g, v} when the key still holds what the
# caller started from (or is absent and the caller had no copy); else changes nothing and
# returns {0, g, v, s} (false, false, false when absent).
COMPARE_AND_SET = """
local current = redis.call('HMGET', KEYS[1], 'g', 'v', 's')
local generation, version = current[1], current[2]
if generation == false then
  if ARGV[2] ~= '0' then
    return {0, false, false, false}
  end
  generation, version = ARGV[4], '0'
elseif generation ~= ARGV[1] or version ~= ARGV[2] then
  return {0, generation, version, current[3]}
end
local next_version = tonumber(version) + 1
redis.call('HSET', KEYS[1], 'g', generation, 'v', next_version, 's', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {1, generation, next_version}
"""


class _Copy:
    """A process's last view of a key: (generation, version, JSON), or nothing."""

    __slots__ = ("generation", "raw", "version")

    def __init__(self, generation: str, version: str, raw: str):
        self.generation, self.version, self.raw = generation, version, raw


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    """Every process on every machine: one compare-and-set script per update (see the module
    docstring). A process's copies are shared by its threads and budget objects."""

    _clients: dict[str, "redis.Redis"] = {}
    _scripts: dict[str, "Script"] = {}
    _copies: dict[tuple[str, str], _Copy] = {}
    _lock = threading.Lock()

    def __init__(self, url: str):
        import redis

        with self._lock:
            if url not in self._clients:
                client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
                self._clients[url] = client
                self._scripts[url] = client.register_script(COMPARE_AND_SET)
        self.url = url
        self.redis = self._clients[url]
        self._script = self._scripts[url]

    def _copy(self, key: str) -> _Copy | None:
        with self._lock:
            return self._copies.get((self.url, key))

    def _keep(self, key: str, copy: _Copy | None) -> None:
        with self._lock:
            if copy is None:
                self._copies.pop((self.url, key), None)
            else:
                self._copies[(self.url, key)] = copy

    def peek(self, key: str) -> State:
        raw = self.redis.hget(key, "s")
        try:
            state: State = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return state

    def transact(self, key: str, fn: Callable[[State], T], *, on_lost: OnLost | None = None) -> T:
        copy = self._copy(key)
        # What the key held when this process last saw it, to tell a lost state by.
        seen = copy
        if copy is None:
            # No copy yet (this process's first use of the key): read it once, so `fn` never
            # runs on an empty state that is not the key's.
            generation, version, raw = self.redis.hmget(key, ["g", "v", "s"])
            if generation is not None:
                copy = _Copy(_text(generation), _text(version), _text(raw))
        while True:
            state: State = json.loads(copy.raw) if copy is not None else {}
            if seen is not None and (copy is None or copy.generation != seen.generation):
                # The key is gone, or was created again, since this process saw it.
                if on_lost is not None:
                    on_lost(state, json.loads(seen.raw))
                seen = None  # carried forward once
            result = fn(state)
            raw = json.dumps(state)
            reply = self._script(
                keys=[key],
                args=[
                    copy.generation if copy else "",
                    copy.version if copy else "0",
                    raw,
                    uuid.uuid4().hex,
                    STATE_TTL,
                ],
            )
            if int(reply[0]) == 1:
                self._keep(key, _Copy(_text(reply[1]), _text(reply[2]), raw))
                return result
            # Another process changed it first (or it vanished): run again on what it holds.
            if reply[1] is None:
                copy = None
            else:
                copy = _Copy(_text(reply[1]), _text(reply[2]), _text(reply[3]))

    def delete(self, key: str) -> None:
        self.redis.delete(key)
        self._keep(key, None)


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
