"""Breaker through real HTTP, on a fake clock: 5xx and exceptions open it, then 503 with
Retry-After without calling the handler; the half-open probe; what does not count; and
the breaker's state on /metrics (BreakerCollector) and /readyz."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from http_server_helpers import running
from prometheus_client.parser import text_string_to_metric_families

import gmp
from gmp.http import ClientDisconnected, Context, Engine, NotFound, Server
from gmp.http.health import mount_health
from gmp.http.middleware.breaker import Breaker
from gmp.http.middleware.metrics import mount_metrics
from gmp.resilience import CircuitBreaker, State
from gmp.resilience.collectors import BreakerCollector

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0
OPEN_BODY = {"error": "dependency 'payments' is unavailable (circuit open)"}


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Dependency:
    """The guarded handler: does what the query asks, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()

    def act(self, c: Context) -> Any:
        with self.lock:
            self.calls += 1
        do = c.query("do", "ok")
        if do == "fail":
            c.json(502, {"upstream": "down"})
        elif do == "raise":
            raise ConnectionRefusedError("payments refused the connection")
        elif do == "missing":
            raise NotFound("no such payment")
        elif do == "bad":
            c.json(422, {"invalid": True})
        elif do == "gone":
            raise ClientDisconnected("the client connection is gone")
        elif do == "block":
            self.entered.set()
            self.release.wait(WAIT)
        return {"paid": True}

    def plain(self, c: Context) -> Any:
        return self.act(c)

    async def coro(self, c: Context) -> Any:
        await gmp.sleep(0)
        return self.act(c)


class Setup:
    def __init__(self, kind: str = "plain", **breaker_options: Any) -> None:
        self.clock = Clock()
        options: dict[str, Any] = {
            "failure_ratio": None,
            "consecutive_failures": 3,
            "cooldown": 10,
        }
        options.update(breaker_options)
        self.breaker = CircuitBreaker("payments", clock=self.clock, **options)
        self.dep = Dependency()
        self.app = Engine.default()
        metrics = mount_metrics(self.app)
        metrics.registry.register(BreakerCollector([self.breaker]))
        mount_health(self.app, breakers=[self.breaker])
        guard = Breaker(self.breaker)
        self.app.get("/pay", guard, self.dep.plain if kind == "plain" else self.dep.coro)
        strict = Breaker(self.breaker, is_failure=lambda status: status >= 400)
        self.app.get("/strict", strict, self.dep.plain)

    @contextmanager
    def serving(self, **options: Any) -> Iterator[tuple[Server, httpx.Client]]:
        with (
            running(self.app, **options) as server,
            httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=WAIT) as client,
        ):
            yield server, client


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def breaker_state(samples: dict[Any, float]) -> dict[str, float]:
    return {
        dict(labels)["state"]: v
        for (name, labels), v in samples.items()
        if name == "gmp_breaker_state" and dict(labels)["breaker"] == "payments"
    }


def transitions(samples: dict[Any, float]) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["from"], dict(labels)["to"]): v
        for (name, labels), v in samples.items()
        if name == "gmp_breaker_transitions_total"
    }


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_failures_open_it_then_503_without_the_handler(kind):
    s = Setup(kind)
    with s.serving() as (_, client):
        assert client.get("/pay").status_code == 200
        assert client.get("/pay?do=fail").status_code == 502
        r = client.get("/pay?do=raise")  # an exception: Recovery answers 500, it counts
        assert r.status_code == 500
        assert r.json()["error"] == "internal server error"
        assert s.breaker.state is State.CLOSED  # two in a row so far
        assert client.get("/pay?do=fail").status_code == 502
        assert s.breaker.state is State.OPEN
        calls = s.dep.calls

        r = client.get("/pay")
        assert r.status_code == 503
        assert r.json() == OPEN_BODY
        assert r.headers["retry-after"] == "10"
        assert r.headers["x-request-id"]
        s.clock.advance(4.5)
        r = client.get("/pay?do=raise")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "6"  # 5.5 s left, rounded up
        assert s.dep.calls == calls  # the handler never ran while open

        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["breaker:payments"] == "open"
        samples = scrape(client)
        assert breaker_state(samples) == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
        assert samples[("gmp_breaker_open", (("breaker", "payments"),))] == 1.0
        assert samples[("gmp_breaker_rejected_total", (("breaker", "payments"),))] == 2.0
        assert transitions(samples) == {("closed", "open"): 1.0}

        # The cooldown ends: one probe goes through, succeeds, and closes the breaker.
        s.clock.advance(5.5)
        r = client.get("/pay")
        assert r.status_code == 200
        assert r.json() == {"paid": True}
        assert s.dep.calls == calls + 1
        assert s.breaker.state is State.CLOSED
        assert client.get("/readyz").status_code == 200
        samples = scrape(client)
        assert breaker_state(samples) == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
        assert samples[("gmp_breaker_open", (("breaker", "payments"),))] == 0.0
        assert transitions(samples) == {
            ("closed", "open"): 1.0,
            ("open", "half_open"): 1.0,
            ("half_open", "closed"): 1.0,
        }


def test_failed_probe_reopens_for_another_cooldown():
    s = Setup()
    with s.serving() as (_, client):
        for _ in range(3):
            client.get("/pay?do=raise")
        assert s.breaker.state is State.OPEN
        s.clock.advance(10)
        assert client.get("/pay?do=fail").status_code == 502  # the probe ran and failed
        assert s.breaker.state is State.OPEN
        r = client.get("/pay")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "10"
        assert transitions(scrape(client)) == {
            ("closed", "open"): 1.0,
            ("open", "half_open"): 1.0,
            ("half_open", "open"): 1.0,
        }


def test_while_the_probe_runs_others_are_refused():
    s = Setup()
    with s.serving(procs=2) as (_, client):
        for _ in range(3):
            client.get("/pay?do=fail")
        s.clock.advance(10)
        results: list[httpx.Response] = []
        t = threading.Thread(target=lambda: results.append(client.get("/pay?do=block")))
        t.start()
        try:
            assert s.dep.entered.wait(WAIT)
            assert s.breaker.counts().probes_in_flight == 1
            r = client.get("/pay")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"  # half-open: any moment now
            assert "unavailable" in r.json()["error"]
        finally:
            s.dep.release.set()
            t.join(WAIT)
        assert [r.status_code for r in results] == [200]
        assert s.breaker.state is State.CLOSED


def test_client_errors_and_departed_clients_do_not_count():
    s = Setup()
    with s.serving() as (_, client):
        for _ in range(3):
            assert client.get("/pay?do=missing").status_code == 404
            assert client.get("/pay?do=bad").status_code == 422
            client.get("/pay?do=gone")  # Recovery logs it, no 500
        assert s.breaker.state is State.CLOSED
        counts = s.breaker.counts()
        assert counts.failures == 0
        assert counts.successes == 6  # the 4xx answers were the dependency doing fine
        assert s.dep.calls == 9


def test_is_failure_decides_what_counts():
    s = Setup()
    with s.serving() as (_, client):
        for _ in range(3):
            assert client.get("/strict?do=missing").status_code == 404
        assert s.breaker.state is State.OPEN
        assert client.get("/strict").status_code == 503
        assert client.get("/pay").status_code == 503  # the same breaker guards both


def test_ratio_trips_after_min_calls():
    s = Setup(failure_ratio=0.5, consecutive_failures=None, min_calls=4)
    with s.serving() as (_, client):
        assert client.get("/pay").status_code == 200
        assert client.get("/pay?do=fail").status_code == 502
        assert client.get("/pay").status_code == 200
        assert s.breaker.state is State.CLOSED  # 1 of 3: below min_calls anyway
        assert client.get("/pay?do=raise").status_code == 500  # 2 of 4
        assert s.breaker.state is State.OPEN
        assert client.get("/pay").status_code == 503


def test_breaker_needs_a_circuit_breaker():
    with pytest.raises(TypeError, match="CircuitBreaker"):
        Breaker(object())  # type: ignore[arg-type]


def test_mount_metrics_exports_the_breakers_it_is_given() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from gmp.http import Engine, Request, mount_metrics
    from gmp.resilience import CircuitBreaker

    cb = CircuitBreaker("payments", consecutive_failures=1, failure_ratio=None, cooldown=60)
    app = Engine()
    mount_metrics(app, breakers=[cb])
    cb.allow().failure()  # one failure trips it
    text = app(Request("GET", "/metrics")).body.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("gmp_breaker_open", (("breaker", "payments"),))] == 1.0
    key = (
        "gmp_breaker_transitions_total",
        (("breaker", "payments"), ("from", "closed"), ("to", "open")),
    )
    assert samples[key] == 1.0
