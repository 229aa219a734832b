"""``python -m bench.pingpong_stats [--procs N] [--rounds N] [--reps N]``: a channel
ping-pong with the scheduler's own counts.

The same pair as ``python -m bench --only pingpong`` (one value through two unbuffered
channels per round trip), printed with what ``rt.stats()`` saw: G runs and steals. A
pair that stays on one P steals almost never; a pair whose hand-offs wake the other M
has its partner stolen from runnext on a good share of the runs, and each round trip
then crosses threads. Run it with the interpreter to study (``.venv313t/bin/python -m
bench.pingpong_stats`` for a free-threaded build); hold ``/tmp/gmp-bench.lock``. Nothing
is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import gmp


def once(procs: int, rounds: int) -> tuple[float, int, int]:
    """(us per round trip, steals, G runs) of one run in a fresh runtime."""

    async def pong(a: gmp.Chan[int], b: gmp.Chan[int]) -> None:
        for _ in range(rounds):
            await b.send(await a.recv())

    async def main() -> float:
        a: gmp.Chan[int] = gmp.Chan()
        b: gmp.Chan[int] = gmp.Chan()
        h = gmp.go(pong, a, b)
        t0 = time.perf_counter()
        for i in range(rounds):
            await a.send(i)
            await b.recv()
        elapsed = time.perf_counter() - t0
        await h.join()
        return elapsed

    with gmp.Runtime(procs=procs) as rt:
        elapsed = rt.go(main).result(timeout=600)
        st = rt.stats()
    return elapsed / rounds * 1e6, st.steals, sum(p.runs for p in st.procs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pingpong_stats", description=__doc__)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(
        f"python {sys.version.split()[0]} ({'GIL' if gil else 'free-threaded'}), "
        f"procs={args.procs}, {args.rounds} round trips"
    )
    times = []
    for _ in range(args.reps):
        us, steals, runs = once(args.procs, args.rounds)
        times.append(us)
        print(f"  {us:7.2f} us a round trip   steals {steals:6d} of {runs} G runs")
    print(f"median {statistics.median(times):.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
