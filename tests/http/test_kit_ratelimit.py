"""RateLimit through real HTTP, on fake clocks: the burst then 429 with Retry-After and
RateLimit-*, keys by address, header and function, costs, the leaky bucket's delays, and
exact counts under concurrent clients, in plain and async chains."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from engine_helpers import serve
from http_server_helpers import Reader, connect, get

import gmp
from gmp.http import Context, Engine
from gmp.http.middleware.ratelimit import RateLimit
from gmp.resilience import KeyedLimiter, LeakyBucket, TokenBucket

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0


class Clock:
    """A clock that moves only when told (``TokenBucket(..., clock=Clock())``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value = 0

    def hit(self) -> int:
        with self.lock:
            self.value += 1
            return self.value


def handler(kind: str, counter: Counter) -> Callable[[Context], Any]:
    if kind == "plain":

        def plain(c: Context) -> dict[str, Any]:
            return {"n": counter.hit()}

        return plain

    async def coro(c: Context) -> dict[str, Any]:
        await gmp.sleep(0)
        return {"n": counter.hit()}

    return coro


def ratelimit_headers(r: httpx.Response) -> tuple[str, str, str]:
    return (
        r.headers["ratelimit-limit"],
        r.headers["ratelimit-remaining"],
        r.headers["ratelimit-reset"],
    )


# -- the token bucket per address ------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_burst_passes_then_429_with_retry_after(kind):
    clock = Clock()
    per_ip = KeyedLimiter(lambda: TokenBucket(rate=0.5, burst=3, clock=clock))
    limit = RateLimit(per_ip)
    counter = Counter()
    app = Engine.default()
    app.get("/r", limit, handler(kind, counter))
    with serve(app) as (_, client):
        allowed = [client.get("/r") for _ in range(3)]
        assert [r.status_code for r in allowed] == [200, 200, 200]
        assert [r.json()["n"] for r in allowed] == [1, 2, 3]
        # Each allowed response carries the numbers; reset = (burst - tokens) / rate.
        assert [ratelimit_headers(r) for r in allowed] == [
            ("3", "2", "2"),
            ("3", "1", "4"),
            ("3", "0", "6"),
        ]
        assert all("retry-after" not in r.headers for r in allowed)

        refused = client.get("/r")
        assert refused.status_code == 429
        assert refused.json() == {"error": "rate limit exceeded"}
        assert refused.headers["retry-after"] == "2"  # one token at 0.5/s
        assert ratelimit_headers(refused) == ("3", "0", "6")
        assert refused.headers["x-request-id"]  # the engine's middleware still ran
        assert counter.value == 3  # the handler did not run
        assert limit.rejected == 1

        clock.advance(1.9)  # not quite a token: still refused, retry rounded up to 1 s
        again = client.get("/r")
        assert again.status_code == 429
        assert again.headers["retry-after"] == "1"
        clock.advance(0.1)
        r = client.get("/r")
        assert r.status_code == 200
        assert r.json()["n"] == 4
        assert limit.rejected == 2
    assert "127.0.0.1" in per_ip


def test_headers_off_leaves_allowed_responses_alone_but_not_429s():
    clock = Clock()
    app = Engine()
    app.get("/r", RateLimit(TokenBucket(1, 1, clock=clock), headers=False), lambda c: "ok")
    with serve(app) as (_, client):
        r = client.get("/r")
        assert r.status_code == 200
        assert not any(k.startswith("ratelimit-") for k in r.headers)
        r = client.get("/r")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.headers["ratelimit-limit"] == "1"


def test_one_bucket_for_a_route_is_shared_by_every_client():
    clock = Clock()
    app = Engine()
    app.get("/search", RateLimit(TokenBucket(1, 2, clock=clock)), lambda c: "found")
    app.get("/free", lambda c: "free")
    with serve(app) as (_, client):
        assert client.get("/search").status_code == 200
        assert client.get("/search", headers={"X-API-Key": "other"}).status_code == 200
        assert client.get("/search").status_code == 429
        assert client.get("/free").status_code == 200  # other routes are not limited


# -- keys --------------------------------------------------------------------------------


def test_header_key_separates_clients_and_falls_back_to_the_address():
    clock = Clock()
    limiter = KeyedLimiter(lambda: TokenBucket(rate=1, burst=2, clock=clock))
    app = Engine()
    app.get("/api", RateLimit(limiter, key="header:X-API-Key"), lambda c: "ok")

    def status(key: str | None) -> int:
        headers = {"X-API-Key": key} if key is not None else {}
        return client.get("/api", headers=headers).status_code

    with serve(app) as (_, client):
        assert [status("alice") for _ in range(3)] == [200, 200, 429]
        assert [status("bob") for _ in range(3)] == [200, 200, 429]
        assert status("alice") == 429
        # Without the header: the client's address, a bucket of its own.
        assert [status(None) for _ in range(3)] == [200, 200, 429]
        assert status("") == 429  # an empty header is no key either
        # A key that reads like the address is still a key, not the address's bucket.
        assert [status("127.0.0.1") for _ in range(3)] == [200, 200, 429]
        clock.advance(1)
        assert status("alice") == 200
        assert status(None) == 200
    assert "127.0.0.1" in limiter
    assert len(limiter) == 4


def test_callable_key():
    clock = Clock()
    limiter = KeyedLimiter(lambda: TokenBucket(rate=1, burst=1, clock=clock))
    app = Engine()
    app.get("/u", RateLimit(limiter, key=lambda c: c.query("user") or "anon"), lambda c: "ok")
    with serve(app) as (_, client):
        assert client.get("/u?user=a").status_code == 200
        assert client.get("/u?user=a").status_code == 429
        assert client.get("/u?user=b").status_code == 200
        assert client.get("/u").status_code == 200
        assert client.get("/u?user=").status_code == 429  # "anon" again
    assert "a" in limiter and "b" in limiter and "anon" in limiter
    assert len(limiter) == 3


def test_cost_function_and_fixed_cost():
    clock = Clock()
    app = Engine()
    app.get(
        "/batch",
        RateLimit(TokenBucket(1, 5, clock=clock), cost=lambda c: c.query("n", 1, int)),
        lambda c: "done",
    )
    app.get("/two", RateLimit(TokenBucket(1, 5, clock=clock), cost=2), lambda c: "two")
    with serve(app) as (_, client):
        r = client.get("/batch?n=3")
        assert r.status_code == 200
        assert r.headers["ratelimit-remaining"] == "2"
        r = client.get("/batch?n=3")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"  # one token short at 1/s
        r = client.get("/batch?n=2")
        assert r.status_code == 200
        assert r.headers["ratelimit-remaining"] == "0"

        assert [client.get("/two").status_code for _ in range(3)] == [200, 200, 429]


def test_bad_arguments():
    bucket = TokenBucket(1, 1)
    with pytest.raises(TypeError, match="TokenBucket, LeakyBucket or KeyedLimiter"):
        RateLimit(object())
    for cost in (0, -1, True, "1", 1.5):
        with pytest.raises(ValueError, match="cost"):
            RateLimit(bucket, cost=cost)  # type: ignore[arg-type]
    keyed = KeyedLimiter(lambda: TokenBucket(1, 1))
    for key in ("cookie:x", "header:", "", "IP"):
        with pytest.raises(ValueError, match="key must be"):
            RateLimit(keyed, key=key)


# -- the leaky bucket ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_leaky_bucket_delays_then_refuses(kind):
    """A frozen clock: three requests fit in the bucket and are told to wait 0, 1 and
    2 spacings of 1/rate; the fourth is refused. Each waited at least its delay."""
    clock = Clock()
    rate = 20.0
    leaky = LeakyBucket(rate=rate, capacity=3, clock=clock)

    if kind == "plain":

        def stamp(c: Context) -> None:
            c.set("t0", time.monotonic())
            c.next()

        def waited(c: Context) -> dict[str, float]:
            return {"waited": time.monotonic() - c.get("t0")}

    else:

        async def stamp(c: Context) -> None:  # type: ignore[misc]
            c.set("t0", time.monotonic())
            await c.next()

        async def waited(c: Context) -> dict[str, float]:  # type: ignore[misc]
            return {"waited": time.monotonic() - c.get("t0")}

    app = Engine()
    app.get("/q", stamp, RateLimit(leaky), waited)
    with serve(app) as (_, client):
        answers = [client.get("/q") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    for i, r in enumerate(answers[:3]):
        assert r.json()["waited"] >= i / rate - 1e-6
        assert r.headers["ratelimit-limit"] == "3"
        assert r.headers["ratelimit-remaining"] == str(2 - i)
    assert answers[3].headers["retry-after"] == "1"
    assert answers[3].json() == {"error": "rate limit exceeded"}


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_concurrent_clients_get_exactly_burst_successes(kind):
    n, burst = 48, 10
    clock = Clock()
    limit = RateLimit(TokenBucket(rate=1, burst=burst, clock=clock))
    counter = Counter()
    app = Engine()
    app.get("/hot", limit, handler(kind, counter))
    barrier = threading.Barrier(n)

    with serve(app, procs=4) as (server, _):

        def one(_: int) -> tuple[int, dict[str, Any], str | None]:
            sock = connect(server, timeout=WAIT)
            try:
                reader = Reader(sock)
                barrier.wait(WAIT)
                sock.sendall(get("/hot"))
                r = reader.read()
                return r.status, json.loads(r.body), r.header("retry-after")
            finally:
                sock.close()

        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, range(n)))

    statuses = [s for s, _, _ in results]
    assert len(results) == n  # every request answered
    assert statuses.count(200) == burst
    assert statuses.count(429) == n - burst
    assert sorted(b["n"] for s, b, _ in results if s == 200) == list(range(1, burst + 1))
    assert all(
        b == {"error": "rate limit exceeded"} and ra == "1" for s, b, ra in results if s == 429
    )
    assert counter.value == burst
    assert limit.rejected == n - burst
