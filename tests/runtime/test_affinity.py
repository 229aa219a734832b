"""Ms that take turns on the GIL share a core while a computing G is handed off
(gmp.runtime.affinity).

Laws:
- while a coroutine G computes past its handoff, its thread and the M that took its P
  are pinned to one CPU, the same one;
- when that step ends, both threads get every CPU back;
- a G blocked in a call (off the CPU, no GIL) is handed off without pinning anything.

Every wait is on an event or a G's result with a timeout; the one poll (for the M to get
back to its loop after the step) has a deadline.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

import gmp
from gmp.runtime import affinity

pytestmark = [
    pytest.mark.threaded,
    pytest.mark.skipif(not affinity.ENABLED, reason="needs Linux, the GIL and 2+ CPUs"),
]

WAIT = 10.0


def _poll(cond: object, deadline: float = WAIT) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.001)
    return False


def test_a_computing_g_and_its_new_m_share_one_cpu_until_the_step_ends() -> None:
    hog_tid: list[int] = []
    seen: dict[str, object] = {}
    release = threading.Event()

    async def hog() -> None:
        hog_tid.append(threading.get_native_id())
        while not release.is_set():  # computes without a trap until released
            pass

    async def other() -> None:
        # Runs on the M that took the hog's P: both pinned, to the same CPU.
        seen["mine"] = os.sched_getaffinity(0)
        seen["hogs"] = os.sched_getaffinity(hog_tid[0])
        seen["threads"] = (threading.get_native_id(), hog_tid[0])
        release.set()

    async def main() -> None:
        h = gmp.go(hog)
        await gmp.gosched()  # the hog takes the P
        o = gmp.go(other)
        await o.join()
        await h.join()

    gmp.run(main, procs=1)
    mine, hogs = seen["mine"], seen["hogs"]
    me, hog_thread = seen["threads"]  # type: ignore[misc]
    assert me != hog_thread, "the other G ran on the hog's own thread"
    assert len(mine) == 1 and mine == hogs, (mine, hogs)  # type: ignore[arg-type]


def test_both_threads_get_every_cpu_back_when_the_step_ends() -> None:
    tids: dict[str, int] = {}
    release = threading.Event()

    async def hog() -> None:
        tids["hog"] = threading.get_native_id()
        while not release.is_set():
            pass

    async def other() -> None:
        tids["other"] = threading.get_native_id()
        release.set()

    async def main() -> None:
        h = gmp.go(hog)
        await gmp.gosched()
        await gmp.go(other).join()
        await h.join()
        # Both Ms are back in their loops soon after the step: poll with a deadline.
        assert _poll(
            lambda: all(
                os.sched_getaffinity(t) == affinity.ALLOWED for t in (tids["hog"], tids["other"])
            )
        ), {k: os.sched_getaffinity(t) for k, t in tids.items()}

    with gmp.Runtime(procs=1) as rt:
        rt.go(main).result(timeout=WAIT)


def test_a_blocking_call_is_handed_off_without_pinning() -> None:
    seen: dict[str, object] = {}

    def blocked() -> None:
        seen["tid"] = threading.get_native_id()
        time.sleep(0.1)

    async def other() -> None:
        seen["mine"] = os.sched_getaffinity(0)
        seen["blocked"] = os.sched_getaffinity(seen["tid"])  # type: ignore[arg-type]

    async def main() -> None:
        b = gmp.go(blocked)
        await gmp.gosched()
        await gmp.go(other).join()
        await b.join()

    with gmp.Runtime(procs=1) as rt:
        rt.go(main).result(timeout=WAIT)
        assert rt.stats().handoffs >= 1
    assert seen["mine"] == affinity.ALLOWED and seen["blocked"] == affinity.ALLOWED
