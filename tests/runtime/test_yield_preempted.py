"""``sleep(0)`` at the end of a time slice: where the yielding G goes (M._schedule's inlined
Yield case, gmp._core.place.yield_local and gopreempt).

Laws, at procs=1 with a G ``g3`` in the P's runnext and a G ``g4`` on the global queue:
- with the P's preemption pending (sysmon saw the slice run out), the G that reaches
  ``sleep(0)`` goes to the global tail, behind ``g4`` (Go's gopreempt_m): the order is
  g3, g4, then the yielder; the preemption is counted;
- without it, the G goes to its P's local tail and runs again before ``g4``: g3, the
  yielder, g4.

The G computes without a safe point until the condition holds (the other thread's
``rt.go`` returned; sysmon set the flag), so nothing else runs meanwhile; every wait has
a deadline. Hog handoff is off (``handoff_after`` far away) so the P stays with the G.
"""

from __future__ import annotations

import threading
import time

import pytest

import gmp

pytestmark = pytest.mark.threaded

WAIT = 10.0


def _order(preempted: bool) -> tuple[list[str], int]:
    order: list[str] = []
    rt = gmp.Runtime(procs=1, handoff_after=60.0, timeslice=0.005 if preempted else 30.0)
    p = rt._sched.core.ps[0]

    async def record(name: str) -> None:
        order.append(name)

    async def yielder() -> None:
        gmp.go(record, "g3")  # this P's runnext
        queued = threading.Event()

        def outside() -> None:
            rt.go(record, "g4")  # from a thread that is not an M: the global queue
            queued.set()

        threading.Thread(target=outside).start()
        end = time.monotonic() + WAIT
        # Computing, no safe point: the M cannot switch Gs until the sleep(0).
        while not queued.is_set() or (preempted and not p.preempt):
            if time.monotonic() > end:
                raise TimeoutError(f"queued={queued.is_set()} preempt={p.preempt}")
        before = p.preemptions
        await gmp.sleep(0)
        order.append("yielder")
        order.append(f"counted={p.preemptions - before}")

    with rt:
        g = rt.go(yielder)
        g.result(timeout=WAIT)
        end = time.monotonic() + WAIT
        while len(order) < 4 and time.monotonic() < end:
            time.sleep(0.001)
    counted = next(int(x.split("=")[1]) for x in order if x.startswith("counted="))
    return [x for x in order if not x.startswith("counted=")], counted


def test_sleep0_with_the_slice_spent_goes_behind_the_global_queue() -> None:
    order, counted = _order(preempted=True)
    assert order == ["g3", "g4", "yielder"]
    assert counted == 1


def test_sleep0_within_the_slice_stays_on_the_local_queue() -> None:
    order, counted = _order(preempted=False)
    assert order == ["g3", "yielder", "g4"]
    assert counted == 0
