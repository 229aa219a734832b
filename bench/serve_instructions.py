"""``python -m bench.serve_instructions``: instructions per request in ``gmp serve``.

The production stack's bar (issue 15: at least 0.75 of the bare Engine's req/s) is
measured with wrk by ``bench.http``, whose ratios move by a few hundredths from run to
run on a shared VM. This counts instructions instead: two runs agree within about 1%,
so a change of 1-2% to a request's path can be judged at all. Each case is ``gmp serve
APP --procs 1`` under valgrind's callgrind, with instrumentation off while it starts
and warms up (``--warmup`` requests); then ``callgrind_control -i on``, ``--requests``
keep-alive ``GET /ping`` over one connection from this process, ``-i off``, and a dump.
Everything the server process did meanwhile is counted: the parser, the M loop, the
netpoller, sysmon, the log flusher, the middleware.

The servers are started with ``bench.http``'s own command lines for its gmp-engine and
gmp-prod rows (``GMP_ENGINE``, ``GMP_PROD``: access log off; gmp-prod logs JSON at info,
its Logger writing a line a request, to /dev/null) and its ``running_pid``, with valgrind
in front. Printed: instructions
per request for each app (median of ``--reps`` runs, the runs alternating between the
apps), and the bare-to-app ratio, which is what req/s would give if time followed
instructions (it does not quite: system calls and cache misses are not counted, and
they weigh the same in both, so the req/s ratio comes out higher).

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
from pathlib import Path

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


def instructions(spec: Spec, requests: int, warmup: int) -> float:
    """Instructions per request of ``spec``'s server (bench.http's command line for it,
    run under callgrind)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        wrapper.append(f"--callgrind-out-file={out}.%p")
        with running_pid(spec, wrapper=wrapper, start_timeout=120.0) as (port, pid):
            _requests(port, warmup)
            _control(pid, "-i", "on")
            _requests(port, requests)
            _control(pid, "-i", "off")
            _control(pid, "-d")
        total = 0
        for part in Path(tmp).glob("callgrind.out.*"):
            for line in part.read_text().splitlines():
                if line.startswith("totals:"):  # a dump's "summary:" line reads 0
                    total += int(line.split()[1])
                    break
    if total == 0:
        raise RuntimeError(f"callgrind counted nothing for {spec.name}")
    return total / requests


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
    runs: dict[str, list[float]] = {name: [] for name in APPS}
    for _ in range(args.reps):
        for name, spec in APPS.items():
            runs[name].append(instructions(spec, args.requests, args.warmup))
    print(
        f"python {sys.version.split()[0]}; gmp serve --procs 1, instructions per request, "
        f"{args.requests} keep-alive GET /ping after {args.warmup}, median of {args.reps}"
    )
    medians = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        spread = ", ".join(f"{v:,.0f}" for v in values)
        print(f"  {name:30s} {medians[name]:9,.0f}   ({spread})")
    bare, prod = medians.values()
    print(f"  bare / production stack: {bare / prod:.3f} (the req/s bar is 0.75)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
