"""``python -m bench.autoscale [--reps N] [--quick]``: when does the autoscaler pay?

Three loads, each run at a fixed ``procs=1``, a fixed ``procs=MAX`` and with
``autoscale=gmp.Autoscale(min_procs=1, max_procs=MAX)`` starting from one P (the policy's
default hysteresis):

- ``blocking``: Gs making blocking calls (``time.sleep`` through ``gmp.syscall``). Each
  call holds its P until sysmon's handoff, so Ps are the bottleneck: more Ps help.
- ``hash``: Gs hashing 1 MiB buffers with hashlib (which releases the GIL) inside their
  coroutine step, so the P is held for the whole step: more Ps help up to the cores.
- ``cpu``: pure-Python coroutines computing under the GIL, yielding between chunks. More
  Ps add threads taking turns on one interpreter: nothing to gain.

Every repetition runs in a fresh interpreter (bench.runner's ``fresh_per_rep``), the
repetitions of the cases interleaved round-robin. Figures: throughput (units of work per
second, first spawn to last join), the median and 99th percentile of a G's latency
(spawn to finish), the number of P changes the autoscaler made and the largest P count
seen (a watcher thread polls ``rt.procs`` every 2 ms). Nothing is asserted. Hold
``/tmp/gmp-bench.lock`` for timed runs.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import threading
import time
from typing import Any

from bench import machine
from bench.report import errors, fmt, median, print_table, spread, title
from bench.runner import Case, Result, run_family

MAX_PROCS = 8
LOADS = {
    # name: (Gs, units per G, what a unit is)
    "blocking": (400, 3, "blocking call of 5 ms"),
    "hash": (2000, 1, "sha256 of 1 MiB"),
    "cpu": (200, 10, "pure-Python chunk (~0.5 ms)"),
}
QUICK_SCALE = 4


def _unit(load: str) -> Any:
    buf = b"x" * (1 << 20)

    if load == "blocking":

        async def unit() -> None:
            import gmp

            await gmp.syscall(time.sleep, 0.005)

    elif load == "hash":

        async def unit() -> None:
            hashlib.sha256(buf).digest()

    else:

        async def unit() -> None:
            import gmp

            s = 0
            for i in range(4000):
                s += i * i
            await gmp.sleep(0)

    return unit


def run_load(params: dict[str, Any]) -> dict[str, float]:
    """One repetition in this (fresh) process: returns throughput, latency, P changes."""
    import gmp

    load = params["load"]
    n_gs, per_g = params["gs"], params["units"]
    unit = _unit(load)
    asc = gmp.Autoscale(min_procs=1, max_procs=MAX_PROCS) if params["autoscale"] else None
    procs = 1 if asc is not None else params["procs"]
    latencies: list[float] = []

    async def g_body(spawned: float) -> None:
        for _ in range(per_g):
            await unit()
        latencies.append(time.perf_counter() - spawned)

    async def main() -> float:
        t0 = time.perf_counter()
        hs = [gmp.go(g_body, time.perf_counter()) for _ in range(n_gs)]
        for h in hs:
            await h.join()
        return time.perf_counter() - t0

    peak = [procs]
    done = threading.Event()
    with gmp.Runtime(procs=procs, autoscale=asc) as rt:

        def watch() -> None:
            while not done.wait(0.002):
                peak[0] = max(peak[0], rt.procs)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        elapsed = rt.go(main).result(timeout=600)
        done.set()
        watcher.join()
        st = rt.stats()
    lat = sorted(latencies)
    return {
        "per_s": n_gs * per_g / elapsed,
        "lat_p50_ms": statistics.median(lat) * 1e3,
        "lat_p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] * 1e3,
        "changes": float(st.autoscale_changes),
        "peak_procs": float(peak[0]),
        "final_procs": float(len(st.procs)),
    }


def cases(load: str, scale: int) -> list[Case]:
    gs, units, _ = LOADS[load]
    base = {"load": load, "gs": max(8, gs // scale), "units": units}
    return [
        Case(load, "procs=1", "gmp", "autoscale:run_load", base | {"procs": 1, "autoscale": False},
             fresh_per_rep=True),
        Case(load, f"procs={MAX_PROCS}", "gmp", "autoscale:run_load",
             base | {"procs": MAX_PROCS, "autoscale": False}, fresh_per_rep=True),
        Case(load, f"autoscale 1..{MAX_PROCS}", "gmp", "autoscale:run_load",
             base | {"procs": 1, "autoscale": True}, fresh_per_rep=True),
    ]  # fmt: skip


def report(load: str, scale: int, results: dict[str, Result]) -> None:
    gs, units, what = LOADS[load]
    gs = max(8, gs // scale)
    title(f"{load}: {gs} Gs x {units} x {what} (units/s higher is better; latency in ms)")
    rows = []
    for r in results.values():
        rows.append(
            [
                r.case.label,
                median(r, "per_s", "int"),
                spread(r, "per_s", "int"),
                median(r, "lat_p50_ms", "ms"),
                median(r, "lat_p99_ms", "ms"),
                median(r, "changes", "int"),
                median(r, "peak_procs", "int"),
                median(r, "final_procs", "int"),
            ]
        )
    print_table(
        ["case", "units/s", "spread", "lat p50", "lat p99", "P changes", "peak P", "final P"],
        rows,
    )
    fixed1 = results.get("procs=1")
    auto = results.get(f"autoscale 1..{MAX_PROCS}")
    fixedn = results.get(f"procs={MAX_PROCS}")
    if fixed1 and auto and fixedn:
        a, b, c = (x.median("per_s") for x in (auto, fixed1, fixedn))
        if a and b and c:
            print(
                f"  autoscale / procs=1: {fmt(a / b, 'x')}; "
                f"autoscale / procs={MAX_PROCS}: {fmt(a / c, 'x')}"
            )
    errors(list(results.values()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.autoscale", description=__doc__)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per case")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SCALE}x fewer Gs, 2 reps")
    parser.add_argument("--only", action="append", choices=list(LOADS), help="repeatable")
    args = parser.parse_args(argv)
    scale = QUICK_SCALE if args.quick else 1
    reps = 2 if args.quick else args.reps
    print(f"gmp autoscale benchmark: median of {reps} repetitions, each a fresh process")
    before = machine.sample()
    time.sleep(0.5)
    print(f"before starting, {machine.describe(before, machine.sample())}")
    for load in LOADS:
        if args.only and load not in args.only:
            continue
        start = machine.sample()
        results = run_family(
            cases(load, scale),
            lambda _c: reps,
            lambda text, name=load: print(f"[{name}] {text}", file=sys.stderr, flush=True),
        )
        report(load, scale, results)
        print(f"  (during this load, {machine.describe(start, machine.sample())})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
