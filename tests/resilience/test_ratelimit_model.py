"""The buckets against exact models (Fraction arithmetic), fed the same (time, cost) events.

Times are multiples of 1/64 s and rates multiples of 1/16 per second, so every float the
implementation computes for its *decisions* (tokens, levels, comparisons) is exact and
must agree with the model exactly; the durations it reports (retry_after, reset, delay)
involve a division and must agree to rounding. Separate properties check what the
numbers promise: retrying at ``now + retry_after`` succeeds, and the admitted traffic
never exceeds what each algorithm allows over any interval.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ratelimit_models import LeakyModel, ModelDecision, TokenModel
from resilience_fakes import FakeClock

from gmp.resilience import Decision, LeakyBucket, TokenBucket

TICK = Fraction(1, 64)


def close(x: float, exact: Fraction) -> bool:
    return abs(Fraction(x) - exact) <= Fraction(1, 10**9) * max(1, abs(exact))


def same(d: Decision, m: ModelDecision) -> None:
    assert d.allowed == m.allowed, (d, m)
    assert d.remaining == m.remaining, (d, m)
    assert close(d.retry_after, m.retry_after), (d, m)
    assert close(d.reset, m.reset), (d, m)
    assert close(d.delay, m.delay), (d, m)
    # The implementation only ever rounds a retry_after up (so the promise holds).
    assert Fraction(d.retry_after) >= m.retry_after - Fraction(1, 10**12) * max(1, m.retry_after)


event = st.tuples(
    st.integers(-4, 200),  # dt in ticks; negative steps the clock back (clamped)
    st.integers(0, 1000),  # cost, reduced modulo limit + 1
    st.sampled_from(["try", "try", "reserve", "cancel"]),
    st.integers(0, 400),  # max_wait in ticks for a reservation (acquire's timeout)
    st.integers(0, 1000),  # which pending reservation to cancel
)


def run_against_model(
    bucket: Any, model: Any, clock: FakeClock, events: Any, *, leaky: bool
) -> None:
    limit = bucket.limit
    t = Fraction(0)
    pending: list[tuple[Any, Any]] = []
    for dt, cost, op, wait, which in events:
        t += dt * TICK
        clock.now = float(t)
        cost %= limit + 1
        if op == "try":
            d = bucket.try_acquire(cost)
            m, _ = model.decide(t, cost, None if leaky else Fraction(0))
            same(d, m)
            if not m.allowed:
                # (from the bucket's own time: a clock that stepped back is clamped)
                probe = copy.deepcopy(model)
                later = model.last + m.retry_after
                assert probe.decide(later, cost, None if leaky else Fraction(0))[0].allowed
        elif op == "reserve":
            with bucket._lock:
                d, res, _ = bucket._decide(bucket._now(), cost, float(wait * TICK))
            m, mres = model.decide(t, cost, wait * TICK)
            same(d, m)
            assert (res is None) == (mres is None)
            if res is not None:
                pending.append((res, mres))
        elif pending:
            res, mres = pending.pop(which % len(pending))
            bucket._cancel(res)
            model.cancel(t, mres)
        assert bucket.is_idle() == model.idle(t)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 160),
    burst=st.integers(1, 20),
    events=st.lists(event, max_size=60),
)
def test_token_bucket_matches_the_exact_model(rate: int, burst: int, events: Any) -> None:
    clock = FakeClock()
    r = Fraction(rate, 16)
    bucket = TokenBucket(float(r), burst, clock=clock)
    run_against_model(bucket, TokenModel(r, burst), clock, events, leaky=False)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 160),
    capacity=st.integers(1, 20),
    events=st.lists(event, max_size=60),
)
def test_leaky_bucket_matches_the_exact_model(rate: int, capacity: int, events: Any) -> None:
    clock = FakeClock()
    r = Fraction(rate, 16)
    bucket = LeakyBucket(float(r), capacity, clock=clock)
    run_against_model(bucket, LeakyModel(r, capacity), clock, events, leaky=True)


arbitrary = st.lists(
    st.tuples(st.floats(0, 50, allow_nan=False), st.integers(1, 1000)), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([TokenBucket, LeakyBucket]),
    rate=st.floats(1e-3, 1e6, allow_nan=False),
    size=st.integers(1, 50),
    start=st.floats(0, 1e9, allow_nan=False),
    events=arbitrary,
)
def test_retrying_at_now_plus_retry_after_succeeds(
    kind: Any, rate: float, size: int, start: float, events: Any
) -> None:
    # Arbitrary floats: the promise must hold through the implementation's own rounding.
    clock = FakeClock(start)
    bucket = kind(rate, size, clock=clock)
    for dt, cost in events:
        cost = 1 + cost % size
        clock.now += dt
        d = bucket.try_acquire(cost)
        if not d.allowed:
            assert d.retry_after > 0
            clock.now = clock.now + d.retry_after
            again = bucket.try_acquire(cost)
            assert again.allowed, (d, again)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 160),
    burst=st.integers(1, 20),
    events=st.lists(st.tuples(st.integers(0, 100), st.integers(1, 20)), max_size=60),
)
def test_token_bucket_never_admits_more_than_burst_plus_rate_times_interval(
    rate: int, burst: int, events: Any
) -> None:
    clock = FakeClock()
    r = Fraction(rate, 16)
    bucket = TokenBucket(float(r), burst, clock=clock)
    t = Fraction(0)
    admitted: list[tuple[Fraction, int]] = []
    for dt, cost in events:
        t += dt * TICK
        clock.now = float(t)
        cost = 1 + (cost - 1) % burst
        if bucket.try_acquire(cost).allowed:
            admitted.append((t, cost))
    for i, (a, _) in enumerate(admitted):
        total = 0
        for b, c in admitted[i:]:
            total += c
            assert total <= burst + r * (b - a)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 160),
    capacity=st.integers(1, 20),
    events=st.lists(st.tuples(st.integers(0, 100), st.integers(1, 20)), max_size=60),
)
def test_leaky_bucket_spaces_admitted_requests_by_their_cost(
    rate: int, capacity: int, events: Any
) -> None:
    clock = FakeClock()
    r = Fraction(rate, 16)
    bucket = LeakyBucket(float(r), capacity, clock=clock)
    t = Fraction(0)
    prev_end: Fraction | None = None
    for dt, cost in events:
        t += dt * TICK
        clock.now = float(t)
        cost = 1 + (cost - 1) % capacity
        d = bucket.try_acquire(cost)
        if d.allowed:
            start = t + Fraction(d.delay)
            # Proceeds no earlier than the previous request's work has drained, and no
            # later than the queue bound allows.
            if prev_end is not None:
                assert start >= prev_end - Fraction(1, 10**9)
            assert Fraction(d.delay) <= Fraction(capacity - cost) / r + Fraction(1, 10**9)
            prev_end = max(start, t) + cost / r
        else:
            assert d.retry_after > 0 and math.isfinite(d.retry_after)
