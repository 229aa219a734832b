"""The production kit of README.md and of docs/http.md, served as shown, answers as the
comments beside it say: 429 with Retry-After past the per-client burst while the probes,
/metrics and /debug/sched stay exempt; 503 with Retry-After once the payments breaker
opens (and /readyz failing meanwhile) until a good probe closes it; 504 past 2 s.

The token buckets and the breaker are the example's own; ``on_clock`` only puts them on
clocks the test moves, one for the buckets and one for the breaker, so refilling the
bucket does not age the breaker's window."""

from __future__ import annotations

import json

import pytest
from doc_snippets import Clock, block_with, on_clock, run_blocks
from engine_helpers import captured, entries, serve

import gmp
from gmp.http import Context
from gmp.resilience import State

pytestmark = pytest.mark.timeout(60)

PROBES = ("/livez", "/readyz", "/startupz", "/metrics", "/debug/sched")


@pytest.mark.parametrize("doc", ["README.md", "docs/http.md"])
def test_production_kit_answers_as_documented(doc, monkeypatch):
    buckets, breakers = Clock(), Clock()
    on_clock(monkeypatch, buckets, "TokenBucket")
    on_clock(monkeypatch, breakers, "CircuitBreaker")
    ns, _ = run_blocks(doc, [block_with(doc, "mount_health(app, breakers=[payments])")])
    app, checkout, payments = ns["app"], ns["checkout"], ns["payments"]

    app.get("/hello", lambda c: "hi")
    checkout.post("/pay", lambda c: {"paid": True})
    checkout.post("/broken", lambda c: c.json(502, {"error": "provider down"}))

    async def hang(c: Context) -> None:
        await gmp.sleep(60)  # the provider never answers: Timeout(2.0) gives up

    checkout.post("/hang", hang)

    with captured() as logs, serve(app) as (_, client):
        # Tracing first: the access line carries the trace the client was told about
        r = client.get("/hello")
        [line] = entries(logs, "request", path="/hello")
        assert line["trace_id"] == r.headers["x-trace-id"] and line["status"] == 200
        assert line["request_id"] == r.headers["x-request-id"]

        # RateLimit: TokenBucket(10, 20) per client address
        for i in range(19):  # the 20th token of the burst went to the request above
            assert client.get("/hello").status_code == 200, i
        r = client.get("/hello")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert r.headers["ratelimit-limit"] == "20"
        for path in PROBES:  # "probes exempt": still answered while the client is limited
            assert client.get(path).status_code == 200, path
        buckets.advance(60)

        # Breaker(payments): min_calls=20 at a failure ratio of 0.5
        assert client.post("/checkout/pay").json() == {"paid": True}
        for i in range(19):
            assert payments.state is State.CLOSED, i
            assert client.post("/checkout/broken").status_code == 502
        assert payments.state is State.OPEN  # 19 failures in 20 calls
        buckets.advance(60)
        r = client.post("/checkout/pay")
        assert r.status_code == 503 and r.headers["retry-after"] == "10"  # cooldown=10
        assert client.get("/readyz").status_code == 503  # a required dependency is down
        assert client.get("/livez").status_code == 200
        metrics = client.get("/metrics").text
        assert 'gmp_http_requests_total{method="GET",route="/hello",status="429"} 1.0' in metrics
        if doc == "README.md":  # its mount_metrics(app, breakers=[payments]) exports it
            assert 'gmp_breaker_open{breaker="payments"} 1.0' in metrics
        breakers.advance(10)  # half-open: one probe, which succeeds
        assert client.post("/checkout/pay").json() == {"paid": True}
        assert payments.state is State.CLOSED
        assert client.get("/readyz").status_code == 200

        # Timeout(2.0) on the group
        r = client.post("/checkout/hang")
        assert r.status_code == 504 and "error" in json.loads(r.content)
        assert r.headers.get("x-trace-id")  # Tracing saw it through
