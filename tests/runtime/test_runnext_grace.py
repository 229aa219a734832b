"""The runnext grace in the threaded runtime (Go's runqgrab; gmp._core.sched.may_steal_runnext).

Laws held here, where the core's tests cannot reach: an idle M that finds a G in a running
P's runnext leaves it for the grace and then takes it (the M's second look, with the
scheduler lock released in between), so a G spawned by a G that computes without
awaiting still runs, on the other P, while its spawner computes; the grace and the steal
are counted in ``rt.stats()``.
"""

from __future__ import annotations

import threading
import time

import gmp

WAIT = 10.0


def test_a_g_left_in_a_computing_ps_runnext_is_taken_after_the_grace() -> None:
    # No sysmon handoff or preemption within the test: the slices are huge, so the only
    # way the child can run while its parent computes is the idle M's steal of the
    # parent P's runnext, which the P's RUNNING status makes wait for a grace first.
    ran = threading.Event()
    where: list[int] = []

    async def child() -> None:
        where.append(threading.get_ident())
        ran.set()

    async def parent() -> tuple[int, bool]:
        gmp.go(child)  # newproc: into this P's runnext
        deadline = time.monotonic() + WAIT
        while not ran.is_set() and time.monotonic() < deadline:
            pass  # compute without awaiting: this P stays RUNNING with the child in runnext
        return threading.get_ident(), ran.is_set()

    with gmp.Runtime(procs=2, handoff_after=3600, timeslice=3600) as rt:
        ident, seen = rt.go(parent).result(timeout=WAIT + 5)
        assert seen, "the child never ran while its parent computed"
        assert where and where[0] != ident, "the child ran on another M"
        st = rt.stats()
        assert st.runnext_graces >= 1, st
        assert st.steals >= 1, st
        assert sum(p.graces for p in st.procs) == st.runnext_graces


def test_a_ping_pong_pair_at_two_procs_loses_no_round() -> None:
    rounds = 2000

    async def pong(ping: gmp.Chan[int], back: gmp.Chan[int]) -> None:
        for _ in range(rounds):
            v = await ping.recv()
            await back.send(v + 1)

    async def main() -> int:
        ping: gmp.Chan[int] = gmp.Chan()
        back: gmp.Chan[int] = gmp.Chan()
        h = gmp.go(pong, ping, back)
        total = 0
        for i in range(rounds):
            await ping.send(i)
            total += await back.recv() - i
        await h.join()
        return total

    with gmp.Runtime(procs=2) as rt:
        assert rt.go(main).result(timeout=60) == rounds
