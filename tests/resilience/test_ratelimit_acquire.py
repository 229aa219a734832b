"""``await acquire()`` inside gmp Gs and in trio tasks: waiting, timeouts, cancellation.

These use the real clock (the waits are real sleeps) with rates chosen so that a wait is
either a few milliseconds or far longer than any test; nothing asserts on speed.
"""

from __future__ import annotations

import time

import pytest
import trio
from resilience_fakes import FakeClock

import gmp
from gmp.resilience import LeakyBucket, RateLimitTimeout, TokenBucket

pytestmark = pytest.mark.threaded


def test_acquire_in_a_g_waits_for_its_reservation() -> None:
    async def main() -> tuple[float, float, float, float]:
        b = TokenBucket(200.0, 1)
        first = await b.acquire()
        before = time.monotonic()
        second = await b.acquire()
        return first.delay, second.delay, before, time.monotonic()

    d1, d2, before, after = gmp.run(main, procs=2)
    assert d1 == 0.0 and 0 < d2 <= 1 / 200
    assert after >= before + d2 - 1e-3  # it really waited (the timer never fires early)


def test_gs_reserve_in_arrival_order() -> None:
    # A frozen bucket clock makes every reservation exact; the sleeps are real (<= 8 ms).
    async def main() -> list[float]:
        b = TokenBucket(1000.0, 2, clock=FakeClock(50.0))
        hs = [gmp.go(b.acquire) for _ in range(10)]
        return sorted([(await h.join()).delay for h in hs])

    delays = gmp.run(main, procs=2)
    # Two from the burst, then eight reservations, each one token (1 ms) further out.
    assert delays == pytest.approx([0.0, 0.0] + [k / 1000 for k in range(1, 9)])


def test_acquire_timeout_fails_at_once_when_the_wait_is_too_long() -> None:
    async def main() -> float:
        b = TokenBucket(0.001, 1)
        await b.acquire()
        with pytest.raises(RateLimitTimeout) as ei:
            await b.acquire(timeout=5.0)
        assert b.try_acquire(0).remaining == 0  # nothing was reserved by the failed call
        return ei.value.retry_after

    assert gmp.run(main) == pytest.approx(1000.0, rel=1e-3)


def test_cancelling_a_g_returns_its_reservation() -> None:
    async def main() -> tuple[bool, float]:
        b = TokenBucket(1.0, 1)
        await b.acquire()
        with gmp.move_on_after(0.01) as scope:
            await b.acquire()  # reserved for ~1 s from now
        # Without the give-back the next token would be ~2 s away.
        return scope.cancelled_caught, b.try_acquire().retry_after

    caught, retry = gmp.run(main)
    assert caught and retry <= 1.0


def test_leaky_acquire_in_gs_waits_for_room_then_for_its_turn() -> None:
    async def main() -> int:
        b = LeakyBucket(500.0, 1)
        hs = [gmp.go(b.acquire) for _ in range(6)]
        return sum([(await h.join()).allowed for h in hs])

    assert gmp.run(main, procs=2) == 6


def test_leaky_acquire_timeout() -> None:
    async def main() -> None:
        b = LeakyBucket(0.01, 3)
        await b.acquire(3)
        with pytest.raises(RateLimitTimeout):
            await b.acquire(timeout=1.0)

    gmp.run(main)


def test_cost_above_the_bucket_is_an_error_not_a_wait() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="burst 2"):
            await TokenBucket(1.0, 2).acquire(3)
        with pytest.raises(ValueError, match="capacity 2"):
            await LeakyBucket(1.0, 2).acquire(3)
        with pytest.raises(ValueError, match="timeout"):
            await TokenBucket(1.0, 2).acquire(timeout=-1)

    gmp.run(main)


def test_acquire_outside_a_g_and_trio_says_what_to_do() -> None:
    coro = TokenBucket(1.0, 1).acquire()
    with pytest.raises(gmp.NotInGError, match="try_acquire"):
        coro.send(None)


async def test_acquire_from_trio_uses_trio_sleep() -> None:
    b = TokenBucket(200.0, 1)
    assert (await b.acquire()).delay == 0.0
    before = trio.current_time()
    d = await b.acquire()
    assert d.delay > 0
    assert trio.current_time() >= before + d.delay - 1e-3


async def test_trio_cancellation_returns_the_reservation() -> None:
    b = TokenBucket(1.0, 1)
    await b.acquire()
    with trio.move_on_after(0.01) as scope:
        await b.acquire()
    assert scope.cancelled_caught
    assert b.try_acquire().retry_after <= 1.0


async def test_trio_cancelled_before_acquire_takes_nothing() -> None:
    b = TokenBucket(1.0, 1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await b.acquire()
    assert scope.cancelled_caught
    assert b.try_acquire().allowed


async def test_trio_timeout_and_leaky_loop() -> None:
    b = TokenBucket(0.001, 1)
    await b.acquire()
    with pytest.raises(RateLimitTimeout):
        await b.acquire(timeout=0.5)
    leaky = LeakyBucket(200.0, 1)
    results = []
    async with trio.open_nursery() as nursery:
        for _ in range(4):

            async def one() -> None:
                results.append(await leaky.acquire())

            nursery.start_soon(one)
    assert len(results) == 4 and all(d.allowed for d in results)


async def test_acquire_from_a_g_started_by_the_trio_bridge() -> None:
    b = TokenBucket(500.0, 1)

    async def in_g() -> float:
        await b.acquire()
        return (await b.acquire()).delay

    async with gmp.open_runtime(procs=1) as rt:
        assert await rt.call(in_g) > 0
