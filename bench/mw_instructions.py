"""``python -m bench.mw_instructions``: instructions per request of each production middleware.

Time on a shared VM moves by a third from run to run; instruction counts do not (two runs
agree within about 1%), so a change to a middleware's hot path is judged here first and
by ``bench/http`` after. Each case runs in its own process under valgrind's callgrind,
with instrumentation off until the warm-up is done: the process calls the Engine the way
``bench.engine_bench`` does (a prepared ``GET /ping`` in a G, ``gmp serve
--log-format json``'s logging to /dev/null), turns counting on with ``callgrind_control
-i on`` for ``--requests`` requests, and off again. Printed: instructions per request for
the bare Engine, for each middleware alone and for all six, and what each adds.
``--async`` routes to an ``async def`` handler, so the chain runs each middleware's
``call_async`` (a coroutine chain) instead of ``__call__``.

Needs ``valgrind`` (Debian's package has ``callgrind_control``). One case takes about 7 s.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CASES = {
    "no middleware": "",
    "RequestID": "rid",
    "Logger": "log",
    "Recovery": "rec",
    "Timeout": "to",
    "RateLimit": "rl",
    "Metrics": "met",
    "a middleware that only calls c.next()": "fn",
    "all six (bench/http's gmp-prod)": "rid,log,rec,to,rl,met",
}


def _child(names: list[str], requests: int, coroutine: bool) -> None:
    """Runs under callgrind: warm up, count ``requests`` requests, stop counting."""
    import io

    import gmp
    from bench.engine_bench import _Exchange, build_engine
    from gmp.http import Context, Engine, Logger, Recovery, Request, RequestID
    from gmp.http.cli import configure_logging
    from gmp.http.middleware import Metrics, RateLimit, Timeout
    from gmp.resilience import KeyedLimiter, TokenBucket

    sys.stderr = io.TextIOWrapper(open(os.devnull, "wb"))  # noqa: SIM115 - for the run
    configure_logging("json", "info", 0.1)
    make: dict[str, Any] = {
        "rid": RequestID,
        "log": Logger,
        "rec": Recovery,
        "to": lambda: Timeout(5.0),
        "rl": lambda: RateLimit(KeyedLimiter(lambda: TokenBucket(rate=1e9, burst=10**9))),
        "met": Metrics,
        "fn": lambda: lambda c: c.next(),
    }
    if coroutine:

        async def only_next(c: Context) -> None:
            await c.next()

        make["fn"] = lambda: only_next  # a plain one would run the rest as a G of its own
    middleware = [make[n]() for n in names]
    if coroutine:
        # An ``async def`` handler: the chain runs each middleware's call_async.
        async def ping(c: Context) -> None:
            c.string(200, "pong")

        app = Engine()
        if middleware:
            app.use(*middleware)
        app.get("/ping", ping)
        app.freeze()
    else:
        app = build_engine([], middleware)
    req = Request("GET", "/ping", client=("127.0.0.1", 40000))
    req.exchange = _Exchange()
    pid = str(os.getpid())

    def control(state: str) -> None:
        subprocess.run(["callgrind_control", "-i", state, pid], capture_output=True, check=False)

    async def run() -> None:
        # Each loop calls the Engine as the server does; a coroutine chain's result is
        # awaited (a plain chain's loop has no await, as before --async existed).
        if coroutine:
            for _ in range(300):
                await app(req)
            control("on")
            for _ in range(requests):
                await app(req)
        else:
            for _ in range(300):
                app(req)
            control("on")
            for _ in range(requests):
                app(req)
        control("off")

    gmp.run(run, procs=1)


def instructions(spec: str, requests: int, coroutine: bool = False) -> float:
    """Instructions per request of one case (a comma-separated list of middleware)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.mw_instructions",
                "--child",
                spec,
                "--requests",
                str(requests),
                *(["--async"] if coroutine else []),
            ],
            capture_output=True,
            check=True,
        )
        for line in out.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1]) / requests
    raise RuntimeError(f"callgrind wrote no totals for {spec!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mw_instructions", description=__doc__)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument(
        "--async",
        dest="coroutine",
        action="store_true",
        help="an async def handler: the middleware run their call_async",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        _child([n for n in args.child.split(",") if n], args.requests, args.coroutine)
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind and callgrind_control (apt-get install valgrind)", file=sys.stderr)
        return 2
    rows = [
        (name, instructions(spec, args.requests, args.coroutine)) for name, spec in CASES.items()
    ]
    base = rows[0][1]
    kind = "an async def handler" if args.coroutine else "a plain handler"
    print(
        f"python {sys.version.split()[0]}; instructions per request, {args.requests} "
        f"requests, {kind}"
    )
    for name, ir in rows:
        added = "" if ir is base else f"{ir - base:+9,.0f}"
        print(f"  {name:40s} {ir:9,.0f} {added}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
