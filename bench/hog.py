"""``python -m bench.hog``: what a G behind a hog waits, by kind of hog, at procs=1 and 2.

The scenario of tests/runtime/test_hog_policy.py, with figures instead of bounds: while
one hog per P runs, main sleeps 5 ms and the lateness of its wake-up is how long it waited
for a P. Kinds: ``trap`` (a coroutine computing, reaching a non-parking trap every ~30 us:
preempted at its slice's end), ``trapless`` (a coroutine computing 150 ms without a trap:
handed off once its thread has computed 2 ms past a preemption request), ``blocked`` (a
plain ``time.sleep(0.15)``: handed off at sysmon's next look). Prints the median and the
largest lateness over ``--rounds``, the handoffs and the thread count. Nothing is asserted;
hold ``/tmp/gmp-bench.lock`` for timed runs.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import gmp

HOG_S = 0.15
NAP = 0.005


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _trap(stop: threading.Event) -> None:
    while not stop.is_set():
        for _ in range(2000):
            pass
        await gmp.select(default=True)


async def _trapless() -> None:
    _spin(HOG_S)


def _blocked() -> None:
    time.sleep(HOG_S)


KINDS: dict[str, Callable[[threading.Event], Any]] = {
    "trap": lambda stop: gmp.go(_trap, stop),
    "trapless": lambda stop: gmp.go(_trapless),
    "blocked": lambda stop: gmp.go(_blocked),
}


def lateness(
    kind: str, procs: int, rounds: int, hogs: int | None = None
) -> tuple[list[float], gmp.RuntimeStats]:
    """The lateness of main's short sleep in each round while ``hogs`` hogs of ``kind``
    run (default: one per P), and the runtime's stats at the end; tests/runtime/
    test_hog_policy.py asserts bounds on the same scenario."""
    start = KINDS[kind]
    n = procs if hogs is None else hogs

    async def main() -> list[float]:
        late = []
        for _ in range(rounds):
            stop = threading.Event()
            started = [start(stop) for _ in range(n)]
            t0 = time.monotonic()
            await gmp.sleep(NAP)
            late.append(time.monotonic() - t0 - NAP)
            stop.set()
            for h in started:
                await h.join()
        return late

    with gmp.Runtime(procs=procs) as rt:
        late = rt.go(main).result(timeout=120)
        st = rt.stats()
    return late, st


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hog", description=__doc__)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args(argv)
    print(f"{'kind':9s} {'procs':>5s} {'median ms':>10s} {'max ms':>8s} {'handoffs':>9s} threads")
    for kind in KINDS:
        for procs in (1, 2):
            late, st = lateness(kind, procs, args.rounds)
            print(
                f"{kind:9s} {procs:5d} {statistics.median(late) * 1e3:10.1f} "
                f"{max(late) * 1e3:8.1f} {st.handoffs:9d} {st.threads:7d}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
