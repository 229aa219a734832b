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

The servers log as ``bench.http``'s gmp rows do (``--log-format json``, access log off;
``gmp-prod``'s Logger writes its JSON line, to /dev/null here). Printed: instructions
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
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = {
    "bare Engine (gmp-engine)": "gmp_engine_app",
    "production stack (gmp-prod)": "gmp_prod_app",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _requests(port: int, n: int, timeout: float) -> None:
    """``n`` keep-alive GET /ping on one connection; each must answer 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for _ in range(n):
            conn.request("GET", "/ping")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET /ping answered {resp.status}")
    finally:
        conn.close()


def _wait_ready(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before serving")
        try:
            _requests(port, 1, timeout=10.0)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer within the start timeout") from None
            time.sleep(0.3)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=True)


def instructions(module: str, requests: int, warmup: int) -> float:
    """Instructions per request of ``gmp serve bench.http.apps.<module>:app``."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}.%p",
                sys.executable,
                "-m",
                "gmp.http",
                "serve",
                f"bench.http.apps.{module}:app",
                "--port",
                str(port),
                "--procs",
                "1",
                "--no-access-log",
                "--log-format",
                "json",
                "--log-level",
                "info",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(port, proc, time.monotonic() + 120)
            _requests(port, warmup, timeout=60.0)
            _control(proc.pid, "-i", "on")
            _requests(port, requests, timeout=60.0)
            _control(proc.pid, "-i", "off")
            _control(proc.pid, "-d")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        total = 0
        for part in Path(tmp).glob("callgrind.out.*"):
            for line in part.read_text().splitlines():
                if line.startswith("totals:"):  # a dump's "summary:" line reads 0
                    total += int(line.split()[1])
                    break
    if total == 0:
        raise RuntimeError(f"callgrind counted nothing for {module}")
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
        for name, module in APPS.items():
            runs[name].append(instructions(module, args.requests, args.warmup))
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
