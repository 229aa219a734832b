"""Health probes through real HTTP: /livez, /readyz naming what fails (custom checks,
breakers, saturation, the global queue, a shutdown under way), /startupz's gate."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from engine_helpers import serve
from http_server_helpers import wait_for

import gmp
from gmp.http import Context, Engine
from gmp.http.health import Health, mount_health
from gmp.resilience import CircuitBreaker

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


def test_livez_and_readyz_when_all_is_well():
    app = Engine.default()
    health = mount_health(app, checks={"db": lambda: None, "cache": lambda: True})
    assert isinstance(health, Health)
    with serve(app) as (_, client):
        r = client.get("/livez")
        assert r.status_code == 200
        assert r.json()["status"] == "alive"
        assert r.json()["uptime_s"] >= 0
        r = client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {
            "status": "ready",
            "checks": {"draining": "ok", "load": "ok", "db": "ok", "cache": "ok"},
        }
        r = client.get("/startupz")
        assert r.status_code == 200
        assert r.json() == {"status": "started"}
        assert client.head("/livez").status_code == 200


def test_readyz_names_the_failing_check():
    state: dict[str, Any] = {"db": True, "cache": None}

    def cache() -> None:
        if state["cache"] is not None:
            raise state["cache"]

    app = Engine()
    mount_health(app, checks={"db": lambda: state["db"], "cache": cache})
    with serve(app) as (_, client):
        assert client.get("/readyz").status_code == 200
        state["db"] = False
        r = client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not ready"
        assert body["checks"]["db"] == "failed"
        assert body["checks"]["cache"] == "ok"
        state["db"] = "PONG"  # a value that is not False passes
        state["cache"] = ConnectionError("cache unreachable")
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {
            "draining": "ok",
            "load": "ok",
            "db": "ok",
            "cache": "failed: ConnectionError: cache unreachable",
        }
        assert client.get("/livez").status_code == 200  # liveness checks nothing external
        state["cache"] = None
        assert client.get("/readyz").status_code == 200


def test_readyz_reports_an_open_breaker():
    clock = [0.0]
    breaker = CircuitBreaker(
        "payments", failure_ratio=None, consecutive_failures=1, cooldown=5, clock=lambda: clock[0]
    )
    other = CircuitBreaker("search")
    app = Engine()
    mount_health(app, breakers=[breaker, other], prefix="/internal")
    with serve(app) as (_, client):
        r = client.get("/internal/readyz")
        assert r.status_code == 200
        assert r.json()["checks"]["breaker:payments"] == "ok"
        breaker.allow().failure()
        r = client.get("/internal/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["breaker:payments"] == "open"
        assert r.json()["checks"]["breaker:search"] == "ok"
        clock[0] = 5.0  # half-open: traffic may come back to probe it
        assert client.get("/internal/readyz").status_code == 200
        assert client.get("/readyz").status_code == 404


def test_readyz_fails_when_saturated():
    release = threading.Event()
    app = Engine()
    mount_health(app, max_load=0.75)

    @app.get("/work")
    def _work(c: Context) -> str:
        release.wait(WAIT)
        return "done"

    with serve(app, max_inflight=4, procs=2) as (server, client):
        workers = [threading.Thread(target=lambda: client.get("/work")) for _ in range(2)]
        try:
            for t in workers:
                t.start()
            wait_for(lambda: server.stats().inflight == 2, what="two parked handlers")
            # Two parked and the probe itself: 3 of 4, at max_load.
            r = client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["load"] == "3 of 4 handlers in flight"
            assert client.get("/livez").status_code == 200
        finally:
            release.set()
            for t in workers:
                t.join(WAIT)
        wait_for(lambda: server.stats().inflight == 0, what="the handlers to end")
        r = client.get("/readyz")
        assert r.status_code == 200
        assert r.json()["checks"]["load"] == "ok"


async def _noop() -> None:
    pass


def test_readyz_fails_when_the_global_queue_is_long():
    """One P: a handler that starts 600 Gs without yielding overflows its local run
    queue into the global one, then asks for readiness before any of them can run."""
    app = Engine()
    health = mount_health(app, max_global_queue=10)

    @app.get("/flood")
    async def _flood(c: Context) -> None:
        for _ in range(600):
            gmp.go(_noop)
        health.readyz(c)

    with serve(app, procs=1) as (_, client):
        assert client.get("/readyz").json()["checks"]["global_queue"] == "ok"
        r = client.get("/flood")
        assert r.status_code == 503
        msg = r.json()["checks"]["global_queue"]
        queued = int(msg.split()[0])
        assert queued > 10
        assert msg == f"{queued} Gs waiting (limit 10)"
        wait_for(lambda: client.get("/readyz").status_code == 200, what="the queue to drain")


def test_readyz_fails_while_draining():
    """A request in flight when the shutdown begins: its readiness is 'shutting down'
    (the probe's own handler run on that request), and the connection closes after."""
    entered, go_on = threading.Event(), threading.Event()
    app = Engine()
    health = mount_health(app)
    seen: list[bool] = []

    @app.get("/last")
    def _last(c: Context) -> None:
        entered.set()
        go_on.wait(WAIT)
        from gmp.http.server import current_server

        server = current_server()
        assert server is not None
        seen.append(server.draining)
        health.readyz(c)

    with serve(app) as (server, client):
        assert not server.draining
        assert client.get("/readyz").json()["checks"]["draining"] == "ok"
        answers: list[httpx.Response] = []
        t = threading.Thread(target=lambda: answers.append(client.get("/last")))
        t.start()
        try:
            assert entered.wait(WAIT)
            server.shutdown_threadsafe()
            wait_for(lambda: server.draining, what="the drain to begin")
        finally:
            go_on.set()
            t.join(WAIT)
    assert seen == [True]
    (r,) = answers
    assert r.status_code == 503
    assert r.json()["checks"]["draining"] == "shutting down"
    assert r.headers["connection"] == "close"


def test_startupz_gate():
    app = Engine()
    health = mount_health(app, startup_gate=True)
    with serve(app) as (_, client):
        r = client.get("/startupz")
        assert r.status_code == 503
        assert r.json() == {"status": "starting"}
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["startup"] == "not started"
        assert client.get("/livez").status_code == 200
        health.mark_started()
        assert client.get("/startupz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 200
        assert "startup" not in r.json()["checks"]


def test_startupz_with_a_startup_function():
    state: dict[str, Any] = {"ready": RuntimeError("warming up")}
    calls = []

    def startup() -> bool:
        calls.append(1)
        value = state["ready"]
        if isinstance(value, Exception):
            raise value
        return bool(value)

    app = Engine()
    mount_health(app, startup=startup)
    with serve(app) as (_, client):
        assert client.get("/startupz").status_code == 503  # raising: not started
        state["ready"] = False
        assert client.get("/startupz").status_code == 503
        state["ready"] = True
        assert client.get("/startupz").status_code == 200
        n = len(calls)
        state["ready"] = False  # once started, always started: no more calls
        assert client.get("/startupz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert len(calls) == n


def test_readiness_outside_a_server():
    health = Health(checks={"db": lambda: False}, max_global_queue=1)
    assert health.readiness() == {"db": "failed"}


def test_bad_arguments():
    for load in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match="max_load"):
            Health(max_load=load)
    with pytest.raises(TypeError, match="db"):
        Health(checks={"db": "not callable"})  # type: ignore[dict-item]

    async def async_check() -> bool:
        return True

    with pytest.raises(TypeError, match="plain callable"):
        Health(checks={"db": async_check})
