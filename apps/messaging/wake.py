"""The inbox processor's wake-up lease in Redis: one round trip to Redis instead of a second
PostgreSQL statement in every inbound webhook request.

The webhook stores its event (one durable INSERT), then wakes the processor task unless one is
already on its way (inbox.py). On the embedded default the lease is a column of the events
(`InboundEvent.wake_after_insert`, one UPDATE); with Redis (INBOX_WAKE_URL, by default the Redis
cache) it is one key per deployment, `<queue prefix>:inbox-wake`, and the UPDATE goes away.

The protocol, and why no event waits for a sweep:
- a request takes the lease AFTER its INSERT committed, and publishes the task only if it took
  it (`take`: the key is absent or older than the lease, as one script);
- the processor gives the lease back when it STARTS (`release`), before its first claim, then
  claims until a claim comes back empty.
So a request that finds the lease held finds it held by a task that has not started yet: that
task's claims come after the request's commit and see its event. Giving the lease back at the
end instead (after the last, empty claim) loses an event whose request came between that claim
and the release (tests/messaging/test_inbox_wake.py holds this). A task that gives back a lease
taken for another task (its own ran out first) costs one spare task, never a lost event.

What Redis can lose costs tasks, not events: a lease gone with a restart or an eviction lets the
next request queue one more task; a lease whose task the broker lost holds the inbox back for
WAKE_LEASE at most, then the next request or the sweep queues one. Redis unreachable: the
request falls back to the column lease (both protocols hold side by side: each request relies
on one of them only) and answers as always.
"""

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

logger = logging.getLogger(__name__)

# KEYS[1]: the lease. ARGV: now (ms, the caller's clock), the lease (ms). Taken when absent, or
# when its value (the time it was taken) is older than the lease: the key's own expiry (PX) is
# Redis's clock, the value check lets a sweep told `now` see a lease run out as the column did.
TAKE = """
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) > tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class RedisWakeLease:
    """One deployment's inbox wake-up lease (see the module docstring). Raises redis.RedisError
    when Redis cannot be reached; the callers fall back to the column lease."""

    _clients: dict[str, "redis.Redis"] = {}
    _scripts: dict[str, "Script"] = {}
    _lock = threading.Lock()

    def __init__(self, url: str, key: str, lease_seconds: float):
        import redis

        with self._lock:
            if url not in self._clients:
                # Short timeouts: the webhook request waits on this.
                client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                self._clients[url] = client
                self._scripts[url] = client.register_script(TAKE)
        self.redis = self._clients[url]
        self._take = self._scripts[url]
        self.key = key
        self.lease_ms = int(lease_seconds * 1000)

    def take(self, now: datetime | None = None) -> bool:
        """Take the lease unless a live one is held. True: the caller publishes the task."""
        now_ms = int((now.timestamp() if now is not None else time.time()) * 1000)
        return bool(int(self._take(keys=[self.key], args=[now_ms, self.lease_ms])))

    def release(self) -> None:
        """The processor started: the next request takes the lease and wakes another."""
        self.redis.delete(self.key)

    def held(self) -> bool:
        return bool(self.redis.exists(self.key))


def wake_lease() -> RedisWakeLease | None:
    """The Redis lease of this deployment, or None for the column lease (no Redis)."""
    url = settings.INBOX_WAKE_URL
    if not url:
        return None
    from celery import current_app

    from .models import InboundEvent

    return RedisWakeLease(
        url,
        f"{current_app.conf.queue_prefix}:inbox-wake",
        InboundEvent.WAKE_LEASE.total_seconds(),
    )
