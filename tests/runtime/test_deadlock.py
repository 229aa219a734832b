"""Go's "all goroutines are asleep - deadlock!" and crash-on-error for ``gmp.run``.

Laws:

- When every G of a ``gmp.run`` program is parked and nothing can wake one (no runnable
  G, no timer, no G in a blocking call, no outside waiter, no handle to the runtime
  given out), the run raises DeadlockError naming every parked G and what it waits on.
- No false positive: a pending timer (a sleep, a deadline), a G in a blocking call, or a
  thread that holds the runtime (``current_runtime``) and may still start a G keeps the
  program alive; it ends normally.
- ``unjoined_errors="raise"``: an exception escaping a G nobody joins ends the run and is
  raised by ``gmp.run`` as soon as nobody can join it (its handle is dropped); a G whose
  handle is kept and joined later, and cancellations, do not; the default logs.
"""

from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

import gmp

WAIT = 10.0


def test_a_receive_nobody_sends_to_is_a_deadlock() -> None:
    async def main() -> None:
        c: gmp.Chan[int] = gmp.Chan()
        await c.recv()

    with pytest.raises(gmp.DeadlockError, match="all Gs are asleep") as ei:
        gmp.run(main, procs=2)
    assert "'main' WAITING>: chan receive" in str(ei.value)


def test_a_waitgroup_never_done_names_every_waiter() -> None:
    async def waiter(wg: gmp.WaitGroup) -> None:
        await wg.wait()

    async def main() -> None:
        wg = gmp.WaitGroup()
        wg.add(1)
        for _ in range(3):
            gmp.go(waiter, wg)
        await wg.wait()

    with pytest.raises(gmp.DeadlockError) as ei:
        gmp.run(main)
    msg = str(ei.value)
    assert "4 parked G(s)" in msg
    assert msg.count("sync.WaitGroup.Wait") == 4


def test_a_mutex_cycle_is_a_deadlock() -> None:
    async def take(first: gmp.Mutex, second: gmp.Mutex, both: gmp.WaitGroup) -> None:
        await first.lock()
        both.done()
        await both.wait()  # both hold their first lock now
        await second.lock()

    async def main() -> None:
        a, b = gmp.Mutex(), gmp.Mutex()
        both = gmp.WaitGroup()
        both.add(2)
        g1 = gmp.go(take, a, b, both)
        g2 = gmp.go(take, b, a, both)
        await g1.join()
        await g2.join()

    with pytest.raises(gmp.DeadlockError) as ei:
        gmp.run(main, procs=2)
    msg = str(ei.value)
    assert msg.count("sync.Mutex.Lock") == 2
    assert "join" in msg


def test_no_deadlock_while_a_timer_is_pending() -> None:
    async def sleeper(c: gmp.Chan[str]) -> None:
        await gmp.sleep(0.05)
        await c.send("woke")

    async def main() -> str:
        c: gmp.Chan[str] = gmp.Chan()
        gmp.go(sleeper, c)
        return await c.recv()  # every G parked, but a timer will wake one

    assert gmp.run(main) == "woke"


def test_no_deadlock_while_a_deadline_is_pending() -> None:
    async def main() -> bool:
        c: gmp.Chan[int] = gmp.Chan()
        with gmp.move_on_after(0.05) as scope:
            await c.recv()
        return scope.cancelled_caught

    assert gmp.run(main) is True


def test_no_deadlock_while_a_g_is_in_a_blocking_call() -> None:
    def slow() -> str:
        time.sleep(0.1)
        return "done"

    async def blocker(c: gmp.Chan[str]) -> None:
        await c.send(await gmp.syscall(slow))

    async def main() -> str:
        c: gmp.Chan[str] = gmp.Chan()
        gmp.go(blocker, c)
        return await c.recv()

    assert gmp.run(main) == "done"


def test_no_deadlock_while_a_thread_holding_the_runtime_may_start_a_g() -> None:
    parked = threading.Event()

    async def main() -> str:
        c: gmp.Chan[str] = gmp.Chan()
        rt = gmp.current_runtime()

        def later() -> None:
            assert parked.wait(WAIT)
            time.sleep(0.05)  # every G is parked meanwhile
            rt.go(c.send, "from a thread")

        threading.Thread(target=later, daemon=True).start()
        parked.set()
        return await c.recv()

    assert gmp.run(main) == "from a thread"


def test_unjoined_errors_raise_ends_the_run_with_the_error() -> None:
    async def bad() -> None:
        raise ValueError("nobody joins me")

    async def main() -> str:
        gmp.go(bad)
        await gmp.sleep(WAIT)  # cancelled when the run ends
        return "too late"

    # procs=2: the failed G's report must be freed promptly with the G made on another M
    # than the one that finished it (free-threaded builds: Scheduler.finish).
    with pytest.raises(ValueError, match="nobody joins me"):
        gmp.run(main, procs=2, unjoined_errors="raise")


def test_unjoined_errors_raise_spares_joined_errors_and_cancellations() -> None:
    async def bad() -> None:
        raise ValueError("joined")

    async def main() -> str:
        h = gmp.go(bad)
        await gmp.sleep(0.02)  # it fails before the join: the handle is still held
        with pytest.raises(ValueError):
            await h.join()
        with gmp.move_on_after(0.01):
            await gmp.sleep(WAIT)
        return "ok"

    assert gmp.run(main, unjoined_errors="raise") == "ok"


def test_by_default_an_unjoined_error_is_logged_and_the_run_goes_on() -> None:
    async def bad() -> None:
        raise ValueError("logged")

    async def main() -> str:
        gmp.go(bad)
        await gmp.sleep(0.05)
        return "went on"

    with capture_logs() as logs:
        assert gmp.run(main) == "went on"
        import gc

        gc.collect()
    assert any(e["event"] == "G failed and nobody joined it" for e in logs)


def test_unjoined_errors_is_checked() -> None:
    async def main() -> None:
        return None

    with pytest.raises(ValueError, match="unjoined_errors"):
        gmp.run(main, unjoined_errors="panic")
