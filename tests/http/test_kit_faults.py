"""FaultInjection through real HTTP: injected errors (the handler never runs), injected
latency, repeatable sequences with a seed, the paths filter, and argument checks."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from engine_helpers import serve

import gmp
from gmp.http import Context, Engine
from gmp.http.middleware.faults import FaultInjection

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


class Calls:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def plain(self, c: Context) -> dict[str, Any]:
        with self.lock:
            self.n += 1
        return {"handled": c.request.path}

    async def coro(self, c: Context) -> dict[str, Any]:
        await gmp.sleep(0)
        return self.plain(c)


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_error_rate_one_fails_every_request_before_the_handler(kind):
    calls = Calls()
    faults = FaultInjection(error_rate=1.0)
    app = Engine.default()
    app.use(faults)
    app.get("/x", calls.plain if kind == "plain" else calls.coro)
    with serve(app) as (_, client):
        for _ in range(5):
            r = client.get("/x")
            assert r.status_code == 503
            assert r.json() == {"error": "injected fault"}
            assert r.headers["x-fault-injected"] == "error"
            assert r.headers["x-request-id"]
    assert calls.n == 0
    assert faults.injected_errors == 5
    assert faults.injected_delays == 0


def test_error_status_can_be_chosen():
    app = Engine()
    app.get("/x", FaultInjection(error_rate=1, error_status=500), lambda c: "never")
    with serve(app) as (_, client):
        r = client.get("/x")
    assert r.status_code == 500
    assert r.headers["x-fault-injected"] == "error"


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_latency_rate_one_delays_every_request_and_marks_it(kind):
    calls = Calls()
    faults = FaultInjection(latency=0.005, latency_rate=1.0)
    app = Engine()
    app.get("/slow", faults, calls.plain if kind == "plain" else calls.coro)
    with serve(app) as (_, client):
        for _ in range(3):
            r = client.get("/slow")
            assert r.status_code == 200
            assert r.json() == {"handled": "/slow"}
            assert r.headers["x-fault-injected"] == "latency"
    assert calls.n == 3
    assert faults.injected_delays == 3
    assert faults.injected_errors == 0


def test_latency_and_error_together_answer_the_error():
    app = Engine()
    app.get(
        "/x", FaultInjection(latency=(0.001, 0.002), latency_rate=1, error_rate=1), lambda c: ""
    )
    with serve(app) as (_, client):
        r = client.get("/x")
    assert r.status_code == 503
    assert r.headers.get_list("x-fault-injected") == ["error"]


def outcomes(seed: int, n: int = 50) -> list[tuple[int, str | None]]:
    app = Engine()
    app.use(FaultInjection(latency=0.0005, latency_rate=0.3, error_rate=0.4, seed=seed))
    app.get("/x", lambda c: "ok")
    with serve(app) as (_, client):
        return [
            (r.status_code, r.headers.get("x-fault-injected"))
            for r in (client.get("/x") for _ in range(n))
        ]


def test_a_seed_makes_the_sequence_repeatable():
    first = outcomes(seed=7)
    assert outcomes(seed=7) == first
    kinds = set(first)
    assert (503, "error") in kinds
    assert (200, None) in kinds
    assert (200, "latency") in kinds
    errors = sum(1 for s, _ in first if s == 503)
    assert 5 <= errors <= 35  # 0.4 of 50, far from all or nothing
    assert outcomes(seed=8) != first


def test_paths_filter():
    calls = Calls()
    app = Engine()
    app.use(FaultInjection(error_rate=1, paths=["/api/*", "/exact", "/users/:id"]))
    for path in ("/api/a", "/api/b/c", "/api", "/exact", "/exact/not", "/users/:id", "/other"):
        app.get(path, calls.plain)
    none = app.group("/none", FaultInjection(error_rate=1, paths=[]))
    none.get("/x", calls.plain)
    with serve(app) as (_, client):

        def status(path: str) -> int:
            return client.get(path).status_code

        assert status("/api/a") == 503
        assert status("/api/b/c") == 503
        assert status("/api") == 200  # the prefix is "/api/"
        assert status("/exact") == 503
        assert status("/exact/not") == 200
        assert status("/users/42") == 503  # by its route pattern
        assert status("/other") == 200
        assert status("/none/x") == 200  # paths=[]: nowhere
        assert status("/missing") == 404
    assert calls.n == 4


@pytest.mark.parametrize("rate", [-0.1, 1.01, math.nan, math.inf, True, "0.5", None])
@pytest.mark.parametrize("name", ["latency_rate", "error_rate"])
def test_invalid_rates_raise(name, rate):
    with pytest.raises(ValueError, match=name):
        FaultInjection(**{name: rate})


@pytest.mark.parametrize(
    "latency", [-0.1, (0.2, 0.1), (-1.0, 1.0), math.nan, math.inf, (0, math.inf)]
)
def test_invalid_latency_raises(latency):
    with pytest.raises(ValueError, match="latency"):
        FaultInjection(latency=latency, latency_rate=0.5)


@pytest.mark.parametrize("status", [200, 399, 600, 302])
def test_invalid_error_status_raises(status):
    with pytest.raises(ValueError, match="error_status"):
        FaultInjection(error_rate=0.5, error_status=status)


def test_paths_must_not_be_one_string():
    with pytest.raises(TypeError, match="paths"):
        FaultInjection(error_rate=1, paths="/api/*")
