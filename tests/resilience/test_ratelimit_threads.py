"""Many threads on one bucket: the admitted count is exactly the algorithm's bound.

The clock is frozen (so the bound is exact), threads start together at a barrier and
the switch interval is shortened to interleave them as much as possible. Between two
phases the barrier's action advances the clock by a controlled amount.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from resilience_fakes import FakeClock

from gmp.resilience import KeyedLimiter, LeakyBucket, TokenBucket

THREADS = 16
TRIES = 150


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def hammer(phases: int, attempt: Any, between: Any = None) -> int:
    barrier = threading.Barrier(THREADS, action=between)
    counts = [0] * THREADS
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for phase in range(phases):
                for _ in range(TRIES):
                    if attempt(i):
                        counts[i] += 1
                if phase + 1 < phases:
                    barrier.wait(timeout=30)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return sum(counts)


@pytest.mark.parametrize("kind", [TokenBucket, LeakyBucket])
def test_frozen_clock_admits_exactly_the_bucket_size(kind: Any) -> None:
    bucket = kind(10.0, 50, clock=FakeClock(1000.0))
    assert hammer(1, lambda i: bucket.try_acquire().allowed) == 50


@pytest.mark.parametrize("kind", [TokenBucket, LeakyBucket])
def test_advanced_clock_admits_size_plus_rate_times_dt(kind: Any) -> None:
    clock = FakeClock(1000.0)
    bucket = kind(8.0, 50, clock=clock)
    # Phase one drains the bucket, the barrier action moves time 2.5 s (20 more units).
    admitted = hammer(2, lambda i: bucket.try_acquire().allowed, lambda: clock.advance(2.5))
    assert admitted == 50 + 20


def test_costs_add_up_exactly_under_contention() -> None:
    # Costs 1, 2 and 3 race for 97 tokens on a frozen clock. Tokens only decrease, so a
    # token left at the end would have let every one of the 900 cost-1 attempts through:
    # every token is spent, exactly once.
    bucket = TokenBucket(1.0, 97, clock=FakeClock(5.0))
    spent = [0] * THREADS

    def attempt(i: int) -> bool:
        cost = 1 + i % 3
        ok = bucket.try_acquire(cost).allowed
        if ok:
            spent[i] += cost
        return ok

    hammer(1, attempt)
    assert sum(spent) == 97
    assert bucket.try_acquire(0).remaining == 0


def test_keyed_limiter_under_contention_keeps_each_key_exact() -> None:
    clock = FakeClock(0.0)
    keyed = KeyedLimiter(lambda: TokenBucket(1.0, 7, clock=clock), max_keys=1000)
    per_key = [0] * 4
    lock = threading.Lock()

    def attempt(i: int) -> bool:
        key = i % 4
        ok = keyed.try_acquire(key).allowed
        if ok:
            with lock:
                per_key[key] += 1
        return ok

    assert hammer(1, attempt) == 28
    assert per_key == [7, 7, 7, 7]
