"""The rate budget of a Greenhouse credential, shared by every process and machine calling Harvest.

Harvest v3 gives each credential an allowance per fixed window of whole seconds (30 s in
production). Greenhouse counts it the strict way, and so does the sandbox: a window opens at the
first request after the previous one ended (not on a clock boundary), and `X-RateLimit-Reset` and
`Retry-After` are whole seconds, possibly rounded down, so a window may end up to a second after
the Reset it announced. A budget that took Reset to the second sent the next window's first
requests into the old one (41 in a window of 40), and one that trusted Retry-After got a second
429. So the budget works with bounds, not with a point in time:

- `send_until`, the last moment a request of ours surely still lands in the window: the rounded
  Reset, less the edge reserve (GREENHOUSE_RATE_EDGE_RESERVE: at least one-way latency plus clock
  skew). The allowance is spread evenly up to it, all of it: a reserve of time at the edge, not a
  request held back in every window.
- `opens_at`, the first moment the window has surely ended: the Reset plus its rounding margin
  (a second for whole seconds) plus the edge reserve. Only then does one request (the "probe")
  go alone, to open and learn the next window before the others follow.
- When the probe's answer shows it opened the window (Remaining = Limit - 1), the window started
  between the probe's sending and its answer, which with a whole-second window length pins both
  bounds down to about a round trip, with no clock skew in the end bound (see `learn`).

What the budget cannot observe it takes at its worst:
- A request granted in one window may reach Greenhouse in the next (a process starved of CPU
  between the grant and the send, a slow connect): when a window opens, every grant still
  unanswered (and younger than a request's timeouts) counts in it too, so a late one cannot be
  the allowance's 41st of 40.
- An early probe whose answer never came may have been the window's last request (the spare):
  the next one waits for the window's surer end.
- A request whose answer never came (a dropped connection, a timeout) was counted in the window
  it reached, which may be the next one, after that window's probe: it counts there too
  (`gone`), unless it failed before that window's first answer was sent.
- A shared state that vanished (Redis restarted) is not a new credential: the window open then
  may hold its allowance already, so the budget waits for its end (`recover`).

A 429 holds every process until the window has surely ended (`refusal_wait`), from Retry-After
and Reset with the same margins, and no later than the end learned from the probe.

The decisions are pure functions of a small state dict (`decide`, `learn`, `hold`, `recover`); a
store (stores.py) runs them atomically on the shared state: Redis (one compare-and-set script per
update) across machines, or a JSON file under an fcntl lock on one machine (the embedded default).
"""

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings

# The header parsing and the stores were defined here; their importers still find them.
from .rateheaders import RateHeaders as RateHeaders
from .rateheaders import parse_rate_headers as parse_rate_headers
from .rateheaders import parse_retry_after as parse_retry_after
from .rateheaders import refusal_wait as refusal_wait
from .stores import FileStore as FileStore
from .stores import MemoryStore as MemoryStore
from .stores import RedisStore as RedisStore
from .stores import Store as Store
from .stores import store_from_url as store_from_url

PROBE_TIMEOUT = 3.0  # a probe that has not answered by then is presumed lost; another may go
POLL_INTERVAL = 0.01  # how often a waiting caller asks again while a probe is out
WINDOW_EDGE = 0.5  # two Reset values this close denote the same window
MIN_HOLD = 1.0  # a 429 holds at least this long: never a tight loop of 429s

T = TypeVar("T")


class RateBudgetExceeded(Exception):
    """Waiting for budget would take longer than the caller allowed."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"Greenhouse rate budget exhausted; next request in {retry_after:.1f} s.")


@dataclass(frozen=True)
class Policy:
    edge_reserve: float = 0.25  # seconds: one-way latency plus clock skew, at least
    clock_skew: float = 0.05  # seconds Greenhouse's clock may be off ours, at most
    default_limit: int = 50
    default_window: int = 30
    # seconds after which an unanswered grant has surely reached Greenhouse or failed
    request_timeout: float = 35.0
    # seconds a grant reserved ahead (`RateBudget.exchange`) may wait before it is sent; after
    # that it is given back. Unanswered grants are remembered this much longer too.
    reserve_hold: float = 2.0

    @classmethod
    def from_settings(cls) -> "Policy":
        return cls(
            request_timeout=settings.GREENHOUSE_CONNECT_TIMEOUT + settings.GREENHOUSE_READ_TIMEOUT,
            edge_reserve=settings.GREENHOUSE_RATE_EDGE_RESERVE,
            clock_skew=settings.GREENHOUSE_RATE_CLOCK_SKEW,
            default_limit=settings.GREENHOUSE_RATE_DEFAULT_LIMIT,
            default_window=settings.GREENHOUSE_RATE_DEFAULT_WINDOW,
        )


@dataclass(frozen=True)
class Decision:
    delay: float  # seconds
    granted: bool  # True: send after `delay`. False: ask again after `delay`.
    probe: bool = False
    ticket: int | None = None  # a granted request's, until its answer (or its absence) is learned


# --- The decisions (pure; `state` is mutated in place) ------------------------------------------


def decide(
    state: dict[str, Any], now: float, policy: Policy, max_delay: float, *, burst: bool = False
) -> Decision:
    """`burst`: a caller that does not wait (`try_acquire`) takes what is left of the allowance
    now, not at the next evenly spread slot (pacing is for callers that sleep to their slot;
    the window's count and its edge are the same for both)."""
    blocked_until = state.get("blocked_until", 0.0)
    if blocked_until > now:
        return Decision(blocked_until - now, granted=False)

    send_until = state.get("send_until")
    if send_until is None or now >= send_until:
        opens_at = state.get("opens_at") or 0.0
        if state.get("spare") and state.get("used", 0) >= state.get("limit", 0):
            # Others used the request kept for an early probe: wait for the surer end.
            opens_at = max(opens_at, state.get("surely_over") or 0.0)
        if now < opens_at:
            return Decision(opens_at - now, granted=False)  # the window may not be over yet
        state.update(send_until=None, used=0, next_slot=0.0)
        probe_at = state.get("probe_at")
        if probe_at is not None and now - probe_at < PROBE_TIMEOUT:
            return Decision(POLL_INTERVAL, granted=False)
        state["probe_at"] = now
        return Decision(0.0, granted=True, probe=True, ticket=_ticket(state, now, now, policy))

    left = state["limit"] - state.get("used", 0) - state.get("spare", 0)
    paced = max(now, state.get("next_slot", 0.0))
    slot = now if burst else paced
    if left <= 0 or slot >= send_until:
        return Decision(max(send_until, state.get("opens_at") or 0.0) - now, granted=False)
    if slot - now > max_delay:
        return Decision(slot - now, granted=False)  # not reserved: the caller gives up
    state["used"] = state.get("used", 0) + 1
    # Spread what is left of the allowance evenly over what is left of the window.
    state["next_slot"] = max(paced, slot + (send_until - slot) / left)
    return Decision(slot - now, granted=True, ticket=_ticket(state, now, slot, policy))


def _ticket(state: dict[str, Any], now: float, send_at: float, policy: Policy) -> int:
    """Notes a grant as unanswered (`out`: ticket -> when it goes), forgetting those too old to
    be still on their way (a process killed mid-request never says). Tickets grow with the
    clock (milliseconds), so a state made again after a loss never reuses one."""
    oldest = now - _remembered(policy)
    out = {ticket: at for ticket, at in (state.get("out") or {}).items() if at > oldest}
    gone = {t: span for t, span in (state.get("gone") or {}).items() if span[0] > oldest}
    ticket = max(int(state.get("ticket", 0)), int(now * 1000)) + 1
    out[str(ticket)] = send_at
    state.update(ticket=ticket, out=out, gone=gone)
    return ticket


def _remembered(policy: Policy) -> float:
    """How long a grant may be on its way: a reserved grant is sent up to `reserve_hold` after
    it was granted, then takes up to the request's timeouts."""
    return policy.request_timeout + policy.reserve_hold


def _unanswered(
    state: dict[str, Any], now: float, policy: Policy, *, before: float, since: float
) -> int:
    """Our requests that Greenhouse may count in the window an answer showed, after the count
    that answer gave: grants to send before `before` and still unanswered, and requests whose
    answer never came (`gone`: sent, then a dropped connection or a timeout) that failed after
    `since`, when the answered request was sent (one that failed before had reached Greenhouse
    before it). A request whose answer was lost is counted in the window it reached, which may
    be the next one: forgetting it drew a 429 in a run with dropped connections."""
    oldest = now - _remembered(policy)
    unanswered = sum(1 for at in (state.get("out") or {}).values() if oldest < at < before)
    lost = sum(
        1
        for sent, failed in (state.get("gone") or {}).values()
        if oldest < sent < before and failed > since
    )
    return unanswered + lost


def window_bounds(
    *,
    reset: float,
    margin: float,
    reserve: float,
    skew: float,
    now: float,
    opened_at: float | None = None,
    lengths: tuple[int, int] | None = None,
) -> tuple[float, float, tuple[int, int] | None]:
    """(send_until, opens_at, lengths) of the window an answer announced with `reset` (`margin`:
    how much later than `reset` it may end, 1.0 for a Reset in whole seconds), on our clock.

    `opened_at`: when the request sent at that moment and answered `now` opened the window. The
    window then began (in Greenhouse's clock, δ ahead of ours, |δ| <= skew) between
    `opened_at + δ` and `now + δ`, and its length W is a whole number of seconds, so from
    `reset <= start + W < reset + 1`:
    - W <= ceil(reset - opened_at + skew), and the window is over for any request we send at
      `now + W` or later: it reaches Greenhouse after `now + δ + W`, past the end. No skew there.
    - W >= ceil(reset - now - skew), and a request sent before `opened_at + W - reserve`
      arrives before the window's end (its latency differs from the probe's by less than the
      reserve).
    The skew decides how often W is left open: when the window opened within `skew` of a whole
    second of Greenhouse's clock, a Reset cannot tell a W-second window from a W+1 one.
    `lengths` (shortest, longest) is what earlier windows of the credential said of W: the same
    length every time, so the bounds narrow from window to window (a window that opened near a
    whole second of Greenhouse's clock leaves W open by one second, another pins it down).
    """
    send_until = reset - reserve
    opens_at = reset + margin + reserve
    if opened_at is None or margin < 1.0:
        return send_until, opens_at, lengths
    shortest = math.ceil(reset - now - skew)
    longest = math.ceil(reset - opened_at + skew)
    if lengths is not None and max(shortest, lengths[0]) <= min(longest, lengths[1]):
        shortest, longest = max(shortest, lengths[0]), min(longest, lengths[1])
    # (Bounds that disagree with the earlier ones: the window's length changed; start afresh.)
    opens_at = min(opens_at, now + longest)
    send_until = max(send_until, opened_at + shortest - reserve)
    return send_until, opens_at, (shortest, longest)


def learn(
    state: dict[str, Any],
    now: float,
    policy: Policy,
    *,
    probe: bool,
    answered: bool,
    sent_at: float | None = None,
    ticket: int | None = None,
    limit: int | None = None,
    remaining: int | None = None,
    reset: float | None = None,
    margin: float = 0.0,
) -> None:
    sent = (state.get("out") or {}).pop(str(ticket), None) if ticket is not None else None
    # Grants made before this one's probe went, which may reach Greenhouse after it.
    before = (state.get("probe_at") or sent_at or now) if probe else now
    if probe and sent_at is not None and before > sent_at:
        # A probe presumed lost (PROBE_TIMEOUT) whose answer came after all: the probe sent in
        # its place is still on its way and lands in the window this one opened.
        before = math.nextafter(before, math.inf)
    # Requests whose answer was lost after this one went may have reached Greenhouse after it.
    since = before if probe else (sent_at if sent_at is not None else now)
    if probe:
        state["probe_at"] = None
    if not answered:
        if sent is not None:
            # Sent, perhaps counted in a window we learn only later: counted in it then.
            state.setdefault("gone", {})[str(ticket)] = [sent, now]
        if probe and state.get("spare"):
            # An early probe lost: it may have found the window open and used the spare request,
            # so the next one waits for the end of the longer length.
            state.update(opens_at=state.get("surely_over"), spare=0)
        return
    send_until = state.get("send_until")
    if limit is None:
        # No rate headers at all: assume the documented default rather than no limit.
        if send_until is None or now >= send_until:
            end = now + policy.default_window
            state.update(
                limit=state.get("limit") or policy.default_limit,
                send_until=end,
                opens_at=end,
                used=1 + _unanswered(state, now, policy, before=before, since=since),
                next_slot=now,
                probe_at=None,
            )
        return
    state["limit"] = limit
    if reset is None:
        reset, margin = now + policy.default_window, 0.0
    if reset + margin <= now:
        return  # a late answer from a window that is over (or clocks that disagree)
    used = limit - remaining if remaining is not None else 1
    known = state.get("reset")
    # A probe goes once the known window has surely ended: an answer that ends before it says
    # the known one is not Greenhouse's (its limits or window changed): this is the window now.
    # (Ignored, every request after went alone as a probe, and one was the 41st of 40.)
    replaced = probe and known is not None and reset < known - WINDOW_EDGE
    if known is None or reset > known + WINDOW_EDGE or replaced:
        # Grants of the window before still unanswered may land in this one, after this answer.
        late = _unanswered(state, now, policy, before=before, since=since)
        # A new window: opened by our probe when it is the first request counted in it.
        opened_at = sent_at if probe and used == 1 else None
        known_lengths = state.get("lengths")
        send_until, opens_at, lengths = window_bounds(
            reset=reset,
            margin=margin,
            reserve=policy.edge_reserve,
            skew=policy.clock_skew,
            now=now,
            opened_at=opened_at,
            lengths=tuple(known_lengths) if known_lengths else None,
        )
        # W still one of two lengths: keep one request spare and probe at the shorter one. If
        # the window is still open then, the probe is its last request (no 429) and says so.
        spare = 1 if opened_at is not None and lengths and lengths[0] < lengths[1] else 0
        state.update(
            seen=used,
            lengths=lengths,
            reset=reset,
            send_until=send_until,
            opens_at=now + lengths[0] if spare and lengths else opens_at,
            surely_over=opens_at,
            spare=spare,
            used=used + late,
            next_slot=now,
            probe_at=None,
            gone={},  # each counted in this window, or in Greenhouse's count before it
        )
    elif reset >= known - WINDOW_EDGE:
        # Other processes' requests (or other apps using the credential) count too.
        state["used"] = max(state.get("used", 0), used)
        state["seen"] = max(state.get("seen", 0), used)
        if probe and state.get("spare") and state.get("lengths"):
            # The early probe found the window still open: it is the longer length.
            shortest, longest = state["lengths"]
            state.update(
                lengths=[min(shortest + 1, longest), longest],
                opens_at=state["surely_over"],
                spare=0,
            )
        elif probe:
            # A probe that found the window still open: wait for its latest end this time.
            state["opens_at"] = max(
                state.get("opens_at") or 0.0, reset + margin + policy.edge_reserve
            )


def hold(state: dict[str, Any], now: float, seconds: float) -> None:
    state.update(
        blocked_until=max(state.get("blocked_until", 0.0), now + seconds),
        send_until=None,
        used=0,
        spare=0,
        next_slot=0.0,
        probe_at=None,
    )


def recover(state: dict[str, Any], previous: dict[str, Any], now: float, policy: Policy) -> None:
    """The shared state vanished (Redis restarted or flushed) while this process held
    `previous`, its last copy; `state` is what the store holds now (empty, or written since by
    a process that knew nothing of the loss). It is not a new credential: Greenhouse still
    counts the window open at the loss, which the lost state may have granted in full, and
    requests granted before it may still be on their way. So:
    - the grants the copy knew unanswered still count (`out`, `gone`), the limit and the
      window lengths learned are kept;
    - nothing is sent until the window open at the loss has surely ended: by the bound learned
      before it when the copy is of that window, else a whole window (the longest known, or the
      default) from now.
    A copy older than any request's timeouts carries nothing still true: nothing changes."""
    out = previous.get("out") or {}
    gone = previous.get("gone") or {}
    moments = [previous.get(k) or 0.0 for k in ("send_until", "surely_over", "probe_at")]
    moments += [*out.values(), *(span[1] for span in gone.values())]
    if max(moments, default=0.0) < now - _remembered(policy):
        return
    state.update(
        out={**out, **(state.get("out") or {})},
        gone={**gone, **(state.get("gone") or {})},
        ticket=max(int(state.get("ticket", 0)), int(previous.get("ticket", 0))),
    )
    for name in ("limit", "lengths", "reset"):
        if state.get(name) is None and previous.get(name) is not None:
            state[name] = previous[name]
    lengths = previous.get("lengths")
    window = float(lengths[1]) if lengths else float(policy.default_window)
    surely_over = previous.get("surely_over") or previous.get("opens_at")
    if previous.get("send_until") is not None and surely_over and now < surely_over:
        until = float(surely_over)
    else:
        until = now + window + 1.0 + policy.edge_reserve
    hold(state, now, until - now)
    state.update(opens_at=until, surely_over=until)


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


# --- The budget --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    probe: bool
    sent_at: float  # when the request went (after any wait), on our clock
    ticket: int | None = None
    # A grant reserved ahead (`RateBudget.exchange`): the window it was granted in (its
    # `send_until`; None for a probe), and the last moment it may be sent.
    window: float | None = None
    use_by: float | None = None


@dataclass(frozen=True)
class Answer:
    """A request's answer (its headers; None: no answer came), learned later in one round trip
    with others (`RateBudget.exchange`). `at`: when it came, on the budget's clock."""

    grant: Grant
    headers: Mapping[str, str] | None
    at: float


def give_back(state: dict[str, Any], grant: Grant) -> None:
    """A reserved grant that was never sent. Its ticket goes (it reaches no window); its request
    is counted off the window it was granted in when that is still the known window and no
    answer counted more than what is left (another app's requests are not counted off)."""
    if grant.probe:
        # Never sent: another may probe now (unless one has already gone in its place).
        (state.get("out") or {}).pop(str(grant.ticket), None)
        if state.get("probe_at") == grant.sent_at:
            state["probe_at"] = None
        return
    if (state.get("out") or {}).pop(str(grant.ticket), None) is None:
        return  # forgotten already: counted wherever it was
    used = state.get("used", 0)
    if state.get("send_until") == grant.window and used - 1 >= state.get("seen", 0):
        state["used"] = used - 1


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

    def _transact(self, fn: Callable[[dict[str, Any]], T]) -> T:
        """`fn` on the shared state; a state that vanished is recovered first (see `recover`)."""
        return self.store.transact(
            self.key,
            fn,
            on_lost=lambda state, previous: recover(state, previous, self.clock(), self.policy),
        )

    def acquire(self, *, max_wait: float) -> Grant:
        """Wait until a request may be sent. Raises RateBudgetExceeded when that is more than
        `max_wait` seconds away (nothing is reserved then)."""
        deadline = self.clock() + max_wait
        while True:
            decision = self._transact(
                lambda state: decide(
                    state, self.clock(), self.policy, max_delay=deadline - self.clock()
                ),
            )
            if decision.granted:
                if decision.delay > 0:
                    self.sleep(decision.delay)
                return Grant(probe=decision.probe, sent_at=self.clock(), ticket=decision.ticket)
            if self.clock() + decision.delay > deadline:
                raise RateBudgetExceeded(decision.delay)
            self.sleep(decision.delay)

    def try_acquire(self) -> Grant | float:
        """A request now, or the seconds until one may be asked for again: never sleeps, and
        reserves nothing when it refuses. For callers with other work to do meanwhile (the
        sync's batches): they take what is left of the window at once (`decide`'s `burst`)."""
        decision = self._transact(
            lambda state: decide(state, self.clock(), self.policy, max_delay=0.0, burst=True)
        )
        if not decision.granted:
            return decision.delay
        return Grant(probe=decision.probe, sent_at=self.clock(), ticket=decision.ticket)

    def exchange(
        self,
        n: int = 0,
        *,
        answers: Sequence[Answer] = (),
        returned: Sequence[Grant] = (),
    ) -> tuple[list[Grant], float | None]:
        """One round trip for a batch of requests: learn `answers` (in order, each at its own
        time), give back the `returned` grants never sent (`give_back`), then reserve up to `n`
        requests now, as `try_acquire` would one after the other (a probe goes alone: its
        answer opens the window). Returns the grants, and the seconds until another may be
        asked for when fewer than `n` were granted (None: all were, or a probe). A reserved
        grant must be sent by its `use_by` (`reserve_hold`, and before its window's edge), or
        given back; one never sent nor given back (a process killed) counts until its window
        ends, and stays unanswered as long as any grant may be."""

        def apply(state: dict[str, Any]) -> tuple[list[Grant], float | None]:
            for answer in answers:
                self._learn(state, answer.grant, answer.headers, answer.at)
            for grant in returned:
                give_back(state, grant)
            grants: list[Grant] = []
            for _ in range(n):
                now = self.clock()
                decision = decide(state, now, self.policy, max_delay=0.0, burst=True)
                if not decision.granted:
                    return grants, decision.delay
                window = None if decision.probe else state.get("send_until")
                use_by = now + self.policy.reserve_hold
                grants.append(
                    Grant(
                        probe=decision.probe,
                        sent_at=now,
                        ticket=decision.ticket,
                        window=window,
                        use_by=use_by if window is None else min(use_by, window),
                    )
                )
                if decision.probe:
                    break
            return grants, None

        return self._transact(apply)

    def record(self, grant: Grant, headers: Mapping[str, str] | None) -> None:
        """After the request: its answer's headers, or None when there was no answer."""
        self._transact(lambda state: self._learn(state, grant, headers, self.clock()))

    def _learn(
        self,
        state: dict[str, Any],
        grant: Grant,
        headers: Mapping[str, str] | None,
        now: float,
    ) -> None:
        if headers is None:
            learn(state, now, self.policy, probe=grant.probe, answered=False, ticket=grant.ticket)
            return
        rate = parse_rate_headers(headers, now)
        learn(
            state,
            now,
            self.policy,
            probe=grant.probe,
            answered=True,
            sent_at=grant.sent_at,
            ticket=grant.ticket,
            limit=rate.limit,
            remaining=rate.remaining,
            reset=rate.reset,
            margin=rate.margin,
        )

    def hold(self, seconds: float) -> None:
        """Every process waits `seconds`."""
        self._transact(lambda state: hold(state, self.clock(), seconds))

    def refused(self, headers: Mapping[str, str]) -> float:
        """Greenhouse answered 429 (after `record`): every process waits until the window has
        surely ended, by the answer's headers or, sooner, by what the window's probe learned.
        Returns the seconds of that wait."""

        def apply(state: dict[str, Any]) -> float:
            now = self.clock()
            wait = refusal_wait(headers, now, self.policy.edge_reserve)
            reset = parse_rate_headers(headers, now).reset
            known, opens_at = state.get("reset"), state.get("surely_over")
            if (
                reset is not None
                and known is not None
                and opens_at is not None
                and abs(reset - known) <= WINDOW_EDGE  # the window whose end its probe learned
            ):
                wait = min(wait if wait is not None else math.inf, max(0.0, opens_at - now))
            wait = max(MIN_HOLD, wait if wait is not None else MIN_HOLD)
            hold(state, now, wait)
            # The tightest bound known of the window's end.
            state.update(opens_at=now + wait, surely_over=now + wait)
            return wait

        return self._transact(apply)

    def reset(self) -> None:
        self.store.delete(self.key)
