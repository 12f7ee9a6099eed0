"""The rate budget's stores on the real thing: Redis (one compare-and-set script per update) and
the file store, with threads and processes contending, a stale copy, and a state that vanished.

Redis: TEST_REDIS_URL, else redis://127.0.0.1:6379/15 (CI and this machine run a Redis there);
every key is the test's own."""

import json
import os
import threading
import time
import uuid

import pytest

from apps.greenhouse.harvest.ratelimit import Policy, RateBudget, RateBudgetExceeded, decide
from apps.greenhouse.harvest.stores import FileStore, RedisStore
from tests.greenhouse.test_ratelimit import run_workers, start_workers

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POLICY = Policy(edge_reserve=0.25, clock_skew=0.0, default_limit=50, default_window=30)


@pytest.fixture
def key():
    key = f"test-{uuid.uuid4().hex[:12]}:ratelimit:stores"
    yield key
    RedisStore(REDIS_URL).delete(key)


@pytest.fixture
def commands(monkeypatch):
    """The commands the store's Redis connection sends (one per round trip)."""
    sent: list[str] = []
    client = RedisStore(REDIS_URL).redis
    original = client.execute_command

    def counting(*args, **options):
        sent.append(str(args[0]))
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    return sent


def headers(*, limit, remaining, reset):
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{reset}",
    }


def increment(state):
    state["n"] = state.get("n", 0) + 1
    return state["n"]


def test_an_uncontended_update_is_one_round_trip(key, commands):
    store = RedisStore(REDIS_URL)
    # A process's first use of a key reads it once (the script may have to be loaded too).
    assert store.transact(key, increment) == 1
    assert commands[0] == "HMGET" and commands[-1] == "EVALSHA" and len(commands) <= 4
    commands.clear()

    for expected in range(2, 12):
        assert store.transact(key, increment) == expected
    assert commands == ["EVALSHA"] * 10
    assert 0 < store.redis.ttl(key) <= 24 * 3600  # the state still expires when unused


def test_a_stale_copy_is_corrected_in_the_same_reply(key, commands):
    """Another process changed the state since this one saw it: the script refuses the write
    and returns the current state, on which the update runs again (two round trips)."""
    store = RedisStore(REDIS_URL)
    store.transact(key, increment)
    processes = start_workers(
        [{"kind": "count", "key": key, "count": 50}], {"GREENHOUSE_RATE_BUDGET_URL": REDIS_URL}
    )
    run_workers(processes)
    commands.clear()

    assert store.transact(key, increment) == 52
    assert commands == ["EVALSHA", "EVALSHA"]


def test_threads_contending_lose_no_update(key):
    store = RedisStore(REDIS_URL)
    start = threading.Barrier(8)

    def work():
        start.wait()
        for _ in range(150):
            store.transact(key, increment)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert store.transact(key, lambda state: state["n"]) == 1200


@pytest.mark.parametrize("kind", ["redis", "file"])
def test_processes_contending_lose_no_update(key, kind, tmp_path):
    url = REDIS_URL if kind == "redis" else f"file://{tmp_path}"
    processes = start_workers(
        [{"kind": "count", "key": key, "count": 300}] * 4, {"GREENHOUSE_RATE_BUDGET_URL": url}
    )
    run_workers(processes)
    store = RedisStore(REDIS_URL) if kind == "redis" else FileStore(tmp_path)
    assert store.transact(key, lambda state: state["n"]) == 1200


def test_grants_never_exceed_the_limit_with_threads_contending(key):
    """Eight threads take grants from one budget in Redis for a window learned from headers:
    exactly the allowance is granted, however the updates interleave."""
    budget = RateBudget(key, store=RedisStore(REDIS_URL), policy=POLICY)
    now = time.time()
    probe = budget.acquire(max_wait=0)
    assert probe.probe
    reset = now + 3.0  # exact (a fraction): the window ends then; grants stop 0.25 s before
    budget.record(probe, headers(limit=60, remaining=59, reset=reset))
    granted, start = [], threading.Barrier(8)

    def work():
        start.wait()
        while True:
            # Reserve without waiting for the slot: the count is what is tested.
            decision = budget._transact(
                lambda state: decide(state, time.time(), POLICY, max_delay=60)
            )
            if not decision.granted:
                return
            granted.append(decision.ticket)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(granted) == 59 and len(set(granted)) == 59


def test_a_budget_whose_redis_state_vanished_does_not_assume_a_fresh_window(key):
    """Redis restarted (here: the key deleted behind the store's back) in the middle of a
    window: the process's last copy says the window may hold its allowance already, so no
    probe goes until that window has surely ended."""
    store = RedisStore(REDIS_URL)
    budget = RateBudget(key, store=store, policy=POLICY)
    now = time.time()
    probe = budget.acquire(max_wait=0)
    budget.record(probe, headers(limit=40, remaining=39, reset=now + 5))
    for _ in range(5):
        budget.acquire(max_wait=10)
    store.redis.delete(key)  # not store.delete: the process still holds its copy

    with pytest.raises(RateBudgetExceeded) as held:
        budget.acquire(max_wait=0)
    assert held.value.retry_after > 4
    state = json.loads(store.redis.hget(key, "s"))
    assert len(state["out"]) == 5  # the grants on their way still count

    # A budget deleted on purpose (`reset`) starts afresh.
    budget.reset()
    assert budget.acquire(max_wait=0).probe
