"""Token and leaky buckets on a fake clock: the numbers, the arguments, keyed buckets."""

from __future__ import annotations

import math
from typing import Any

import pytest
from resilience_fakes import FakeClock

from gmp.resilience import Decision, KeyedLimiter, LeakyBucket, TokenBucket


def test_token_bucket_passes_a_burst_then_refills_at_rate() -> None:
    clock = FakeClock()
    b = TokenBucket(2.0, 3, clock=clock)
    got = [b.try_acquire() for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    refused = got[3]
    assert refused.retry_after == pytest.approx(0.5)
    assert refused.reset == pytest.approx(1.5)
    assert refused.limit == 3 and refused.delay == 0.0
    clock.advance(0.5)
    assert b.try_acquire().allowed
    clock.advance(100)  # capped at burst
    assert b.try_acquire(0).remaining == 3
    assert b.is_idle()


def test_cost_zero_reads_the_numbers_without_spending() -> None:
    b = TokenBucket(1.0, 2, clock=FakeClock())
    assert b.try_acquire(2).allowed
    peek = b.try_acquire(0)
    assert peek.allowed and peek.remaining == 0 and peek.reset == pytest.approx(2.0)
    assert not b.try_acquire(1).allowed


def test_leaky_bucket_queues_requests_at_a_fixed_spacing() -> None:
    clock = FakeClock()
    b = LeakyBucket(2.0, 3, clock=clock)
    got = [b.try_acquire() for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.delay for d in got[:3]] == [0.0, 0.5, 1.0]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    assert got[3].retry_after == pytest.approx(0.5)
    assert got[3].reset == pytest.approx(1.5)
    clock.advance(0.5)
    d = b.try_acquire()
    assert d.allowed and d.delay == pytest.approx(1.0)
    clock.advance(10)
    assert b.is_idle() and b.try_acquire().delay == 0.0


def test_decision_headers_round_up() -> None:
    refused = Decision(
        allowed=False, cost=1, limit=10, remaining=0, retry_after=0.2, reset=4.01, delay=0.0
    )
    assert refused.headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "5",
        "Retry-After": "1",
    }
    ok = Decision(allowed=True, cost=1, limit=10, remaining=9, retry_after=0.0, reset=0.1)
    assert "Retry-After" not in ok.headers()


@pytest.mark.parametrize("kind", [TokenBucket, LeakyBucket])
@pytest.mark.parametrize(
    ("args", "exc", "word"),
    [
        ((-1.0, 1), ValueError, "rate"),
        ((0, 1), ValueError, "rate"),
        ((math.nan, 1), ValueError, "rate"),
        ((math.inf, 1), ValueError, "rate"),
        ((True, 1), TypeError, "rate"),
        (("5", 1), TypeError, "rate"),
        ((1.0, 0), ValueError, ""),
        ((1.0, 1.5), TypeError, ""),
        ((1.0, None), TypeError, ""),
    ],
)
def test_bad_arguments_name_the_argument(kind: Any, args: Any, exc: Any, word: str) -> None:
    word = word or ("burst" if kind is TokenBucket else "capacity")
    with pytest.raises(exc, match=word):
        kind(*args)


@pytest.mark.parametrize("kind", [TokenBucket, LeakyBucket])
def test_bad_costs(kind: Any) -> None:
    b = kind(1.0, 3)
    with pytest.raises(TypeError, match="cost"):
        b.try_acquire("1")
    with pytest.raises(TypeError, match="cost"):
        b.try_acquire(1.0)
    with pytest.raises(ValueError, match="cost"):
        b.try_acquire(-1)
    with pytest.raises(ValueError, match="can never be allowed"):
        b.try_acquire(4)
    with pytest.raises(TypeError, match="clock"):
        kind(1.0, 3, clock=5)


def test_keyed_limiter_keeps_one_bucket_per_key() -> None:
    clock = FakeClock()
    keyed = KeyedLimiter(lambda: TokenBucket(1.0, 2, clock=clock), max_keys=100)
    assert [keyed.try_acquire("a").allowed for _ in range(3)] == [True, True, False]
    assert keyed.try_acquire("b").allowed
    assert len(keyed) == 2 and "a" in keyed and "c" not in keyed
    assert keyed.bucket("a") is keyed.bucket("a")


def test_keyed_limiter_evicts_the_least_recently_used() -> None:
    clock = FakeClock()
    keyed = KeyedLimiter(lambda: TokenBucket(1.0, 1, clock=clock), max_keys=2)
    keyed.try_acquire("a")
    keyed.try_acquire("b")
    keyed.bucket("a")  # a is now more recent than b
    keyed.try_acquire("c")
    assert "b" not in keyed and "a" in keyed and "c" in keyed
    assert keyed.evicted == 1 and keyed.evicted_busy == 1
    clock.advance(10)  # every bucket is full again: evicting one forgets nothing
    keyed.try_acquire("d", 0)
    assert keyed.evicted == 2 and keyed.evicted_busy == 1


def test_keyed_limiter_prune_drops_idle_buckets_only() -> None:
    clock = FakeClock()
    keyed = KeyedLimiter(lambda: LeakyBucket(1.0, 5, clock=clock))
    keyed.try_acquire("old", 2)
    clock.advance(3)
    keyed.try_acquire("new", 2)
    assert keyed.prune() == 1
    assert "old" not in keyed and "new" in keyed


def test_keyed_limiter_arguments() -> None:
    with pytest.raises(TypeError, match="factory"):
        KeyedLimiter(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_keys"):
        KeyedLimiter(lambda: TokenBucket(1, 1), max_keys=0)
