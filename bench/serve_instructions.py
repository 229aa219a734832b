"""``python -m bench.serve_instructions``: instructions per request in ``gmp serve``.

The production stack's bar (issue 15: at least 0.75 of the bare Engine's req/s) is
measured with wrk by ``bench.http``, whose ratios move by a few hundredths from run to
run on a shared VM. This counts instructions instead. Each case is ``gmp serve APP
--procs 1`` under valgrind's callgrind, with instrumentation off while it starts and
warms up (``--warmup`` requests); then ``callgrind_control -i on``, ``--requests``
keep-alive ``GET /ping`` over one connection from this process, ``-i off``, and a dump.

Counted per thread (``--separate-threads=yes``), and reported two ways:

- **the serving thread**, the busiest one: at ``--procs 1`` the M that parses, routes,
  runs the middleware and the handler, and polls the network. This is the figure to
  compare, and the ratio is taken on it.
- **all threads**: the serving thread plus sysmon and the log flusher. Their work is
  paced by the clock, not by requests. Under valgrind a request takes about 50 times its
  native time, so these threads do 50 times their native work per request, and how much
  depends on how busy the machine is. Measured on 2026-12-07, sysmon's thread alone took
  5.2k-20.4k instructions a request from run to run, and the all-thread totals of one
  app differed by up to 10% (bare Engine 144.3k and 158.6k). The serving thread moved
  by 3% over the same runs (138.8k and 142.7k).

The servers are started with ``bench.http``'s own command lines for its gmp-engine and
gmp-prod rows (``GMP_ENGINE``, ``GMP_PROD``: access log off; gmp-prod logs JSON at
info, its Logger writing a line a request, to /dev/null) and its ``running_pid``, with
valgrind in front. Printed: instructions per request for each app (median of
``--reps`` runs, the runs alternating between the apps), and the bare-to-app ratio.
That ratio is what req/s would give if time followed instructions. It does not quite:
system calls and cache misses are not counted, they weigh the same in both apps, and
so the req/s ratio comes out higher.

Needs ``valgrind`` (Debian's package has ``callgrind_control``). One run takes about
20 s. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from bench.http.__main__ import GMP_ENGINE, GMP_PROD, Spec, running_pid

APPS = {
    "bare Engine (gmp-engine)": GMP_ENGINE,
    "production stack (gmp-prod)": GMP_PROD,
}


def _requests(port: int, n: int) -> None:
    """``n`` keep-alive GET /ping on one connection; each must answer 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60.0)
    try:
        for _ in range(n):
            conn.request("GET", "/ping")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET /ping answered {resp.status}")
    finally:
        conn.close()


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=True)


class Count(NamedTuple):
    """One run's instructions per request: on the serving thread and on all threads."""

    serving: float
    total: float


def thread_totals(files: Iterable[Path]) -> list[int]:
    """The instructions each thread's callgrind file counts (its ``totals:`` line; a
    dump's ``summary:`` line reads 0), one number a file."""
    counts = []
    for part in files:
        for line in part.read_text().splitlines():
            if line.startswith("totals:"):
                counts.append(int(line.split()[1]))
                break
    return counts


def per_request(counts: list[int], requests: int, name: str) -> Count:
    """The busiest thread's count and the sum over threads, per request."""
    if not counts or max(counts) == 0:
        raise RuntimeError(f"callgrind counted nothing for {name}")
    return Count(max(counts) / requests, sum(counts) / requests)


def instructions(spec: Spec, requests: int, warmup: int) -> Count:
    """Instructions per request of ``spec``'s server (bench.http's command line for it,
    run under callgrind, a file per thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
        wrapper.append(f"--callgrind-out-file={out}.%p")
        with running_pid(spec, wrapper=wrapper, start_timeout=120.0) as (port, pid):
            _requests(port, warmup)
            _control(pid, "-i", "on")
            _requests(port, requests)
            _control(pid, "-i", "off")
            _control(pid, "-d")
        counts = thread_totals(Path(tmp).glob("callgrind.out.*"))
    return per_request(counts, requests, spec.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.serve_instructions", description=__doc__)
    ap.add_argument("--requests", type=int, default=2000, help="requests counted per run")
    ap.add_argument("--warmup", type=int, default=300, help="requests before counting")
    ap.add_argument("--reps", type=int, default=3, help="runs per app (median)")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.reps < 1:
        ap.error("--requests and --reps must be positive, --warmup not negative")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind and callgrind_control (apt-get install valgrind)", file=sys.stderr)
        return 2
    runs: dict[str, list[Count]] = {name: [] for name in APPS}
    for _ in range(args.reps):
        for name, spec in APPS.items():
            runs[name].append(instructions(spec, args.requests, args.warmup))
    print(
        f"python {sys.version.split()[0]}; gmp serve --procs 1, instructions per request, "
        f"{args.requests} keep-alive GET /ping after {args.warmup}, median of {args.reps}"
    )
    print(f"  {'':30s} {'serving thread':>14s}   {'all threads':>11s}   (runs: serving / all)")
    serving: dict[str, float] = {}
    for name, counts in runs.items():
        serving[name] = statistics.median(c.serving for c in counts)
        total = statistics.median(c.total for c in counts)
        spread = ", ".join(f"{c.serving:,.0f} / {c.total:,.0f}" for c in counts)
        print(f"  {name:30s} {serving[name]:14,.0f}   {total:11,.0f}   ({spread})")
    bare, prod = serving.values()
    print(f"  bare / production stack, serving thread: {bare / prod:.3f} (the req/s bar is 0.75)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
