"""Absolute deadlines (``move_on_at``, ``fail_at``, trio's functions of the same names) and
the argument errors of every deadline scope.

Laws:

- ``move_on_at(d)`` is ``CancelScope(deadline=d)``: a G inside it past ``d`` is cancelled
  at its next checkpoint, and the scope catches that cancellation;
- a deadline already past when the scope is entered cancels at the first checkpoint
  inside it, and the code after that checkpoint does not run;
- ``gosched`` and ``sleep(0)`` are trio checkpoints: the schedule point, then the cancel
  point. A cancellation made while the G waited to run again (a deadline whose timer
  fired then, or another G's ``cancel()``) is raised by that checkpoint, not the next;
- ``fail_at(d)`` raises ``TooSlowError`` naming the deadline if ``d`` passed inside it,
  and nothing if the block ended first;
- a G parked in any waiting primitive (a mutex, read lock, semaphore, WaitGroup, a
  channel's send or receive, ``select``, the nil channel, a join) wakes with the
  cancellation when its scope's deadline passes; a cancelled ``Cond.wait`` holds its
  lock again, as Go's and trio's do;
- ``scope.deadline`` may be assigned from any G or thread, as trio's: before entry it is
  armed at entry; inside, the old deadline is disarmed and the new one armed (moved
  later, the old one cancels nothing, even if its timer already fired; moved into the
  past, a parked G wakes); after the exit, or on a cancelled scope, only the value
  changes;
- a bad number is refused when the scope is made, naming what was wrong: a non-number
  (``bool`` included) is a ``TypeError``, NaN or a negative duration a ``ValueError``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gmp


def test_move_on_at_cancels_a_parked_g_at_its_deadline() -> None:
    async def main() -> tuple[bool, float, float]:
        deadline = time.monotonic() + 0.02
        with gmp.move_on_at(deadline) as scope:
            await gmp.sleep(30)
        return scope.cancelled_caught, scope.deadline, deadline

    caught, seen, asked = gmp.run(main, procs=1)
    assert caught
    assert seen == asked


CHECKPOINTS = pytest.mark.parametrize(
    "checkpoint", [gmp.gosched, lambda: gmp.sleep(0)], ids=["gosched", "sleep0"]
)


@CHECKPOINTS
def test_a_deadline_already_past_cancels_at_the_first_checkpoint(
    checkpoint: Callable[[], Any],
) -> None:
    async def main() -> tuple[bool, list[str]]:
        steps: list[str] = []
        with gmp.move_on_at(time.monotonic() - 1.0) as scope:
            steps.append("entered")  # no checkpoint yet: this runs
            await checkpoint()
            steps.append("after the checkpoint")
        return scope.cancelled_caught, steps

    assert gmp.run(main, procs=1) == (True, ["entered"])


@CHECKPOINTS
def test_a_deadline_passed_while_computing_is_caught_at_the_next_checkpoint(
    checkpoint: Callable[[], Any],
) -> None:
    # The deadline's timer has not fired when the G reaches the checkpoint (nothing ran
    # the timers while it computed): it fires while the G waits to run again, and the
    # checkpoint must still raise it, as trio's does (schedule point, then cancel point).
    async def main() -> tuple[bool, list[str]]:
        steps: list[str] = []
        with gmp.move_on_after(0.005) as scope:
            end = time.monotonic() + 0.02
            while time.monotonic() < end:  # computes past the deadline, no checkpoint
                pass
            await checkpoint()
            steps.append("after the checkpoint")
        return scope.cancelled_caught, steps

    assert gmp.run(main, procs=1) == (True, [])


@CHECKPOINTS
def test_a_cancel_made_during_the_yield_is_raised_by_that_checkpoint(
    checkpoint: Callable[[], Any],
) -> None:
    async def cancel(scope: gmp.CancelScope) -> None:
        scope.cancel()

    async def main() -> tuple[bool, list[str]]:
        steps: list[str] = []
        with gmp.CancelScope() as scope:
            h = gmp.go(cancel, scope)  # runs while this G yields
            await checkpoint()
            steps.append("after the checkpoint")
        await h.join()
        return scope.cancelled_caught, steps

    assert gmp.run(main, procs=1) == (True, [])


def test_fail_at_raises_too_slow_naming_the_deadline() -> None:
    async def main() -> float:
        deadline = time.monotonic() + 0.01
        too_slow = pytest.raises(
            gmp.TooSlowError, match=r"deadline passed \(\d+\.\d{6} monotonic\)"
        )
        with too_slow, gmp.fail_at(deadline):
            await gmp.sleep(30)
        return deadline

    gmp.run(main, procs=1)


def test_fail_at_left_before_its_deadline_raises_nothing() -> None:
    async def main() -> bool:
        with gmp.fail_at(time.monotonic() + 30) as scope:
            await gmp.sleep(0.001)
        return scope.cancelled_caught

    assert gmp.run(main, procs=1) is False


@pytest.mark.parametrize("make", [gmp.move_on_after, gmp.fail_after], ids=["move_on", "fail"])
@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        ("1", TypeError, "expected a number of seconds, got str"),
        (True, TypeError, "expected a number of seconds, got bool"),
        (None, TypeError, "expected a number of seconds, got NoneType"),
        (-0.5, ValueError, "expected a non-negative number of seconds, got -0.5"),
        (math.nan, ValueError, "expected a non-negative number of seconds, got nan"),
    ],
)
def test_a_bad_duration_is_refused_naming_it(
    make: Callable[[Any], Any], seconds: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make(seconds)


def _assigned(deadline: Any) -> None:
    """``scope.deadline = deadline`` on a fresh scope, which keeps no deadline if refused."""
    scope = gmp.CancelScope()
    try:
        scope.deadline = deadline
    finally:
        assert scope.deadline == math.inf


@pytest.mark.parametrize(
    "make",
    [gmp.move_on_at, gmp.fail_at, lambda d: gmp.CancelScope(deadline=d), _assigned],
    ids=["move_on_at", "fail_at", "CancelScope", "assigned"],
)
@pytest.mark.parametrize(
    ("deadline", "error", "message"),
    [
        ("soon", TypeError, "deadline must be a number, got str"),
        (False, TypeError, "deadline must be a number, got bool"),
        (math.nan, ValueError, "deadline must not be NaN"),
    ],
)
def test_a_bad_deadline_is_refused_naming_it(
    make: Callable[[Any], Any], deadline: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make(deadline)


async def _sleeper() -> None:
    await gmp.sleep(3600)


async def _held_mutex() -> gmp.Mutex:
    mu = gmp.Mutex()
    await mu.lock()
    return mu


async def _held_rwmutex() -> gmp.RWMutex:
    rw = gmp.RWMutex()
    await rw.lock()
    return rw


async def _taken_semaphore() -> gmp.Semaphore:
    sem = gmp.Semaphore(1)
    await sem.acquire()
    return sem


async def _waitgroup_of_one() -> gmp.WaitGroup:
    wg = gmp.WaitGroup()
    wg.add(1)
    return wg


async def _mutex_wait() -> Any:
    return (await _held_mutex()).lock()


async def _rwmutex_wait() -> Any:
    return (await _held_rwmutex()).rlock()


async def _semaphore_wait() -> Any:
    return (await _taken_semaphore()).acquire()


async def _waitgroup_wait() -> Any:
    return (await _waitgroup_of_one()).wait()


async def _recv_wait() -> Any:
    return gmp.Chan[int]().recv()


async def _send_wait() -> Any:
    return gmp.Chan[int]().send(1)


async def _select_wait() -> Any:
    return gmp.select(gmp.Recv(gmp.Chan[int]()))


async def _nil_wait() -> Any:
    return gmp.Chan.nil().recv()


async def _join_wait() -> Any:
    return gmp.go(_sleeper).join()


@pytest.mark.parametrize(
    "wait",
    [
        _mutex_wait,
        _rwmutex_wait,
        _semaphore_wait,
        _waitgroup_wait,
        _recv_wait,
        _send_wait,
        _select_wait,
        _nil_wait,
        _join_wait,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_g_parked_in_any_waiting_primitive_wakes_at_its_deadline(
    wait: Callable[[], Any],
) -> None:
    # docs/cancellation.md: "A G that is parked when its scope is cancelled wakes at once
    # with Cancelled, wherever it waits." The wait never completes on its own.
    async def main() -> bool:
        awaitable = await wait()
        with gmp.move_on_after(0.01) as scope:
            await awaitable
        return scope.cancelled_caught

    assert gmp.run(main, procs=1) is True


def test_a_cond_wait_cancelled_holds_the_lock_again() -> None:
    # Go's Cond.Wait and trio's Condition.wait return holding the lock, cancelled or not:
    # the caller's unlock (``async with mu``) must not fail.
    async def main() -> bool:
        mu = gmp.Mutex()
        cond = gmp.Cond(mu)
        await mu.lock()
        with gmp.move_on_after(0.01) as scope:
            await cond.wait()
        held = mu.locked()
        mu.unlock()
        return scope.cancelled_caught and held

    assert gmp.run(main, procs=1) is True


# -- moving a deadline (trio's ``scope.deadline = ...``) ----------------------------------


def test_a_deadline_moved_later_before_it_passes_cancels_nothing() -> None:
    async def main() -> bool:
        with gmp.move_on_after(0.01) as scope:
            scope.deadline = math.inf
            await gmp.sleep(0.05)  # past the first deadline
        return scope.cancelled_caught

    assert gmp.run(main, procs=1) is False


def test_a_deadline_set_on_an_open_scope_cancels_at_it() -> None:
    async def main() -> tuple[bool, float]:
        with gmp.CancelScope() as scope:
            scope.deadline = time.monotonic() + 0.01
            await gmp.sleep(3600)
        return scope.cancelled_caught, scope.deadline

    caught, deadline = gmp.run(main, procs=1)
    assert caught and deadline != math.inf


def test_a_deadline_set_before_entry_is_armed_at_entry() -> None:
    async def main() -> bool:
        scope = gmp.CancelScope()
        scope.deadline = time.monotonic() + 0.01
        with scope:
            await gmp.sleep(3600)
        return scope.cancelled_caught

    assert gmp.run(main, procs=1) is True


@pytest.mark.parametrize("procs", [1, 2])
def test_another_g_moving_the_deadline_into_the_past_wakes_the_parked_g(procs: int) -> None:
    async def main() -> bool:
        scope = gmp.CancelScope()
        parked = gmp.Chan[None](1)

        async def sleeper() -> bool:
            with scope:
                await parked.send(None)
                await gmp.sleep(3600)
            return scope.cancelled_caught

        h = gmp.go(sleeper)
        await parked.recv()  # the sleeper is inside the scope
        scope.deadline = time.monotonic() - 1.0
        return await h.join()

    assert gmp.run(main, procs=procs) is True


def test_a_thread_outside_the_runtime_may_move_the_deadline() -> None:
    with gmp.Runtime(procs=1) as rt:
        scope = gmp.CancelScope()
        inside = threading.Event()

        async def sleeper() -> bool:
            with scope:
                inside.set()
                await gmp.sleep(3600)
            return scope.cancelled_caught

        h = rt.go(sleeper)
        assert inside.wait(10)
        scope.deadline = time.monotonic() + 0.01  # from this thread: armed on P0
        assert h.result(timeout=10) is True


def test_the_idle_timeout_idiom_resets_on_each_message() -> None:
    # The scope expires only once the messages stop: every message moves the deadline.
    async def main() -> tuple[int, bool]:
        ch = gmp.Chan[int](8)
        for i in range(5):
            await ch.send(i)
        got = 0
        with gmp.move_on_after(0.5) as idle:
            while True:
                await ch.recv()
                got += 1
                idle.deadline = time.monotonic() + 0.05
        return got, idle.cancelled_caught

    assert gmp.run(main, procs=1) == (5, True)


def test_a_timer_that_fired_before_the_deadline_moved_later_cancels_nothing() -> None:
    # The deadline's timer runs its payload without the scheduler lock, after it fired;
    # if the deadline moved later meanwhile, the payload must not cancel the scope.
    async def main() -> tuple[bool, bool]:
        with gmp.CancelScope() as scope:
            scope.deadline = time.monotonic() + 3600
            scope._deadline_reached()  # a stale firing of an earlier deadline
            await gmp.sleep(0)
        return scope.cancel_called, scope.cancelled_caught

    assert gmp.run(main, procs=1) == (False, False)


def test_moving_the_deadline_of_a_left_or_cancelled_scope_changes_nothing_else() -> None:
    async def main() -> tuple[bool, bool, float]:
        with gmp.CancelScope() as left:
            pass
        left.deadline = time.monotonic() - 1.0  # after the exit: only the value
        with gmp.CancelScope() as cancelled:
            cancelled.cancel()
            cancelled.deadline = math.inf  # stays cancelled
            await gmp.sleep(0)
        return left.cancel_called, cancelled.cancelled_caught, cancelled.deadline

    assert gmp.run(main, procs=1) == (False, True, math.inf)
