"""RateLimit's inline path (a fixed cost on a TokenBucket, alone or per client address)
against its general one (the same limiter behind a key function, or a bucket subclass):
the same requests on the same fake clock get the same statuses, headers and bodies."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp.http import Engine, Headers, Request
from gmp.http.middleware.ratelimit import _BY_ADDRESS, _GENERAL, _ONE_BUCKET, RateLimit
from gmp.resilience import KeyedLimiter, LeakyBucket, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SubBucket(TokenBucket):
    """Decides as TokenBucket does, but is not one by type: the general path."""


def app_with(mw: RateLimit, trusted: list[str] | None = None) -> Engine:
    app = Engine(trusted_proxies=trusted)
    app.get("/r", mw, lambda c: "ok")
    app.get("/readyz", mw, lambda c: "ready")
    app.freeze()
    return app


def answer(app: Engine, path: str, client: tuple[str, int] | None, xff: str | None) -> Any:
    headers = Headers([("x-forwarded-for", xff)] if xff else [])
    try:
        r = app(Request("GET", path, headers=headers, client=client))
    except ValueError as e:  # a cost larger than the bucket: both raise
        return type(e), str(e)
    return r.status, sorted(r.headers), r.body


requests = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.05, 0.5, 3.0]),  # clock step
        st.sampled_from(["/r", "/r", "/r", "/readyz"]),
        st.sampled_from([("10.0.0.1", 1), ("10.0.0.2", 2), ("192.168.0.9", 3), None]),
        st.sampled_from([None, "1.2.3.4", "5.6.7.8, 10.0.0.1", "junk"]),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    rate=st.sampled_from([0.5, 2.0, 1e9]),
    burst=st.integers(1, 4),
    cost=st.integers(1, 5),
    headers=st.booleans(),
    trusted=st.sampled_from([None, ["192.168.0.0/16"]]),
    reqs=requests,
)
def test_by_address_answers_as_the_general_path(rate, burst, cost, headers, trusted, reqs):
    clock = Clock()

    def buckets() -> KeyedLimiter[TokenBucket]:
        return KeyedLimiter(lambda: TokenBucket(rate, burst, clock=clock), max_keys=2)

    fast = RateLimit(buckets(), cost=cost, headers=headers)
    general = RateLimit(buckets(), key=lambda c: c.client_ip, cost=cost, headers=headers)
    assert (fast._fast, general._fast) == (_BY_ADDRESS, _GENERAL)
    a, b = app_with(fast, trusted), app_with(general, trusted)
    for step, path, client, xff in reqs:
        clock.now += step
        assert answer(a, path, client, xff) == answer(b, path, client, xff)
    assert fast.rejected == general.rejected
    assert list(fast.limiter._buckets) == list(general.limiter._buckets)  # same LRU order


@settings(max_examples=100, deadline=None)
@given(
    rate=st.sampled_from([0.5, 2.0, 1e9]),
    burst=st.integers(1, 4),
    cost=st.integers(1, 5),
    headers=st.booleans(),
    steps=st.lists(st.sampled_from([0.0, 0.0, 0.3, 2.0]), max_size=30),
)
def test_one_bucket_answers_as_the_general_path(rate, burst, cost, headers, steps):
    clock = Clock()
    fast = RateLimit(TokenBucket(rate, burst, clock=clock), cost=cost, headers=headers)
    general = RateLimit(SubBucket(rate, burst, clock=clock), cost=cost, headers=headers)
    assert (fast._fast, general._fast) == (_ONE_BUCKET, _GENERAL)
    a, b = app_with(fast), app_with(general)
    for step in steps:
        clock.now += step
        assert answer(a, "/r", ("10.0.0.1", 1), None) == answer(b, "/r", ("10.0.0.1", 1), None)
    assert fast.rejected == general.rejected


def test_keyed_leaky_buckets_by_address_take_the_general_decision():
    clock = Clock()
    mw = RateLimit(KeyedLimiter(lambda: LeakyBucket(1.0, 1, clock=clock)))
    assert mw._fast == _BY_ADDRESS  # a bucket that is not a TokenBucket: try_acquire
    app = app_with(mw)
    first = answer(app, "/r", ("10.0.0.1", 1), None)
    assert first[0] == 200 and ("RateLimit-Remaining", "0") in first[1]
    assert answer(app, "/r", ("10.0.0.1", 1), None)[0] == 429
    assert answer(app, "/r", ("10.0.0.2", 1), None)[0] == 200
    assert mw.rejected == 1


def test_a_cost_function_or_a_limiter_subclass_takes_the_general_path():
    assert RateLimit(TokenBucket(1, 1), cost=lambda c: 1)._fast == _GENERAL
    keyed = KeyedLimiter(lambda: TokenBucket(1, 1))
    assert RateLimit(keyed, key="header:X-Key")._fast == _GENERAL

    class Sub(KeyedLimiter[TokenBucket]):
        pass

    assert RateLimit(Sub(lambda: TokenBucket(1, 1)))._fast == _GENERAL
