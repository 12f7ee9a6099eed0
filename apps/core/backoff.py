"""The one retry schedule of background work: exponential backoff with jitter, bounded attempts.

Every outbox (message delivery, Greenhouse notes, bot emails) retries transient errors by
waiting in the database (`next_attempt_at`), not in the broker. They used to compute the wait
with two copies of the same formula; this is the only one now, so a change to the schedule (or a
bug in it) is made once. Half of each delay is fixed and half random, so rows that failed
together (a provider outage) do not all come back in the same second.
"""

import random
from dataclasses import dataclass
from datetime import timedelta


def backoff_delay(attempt: int, *, base: float, cap: float) -> timedelta:
    """The wait after failed attempt number `attempt` (1 for the first): `base` seconds doubled
    per attempt, at most `cap` seconds, then between half of that and all of it."""
    delay = min(base * 2 ** max(0, attempt - 1), cap)
    return timedelta(seconds=delay / 2 + delay / 2 * random.random())  # noqa: S311 (jitter)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one kind of work is retried. Delays in seconds."""

    max_attempts: int
    base_delay: float
    max_delay: float

    def delay(self, attempt: int) -> timedelta:
        return backoff_delay(attempt, base=self.base_delay, cap=self.max_delay)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
