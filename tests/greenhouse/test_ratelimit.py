"""The rate budget: its decisions (simulated time), its stores, and real worker processes."""

import heapq
import itertools
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from email.utils import formatdate

import pytest
from django.conf import settings

from apps.greenhouse.harvest.ratelimit import (
    Answer,
    Grant,
    MemoryStore,
    Policy,
    RateBudget,
    RateBudgetExceeded,
    RateHeaders,
    decide,
    hold,
    learn,
    parse_rate_headers,
    parse_retry_after,
    refusal_wait,
    store_from_url,
    window_bounds,
)
from tests.fixtures.worker import greenhouse_hosts_env

NOW = 1_800_000_000.0
POLICY = Policy(edge_reserve=0.25, clock_skew=0.25, default_limit=50, default_window=30)


# --- Header parsing ----------------------------------------------------------------------------


def test_retry_after_in_seconds():
    assert parse_retry_after("7", NOW) == 7
    assert parse_retry_after("0", NOW) == 0


def test_retry_after_that_looks_like_an_epoch_is_converted():
    assert parse_retry_after(str(int(NOW) + 12), NOW) == 12
    assert parse_retry_after(str(int((NOW + 3) * 1000)), NOW) == pytest.approx(3)  # milliseconds
    assert parse_retry_after(str(int(NOW) - 5), NOW) == 0  # already past


def test_retry_after_as_an_http_date():
    assert parse_retry_after(formatdate(NOW + 20, usegmt=True), NOW) == pytest.approx(20)


def test_retry_after_garbage_or_huge_values():
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("", NOW) is None
    assert parse_retry_after("86400", NOW) == 300  # capped


def test_rate_headers():
    headers = {
        "X-RateLimit-Limit": "75",
        "X-RateLimit-Remaining": "70",
        "X-RateLimit-Reset": "1800000030",
    }
    # Whole seconds may be rounded down: the window may end up to a second after Reset.
    assert parse_rate_headers(headers, NOW) == RateHeaders(75, 70, 1_800_000_030, margin=1.0)
    assert parse_rate_headers({}, NOW) == (None, None, None, 0.0)
    # A Reset given as seconds from now rather than as a timestamp.
    assert parse_rate_headers({"X-RateLimit-Reset": "12"}, NOW).reset == NOW + 12
    # A Reset with a fraction (or in milliseconds) is taken as exact.
    assert parse_rate_headers({"X-RateLimit-Reset": "1800000030.25"}, NOW).margin == 0.0
    assert parse_rate_headers({"X-RateLimit-Reset": "1800000030250"}, NOW).margin <= 0.001


def test_after_a_429_the_wait_covers_a_rounded_down_retry_after():
    # "1" may mean anything below 2 s: counted from Greenhouse's answer, so no clock skew.
    assert refusal_wait({"Retry-After": "1"}, NOW, reserve=0.25) == 2.0
    assert refusal_wait({"Retry-After": "1.5"}, NOW, reserve=0.25) == 1.5
    # An epoch timestamp or an HTTP date: Greenhouse's clock, so the reserve is added too.
    epoch = {"Retry-After": str(int(NOW) + 3)}
    assert refusal_wait(epoch, NOW + 0.4, reserve=0.25) == pytest.approx(3 - 0.4 + 1 + 0.25)
    date = {"Retry-After": formatdate(NOW + 3, usegmt=True)}
    assert refusal_wait(date, NOW, reserve=0.25) == pytest.approx(4.25)
    # Reset is an upper bound too: the smaller bound holds.
    both = {"Retry-After": "20", "X-RateLimit-Reset": str(int(NOW) + 2)}
    assert refusal_wait(both, NOW, reserve=0.25) == pytest.approx(3.25)
    assert refusal_wait({}, NOW, reserve=0.25) is None


# --- Decisions ---------------------------------------------------------------------------------


def test_the_first_request_probes_alone_and_the_others_wait_for_its_answer():
    state = {}
    probe = decide(state, NOW, POLICY, max_delay=60)
    other = decide(state, NOW + 0.001, POLICY, max_delay=60)

    assert probe.granted and probe.probe and probe.delay == 0
    assert not other.granted and other.delay <= 0.01

    learn(
        state, NOW + 0.01, POLICY, probe=True, answered=True, limit=40, remaining=39, reset=NOW + 2
    )
    assert decide(state, NOW + 0.011, POLICY, max_delay=60).granted


def test_the_whole_allowance_is_spread_up_to_the_reserve_before_the_edge():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    # An exact Reset (with a fraction): the window ends then; sends stop 0.25 s before it.
    learn(state, NOW, POLICY, probe=True, answered=True, limit=40, remaining=39, reset=NOW + 2.25)

    delays = [decide(state, NOW, POLICY, max_delay=60).delay for _ in range(39)]

    # No request is held back: the 39 left of 40 share the 2 s before the reserve.
    assert delays[0] == 0
    gaps = [b - a for a, b in itertools.pairwise(delays)]
    assert gaps == pytest.approx([2 / 39] * 38, abs=1e-5)
    assert delays[-1] < 2
    refused = decide(state, NOW, POLICY, max_delay=60)
    assert not refused.granted and refused.delay == pytest.approx(2.5)  # the end, plus reserve


def test_try_acquire_never_sleeps_takes_what_is_left_at_once_and_says_when_to_ask_again():
    clock = [NOW]
    slept = []
    budget = RateBudget(
        "try", store=MemoryStore(), policy=POLICY, clock=lambda: clock[0], sleep=slept.append
    )
    probe = budget.try_acquire()
    assert isinstance(probe, Grant) and probe.probe
    assert budget.try_acquire() == pytest.approx(0.01)  # the probe is out: ask again soon
    budget.record(
        probe,
        {
            "X-RateLimit-Limit": "4",
            "X-RateLimit-Remaining": "3",
            "X-RateLimit-Reset": str(NOW + 2.25),
        },
    )

    # The three left of four go now, not at evenly spread slots; then the window's end.
    grants = [budget.try_acquire() for _ in range(3)]
    assert all(isinstance(g, Grant) and g.sent_at == NOW for g in grants)
    refused = budget.try_acquire()
    assert refused == pytest.approx(2.5)  # the end, plus the reserve
    assert slept == []


def test_a_rounded_reset_may_be_a_second_early():
    """A window someone else opened (Remaining says more than our probe was counted): its end
    is known only from the whole-second Reset, so it is somewhere in [Reset, Reset + 1)."""
    state = {}
    decide(state, NOW + 0.2, POLICY, max_delay=60)
    learn(
        state,
        NOW + 0.21,
        POLICY,
        probe=True,
        answered=True,
        sent_at=NOW + 0.2,
        limit=40,
        remaining=30,
        reset=NOW + 2,
        margin=1.0,
    )

    assert state["send_until"] == pytest.approx(NOW + 1.75)
    assert state["opens_at"] == pytest.approx(NOW + 3.25)
    late = decide(state, NOW + 2.5, POLICY, max_delay=60)  # past Reset, maybe not past the end
    assert not late.granted and late.delay == pytest.approx(0.75)
    assert decide(state, NOW + 3.25, POLICY, max_delay=60).probe


def test_a_window_opened_by_our_probe_is_learned_from_its_start():
    """Windows open at their first request: when that is our probe (sent at 0.40, answered at
    0.42, Remaining = Limit - 1) the window of whole seconds began in between, so a Reset of 2
    (rounded down from 2.40..2.42) pins its end to within the round trip, not to a second."""
    sent, answered = NOW + 0.40, NOW + 0.42
    state = {}
    decide(state, sent, POLICY, max_delay=60)
    learn(
        state,
        answered,
        POLICY,
        probe=True,
        answered=True,
        sent_at=sent,
        limit=40,
        remaining=39,
        reset=NOW + 2,
        margin=1.0,
    )

    assert state["opens_at"] == pytest.approx(answered + 2)  # not NOW + 3.25
    assert state["send_until"] == pytest.approx(sent + 2 - 0.25)  # not NOW + 1.75
    # The true end (2.40..2.42) is inside those bounds, with the reserve on the sending side.
    assert state["send_until"] < NOW + 2.40 <= NOW + 2.42 <= state["opens_at"]


def test_a_window_of_one_of_two_lengths_keeps_one_request_for_an_early_probe():
    """Opened at a whole second (give or take the reserve), a Reset of 2 may mean a 2 s window,
    or a 3 s one with Greenhouse's clock a little behind ours: one request is kept for a probe
    at 2 s, which opens the next window or, still in this one, is its last request."""
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(
        state,
        NOW + 0.01,
        POLICY,
        probe=True,
        answered=True,
        sent_at=NOW,
        limit=40,
        remaining=39,
        reset=NOW + 2,
        margin=1.0,
    )
    assert state["lengths"] == (2, 3)

    granted = [decide(state, NOW + 0.02, POLICY, max_delay=60).granted for _ in range(39)]
    assert granted.count(True) == 38  # 39 in all, with the probe
    early = decide(state, NOW + 2.01, POLICY, max_delay=60)
    assert early.probe

    learn(
        state,
        NOW + 2.02,
        POLICY,
        probe=True,
        answered=True,
        sent_at=NOW + 2.01,
        limit=40,
        remaining=0,
        reset=NOW + 2,
        margin=1.0,
    )  # the same window: 40 counted, none over
    assert state["lengths"] == [3, 3]
    assert not decide(state, NOW + 2.5, POLICY, max_delay=60).granted
    assert decide(state, NOW + 3.01, POLICY, max_delay=60).probe


def test_a_lost_early_probe_may_have_used_the_spare_so_the_next_waits_for_the_surer_end():
    """The early probe of a window of two possible lengths got no answer (a write cut off): it
    may have found the window still open and been its 40th request, so another probe right away
    could be the 41st. It waits for the end of the longer length."""
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(
        state,
        NOW + 0.01,
        POLICY,
        probe=True,
        answered=True,
        sent_at=NOW,
        limit=40,
        remaining=39,
        reset=NOW + 2,
        margin=1.0,
    )
    assert state["lengths"] == (2, 3)
    for _ in range(38):
        assert decide(state, NOW + 0.02, POLICY, max_delay=60).granted
    early = decide(state, NOW + 2.01, POLICY, max_delay=60)
    assert early.probe

    learn(state, NOW + 2.02, POLICY, probe=True, answered=False, ticket=early.ticket)

    waiting = decide(state, NOW + 2.03, POLICY, max_delay=60)
    assert not waiting.granted and NOW + 2.03 + waiting.delay >= NOW + 3  # the longer length
    assert decide(state, state["surely_over"], POLICY, max_delay=60).probe


def test_a_grant_still_unanswered_when_a_window_opens_counts_in_it():
    """A request granted near the end of a window may reach Greenhouse in the next one, after
    the probe that opened it (its process starved of CPU between grant and send): until its
    answer comes it counts in the new window, so that window's 40 hold with it."""
    state = {}
    first = decide(state, NOW, POLICY, max_delay=60)
    learn(state, NOW + 0.01, POLICY, probe=True, answered=True, ticket=first.ticket, limit=40,
          remaining=39, reset=NOW + 2.25)  # fmt: skip
    grants = [decide(state, NOW + 0.02, POLICY, max_delay=60) for _ in range(39)]
    straggler = grants[-1]  # its slot is just before the reserve; it will arrive late
    for grant in grants[:-1]:
        learn(state, NOW + 2.2, POLICY, probe=False, answered=True, ticket=grant.ticket,
              limit=40, remaining=2, reset=NOW + 2.25)  # fmt: skip

    probe = decide(state, NOW + 2.5, POLICY, max_delay=60)
    assert probe.probe
    # The probe opened the next window (it is counted first there); the straggler lands after.
    learn(state, NOW + 2.51, POLICY, probe=True, answered=True, sent_at=NOW + 2.5,
          ticket=probe.ticket, limit=40, remaining=39, reset=NOW + 4.5)  # fmt: skip
    more = [decide(state, NOW + 2.52, POLICY, max_delay=60).granted for _ in range(40)]
    assert more.count(True) == 38  # 40 with the probe and the straggler

    learn(state, NOW + 2.6, POLICY, probe=False, answered=True, ticket=straggler.ticket,
          limit=40, remaining=1, reset=NOW + 4.5)  # fmt: skip
    assert not decide(state, NOW + 2.61, POLICY, max_delay=60).granted  # counted once, not twice


def test_an_unanswered_grant_is_forgotten_after_the_request_timeout():
    """A process killed mid-request never records its grant: it stops counting once the
    request would surely have reached Greenhouse or failed."""
    policy = Policy(edge_reserve=0.25, clock_skew=0.25, request_timeout=5.0)
    state = {}
    decide(state, NOW, policy, max_delay=60)
    learn(state, NOW + 0.01, policy, probe=True, answered=True, limit=40, remaining=39,
          reset=NOW + 2.25)  # fmt: skip
    decide(state, NOW + 0.02, policy, max_delay=60)  # never recorded

    probe = decide(state, NOW + 10, policy, max_delay=60)
    learn(state, NOW + 10.01, policy, probe=True, answered=True, sent_at=NOW + 10,
          ticket=probe.ticket, limit=40, remaining=39, reset=NOW + 12.25)  # fmt: skip
    assert state["used"] == 1 and list(state["out"]) == []


@pytest.mark.parametrize("opened", [0.0, 0.05, 0.3, 0.5, 0.74, 0.76, 0.9, 0.99])
@pytest.mark.parametrize("skew", [-0.2, 0.0, 0.2])  # Greenhouse's clock ahead of ours
@pytest.mark.parametrize("window", [2, 30])
def test_learned_bounds_always_hold_the_true_end(opened, skew, window):
    latency = 0.02
    sent = NOW + opened
    start = sent + skew + latency  # Greenhouse's clock
    end = start + window
    send_until, opens_at, _ = window_bounds(
        reset=math.floor(end),
        margin=1.0,
        reserve=0.25,
        skew=0.2,
        now=sent + 2 * latency,
        opened_at=sent,
    )

    # A request sent by send_until, as slow as the reserve allows (skew plus its latency, and
    # its latency less the probe's, within 0.25 s), arrives in time; one sent at opens_at (as
    # fast as the probe) arrives after the end.
    slowest = 0.25 - max(skew, 0.0)
    assert send_until + skew + slowest < end
    assert opens_at + skew + latency >= end
    assert opens_at - (end - skew) <= 1.0 + 2 * latency  # a second and a round trip at most


def test_nothing_is_reserved_beyond_the_callers_patience():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(state, NOW, POLICY, probe=True, answered=True, limit=4, remaining=0, reset=NOW + 30)

    decision = decide(state, NOW, POLICY, max_delay=1)

    assert not decision.granted and decision.delay == pytest.approx(30 + 0.25)  # the reserve
    assert state["used"] == 4


def test_requests_of_other_processes_and_apps_are_learned_from_remaining():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(state, NOW, POLICY, probe=True, answered=True, limit=40, remaining=39, reset=NOW + 2)
    learn(
        state, NOW + 0.1, POLICY, probe=False, answered=True, limit=40, remaining=10, reset=NOW + 2
    )

    assert state["used"] == 30
    # A late answer from the previous window changes nothing.
    learn(state, NOW + 0.2, POLICY, probe=False, answered=True, limit=40, remaining=0, reset=NOW)
    assert state["used"] == 30


def test_a_429_holds_everyone_then_probes_again():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(state, NOW, POLICY, probe=True, answered=True, limit=40, remaining=39, reset=NOW + 2)
    hold(state, NOW + 0.5, 2.0)

    waiting = decide(state, NOW + 0.5, POLICY, max_delay=60)
    assert not waiting.granted and waiting.delay == pytest.approx(2.0)
    after = decide(state, NOW + 2.51, POLICY, max_delay=60)
    assert after.granted and after.probe


def test_a_429_waits_for_the_end_the_probe_learned_when_the_headers_say_later():
    fake = FakeTime(NOW + 0.40)
    budget = RateBudget("k", store=MemoryStore(), policy=POLICY, clock=fake.clock, sleep=fake.sleep)
    probe = budget.acquire(max_wait=10)
    fake.now += 0.02
    reset = str(int(NOW) + 2)
    budget.record(
        probe, {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": reset}
    )  # the window opened at 0.40..0.42 and ends at 2.40..2.42
    grant = budget.acquire(max_wait=10)
    fake.now += 0.01
    refusal = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    budget.record(grant, {**refusal, "Retry-After": reset})  # an epoch: 2.0 + 1 + 0.25 by itself

    assert budget.refused({**refusal, "Retry-After": reset}) == pytest.approx(2.42 - 0.43)
    fake.slept.clear()
    assert budget.acquire(max_wait=10).probe
    assert fake.now == pytest.approx(NOW + 2.42)


def test_a_lost_probe_is_replaced_after_a_while():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    assert not decide(state, NOW + 1, POLICY, max_delay=60).granted
    assert decide(state, NOW + 3.5, POLICY, max_delay=60).probe


def test_answers_without_rate_headers_fall_back_to_the_default_allowance():
    state = {}
    decide(state, NOW, POLICY, max_delay=60)
    learn(state, NOW, POLICY, probe=True, answered=True)

    assert state["limit"] == 50 and state["send_until"] == NOW + 30


class FakeHarvest:
    """Fixed windows as Greenhouse (and the sandbox) count them: a window opens at the first
    request after the previous one ended, and Reset and Retry-After are rounded down."""

    def __init__(self, limit: int, window: int):
        self.limit, self.window = limit, window
        self.received = Counter()
        self.rejected = 0
        self.start = self.end = -math.inf

    def answer(self, at: float) -> dict:
        if at >= self.end:
            self.start, self.end = at, at + self.window
        self.received[self.start] += 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.received[self.start])),
            "X-RateLimit-Reset": str(math.floor(self.end)),
        }
        if self.received[self.start] > self.limit:
            self.rejected += 1
            headers["Retry-After"] = str(max(1, math.floor(self.end - at)))
        return headers


def simulate(*, workers: int, total: int, limit: int, window: int, start: float, latency: float):
    """Workers sharing one budget state, in simulated time. Returns (server, finish time)."""
    state: dict = {}
    server = FakeHarvest(limit, window)
    events = [(start, n, "ask", None) for n in range(workers)]
    heapq.heapify(events)
    sequence, granted, done, finished = workers, 0, 0, start
    while events:
        now, _, action, data = heapq.heappop(events)
        sequence += 1
        if action == "ask":
            if granted >= total:
                continue
            decision = decide(state, now, POLICY, max_delay=60)
            if decision.granted:
                granted += 1
                send = (decision.probe, decision.ticket)
                heapq.heappush(events, (now + decision.delay, sequence, "send", send))
            else:
                heapq.heappush(events, (now + decision.delay, sequence, "ask", None))
        elif action == "send":
            headers = server.answer(now + latency)
            heapq.heappush(events, (now + 2 * latency, sequence, "answer", (*data, now, headers)))
        else:
            probe, ticket, sent_at, headers = data
            rate = parse_rate_headers(headers, now)
            learn(
                state,
                now,
                POLICY,
                probe=probe,
                answered=True,
                sent_at=sent_at,
                ticket=ticket,
                limit=rate.limit,
                remaining=rate.remaining,
                reset=rate.reset,
                margin=rate.margin,
            )
            if "Retry-After" in headers:
                granted -= 1  # not written: it goes again
                hold(state, now, refusal_wait(headers, now, POLICY.edge_reserve))
            else:
                done += 1
                finished = now
            heapq.heappush(events, (now, sequence, "ask", None))
    assert done == total
    return server, finished


@pytest.mark.parametrize("phase", [0.0, 0.3, 1.0, 1.7, 1.99])
def test_simulated_workers_use_the_allowance_without_going_over(phase):
    start = 1_800_000_000 + phase  # a multiple of 2, plus where in its window the run starts
    server, finished = simulate(
        workers=4, total=200, limit=40, window=2, start=start, latency=0.003
    )

    assert server.rejected == 0
    assert max(server.received.values()) <= 40
    full_windows = [n for begin, n in server.received.items() if start < begin < finished - 2]
    assert sum(full_windows) >= 0.97 * 40 * len(full_windows)
    assert finished - start <= 10.5


def test_simulated_workers_at_the_documented_harvest_allowance():
    start = 1_800_000_010.0
    server, finished = simulate(
        workers=3, total=400, limit=75, window=30, start=start, latency=0.15
    )

    assert server.rejected == 0
    full_windows = [n for begin, n in server.received.items() if start < begin < finished - 30]
    assert full_windows and sum(full_windows) >= 0.97 * 75 * len(full_windows)


# --- The budget object -------------------------------------------------------------------------


class FakeTime:
    def __init__(self, now=NOW):
        self.now = now
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_acquire_sleeps_until_its_slot_and_record_learns_from_headers():
    fake = FakeTime(NOW + 0.5)
    budget = RateBudget("k", store=MemoryStore(), policy=POLICY, clock=fake.clock, sleep=fake.sleep)

    grant = budget.acquire(max_wait=10)
    assert grant.probe and fake.slept == []
    budget.record(
        grant,
        {
            "X-RateLimit-Limit": "3",
            "X-RateLimit-Remaining": "2",
            "X-RateLimit-Reset": str(NOW + 10),
        },
    )
    budget.acquire(max_wait=10)
    budget.acquire(max_wait=10)  # all 3 are used: no request is held back
    with pytest.raises(RateBudgetExceeded) as caught:
        budget.acquire(max_wait=5)
    # The probe opened the window at NOW + 0.5, and its Reset says a whole 10 s window.
    assert fake.now + caught.value.retry_after == pytest.approx(NOW + 10.5)


def limit_headers(limit, remaining, reset):
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def test_a_batch_reserves_its_slots_together_and_never_more_than_the_window_has_left():
    fake = FakeTime(NOW + 0.5)
    budget = RateBudget("k", store=MemoryStore(), policy=POLICY, clock=fake.clock, sleep=fake.sleep)

    # The window is not known: a probe goes alone, whatever the batch asked for.
    grants, retry_after = budget.exchange(10)
    assert [g.probe for g in grants] == [True] and retry_after is None
    probe = grants[0]
    answer = Answer(grant=probe, headers=limit_headers(5, 4, NOW + 10), at=fake.now + 0.01)

    # Its answer is told in the same round trip that reserves the rest: 4 left of 5.
    grants, retry_after = budget.exchange(10, answers=[answer])
    assert len(grants) == 4 and not any(g.probe for g in grants)
    assert retry_after > 9  # the window's end: the probe opened it at NOW + 0.5, for 10 s
    # Each must go before the hold runs out, and before the window's edge.
    assert all(g.use_by == pytest.approx(fake.now + POLICY.reserve_hold) for g in grants)
    assert budget.exchange(1) == ([], pytest.approx(retry_after))
    assert budget.try_acquire() == pytest.approx(retry_after)  # nothing left for anyone else


def test_slots_given_back_in_their_window_are_free_again():
    fake = FakeTime(NOW + 0.5)
    budget = RateBudget("k", store=MemoryStore(), policy=POLICY, clock=fake.clock, sleep=fake.sleep)
    (probe,), _ = budget.exchange(1)
    opened = Answer(grant=probe, headers=limit_headers(5, 4, NOW + 10), at=fake.now)
    grants, _ = budget.exchange(4, answers=[opened])
    sent, unsent = grants[:1], grants[1:]

    answers = [Answer(grant=g, headers=limit_headers(5, 3, NOW + 10), at=fake.now) for g in sent]
    assert budget.exchange(0, answers=answers, returned=unsent) == ([], None)
    again, _ = budget.exchange(10)
    assert len(again) == 3  # 5 - the probe - the one sent
    assert budget.store.peek("k").get("out", {}).keys() == {str(g.ticket) for g in again}


def test_a_slot_given_back_after_its_window_ended_frees_nothing_in_the_next():
    fake = FakeTime(NOW + 0.5)
    budget = RateBudget("k", store=MemoryStore(), policy=POLICY, clock=fake.clock, sleep=fake.sleep)
    (probe,), _ = budget.exchange(1)
    grants, _ = budget.exchange(
        2, answers=[Answer(grant=probe, headers=limit_headers(3, 2, NOW + 2), at=fake.now)]
    )
    fake.now = NOW + 3.5
    (probe,), _ = budget.exchange(1)
    opened = Answer(grant=probe, headers=limit_headers(3, 2, NOW + 5), at=fake.now)
    # The old window's grants were still out when the new one opened: they count in it.
    assert budget.exchange(0, answers=[opened], returned=grants) == ([], None)
    assert budget.store.peek("k")["used"] == 3
    assert budget.exchange(1)[0] == []


def test_a_batch_of_requests_costs_the_budget_two_round_trips_and_a_stale_slot_is_given_back(
    make_client, harvest_sandbox
):
    """Over the sandbox: a batch's slots are reserved in one exchange and its answers told in
    one more; a slot held past `reserve_hold` is never sent, it is given back with the next
    exchange, which reserves another."""
    budget = RateBudget("batch", store=MemoryStore(), policy=POLICY)
    exchanges = []
    original = budget.exchange

    def counting(n=0, **kwargs):
        exchanges.append((n, len(kwargs.get("answers", ())), len(kwargs.get("returned", ()))))
        return original(n, **kwargs)

    budget.exchange = counting
    client = make_client(budget=budget, max_rate_wait=0)
    alan = client.candidates_by_email("alan.turing@example.com")[0]["id"]  # opens the window
    budget.record = None  # a batch's requests never record one by one

    client.reserve(4)
    try:
        for i in range(3):
            client.note_create(candidate_id=alan, body=f"note {i}")
    finally:
        client.release()
    assert exchanges == [(4, 0, 0), (0, 3, 1)]  # reserved 4; 3 answers, 1 slot given back
    state = budget.store.peek("batch")
    assert state["out"] == {} and state["used"] == 4  # the lookup and 3 notes

    exchanges.clear()
    clock = [time.time()]
    budget.clock = lambda: clock[0]
    client.reserve(2)
    try:
        client.note_create(candidate_id=alan, body="on time")
        clock[0] += POLICY.reserve_hold + 0.1  # the second slot is stale now
        client.note_create(candidate_id=alan, body="late")
    finally:
        client.release()
    # The stale slot went back with the answer so far, and a fresh one was reserved for it.
    assert exchanges == [(2, 0, 0), (1, 1, 1), (0, 1, 0)]
    assert budget.store.peek("batch")["out"] == {}
    bodies = [n["body"] for n in harvest_sandbox.notes()]
    assert [b for b in bodies if b.startswith("note ") or b in ("on time", "late")] == [
        "note 0", "note 1", "note 2", "on time", "late"
    ]  # fmt: skip


def test_a_hold_is_shared_by_every_budget_object_of_the_credential():
    fake, store = FakeTime(), MemoryStore()
    first = RateBudget("k", store=store, policy=POLICY, clock=fake.clock, sleep=fake.sleep)
    second = RateBudget("k", store=store, policy=POLICY, clock=fake.clock, sleep=fake.sleep)

    first.hold(4)
    second.acquire(max_wait=10)

    assert fake.slept == [4]


def test_budgets_are_per_credential(settings):
    one = RateBudget.for_credential(api_base_url="https://harvest.greenhouse.io", client_id="one")
    two = RateBudget.for_credential(api_base_url="https://harvest.greenhouse.io", client_id="two")
    sandbox = RateBudget.for_credential(api_base_url="http://127.0.0.1:8001", client_id="one")
    assert len({one.key, two.key, sandbox.key}) == 3
    assert (
        RateBudget.for_credential(api_base_url="https://harvest.greenhouse.io", client_id="one").key
        == one.key
    )


# --- Across processes --------------------------------------------------------------------------


def start_workers(jobs, extra_env):
    env = {
        **os.environ,
        "GREENHOUSE_KEY_PREFIX": settings.GREENHOUSE_KEY_PREFIX,
        "GREENHOUSE_RATE_BUDGET_URL": settings.GREENHOUSE_RATE_BUDGET_URL,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        **greenhouse_hosts_env(),
        **extra_env,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.greenhouse.budget_worker", json.dumps(job)],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    for process in processes:
        line = process.stdout.readline().strip()
        assert line == "ready", f"a worker did not start (exit {process.poll()})"
    return processes


def run_workers(processes) -> float:
    """Start them together; seconds from the start to the last worker's last request."""
    started = time.time()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = [json.loads(process.stdout.readline() or "null") for process in processes]
    for process in processes:
        assert process.wait(30) == 0
    return max(report["finished"] for report in reports) - started


def test_the_configured_store_is_atomic_across_processes(harvest_sandbox):
    key = f"{settings.GREENHOUSE_KEY_PREFIX}:atomic:{uuid.uuid4().hex[:8]}"
    processes = start_workers([{"kind": "count", "key": key, "count": 300}] * 4, {})
    run_workers(processes)

    store = store_from_url(settings.GREENHOUSE_RATE_BUDGET_URL)
    assert store.transact(key, lambda state: state["n"]) == 1200
    store.delete(key)


def test_four_worker_processes_share_one_budget(harvest_sandbox, admin_user_id):
    """4 processes, 1 credential, 40 requests per 2 s window, 200 notes: every note written,
    never over the limit in any window, no 429. (How much of the allowance they use is a
    measurement, not a pass/fail on a shared machine: `python -m bench.budget` reports it.)"""
    harvest_sandbox.configure(rate_limit=40, rate_window=2)
    grace = harvest_sandbox.candidate_id("grace.hopper@example.com")
    job = {
        "kind": "notes",
        "url": harvest_sandbox.url,
        "client_id": harvest_sandbox.client_id,
        "sub": admin_user_id,
        "candidate_id": grace,
        "count": 50,
    }
    processes = start_workers(
        [{**job, "worker": n} for n in range(4)],
        {"HARVEST_TEST_CLIENT_SECRET": harvest_sandbox.client_secret},
    )

    elapsed = run_workers(processes)

    notes = [n for n in harvest_sandbox.notes() if n["candidate_id"] == grace]
    windows = harvest_sandbox.windows(harvest_sandbox.client_id)
    received = [w["received"] for w in windows]
    full = received[1:-1]  # the first and last windows are partly outside the run
    usage = sum(full) / (40 * len(full)) if full else float("nan")
    print(f"\nbudget test: {elapsed:.2f} s for 200 notes; per window {received}; usage {usage:.1%}")
    assert len(notes) == 200
    assert max(received) <= 40
    assert sum(w["rejected"] for w in windows) == 0
