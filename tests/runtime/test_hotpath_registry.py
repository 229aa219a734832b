"""The hot path's shortcuts keep the runtime's laws (issue 15).

- Scheduler.gs holds only Gs that parked once; close, cancellation and the deadlock
  check still reach the Gs that never parked (queued, or running on an M).
- A G spawned from an empty context gets its own Context at its first step.
- gmp.go binds the arguments at the call; a G cancelled before it ever ran leaves no
  coroutine that warns it was never awaited.
- The channel operations are native coroutines: a forgotten await warns, and outside a G
  they raise NotInGError.
"""

from __future__ import annotations

import contextvars
import functools
import gc
import threading
import time
import warnings

import pytest

import gmp

_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


def test_close_cancels_a_g_that_never_parked() -> None:
    started = threading.Event()

    async def spinner() -> None:
        started.set()
        while True:
            await gmp.gosched()  # never parks: never in Scheduler.gs

    rt = gmp.Runtime(procs=1)
    h = rt.go(spinner)
    assert started.wait(5)
    rt.close(timeout=0.05)
    with pytest.raises(gmp.Cancelled):
        h.result(timeout=1)


def test_close_cancels_gs_that_never_ran() -> None:
    gate = threading.Event()

    async def hog() -> None:
        gate.wait(5)  # holds the only P without a trap while the others are queued
        while True:
            await gmp.gosched()

    async def never() -> str:
        return "ran"

    rt = gmp.Runtime(procs=1, timeslice=3600.0)
    h = rt.go(hog)
    queued = [rt.go(never) for _ in range(300)]  # local queue, runnext and global
    closer = threading.Thread(target=rt.close, kwargs={"timeout": 0.05})
    closer.start()
    time.sleep(0.2)
    gate.set()
    closer.join(10)
    assert not closer.is_alive()
    with pytest.raises(gmp.Cancelled):
        h.result(timeout=1)
    for q in queued:
        with pytest.raises(gmp.Cancelled):
            q.result(timeout=1)


def test_a_g_computing_after_its_p_was_handed_off_is_not_a_deadlock() -> None:
    # The worker computes without a trap, so it never parked and is not in Scheduler.gs.
    # The helper waiting in the global queue makes sysmon hand the P to a second M, which
    # runs the helper and idles the P: every P is idle, main is parked, and the worker
    # still runs on the first M.
    async def worker(ch: gmp.Chan[int]) -> None:
        t = time.perf_counter()
        while time.perf_counter() - t < 0.2:
            pass
        await ch.send(1)

    async def helper() -> None:
        await gmp.gosched()

    async def main() -> int:
        ch: gmp.Chan[int] = gmp.Chan()
        gmp.go(worker, ch)
        gmp.go(helper)  # runs first (runnext), then waits in the global queue
        return await ch.recv()

    assert gmp.run(main, procs=1) == 1


def test_a_deadlock_is_still_found_after_gs_that_never_parked_finished() -> None:
    async def quick() -> int:
        return 1

    async def main() -> None:
        for h in [gmp.go(quick) for _ in range(50)]:
            await h.join()
        ch: gmp.Chan[int] = gmp.Chan()
        await ch.recv()

    with pytest.raises(gmp.DeadlockError, match="chan receive"):
        gmp.run(main, procs=2)


def test_a_g_from_an_empty_context_gets_its_own() -> None:
    async def child() -> str:
        before = _var.get()
        _var.set("child")
        return before

    def plain() -> str:
        before = _var.get()
        _var.set("plain")
        return before

    async def main() -> tuple[str, str, str, str]:
        a = await gmp.go(child).join()
        b = await gmp.go(plain).join()
        after = _var.get()  # the children's sets stayed in their own contexts
        _var.set("main")
        c = await gmp.go(child).join()
        return a, b, after, c

    assert contextvars.copy_context().run(gmp.run, main, procs=1) == (
        "unset",
        "unset",
        "unset",
        "main",
    )


def test_a_forgotten_channel_operation_warns() -> None:
    ch: gmp.Chan[int] = gmp.Chan(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ch.send(1)  # type: ignore[unused-coroutine]
        ch.recv()  # type: ignore[unused-coroutine]
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("Chan.send' was never awaited" in m for m in messages), messages
    assert any("Chan.recv' was never awaited" in m for m in messages), messages


def test_a_channel_operation_outside_a_g_raises_not_in_g() -> None:
    ch: gmp.Chan[int] = gmp.Chan(1)
    for coro in (ch.send(1), ch.recv(), ch.recv_ok()):
        with pytest.raises(gmp.NotInGError):
            coro.send(None)


def test_gs_picked_while_deadlines_fire_all_run() -> None:
    # A G found by find_runnable while non-G timers fired goes back to runnext while
    # they run; none is lost or run twice.
    fired: list[int] = []
    runs: list[int] = []

    async def worker(i: int) -> None:
        for _ in range(20):
            await gmp.sleep(0.0005)
        runs.append(i)

    async def main() -> None:
        rt = gmp.current_runtime()
        for k in range(200):
            rt.after_func(0.0002 * k, functools.partial(fired.append, k))
        hs = [gmp.go(worker, i) for i in range(50)]
        for h in hs:
            await h.join()
        await gmp.sleep(0.06)

    gmp.run(main, procs=2)
    assert sorted(runs) == list(range(50))
    assert sorted(fired) == list(range(200))


def test_a_gs_own_sudog_serves_one_wait_after_another() -> None:
    # The same G waits on several channels in turn, is cancelled in one wait, and is
    # woken by a close in another; each wait sees only its own outcome.
    async def main() -> list[object]:
        a: gmp.Chan[int] = gmp.Chan()
        b: gmp.Chan[int] = gmp.Chan()
        seen: list[object] = []

        async def peer() -> None:
            for i in range(100):
                await a.send(i)
                seen.append(await b.recv())
            await a.send(-1)

        h = gmp.go(peer)
        for _ in range(100):
            v = await a.recv()
            await b.send(v * 2)
        with gmp.move_on_after(0.01):
            await b.recv()  # nobody sends: cancelled while parked, sudog taken back
        seen.append(await a.recv())  # the same sudog, on the other channel
        await h.join()

        c: gmp.Chan[int] = gmp.Chan()

        async def closer() -> None:
            await gmp.sleep(0.01)
            c.close()

        gmp.go(closer)
        seen.append(await c.recv_ok())  # woken by close
        d: gmp.Chan[int] = gmp.Chan(1)
        await d.send(7)
        seen.append(await d.recv())
        return seen

    seen = gmp.run(main, procs=2)
    assert seen == [2 * i for i in range(100)] + [-1, (None, False), 7]


def test_bad_arguments_raise_at_go_and_good_ones_run() -> None:
    async def two(a: int, b: int) -> int:
        return a + b

    async def kw(a: int, *, k: int = 10) -> int:
        return a + k

    async def var(*xs: int) -> int:
        return sum(xs)

    async def main() -> tuple[int, int, int, int]:
        with pytest.raises(TypeError):
            gmp.go(two, 1)
        with pytest.raises(TypeError):
            gmp.go(two, 1, 2, 3)
        hs = [gmp.go(two, 1, 2), gmp.go(kw, 1), gmp.go(var, 1, 2, 3), gmp.go(var)]
        a, b, c, d = [await h.join() for h in hs]
        return a, b, c, d

    assert gmp.run(main, procs=1) == (3, 11, 6, 0)


def test_a_g_cancelled_before_its_first_step_leaves_no_unawaited_coroutine() -> None:
    gate = threading.Event()

    async def hog() -> None:
        gate.wait(5)
        await gmp.gosched()

    async def never(x: int) -> int:
        return x

    rt = gmp.Runtime(procs=1, timeslice=3600.0)
    rt.go(hog)
    queued = [rt.go(never, i) for i in range(10)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closer = threading.Thread(target=rt.close, kwargs={"timeout": 0.05})
        closer.start()
        time.sleep(0.2)
        gate.set()
        closer.join(10)
        for q in queued:
            with pytest.raises(gmp.Cancelled):
                q.result(timeout=1)
        del queued
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
