"""The demo service (``make run``): a small API on gmp's runtime, each request a G.

Open http://127.0.0.1:8000/ for the index and the live scheduler page. Endpoints:

=========================  =========================================================
``GET /ping``              liveness, the cheapest request
``/api/todos``             a JSON resource: ``GET`` (``?done=true``, ``?limit=``),
                           ``POST`` (body bound into :class:`TodoIn`, 400 on bad
                           input), ``GET|PUT|DELETE /api/todos/:id``
``GET /api/primes``        CPU-heavy (``?limit=1000000``, most of a second): pure-Python
                           trial division in an ``async def`` handler that calls
                           ``gmp.gosched()`` every 5,000 numbers (``yields`` in the
                           answer), so other requests on its P keep their turn
``GET /api/hash``          CPU-heavy and parallel (``?mb=16``): sha256 releases the
                           GIL, so with two Ps two of these run at once
``GET /api/report``        a blocking library: a SQLite query in a plain ``def``
                           handler; its thread blocks, sysmon hands its P on
``GET /api/slow``          a blocking call (``?ms=200``) like a legacy HTTP client
``GET /api/fanout``        fans out ``?n=8`` Gs that each block ``?ms=50`` and gathers
                           them with a TaskGroup: about ``ms``, not ``n * ms``
``GET /debug/sched``       ``rt.stats()`` and the server's counters as JSON
``GET /debug/page``        an HTML page polling ``/debug/sched`` once a second
``GET /metrics``           Prometheus: requests per route, latency, the scheduler
``/livez /readyz /startupz``  health probes
=========================  =========================================================

Every request runs through the production kit: a trace id (``traceresponse``), a request
id, an access log line, recovery from errors (500 JSON), metrics, a per-client rate limit
(200/s, bursts of 400: 429 past it) and, under ``/api``, a 5 s deadline (504 past it:
try ``/api/slow?ms=6000``).

Try, while watching ``/debug/page``::

    curl -s localhost:8000/api/fanout?n=32
    curl -s -XPOST localhost:8000/api/todos -d '{"title": "write docs", "tags": ["x"]}'
    curl -s -XPOST localhost:8000/api/todos -d '{"title": 5}'     # 400, says why
    wrk -c32 -d5s http://127.0.0.1:8000/ping & curl localhost:8000/api/slow?ms=2000
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sqlite3
import sys
import threading
import time
from typing import Any

import attrs
import structlog

import gmp
from gmp.http import (
    Context,
    Engine,
    Logger,
    NotFound,
    RateLimit,
    Recovery,
    RequestID,
    Server,
    Timeout,
    Tracing,
    mount_debug,
    mount_health,
    mount_metrics,
)
from gmp.observe.log import get_logger
from gmp.resilience import KeyedLimiter, TokenBucket

__all__ = ["Todo", "TodoIn", "TodoStore", "build_app", "main"]

_log = get_logger("gmp.demo")

MAX_PRIMES = 3_000_000
MAX_HASH_MB = 256
MAX_SLOW_MS = 10_000
MAX_FANOUT = 1_000
API_TIMEOUT = 5.0


@attrs.define
class TodoIn:
    """What a client sends to create or replace a todo."""

    title: str
    done: bool = False
    tags: list[str] = attrs.Factory(list)


@attrs.define
class Todo:
    """A stored todo."""

    id: int
    title: str
    done: bool
    tags: list[str]
    created: float


class TodoStore:
    """An in-memory store shared by every M: a ``threading.Lock`` guards it (requests of
    plain handlers run on many threads at once, GIL or not)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Todo] = {}
        self._next = 1

    def add(self, data: TodoIn) -> Todo:
        with self._lock:
            todo = Todo(self._next, data.title, data.done, list(data.tags), time.time())
            self._items[todo.id] = todo
            self._next += 1
            return todo

    def get(self, todo_id: int) -> Todo:
        with self._lock:
            todo = self._items.get(todo_id)
        if todo is None:
            raise NotFound(f"no todo with id {todo_id}")
        return todo

    def replace(self, todo_id: int, data: TodoIn) -> Todo:
        with self._lock:
            old = self._items.get(todo_id)
            if old is None:
                raise NotFound(f"no todo with id {todo_id}")
            todo = Todo(todo_id, data.title, data.done, list(data.tags), old.created)
            self._items[todo_id] = todo
            return todo

    def delete(self, todo_id: int) -> None:
        with self._lock:
            if self._items.pop(todo_id, None) is None:
                raise NotFound(f"no todo with id {todo_id}")

    def list(self, done: bool | None = None, limit: int = 100) -> list[Todo]:
        with self._lock:
            items = list(self._items.values())
        if done is not None:
            items = [t for t in items if t.done == done]
        return items[:limit]


def _bounded(c: Context, name: str, default: int, low: int, high: int) -> int:
    value: int = c.query(name, default, int)
    if not low <= value <= high:
        c.fail(400, f"query parameter {name!r} must be from {low} to {high}, got {value}")
    return value


def _trial_division(found: list[int], start: int, stop: int) -> None:
    """Append the primes in ``[start, stop)`` to ``found`` (which holds every prime
    below ``start``) by trial division: deliberately slow pure Python, a few hundred
    milliseconds for the default limit, so the gosched between chunks matters."""
    for n in range(start, stop):
        if n < 2:
            continue
        for p in found:
            if p * p > n:
                found.append(n)
                break
            if n % p == 0:
                break
        else:
            found.append(n)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>gmp demo</title>
<style>body{font:14px system-ui;margin:2em}td,th{padding:2px 10px;text-align:right}
th{background:#eee}code{background:#f4f4f4;padding:1px 4px}</style></head><body>
<h1>gmp demo: scheduler, live</h1><p id="sum">loading…</p>
<table id="ps"></table><p>Load it: <code>/api/fanout?n=64</code>, <code>/api/slow?ms=2000</code>,
<code>/api/primes?limit=2000000</code> (a second or two, yielding), <code>/api/hash?mb=64</code></p>
<script>
async function tick(){
  const r = await fetch('/debug/sched'); const s = await r.json(); const rt = s.runtime;
  document.getElementById('sum').textContent =
    `Ps ${rt.procs.length} · Ms ${rt.threads} (idle ${rt.idle_threads}) · Gs alive ${rt.gs_alive}` +
    ` · created ${rt.gs_created} · global queue ${rt.global_queue} · handoffs ${rt.handoffs}` +
    ` · steals ${rt.steals} · requests ${s.server.requests} · in flight ${s.server.inflight}`;
  let h = '<tr><th>P</th><th>status</th><th>runq</th><th>runs</th><th>steals</th>' +
          '<th>handoffs</th><th>preemptions</th><th>timers</th></tr>';
  for (const p of rt.procs) h += `<tr><td>${p.id}</td><td>${p.status}</td><td>${p.runq}</td>` +
    `<td>${p.runs}</td><td>${p.steals}</td><td>${p.handoffs}</td><td>${p.preemptions}</td>` +
    `<td>${p.timers}</td></tr>`;
  document.getElementById('ps').innerHTML = h;
}
tick(); setInterval(tick, 1000);
</script></body></html>"""


def build_app(
    store: TodoStore | None = None, *, access_log: bool = True, api_timeout: float = API_TIMEOUT
) -> Engine:
    """The demo's routes, behind the production kit: tracing, request ids, the access
    log, recovery, metrics, a per-client rate limit and a 5 s deadline on ``/api``; plus
    the health probes, ``/metrics`` and ``/debug/sched``."""
    store = store if store is not None else TodoStore()
    app = Engine()
    app.use(Tracing(), RequestID())
    if access_log:
        app.use(Logger(skip_paths=("/livez", "/readyz", "/startupz", "/metrics")))
    app.use(Recovery())
    mount_metrics(app)
    app.use(RateLimit(KeyedLimiter(lambda: TokenBucket(rate=200, burst=400))))
    mount_health(app, max_global_queue=10_000)
    mount_debug(app)

    @app.get("/")
    def index(c: Context) -> None:
        rows = "".join(f"<li><code>{m} {p}</code></li>" for m, p, _ in app.routes() if m != "HEAD")
        c.html(
            200, f"<h1>gmp demo</h1><p><a href='/debug/page'>live scheduler</a></p><ul>{rows}</ul>"
        )

    @app.get("/ping")
    def ping(c: Context) -> None:
        c.string(200, "pong")

    api = app.group("/api", Timeout(api_timeout))

    @api.get("/todos")
    def list_todos(c: Context) -> list[dict[str, Any]]:
        done = c.query("done", None, bool)
        limit = _bounded(c, "limit", 100, 1, 1000)
        return [attrs.asdict(t) for t in store.list(done, limit)]

    @api.post("/todos")
    def create_todo(c: Context) -> None:
        todo = store.add(c.bind_json(TodoIn, strict=True))
        c.header("location", f"/api/todos/{todo.id}")
        c.json(201, attrs.asdict(todo))

    @api.get("/todos/:id")
    def get_todo(c: Context) -> dict[str, Any]:
        return attrs.asdict(store.get(c.param("id", int)))

    @api.put("/todos/:id")
    def put_todo(c: Context) -> dict[str, Any]:
        return attrs.asdict(store.replace(c.param("id", int), c.bind_json(TodoIn, strict=True)))

    @api.delete("/todos/:id")
    def delete_todo(c: Context) -> None:
        store.delete(c.param("id", int))
        c.status(204)

    @api.get("/primes")
    async def primes(c: Context) -> dict[str, Any]:
        limit = _bounded(c, "limit", 1_000_000, 2, MAX_PRIMES)
        started = time.perf_counter()
        found: list[int] = []
        step = 5_000
        yields = 0
        for start in range(0, limit + 1, step):
            _trial_division(found, start, min(start + step, limit + 1))
            await gmp.gosched()  # a cooperative yield: other Gs on this P get a turn
            yields += 1
        return {
            "limit": limit,
            "primes": len(found),
            "yields": yields,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @api.get("/hash")
    def hash_(c: Context) -> dict[str, Any]:
        mb = _bounded(c, "mb", 16, 1, MAX_HASH_MB)
        started = time.perf_counter()
        digest = hashlib.sha256(b"\x00" * (mb << 20)).hexdigest()  # releases the GIL
        return {"mb": mb, "sha256": digest, "ms": round((time.perf_counter() - started) * 1000, 2)}

    @api.get("/report")
    def report(c: Context) -> dict[str, Any]:
        rows = _bounded(c, "rows", 200_000, 1, 5_000_000)
        started = time.perf_counter()
        db = sqlite3.connect(":memory:")
        try:
            (total,) = db.execute(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?) "
                "SELECT sum(x % 7) FROM n",
                (rows,),
            ).fetchone()
        finally:
            db.close()
        return {
            "rows": rows,
            "total": total,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @api.get("/slow")
    def slow(c: Context) -> dict[str, Any]:
        ms = _bounded(c, "ms", 200, 0, MAX_SLOW_MS)
        time.sleep(ms / 1000)  # a blocking call: this thread waits, the P moves on
        return {"slept_ms": ms}

    @api.get("/fanout")
    async def fanout(c: Context) -> dict[str, Any]:
        n = _bounded(c, "n", 8, 1, MAX_FANOUT)
        ms = _bounded(c, "ms", 50, 0, MAX_SLOW_MS)
        results: list[int] = []

        async def work(i: int) -> None:
            await gmp.syscall(time.sleep, ms / 1000)  # blocking: each costs a thread
            results.append(i * i)

        started = time.perf_counter()
        async with gmp.TaskGroup() as tg:
            for i in range(n):
                tg.go(work, i)
        elapsed = (time.perf_counter() - started) * 1000
        return {
            "gs": n,
            "each_ms": ms,
            "elapsed_ms": round(elapsed, 2),
            "serial_ms": n * ms,
            "sum": sum(results),
        }

    @app.get("/debug/page")
    def page(c: Context) -> None:
        c.html(200, _PAGE)

    return app


def _configure_logging() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gmp.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GMP_DEMO_PORT", "8000")))
    parser.add_argument("--procs", type=int, default=None, help="Ps (default: GMP_PROCS or CPUs)")
    parser.add_argument("--no-access-log", action="store_true", help="quiet: no line per request")
    args = parser.parse_args(argv)
    _configure_logging()
    app = build_app(access_log=not args.no_access_log)
    server = Server(app, host=args.host, port=args.port, procs=args.procs, access_log=False)

    def announce() -> None:
        if server.wait_started(30):
            base = f"http://{args.host}:{server.port}"
            _log.info("gmp demo serving", url=f"{base}/", live=f"{base}/debug/page")

    threading.Thread(target=announce, name="gmp-demo-announce", daemon=True).start()
    return server.run()
