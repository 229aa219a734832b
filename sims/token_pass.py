"""Token passing at procs=1: a G behind a pair, in the simulator and the runtime; and
Go's PingPongHog on the runtime.

Two Gs pass a token back and forth (an unbuffered channel ping-pong) while a third keeps
calling ``gosched``. Each pass readies the partner into runnext, where it inherits the
time slice, so the pair holds the P for one slice; then a preemption sends the G at its
next trap to the global queue's tail and the third G runs. Go: a wait of about one slice
(10 ms). Before gmp preempted at traps that do not park, the wait was 1.1 s; while only
sysmon judged the slice, whose looks the GIL spaces by its 5 ms switch interval, it was
19.3 ms (19.5 simulated); with the M's own look every 128 safe points
(gmp._core.preempt.safe_point_look) it is 10.2 ms (10.8 simulated).

The simulator runs the pair as :data:`~sims.g.PASS` operations through the same core
functions the runtime calls (goready, gopreempt, find_runnable, slice_expired); its
:meth:`~sims.cost.CostModel.python` cost model spaces sysmon's looks by the GIL's switch
interval, as they are spaced in the threaded runtime while an M computes.

``python -m sims.token_pass [--timeslice S] [--rounds N]`` prints both medians and their
ratio; tests/sims/test_sim_vs_runtime.py holds them within 10% of each other.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from collections.abc import Iterator

from sims.cost import CostModel
from sims.g import Baton, Op, SimG, gosched, note, pass_token, program, release, run, spawn
from sims.sim import SimConfig, Simulator

STEP = 3e-6
"""Compute per pass in the simulated pair: about what a pass costs the threaded runtime
(half of ``bench``'s channel ping-pong round trip, 5.9 us). The wait depends on it
through the M's own look, which comes every 128 safe points: at 10 us a pass the
simulated wait was 11.7 ms, at 3 us 10.8 (the runtime: 10.2)."""


def _pair_g(baton: Baton, stop: list[bool], step: float) -> Iterator[Op]:
    while not stop[0]:
        yield run(step)
        yield pass_token(baton)
    yield release(baton)


class _Main:
    """The third G: spawns the pair, then ``rounds`` times gosched, noting each wait."""

    def __init__(self, rounds: int, step: float) -> None:
        self.rounds = rounds
        self.step = step
        self.waits: list[float] = []
        self.stop = [False]
        self._t0 = 0.0

    def _start(self, now: float) -> None:
        self._t0 = now

    def _end(self, now: float) -> None:
        self.waits.append(now - self._t0)

    def _stop(self, now: float) -> None:
        self.stop[0] = True

    def ops(self) -> Iterator[Op]:
        baton = Baton()
        yield spawn(
            [
                program(_pair_g(baton, self.stop, self.step)),
                program(_pair_g(baton, self.stop, self.step)),
            ]
        )
        for _ in range(self.rounds):
            yield note(self._start)
            yield gosched()
            yield note(self._end)
        yield note(self._stop)


class _OneArrival:
    """A workload of one G arriving at time 0."""

    def __init__(self, g: SimG) -> None:
        self.g = g

    def arrivals(self, rng: object, procs: int) -> Iterator[tuple[float, SimG]]:
        yield 0.0, self.g

    def expected_gs(self, procs: int) -> int | None:
        return 3


def simulated_waits(
    timeslice: float = 0.010,
    rounds: int = 10,
    cost: CostModel | None = None,
    step: float = STEP,
) -> list[float]:
    """The third G's waits (seconds) behind the pair, simulated at procs=1."""
    main = _Main(rounds, step)
    cfg = SimConfig(
        procs=1,
        timeslice=timeslice,
        cost=cost if cost is not None else CostModel.python(),
    )
    Simulator(_OneArrival(program(main.ops())), cfg).run()
    return main.waits


def runtime_waits(timeslice: float = 0.010, rounds: int = 10) -> list[float]:
    """The same waits measured on the threaded runtime at procs=1."""
    import gmp

    async def side(
        a: gmp.Chan[None], b: gmp.Chan[None], first: bool, stop: threading.Event
    ) -> None:
        while not stop.is_set():
            if first:
                await a.send(None)
                await b.recv()
            else:
                await a.recv()
                await b.send(None)

    async def main() -> list[float]:
        stop = threading.Event()
        a: gmp.Chan[None] = gmp.Chan()
        b: gmp.Chan[None] = gmp.Chan()
        gmp.go(side, a, b, True, stop)
        gmp.go(side, a, b, False, stop)
        waits = []
        for _ in range(rounds):
            t0 = time.monotonic()
            await gmp.gosched()
            waits.append(time.monotonic() - t0)
        stop.set()
        return waits

    waits: list[float] = gmp.run(main, procs=1, timeslice=timeslice)
    return waits


def ping_pong_hog(duration: float = 0.3, hog_limit: int = 20_000, light_limit: int = 20) -> float:
    """Go's TestPingPongHog at procs=1: the service of a pair that computes ``hog_limit``
    steps per turn over that of a pair that computes ``light_limit``. Fair time slices
    make it about 1.

    Go compares work counts, which works when a light turn's compute dwarfs a channel
    operation; in Python a channel operation costs as much as hundreds of steps, so the
    service is measured as P time instead: at procs=1 one G runs at a time, and every
    G marks the clock when it resumes and before it awaits. The time since the previous
    mark on the same thread goes to the pair whose G made that mark (a switch is charged
    to the G that left).

    The clock is each thread's own CPU time (``time.thread_time``). Not the wall clock:
    on a loaded machine the OS may deschedule the process for tens of milliseconds, and
    wall time would charge that to whichever pair owned the P (at load average 7, 2
    ratios in 180 fell outside 0.5-2 on the wall clock: 3.2 and 0.45). Not the process's
    CPU time either, which charged every other thread's CPU (sysmon's, a G computing on
    its old M after a handoff, the threads of earlier tests winding down) to the pair
    that owned the P: little under the GIL, but on a free-threaded build those threads
    run beside the P's M. With the GIL the two clocks agree (medians 1.45-1.47)."""
    import gmp

    service = {"hog": 0.0, "light": 0.0}
    lock = threading.Lock()
    mine = threading.local()  # per M thread: its previous mark and the G's pair that made it

    def mark(key: str) -> None:
        now = time.thread_time()
        last: float | None = getattr(mine, "last", None)
        if last is not None:
            with lock:
                service[mine.owner] += now - last
        mine.last = now
        mine.owner = key

    async def run(limit: int, key: str, wake: gmp.Chan[bool], done: gmp.Chan[None]) -> None:
        while True:
            mark(key)
            sel = await gmp.select(gmp.Recv(done), gmp.Recv(wake))
            mark(key)
            if sel.index == 0:
                return
            total = 0
            for i in range(limit):
                total += i
            mark(key)
            sel = await gmp.select(gmp.Recv(done), gmp.Send(wake, True))
            mark(key)
            if sel.index == 0:
                return

    async def main() -> None:
        done: gmp.Chan[None] = gmp.Chan()
        hog_chan: gmp.Chan[bool] = gmp.Chan()
        light_chan: gmp.Chan[bool] = gmp.Chan()
        hs = [gmp.go(run, hog_limit, "hog", hog_chan, done) for _ in range(2)]
        hs += [gmp.go(run, light_limit, "light", light_chan, done) for _ in range(2)]
        await hog_chan.send(True)
        await light_chan.send(True)
        with lock:
            service["hog"] = service["light"] = 0.0  # count from here
        await gmp.sleep(duration)
        done.close()
        for h in hs:
            await h.join()

    # No collection during the measurement: the thread that runs one is charged for it,
    # and on a free-threaded build every collection is a full one. With the whole test
    # suite loaded on 3.13t one took 281-326 ms on the M, charged to whichever pair's G
    # allocated last: watched with gc.callbacks, the one ratio out of 0.5-2 in a whole
    # run (4.38) had one inside it (281 ms); four others had one too and read 1.14-1.45.
    # Whole runs before this saw 0.34 and 0.32.
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        gmp.run(main, procs=1)
    finally:
        if enabled:
            gc.enable()
    return service["hog"] / max(service["light"], 1e-9)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sims.token_pass",
        description="A G behind a token-passing pair at procs=1: simulator vs runtime.",
    )
    ap.add_argument("--timeslice", type=float, default=0.010, help="seconds (default 0.010)")
    ap.add_argument("--rounds", type=int, default=20, help="gosched calls measured (default 20)")
    args = ap.parse_args(argv)
    sim = statistics.median(simulated_waits(args.timeslice, args.rounds))
    real = statistics.median(runtime_waits(args.timeslice, args.rounds))
    out = sys.stdout
    out.write(f"timeslice {args.timeslice * 1000:.1f} ms, procs=1, {args.rounds} rounds\n")
    out.write(f"simulator: median wait {sim * 1000:.2f} ms\n")
    out.write(f"runtime:   median wait {real * 1000:.2f} ms\n")
    out.write(f"runtime / simulator: {real / sim:.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
