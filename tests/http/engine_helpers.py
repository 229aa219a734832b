"""Helpers for the Engine tests: one server per module, log capture, small handlers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import structlog
from http_server_helpers import running
from structlog.testing import capture_logs

from gmp.http import Engine, Server


def gmp_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("gmp-") and t.is_alive()}


@contextmanager
def serving(app: Engine, **options: Any) -> Iterator[httpx.Client]:
    """Serve ``app`` and yield an httpx client for it (no redirects followed).

    The runtime starts Ms as blocking handlers need them and keeps them until it stops,
    so for a server shared by a module's tests the leak check (conftest's, per test)
    happens here instead: every thread this server's runtime started (its Ms and sysmon)
    is gone once it stopped. Its own threads, not every new gmp thread: another module
    fixture's server, still serving, may start an M meanwhile (seen once in a whole run,
    its M1 counted as this server's leak).
    """
    with (
        running(app, **options) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client,
    ):
        assert server.runtime is not None  # started (running waits for it)
        sched = server.runtime._sched
        yield client
    threads = {m.thread for m in sched.ms} | {sched.sysmon.thread}
    deadline = time.monotonic() + 5
    while alive := {t for t in threads if t.is_alive()}:
        assert time.monotonic() < deadline, f"threads leaked: {alive}"
        time.sleep(0.01)


@contextmanager
def serve(app: Engine, **options: Any) -> Iterator[tuple[Server, httpx.Client]]:
    """Serve ``app`` for one test; yield the server and an httpx client for it."""
    with (
        running(app, **options) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client,
    ):
        yield server, client


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """structlog's captured entries, with contextvars (``request_id``) merged in."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        yield logs


def entries(logs: list[dict[str, Any]], event: str, **match: Any) -> list[dict[str, Any]]:
    """The captured entries named ``event`` whose fields include ``match``."""
    return [
        e
        for e in list(logs)
        if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
    ]


def raw_socket(client: httpx.Client, timeout: float = 10.0) -> socket.socket:
    """A raw connection to the server ``client`` talks to (for wire-level checks)."""
    port = client.base_url.port
    assert port is not None
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# -- an Engine app for `gmp serve engine_helpers:app` (a subprocess test) ---------------

app = Engine.default()


@app.get("/hello/:name")
def _hello(c: Any) -> dict[str, Any]:
    return {"hello": c.param("name"), "request_id": c.get("request_id")}


@app.post("/items")
async def _create(c: Any) -> Any:
    c.status(201)
    return {"created": c.json_body()}
