"""``python -m bench [--quick] [--only NAME ...] [--reps N]``: gmp beside its rivals.

Prints one table per benchmark family (median, spread over the repetitions, reference
figure) followed by gmp/anchor ratios and the targets, met or not. Progress goes to stderr,
tables to stdout. Timed runs should hold the bench lock (``make bench`` takes it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime
from importlib import metadata

from bench import machine
from bench.families import FAMILIES, FULL, QUICK, Sizes
from bench.runner import Case, run_family


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def _gmp_status() -> str:
    """Whether the runtime imports and exposes gmp.run, without importing it here."""
    import subprocess

    probe = subprocess.run(
        [sys.executable, "-c", "import gmp; gmp.run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return "available"
    tail = (probe.stderr.strip().splitlines() or ["?"])[-1]
    return f"NOT available ({tail})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [f.name for f in FAMILIES] + ["fairness"]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark gmp beside asyncio, uvloop, trio and a ThreadPoolExecutor.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller N, fewer repetitions")
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this family (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--reps", type=int, help="timed repetitions per case (overrides all)")
    return parser.parse_args(argv)


def header(sizes: Sizes, quick: bool, reps: int | None) -> None:
    print(f"gmp benchmarks, {datetime.now():%Y-%m-%d %H:%M}, {'QUICK' if quick else 'full'} run")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} cpus; "
        f"trio {_version('trio')}, uvloop {_version('uvloop')}; gmp {_gmp_status()}"
    )
    memory_reps = reps or sizes.memory_reps
    print(
        f"median of {reps or sizes.reps} repetitions (memory: {memory_reps}, a fresh process "
        "each); spread = [min-max]; each case runs in its own fresh process, repetitions "
        "interleaved round-robin across the cases of a family"
    )
    before = machine.sample()
    time.sleep(0.5)
    print(
        f"before starting, {machine.describe(before, machine.sample())}; figures are comparable "
        "only when that stays near 0 (it is printed again after each family)"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    header(sizes, args.quick, args.reps)
    for family in FAMILIES:
        if args.only and family.name not in args.only:
            continue
        cases = family.cases(sizes)

        def reps(case: Case) -> int:
            return args.reps or case.reps or sizes.reps

        def progress(text: str, name: str = family.name) -> None:
            print(f"[{name}] {text}", file=sys.stderr, flush=True)

        progress(f"{len(cases)} cases: {', '.join(c.label for c in cases)}")
        family_start = machine.sample()
        results = run_family(cases, reps, progress)
        family_end = machine.sample()
        progress(
            "per case: " + ", ".join(f"{r.case.label} {r.seconds:.1f} s" for r in results.values())
        )
        for r in results.values():
            if r.error:
                progress(f"{r.case.label} FAILED: {r.error}")
        family.report(sizes, results)
        print(f"  (during this family, {machine.describe(family_start, family_end)})")
        sys.stdout.flush()
    if not args.only or "fairness" in args.only:
        from bench import fairness

        print("[fairness] PingPongHog and the wait behind a token pair", file=sys.stderr)
        fairness.report(5 if args.quick else 20)
    print()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
