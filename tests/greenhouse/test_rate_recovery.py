"""The rate budget where it cannot see everything: answers that never came, and a shared state
that vanished. Simulated time, the pure decisions (tests of the stores: test_rate_stores.py)."""

import pytest

from apps.greenhouse.harvest.ratelimit import Policy, decide, learn, recover

NOW = 1_800_000_000.0
POLICY = Policy(edge_reserve=0.25, clock_skew=0.25, default_limit=50, default_window=30)


def _window(state, at, *, limit=40, remaining=39, reset, ticket=None, sent_at=None, probe=True):
    learn(state, at, POLICY, probe=probe, answered=True, ticket=ticket, sent_at=sent_at,
          limit=limit, remaining=remaining, reset=reset)  # fmt: skip


def _grants(state, at, n=100) -> int:
    return [decide(state, at, POLICY, max_delay=60).granted for _ in range(n)].count(True)


def _first_window_spent(state):
    """Window 1 ([NOW, NOW + 2.25)) learned and granted in full; returns the last grant (its
    slot is just before the reserve: on a starved machine it reaches the next window)."""
    first = decide(state, NOW, POLICY, max_delay=60)
    _window(state, NOW + 0.01, reset=NOW + 2.25, ticket=first.ticket)
    grants = [decide(state, NOW + 0.02, POLICY, max_delay=60) for _ in range(39)]
    assert all(g.granted for g in grants)
    for grant in grants[:-1]:
        _window(state, NOW + 2.2, remaining=2, reset=NOW + 2.25, ticket=grant.ticket, probe=False)
    return grants[-1]


def test_a_late_request_whose_answer_was_lost_still_counts_in_the_window_it_reached():
    """The fault run's self-drawn 429. A request granted at the end of a window reaches
    Greenhouse in the next one, after the probe that opened it, and its connection is dropped
    (the sandbox's drop_after_write) before the probe's answer is learned. Greenhouse counted
    it; the budget used to forget it with its ticket, granted the whole window again on top
    of it, and drew the 41st of 40."""
    state = {}
    late = _first_window_spent(state)
    probe = decide(state, NOW + 2.5, POLICY, max_delay=60)
    assert probe.probe
    # Greenhouse: the probe opens window 2 (Remaining 39), then the late request is counted
    # (Remaining 38) and its connection dropped; the client learns the drop first.
    learn(state, NOW + 2.505, POLICY, probe=False, answered=False, ticket=late.ticket)
    _window(state, NOW + 2.51, reset=NOW + 4.5, ticket=probe.ticket, sent_at=NOW + 2.5)

    assert _grants(state, NOW + 2.52) == 38  # 40 with the probe and the late request


def test_a_request_whose_answer_was_lost_before_the_probe_went_is_not_counted_twice():
    """Lost before the next window's probe was sent, it reached Greenhouse before the probe:
    in the old window, or counted in the probe's Remaining. It does not count again."""
    state = {}
    late = _first_window_spent(state)
    learn(state, NOW + 2.3, POLICY, probe=False, answered=False, ticket=late.ticket)
    probe = decide(state, NOW + 2.5, POLICY, max_delay=60)
    _window(state, NOW + 2.51, reset=NOW + 4.5, ticket=probe.ticket, sent_at=NOW + 2.5)

    assert _grants(state, NOW + 2.52) == 39
    # And it is forgotten once a window has counted it.
    assert state["gone"] == {}


def test_a_lost_answer_after_a_window_learned_from_another_request_counts_in_the_next():
    """The new window may be learned from any answer, not only a probe's: a lost request that
    failed after that answer's request was sent counts too."""
    state = {}
    late = _first_window_spent(state)
    probe = decide(state, NOW + 2.5, POLICY, max_delay=60)
    learn(state, NOW + 2.52, POLICY, probe=False, answered=False, ticket=late.ticket)
    # The probe's answer is slow; it comes after the drop was learned.
    _window(state, NOW + 2.53, reset=NOW + 4.5, ticket=probe.ticket, sent_at=NOW + 2.5)
    assert _grants(state, NOW + 2.54) == 38


def _learned_state():
    """A budget in the middle of window 1, its state as a process last saw it."""
    state = {}
    first = decide(state, NOW, POLICY, max_delay=60)
    _window(state, NOW + 0.01, reset=NOW + 2.25, ticket=first.ticket)
    for _ in range(20):
        assert decide(state, NOW + 0.02, POLICY, max_delay=60).granted
    return state


def test_a_state_that_vanished_mid_window_waits_for_the_window_it_knew_to_end():
    """Redis restarted under running workers: the window open then may already hold its 40,
    and grants made before are on their way. A fresh state would probe at once and could be
    the 41st; the recovered one waits until that window has surely ended, then probes."""
    previous = _learned_state()
    state = {}
    recover(state, previous, NOW + 0.5, POLICY)

    held = decide(state, NOW + 0.5, POLICY, max_delay=60)
    assert not held.granted
    assert NOW + 0.5 + held.delay == pytest.approx(previous["surely_over"])
    # The grants the copy knew unanswered still count in the next window.
    probe = decide(state, previous["surely_over"], POLICY, max_delay=60)
    assert probe.probe
    _window(state, previous["surely_over"] + 0.01, reset=NOW + 4.5, ticket=probe.ticket,
            sent_at=previous["surely_over"])  # fmt: skip
    assert _grants(state, previous["surely_over"] + 0.02) == 39 - 20


def test_a_state_that_vanished_while_its_window_is_unknown_waits_a_whole_window():
    previous = _learned_state()
    decide(previous, NOW + 3, POLICY, max_delay=60)  # the copy: probing for window 2
    state = {}
    recover(state, previous, NOW + 3.1, POLICY)

    held = decide(state, NOW + 3.1, POLICY, max_delay=60)
    assert not held.granted
    # Up to a whole window, as long as the longest learned or the default, may still be open.
    assert held.delay == pytest.approx(POLICY.default_window + 1.0 + POLICY.edge_reserve)


def test_a_state_recreated_by_another_process_is_merged_not_replaced():
    """A process that never saw the old state wrote a fresh one first (and its probe is out):
    its grant stays counted, and everyone waits as above."""
    previous = _learned_state()
    state = {}
    fresh = decide(state, NOW + 0.5, POLICY, max_delay=60)
    assert fresh.probe
    recover(state, previous, NOW + 0.6, POLICY)

    assert str(fresh.ticket) in state["out"] and len(state["out"]) == 21
    assert state["limit"] == 40
    assert not decide(state, NOW + 0.6, POLICY, max_delay=60).granted


def test_a_copy_too_old_to_matter_changes_nothing():
    """A key that expired after a day unused: nothing of it can still be on its way."""
    previous = _learned_state()
    state = {}
    recover(state, previous, NOW + 3600, POLICY)
    assert state == {}
    assert decide(state, NOW + 3600, POLICY, max_delay=60).probe


def test_tickets_never_repeat_after_a_state_is_made_again():
    state = {}
    one = decide(state, NOW, POLICY, max_delay=60)
    again = {}
    two = decide(again, NOW + 0.001, POLICY, max_delay=60)
    assert two.ticket > one.ticket
