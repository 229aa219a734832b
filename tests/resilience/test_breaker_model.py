"""The breaker against a simple model of its state machine (hypothesis stateful test).

The model keeps every outcome as a (time, failed) event and counts the window by
definition (events whose bucket is one of the last ``buckets``), where the breaker uses
a ring of counters; it tracks generations the way the module docstring states them.
Times are multiples of 1/4 s and bucket widths powers of two, so float and exact
arithmetic agree at every boundary.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from resilience_fakes import FakeClock

from gmp.resilience import CircuitBreaker, CircuitOpenError, State

QUARTER = Fraction(1, 4)


@attrs.define
class Model:
    ratio: Fraction | None
    min_calls: int
    trip_after: int | None
    width: Fraction
    buckets: int
    cooldown: Fraction
    half_open_max: int
    threshold: int
    state: State = State.CLOSED
    gen: int = 0
    opened_at: Fraction = Fraction(-(10**9))
    probes: int = 0
    probe_successes: int = 0
    consec_f: int = 0
    consec_s: int = 0
    rejected: int = 0
    events: list[tuple[Fraction, bool]] = attrs.Factory(list)

    def to(self, state: State, now: Fraction) -> None:
        self.state = state
        self.gen += 1
        self.probes = self.probe_successes = self.consec_f = self.consec_s = 0
        if state is State.OPEN:
            self.opened_at = now
        if state is State.CLOSED:
            self.events = []

    def refresh(self, now: Fraction) -> None:
        if self.state is State.OPEN and now >= self.opened_at + self.cooldown:
            self.to(State.HALF_OPEN, now)

    def window(self, now: Fraction) -> tuple[int, int]:
        cur = math.floor(now / self.width)
        live = [f for t, f in self.events if cur - math.floor(t / self.width) < self.buckets]
        return live.count(False), live.count(True)

    def allow(self, now: Fraction) -> tuple[int, bool] | None:
        self.refresh(now)
        if self.state is State.CLOSED:
            return (self.gen, False)
        if self.state is State.HALF_OPEN and self.probes < self.half_open_max:
            self.probes += 1
            return (self.gen, True)
        self.rejected += 1
        return None

    def settle(self, now: Fraction, ticket: tuple[int, bool], outcome: str) -> None:
        gen, probe = ticket
        self.refresh(now)
        if gen != self.gen:
            return
        if probe:
            self.probes -= 1
        if outcome in ("release", "drop"):
            return
        failed = outcome == "failure"
        if failed:
            self.consec_f += 1
            self.consec_s = 0
        else:
            self.consec_s += 1
            self.consec_f = 0
        if self.state is State.HALF_OPEN:
            if failed:
                self.to(State.OPEN, now)
            else:
                self.probe_successes += 1
                if self.probe_successes >= self.threshold:
                    self.to(State.CLOSED, now)
            return
        self.events.append((now, failed))
        if not failed:
            return
        if self.trip_after is not None and self.consec_f >= self.trip_after:
            self.to(State.OPEN, now)
            return
        s, f = self.window(now)
        if self.ratio is not None and s + f >= self.min_calls and Fraction(f, s + f) >= self.ratio:
            self.to(State.OPEN, now)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tickets: list[tuple[Any, tuple[int, bool]]] = []
        self.t = Fraction(0)
        self.clock = FakeClock(0.0)

    @initialize(
        ratio=st.sampled_from([None, Fraction(1, 4), Fraction(1, 2), Fraction(3, 4), 1]),
        min_calls=st.integers(1, 5),
        trip_after=st.sampled_from([None, 1, 2, 3]),
        window=st.integers(1, 4),
        buckets=st.sampled_from([1, 2, 4]),
        cooldown=st.integers(0, 12),
        half_open_max=st.integers(1, 3),
        threshold=st.integers(1, 3),
    )
    def setup(
        self,
        ratio: Any,
        min_calls: int,
        trip_after: int | None,
        window: int,
        buckets: int,
        cooldown: int,
        half_open_max: int,
        threshold: int,
    ) -> None:
        if ratio is None and trip_after is None:
            trip_after = 2
        self.breaker = CircuitBreaker(
            "m",
            failure_ratio=None if ratio is None else float(ratio),
            min_calls=min_calls,
            consecutive_failures=trip_after,
            window=float(window),
            buckets=buckets,
            cooldown=float(cooldown * QUARTER),
            half_open_max_calls=half_open_max,
            success_threshold=threshold,
            clock=self.clock,
        )
        self.model = Model(
            None if ratio is None else Fraction(ratio),
            min_calls,
            trip_after,
            Fraction(window, buckets),
            buckets,
            cooldown * QUARTER,
            half_open_max,
            threshold,
        )

    @rule(dt=st.integers(0, 12))
    def advance(self, dt: int) -> None:
        self.t += dt * QUARTER
        self.clock.now = float(self.t)

    @rule()
    def allow(self) -> None:
        expected = self.model.allow(self.t)
        try:
            ticket = self.breaker.allow()
        except CircuitOpenError:
            assert expected is None
        else:
            assert expected is not None and ticket.probe == expected[1]
            self.tickets.append((ticket, expected))

    @precondition(lambda self: self.tickets)
    @rule(
        which=st.integers(0, 100),
        outcome=st.sampled_from(["success", "failure", "failure", "release", "drop"]),
    )
    def settle(self, which: int, outcome: str) -> None:
        ticket, expected = self.tickets.pop(which % len(self.tickets))
        if outcome == "drop":
            del ticket  # the last reference: CPython finalises it here
        else:
            getattr(ticket, outcome)()
        self.model.settle(self.t, expected, outcome)

    @invariant()
    def agrees(self) -> None:
        if not hasattr(self, "model"):
            return
        c = self.breaker.counts()
        m = self.model
        m.refresh(self.t)
        assert c.state is m.state
        assert c.probes_in_flight == m.probes
        assert c.rejected == m.rejected
        assert c.consecutive_failures == m.consec_f
        assert c.consecutive_successes == m.consec_s
        if m.state is State.HALF_OPEN:
            assert c.successes == m.probe_successes
        else:
            assert (c.successes, c.failures) == m.window(self.t)
        assert m.probes <= m.half_open_max


BreakerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
test_breaker_matches_the_model = BreakerMachine.TestCase
