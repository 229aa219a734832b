"""docs/resilience.md's examples, served as the page shows them, do what its text says.

Each example's handler is served by a real server and driven over HTTP. The limiters and
breakers are the examples' own, built with their arguments; the test only makes their
clock one it moves (``on_clock``), so "the 21st request is refused" does not depend on
how fast the machine sends twenty.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from doc_snippets import Clock, block_with, on_clock, run_blocks
from engine_helpers import captured, entries, serve

import gmp
from gmp.resilience import State

pytestmark = pytest.mark.timeout(60)

DOC = "docs/resilience.md"
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def example(*defines: str) -> dict[str, Any]:
    """Run the page's blocks that contain ``defines`` (in the page's order; each block
    needs the imports of the first), and return their namespace."""
    lines = [block_with(DOC, "bucket = TokenBucket(")]
    lines += [block_with(DOC, text) for text in defines]
    ns, _ = run_blocks(DOC, sorted(set(lines)))
    return ns


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    on_clock(monkeypatch, clock, "TokenBucket", "LeakyBucket", "CircuitBreaker")
    return clock


def test_token_bucket_passes_the_burst_then_answers_429(clock):
    ns = example()
    with serve(ns["search"]) as (_, client):
        for i in range(20):  # burst=20: twenty pass at once
            r = client.get("/search")
            assert r.status_code == 200, i
            assert r.json() == {"results": []}
            assert r.headers["ratelimit-limit"] == "20"
            assert r.headers["ratelimit-remaining"] == str(19 - i)
            assert "retry-after" not in r.headers
        r = client.get("/search")
        assert r.status_code == 429 and r.json() == {"error": "too many requests"}
        # one token comes back every 0.1 s (rate=10), rounded up; full again in 2 s
        assert r.headers["retry-after"] == "1"
        assert (r.headers["ratelimit-remaining"], r.headers["ratelimit-reset"]) == ("0", "2")
        clock.advance(0.1)
        assert client.get("/search").status_code == 200
        assert client.get("/search").status_code == 429


def test_leaky_bucket_spaces_what_it_admits_and_refuses_past_capacity(clock):
    """Eleven requests at one instant: ten join the queue, told to wait 0, 0.2, ...,
    1.8 s (one every 200 ms), and the eleventh, which does not fit, gets a 429."""
    ns = example("queue = LeakyBucket(")
    with serve(ns["export"]) as (_, client), ThreadPoolExecutor(11) as pool:
        answers = list(pool.map(lambda _: client.get("/export"), range(11)))
    refused = [r for r in answers if r.status_code == 429]
    admitted = [r for r in answers if r.status_code == 200]
    assert len(refused) == 1 and len(admitted) == 10
    assert sorted(r.json()["waited"] for r in admitted) == pytest.approx(
        [0.2 * i for i in range(10)]
    )
    assert refused[0].headers["retry-after"] == "1"  # room again in 0.2 s, rounded up
    assert refused[0].headers["ratelimit-limit"] == "10"


def test_acquire_waits_inside_gs_and_in_trio():
    """The waiting example, on the real clock: five Gs and then a trio task take turns
    at 20 calls/s with no burst, so the six calls cannot end in less than 5/20 s."""
    start = time.monotonic()
    ns, printed = run_blocks(
        DOC,
        [
            block_with(DOC, "bucket = TokenBucket("),
            block_with(DOC, "queue = LeakyBucket("),
            block_with(DOC, "limiter = TokenBucket("),
        ],
    )
    elapsed = time.monotonic() - start
    assert printed == "[0, 1, 2, 3, 4]\n5\n"
    assert elapsed >= 0.25 - 0.005  # the limiter's spacing, not a speed figure
    # Anywhere else acquire() cannot wait: plain threads use try_acquire.
    waiting = ns["limiter"].acquire()
    with pytest.raises(gmp.NotInGError, match="try_acquire"):
        waiting.send(None)
    waiting.close()


def test_keyed_limiter_gives_each_client_its_own_bucket(clock):
    ns = example("per_client = KeyedLimiter(")
    with serve(ns["api"]) as (server, client):
        for _ in range(10):  # TokenBucket(5.0, 10) for 127.0.0.1
            r = client.get("/")
            assert r.status_code == 200 and r.json() == {"clients": 1}
        r = client.get("/")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        # another client address (all of 127/8 is loopback) has a fresh bucket
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", transport=other) as c2:
            r = c2.get("/")
            assert r.status_code == 200 and r.json() == {"clients": 2}
        assert client.get("/").status_code == 429
    assert "127.0.0.1" in ns["per_client"] and "127.0.0.2" in ns["per_client"]


def test_breaker_opens_fails_fast_and_closes_after_a_good_probe(clock):
    ns = example("db = CircuitBreaker(")
    db, database = ns["db"], ns["database"]
    with serve(ns["rows"]) as (_, client):
        assert client.get("/").json() == {"rows": [[1]]}
        database.up = False
        # min_calls=10: with the success above, nine failures make 10 calls at 90%
        for i in range(8):
            r = client.get("/")
            assert r.status_code == 502 and r.json() == {"error": "database error"}, i
            assert db.state is State.CLOSED
        assert client.get("/").status_code == 502
        assert db.state is State.OPEN
        database.up = True  # back, but the breaker does not call it until the cooldown ends
        r = client.get("/")
        assert r.status_code == 503 and r.json() == {"error": "db is unavailable"}
        assert r.headers["retry-after"] == "30"
        clock.advance(29)
        r = client.get("/")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert db.counts().rejected == 2
        clock.advance(1)  # half-open: the next call is a probe; its success closes it
        assert client.get("/").json() == {"rows": [[1]]}
        assert db.state is State.CLOSED


def test_ticket_wrapper_judges_calls_by_their_status(clock):
    ns = example("db = CircuitBreaker(", "def guarded(")
    upstream = ns["upstream"]
    with serve(ns["guarded_proxy"]) as (_, client):
        assert client.get("/").json() == {"ok": True}
        for _ in range(3):  # consecutive_failures=3: three 502s open it
            assert client.get("/broken").status_code == 502
        assert upstream.state is State.OPEN
        r = client.get("/")
        assert r.status_code == 503 and r.headers["retry-after"] == "10"
        clock.advance(10)
        assert client.get("/broken").status_code == 502  # a failed probe reopens it
        assert upstream.state is State.OPEN
        assert client.get("/").status_code == 503
        clock.advance(10)
        assert client.get("/").json() == {"ok": True}  # a good probe closes it
        assert upstream.state is State.CLOSED
        assert client.get("/broken").status_code == 502
        assert upstream.state is State.CLOSED  # one failure in a row is not three


def test_tracing_continues_the_callers_trace_and_logs_its_ids():
    ns = example("def items(")
    parent = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
    with captured() as logs, serve(ns["items"]) as (_, client):
        r = client.get("/items", headers={"traceparent": parent, "tracestate": "congo=t61rcWk"})
        fresh = client.get("/items")
        invalid = client.get("/items", headers={"traceparent": "00-xyz", "tracestate": "a=b"})
    body = r.json()
    assert body["trace_id"] == PARENT_TRACE
    m = re.fullmatch(rf"00-{PARENT_TRACE}-([0-9a-f]{{16}})-01", body["callee"]["traceparent"])
    assert m is not None and m.group(1) != PARENT_SPAN  # the callee's parent is our span
    assert body["callee"]["tracestate"] == "congo=t61rcWk"
    [line] = entries(logs, "handling", trace_id=PARENT_TRACE)
    assert line["span_id"] == m.group(1)
    for answer in (fresh, invalid):  # no (valid) traceparent: a new trace, no tracestate
        started = answer.json()
        assert re.fullmatch(r"[0-9a-f]{32}", started["trace_id"])
        assert started["trace_id"] != PARENT_TRACE
        assert set(started["callee"]) == {"traceparent"}
        assert entries(logs, "handling", trace_id=started["trace_id"])
