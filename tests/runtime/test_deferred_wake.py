"""goready's deferred wake-up in the threaded runtime (gmp._core.place.goready and
gmp._core.idle.deferred_wake_due, applied by sysmon's look).

Laws: a channel hand-off to a parked G wakes no M when the G lands alone in the waker's
runnext, so a ping-pong pair at procs=2 loses no round and keeps to one P (steals stay
rare); and a G readied by a G that keeps computing is never stranded there: sysmon wakes
an M for it, which takes it while its waker still computes, even with slices and
handoffs too long to act.
"""

from __future__ import annotations

import threading
import time

import gmp
from gmp._core.g import WAITING

WAIT = 10.0


def test_a_g_readied_by_a_g_that_keeps_computing_runs_beside_it() -> None:
    ran = threading.Event()
    where: list[int] = []

    async def waiter(ch: gmp.Chan[int]) -> None:
        await ch.recv()
        where.append(threading.get_ident())
        ran.set()

    async def main() -> tuple[int, bool]:
        ch: gmp.Chan[int] = gmp.Chan()
        h = gmp.go(waiter, ch)
        # Until the waiter is parked on the channel and the other P idle (its M parked):
        # then nothing but sysmon can start an M for the waiter.
        deadline = time.monotonic() + WAIT
        while not (h.status is WAITING and rt.stats().idle_procs == 1):
            assert time.monotonic() < deadline, "the runtime never settled"
            await gmp.sleep(0.002)
        await ch.send(1)  # readies the waiter into this P's runnext: no M woken
        deadline = time.monotonic() + WAIT
        while not ran.is_set() and time.monotonic() < deadline:
            pass  # compute without a trap: this P stays in the same step
        return threading.get_ident(), ran.is_set()

    # No preemption and no handoff within the test: only sysmon's deferred wake-up can
    # start another M for the waiter.
    with gmp.Runtime(procs=2, handoff_after=3600, timeslice=3600) as rt:
        ident, seen = rt.go(main).result(timeout=WAIT + 5)
    assert seen, "the readied G was stranded in its waker's runnext"
    assert where and where[0] != ident


def test_a_ping_pong_pair_at_two_procs_keeps_to_one_p() -> None:
    rounds = 5000

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
        # Each hand-off woke the other M before (thousands of steals of the partner
        # from runnext in 2 * rounds runs); now a steal is an accident of timing.
        assert rt.stats().steals < rounds // 10
