"""``python -m bench.engine_bench``: the framework's cost per request, without the network.

Calls the handler the server would call, in this thread, on prebuilt requests:

- **bare**: a plain server handler returning a prebuilt-shape ``Response`` (the anchor);
- **engine, 10 routes** and **engine, 1,000 routes**: ``gmp.http.Engine()`` with no
  middleware (router + Context + chain + ``c.string``/``c.json``), on the same request
  paths, static and with parameters; the route sets are ``bench.router_bench``'s
  (GitHub-API-like routes plus generated services);
- **engine + RequestID + Recovery** and **Engine.default()** (its Logger writing to a
  structlog logger that drops everything), to show what the built-ins cost.

It prints µs per request (best of several repetitions) and the ratios: 1,000 routes / 10
routes (close to 1: the route count does not matter) and bare / engine (the share of a
request the framework leaves; a real request also pays the G round trip and the socket,
about 40 µs here, so the share through HTTP is much closer to 1: see ``bench/http``).
Timed runs should hold the bench lock: ``flock /tmp/gmp-bench.lock python -m
bench.engine_bench``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from bench.router_bench import SMALL, large_routes
from gmp.http import Context, Engine, Logger, Recovery, Request, RequestID, Response


def bare(req: Request) -> Response:
    return Response(200, [("content-type", "text/plain; charset=utf-8")], b"pong")


def _handler(c: Context) -> None:
    c.string(200, "pong")


def _json_handler(c: Context) -> None:
    c.json(200, {"id": c.params.get("id", "x")})


def build_engine(patterns: Sequence[str], middleware: Sequence[Any] = ()) -> Engine:
    app = Engine()
    if middleware:
        app.use(*middleware)
    app.get("/ping", _handler)
    for p in patterns:
        app.get(p, _json_handler if ":" in p or "*" in p else _handler)
    app.freeze()
    return app


def us_per_call(fn: Callable[[Request], Any], reqs: list[Request], rounds: int, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for _ in range(rounds):
            for r in reqs:
                fn(r)
        best = min(best, time.perf_counter() - t0)
        gc.enable()
    return best / (rounds * len(reqs)) * 1e6


class _Exchange:
    """Stands in for the server's in-flight record: Timeout arms its deadline timer and
    would answer through it, as under the server."""

    def early(self, resp: Response) -> bool:
        return True


def middleware_costs(rounds: int, reps: int) -> list[tuple[str, float]]:
    """µs per request in a G (the way the server runs a handler), with each middleware
    of the production stack alone and all of them, logging as ``gmp serve
    --log-format json`` does (batched to /dev/null)."""
    import io
    import os

    import gmp
    from gmp.http.cli import configure_logging
    from gmp.http.middleware import Metrics, RateLimit, Timeout
    from gmp.resilience import KeyedLimiter, TokenBucket

    saved = sys.stderr
    sys.stderr = io.TextIOWrapper(open(os.devnull, "wb"))  # noqa: SIM115 - for the run
    try:
        configure_logging("json", "info", 0.1)

        def limiter() -> RateLimit:
            return RateLimit(KeyedLimiter(lambda: TokenBucket(rate=1e9, burst=10**9)))

        cases: list[tuple[str, list[Any]]] = [
            ("no middleware", []),
            ("RequestID", [RequestID()]),
            ("Logger", [Logger()]),
            ("Recovery", [Recovery()]),
            ("Timeout", [Timeout(5.0)]),
            ("RateLimit", [limiter()]),
            ("Metrics", [Metrics()]),
            (
                "all six (bench/http's gmp-prod)",
                [RequestID(), Logger(), Recovery(), Timeout(5.0), limiter(), Metrics()],
            ),
        ]
        out: list[tuple[str, float]] = []
        for name, mws in cases:
            app = build_engine([], mws)
            req = Request("GET", "/ping", client=("127.0.0.1", 40000))
            req.exchange = _Exchange()

            async def run(app: Engine = app, req: Request = req) -> float:
                return us_per_call(app, [req], rounds, reps)

            out.append((name, gmp.run(run, procs=1)))
        return out
    finally:
        sys.stderr = saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.engine_bench", description=__doc__)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args(argv)
    structlog.configure(
        processors=[structlog.processors.add_log_level],
        logger_factory=structlog.ReturnLoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(40),  # errors only: none here
    )
    small = [p for p, _ in SMALL]
    large = large_routes(1000)
    static_paths = ["/ping"] + [path for p, path in SMALL if ":" not in p]
    param_paths = [path for p, path in SMALL if ":" in p]
    reqs_static = [Request("GET", p) for p in static_paths]
    reqs_param = [Request("GET", p) for p in param_paths]
    e10 = build_engine(small)
    e1000 = build_engine(large)
    for app in (e10, e1000):  # every path must hit a route
        for r in reqs_static + reqs_param:
            assert app(r).status == 200, r
    rows: list[tuple[str, float, float]] = []
    rounds, reps = args.rounds, args.reps
    rows.append(("bare handler", us_per_call(bare, reqs_static, rounds, reps), float("nan")))
    for name, app in (("engine, 10 routes", e10), ("engine, 1,000 routes", e1000)):
        rows.append(
            (
                name,
                us_per_call(app, reqs_static, rounds, reps),
                us_per_call(app, reqs_param, rounds, reps),
            )
        )
    kit = build_engine(large, [RequestID(), Recovery()])
    rows.append(
        (
            "engine + RequestID + Recovery",
            us_per_call(kit, reqs_static, rounds, reps),
            us_per_call(kit, reqs_param, rounds, reps),
        )
    )
    full = build_engine(large, [RequestID(), Logger(), Recovery()])
    rows.append(
        (
            "Engine.default() (null log sink)",
            us_per_call(full, reqs_static, rounds, reps),
            us_per_call(full, reqs_param, rounds, reps),
        )
    )
    print(f"python {sys.version.split()[0]}; µs per request, best of {reps} x {rounds} rounds")
    print(f"{'case':36s} {'static':>8s} {'params':>8s}")
    for name, s, p in rows:
        ps = "-" if p != p else f"{p:.2f}"
        print(f"{name:36s} {s:8.2f} {ps:>8s}")
    r_static = rows[2][1] / rows[1][1]
    r_param = rows[2][2] / rows[1][2]
    print(f"\n1,000 routes / 10 routes: static {r_static:.2f}x, params {r_param:.2f}x")
    print(f"bare / engine (10 routes, static): {rows[0][1] / rows[1][1]:.2f}")
    costs = middleware_costs(rounds * 10, reps)
    base = costs[0][1]
    print("\nthe production stack, one middleware at a time (µs per /ping in a G; added):")
    for name, us in costs:
        print(f"  {name:36s} {us:7.2f}  {us - base:+7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
