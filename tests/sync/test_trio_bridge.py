"""The trio bridge: open_runtime and rt.call, cancellation both ways (pytest-trio)."""

from __future__ import annotations

import threading
import time

import pytest
import trio

import gmp


async def test_call_returns_results_without_blocking_trios_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.001)
            ticks += 1

    async with gmp.open_runtime(procs=2) as rt, trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        # A plain-callable G that blocks 100 ms: trio's loop must keep ticking.
        assert await rt.call(lambda: time.sleep(0.1) or "slept") == "slept"

        async def coro(x: int) -> int:
            await gmp.sleep(0.001)
            return x * 2

        assert await rt.call(coro, 21) == 42
        nursery.cancel_scope.cancel()
    assert ticks >= 10


async def test_a_g_exception_arrives_in_trio_unchanged() -> None:
    class Boom(Exception):
        pass

    err = Boom("from the G")

    async def bad() -> None:
        raise err

    async with gmp.open_runtime(procs=1) as rt:
        with pytest.raises(Boom) as ei:
            await rt.call(bad)
    assert ei.value is err


async def test_cancelling_the_trio_task_cancels_the_g() -> None:
    seen = threading.Event()

    async def forever() -> None:
        try:
            await gmp.sleep(3600)
        except gmp.Cancelled:
            seen.set()
            raise

    async with gmp.open_runtime(procs=1) as rt:
        with trio.move_on_after(0.05) as cs:
            await rt.call(forever)
        assert cs.cancelled_caught
        assert seen.is_set()  # the G unwound before trio's call returned


async def test_a_g_cancelled_on_the_gmp_side_raises_gmp_cancelled_in_trio() -> None:
    async def forever() -> None:
        await gmp.sleep(3600)

    async with gmp.open_runtime(procs=1) as rt:
        result: list[BaseException] = []

        async def caller() -> None:
            try:
                await rt.call(forever)
            except gmp.Cancelled as e:
                result.append(e)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller)
            await trio.sleep(0.02)
            await trio.to_thread.run_sync(rt.runtime.close, 0)
    assert len(result) == 1 and isinstance(result[0], gmp.Cancelled)


async def test_open_runtime_closes_the_runtime_and_its_threads() -> None:
    async with gmp.open_runtime(procs=2) as rt:
        await rt.call(lambda: None)
        inner = rt.runtime
    assert inner.closed
