"""The public completion API of a G and the runtime's timers (Go's time.AfterFunc).

Laws:

- ``add_waiter`` runs its callable exactly once when the G finishes, on the finishing
  thread, *without* the scheduler lock held; it returns False (and never calls) for a G
  that already finished. ``remove_waiter`` takes it back before then.
- ``outcome()`` returns the result or raises the G's exception, and refuses a G that is
  still running.
- ``after_func`` calls its function once after the delay, from inside or outside a G;
  ``stop()`` before it fires prevents the call and says so.
"""

from __future__ import annotations

import threading

import pytest

import gmp

WAIT = 10.0


def test_a_waiter_runs_once_after_the_g_finishes_without_the_scheduler_lock() -> None:
    seen: list[bool] = []
    done = threading.Event()
    gate = threading.Event()

    def worker() -> int:
        gate.wait(WAIT)
        return 7

    with gmp.Runtime(procs=1) as rt:
        g = rt.go(worker)

        def wake() -> None:
            # A non-reentrant lock held by this thread could not be taken again.
            free = rt._sched.lock.acquire(blocking=False)
            if free:
                rt._sched.lock.release()
            seen.append(free)
            done.set()

        assert g.add_waiter(wake) is True
        gate.set()
        assert done.wait(WAIT)
        assert g.outcome() == 7
        assert g.add_waiter(wake) is False, "a finished G takes no waiter"
    assert seen == [True]


def test_a_removed_waiter_is_not_called_and_outcome_refuses_a_running_g() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def worker() -> None:
        gate.wait(WAIT)
        raise ValueError("boom")

    with gmp.Runtime(procs=1) as rt:
        g = rt.go(worker)
        assert g.add_waiter(lambda: calls.append(1))
        wake2 = lambda: calls.append(2)  # noqa: E731
        assert g.add_waiter(wake2)
        assert g.remove_waiter(wake2) is True
        assert g.remove_waiter(wake2) is False
        with pytest.raises(RuntimeError, match="has not finished"):
            g.outcome()
        gate.set()
        with pytest.raises(ValueError, match="boom"):
            g.result(timeout=WAIT)
        with pytest.raises(ValueError, match="boom"):
            g.outcome()
    assert calls == [1]


def test_after_func_fires_once_from_outside_and_inside_a_g() -> None:
    fired: list[str] = []
    outside = threading.Event()
    inside = threading.Event()

    async def main(rt: gmp.Runtime) -> None:
        rt.after_func(0.005, lambda: (fired.append("inside"), inside.set()))
        await gmp.sleep(0.02)

    with gmp.Runtime(procs=2) as rt:
        rt.after_func(0.005, lambda: (fired.append("outside"), outside.set()))
        assert outside.wait(WAIT)
        rt.go(main, rt).result(timeout=WAIT)
        assert inside.wait(WAIT)
    assert sorted(fired) == ["inside", "outside"]


def test_a_stopped_timer_never_fires() -> None:
    fired = threading.Event()
    with gmp.Runtime(procs=1) as rt:
        t = rt.after_func(0.05, fired.set)
        assert t.stop() is True
        assert t.stop() is False
        probe = threading.Event()
        rt.after_func(0.1, probe.set)  # fires later than the stopped one would have
        assert probe.wait(WAIT)
    assert not fired.is_set()


def test_after_func_checks_its_arguments() -> None:
    with gmp.Runtime(procs=1) as rt:
        with pytest.raises(TypeError, match="callable"):
            rt.after_func(0.1, 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="delay"):
            rt.after_func(-1, lambda: None)
    with pytest.raises(gmp.RuntimeClosedError):
        rt.after_func(0.1, lambda: None)
