"""``python -m bench.sim_bench``: how fast the simulator runs, and in how much memory.

The figure of merit is discrete events per second of wall time on one core (arrivals
plus events popped from the event queue), simulating gmp's own core (the ``gmp`` policy)
with the default cost model. The default run is the one the simulator issue asks for:
1,000,000 Gs on 64 Ps (Poisson arrivals, exponential 1 ms service, offered load 0.9);
the target is at least 300,000 events/s.

Peak memory is reported twice: the process's peak resident set (``ru_maxrss``: the
interpreter and everything imported included) and, with ``--tracemalloc``, the peak of
Python allocations during the simulation alone, measured in a second run because
tracemalloc slows allocation-heavy code several times.

Timed runs should hold the bench lock: ``flock /tmp/gmp-bench.lock python -m bench.sim_bench``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import time
import tracemalloc
from typing import Any

from sims import BlockingMix, Exponential, Poisson, SimConfig, Simulator, Skew

TARGET_EVENTS_PER_S = 300_000


def _workload(kind: str, n: int, load: float) -> Any:
    if kind == "poisson":
        return Poisson(n, Exponential(1e-3), load=load)
    if kind == "skew":
        return Skew(n, Exponential(1e-3), batch=64, load=load)
    if kind == "blocking":
        return BlockingMix(n, Exponential(1e-3), load=load * 0.8, block_fraction=0.1)
    raise SystemExit(f"unknown workload {kind!r}: choose poisson, skew or blocking")


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.sim_bench", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--gs", type=int, default=1_000_000, help="Gs to simulate (default 1e6)")
    ap.add_argument("--procs", type=int, default=64, help="Ps (default 64)")
    ap.add_argument("--policy", default="gmp", help="policy (default gmp)")
    ap.add_argument("--workload", default="poisson", help="poisson, skew or blocking")
    ap.add_argument("--load", type=float, default=0.9, help="offered load per P (default 0.9)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=1, help="timed repetitions (best is reported)")
    ap.add_argument(
        "--tracemalloc", action="store_true", help="also measure the peak of Python allocations"
    )
    args = ap.parse_args(argv)

    cfg = SimConfig(procs=args.procs, seed=args.seed)
    _out(
        f"sim_bench: {args.gs:,} Gs, {args.procs} Ps, policy {args.policy}, "
        f"workload {args.workload} (load {args.load}); python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    best = None
    for rep in range(args.reps):
        wl = _workload(args.workload, args.gs, args.load)
        gc.collect()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        result = Simulator(wl, cfg, args.policy).run()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        m = result.metrics
        rate = m.events / wall
        _out(
            f"  run {rep + 1}: {m.events:,} events in {wall:.2f} s wall ({cpu:.2f} s CPU): "
            f"{rate:,.0f} events/s, {m.gs / wall:,.0f} Gs/s; virtual makespan "
            f"{m.makespan:.2f} s, utilisation {m.utilisation:.3f}, steals {m.steals:,}, "
            f"p99 latency {m.latency_p99 * 1e3:.2f} ms"
        )
        if best is None or rate > best:
            best = rate
        del result
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _out(f"  peak RSS of the process: {rss_kib / 1024:.0f} MiB")
    if args.tracemalloc:
        wl = _workload(args.workload, args.gs, args.load)
        gc.collect()
        tracemalloc.start()
        Simulator(wl, cfg, args.policy).run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        _out(f"  peak Python allocations during a run (tracemalloc): {peak / 2**20:.0f} MiB")
    assert best is not None
    verdict = "met" if best >= TARGET_EVENTS_PER_S else "NOT met"
    _out(f"best: {best:,.0f} events/s (target {TARGET_EVENTS_PER_S:,}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
