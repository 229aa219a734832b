"""Middleware chains through real HTTP, with Gin's semantics, in plain, async and mixed
chains: next/abort order, HTTP errors, the plain-next-before-async error, blocking."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from engine_helpers import captured, serving

from gmp.http import (
    Conflict,
    Context,
    Engine,
    Forbidden,
    HTTPError,
    Middleware,
    Recovery,
    TooManyRequests,
    Unauthorized,
)

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

WAIT = 10.0


def trail(c: Context) -> list[str]:
    t = c.get("trail")
    if t is None:
        t = []
        c.set("trail", t)
    assert isinstance(t, list)
    return t


class Report(Middleware):
    """Outermost: sends the trail back in a header once the chain is done."""

    def after(self, c: Context, exc: BaseException | None) -> None:
        c.header("x-trail", ",".join(trail(c)))


class Around(Middleware):
    """A dual middleware recording before/after (and the status, and any exception)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def before(self, c: Context) -> None:
        trail(c).append(f"{self.name}:before")

    def after(self, c: Context, exc: BaseException | None) -> None:
        extra = f":exc={type(exc).__name__}" if exc is not None else ""
        trail(c).append(f"{self.name}:after:{c.status_code}{extra}")


# Element factories per kind: "plain" (def), "async" (async def), "dual" (Middleware).


def around(name: str, kind: str) -> Any:
    if kind == "dual":
        return Around(name)
    if kind == "async":

        async def amw(c: Context) -> None:
            trail(c).append(f"{name}:before")
            await c.next()
            trail(c).append(f"{name}:after:{c.status_code}")

        return amw

    def mw(c: Context) -> None:
        trail(c).append(f"{name}:before")
        c.next()
        trail(c).append(f"{name}:after:{c.status_code}")

    return mw


def simple(name: str, kind: str, body: Callable[[Context], Any] | None = None) -> Any:
    """An element that does not call next: records its name, then runs ``body``."""
    if kind == "async":

        async def aelem(c: Context) -> Any:
            trail(c).append(name)
            return body(c) if body else None

        return aelem

    def elem(c: Context) -> Any:
        trail(c).append(name)
        return body(c) if body else None

    return elem


def twice(name: str, kind: str) -> Any:
    if kind == "async":

        async def atwice(c: Context) -> None:
            await c.next()
            await c.next()
            trail(c).append(f"{name}:after")

        return atwice
    if kind == "dual":

        class Twice(Middleware):
            def __call__(self, c: Context) -> None:
                c.next()
                c.next()
                trail(c).append(f"{name}:after")

            async def call_async(self, c: Context) -> None:
                await c.next()
                await c.next()
                trail(c).append(f"{name}:after")

        return Twice()

    def ptwice(c: Context) -> None:
        c.next()
        c.next()
        trail(c).append(f"{name}:after")

    return ptwice


def _abort(c: Context) -> None:
    c.abort()
    trail(c).append("x:still-running")


def _abort_json(c: Context) -> None:
    c.abort_with_status_json(403, {"denied": True})


def _abort_status(c: Context) -> None:
    c.abort_with_status(401)


def _abort_error(c: Context) -> None:
    c.abort_with_error(Forbidden("not yours", headers={"X-Why": "owner"}))
    trail(c).append("x:after-abort")


def _raise_conflict(c: Context) -> None:
    raise Conflict("name taken")


def _raise_retry(c: Context) -> None:
    raise TooManyRequests("slow down", headers={"Retry-After": "7"})


def _raise_unauthorized(c: Context) -> None:
    raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})


def _handler_body(c: Context) -> str:
    return "handled"


# The kinds of (outer middleware, element not calling next, handler) per chain mode.
MODES = {
    "plain": ("plain", "plain", "plain"),
    "async": ("async", "async", "async"),
    "async_mw_plain_handler": ("async", "plain", "plain"),
    "plain_passive_async_handler": ("dual", "plain", "async"),
    "dual_plain": ("dual", "plain", "plain"),
    "dual_async": ("dual", "async", "async"),
}

# name -> (elements given (mw kind, simple kind, handler kind), status, body, trail)
CASES: dict[str, tuple[Callable[[str, str, str], list[Any]], int, bytes, list[str]]] = {
    "order": (
        lambda m, s, h: [around("a", m), around("b", m), simple("handler", h, _handler_body)],
        200,
        b"handled",
        ["a:before", "b:before", "handler", "b:after:200", "a:after:200"],
    ),
    "no_next": (
        lambda m, s, h: [
            around("a", m),
            simple("p", s),
            around("b", m),
            simple("handler", h, _handler_body),
        ],
        200,
        b"handled",
        ["a:before", "p", "b:before", "handler", "b:after:200", "a:after:200"],
    ),
    "abort": (
        lambda m, s, h: [
            around("a", m),
            simple("x", s, _abort),
            around("b", m),
            simple("handler", h, _handler_body),
        ],
        200,
        b"",
        ["a:before", "x", "x:still-running", "a:after:200"],
    ),
    "abort_json": (
        lambda m, s, h: [
            around("a", m),
            simple("x", s, _abort_json),
            simple("handler", h, _handler_body),
        ],
        403,
        b'{"denied":true}',
        ["a:before", "x", "a:after:403"],
    ),
    "abort_status": (
        lambda m, s, h: [
            around("a", m),
            simple("x", s, _abort_status),
            simple("handler", h, _handler_body),
        ],
        401,
        b"",
        ["a:before", "x", "a:after:401"],
    ),
    "abort_with_error": (
        lambda m, s, h: [
            around("a", m),
            simple("x", s, _abort_error),
            simple("handler", h, _handler_body),
        ],
        403,
        b'{"error":"not yours"}',
        ["a:before", "x", "x:after-abort", "a:after:403"],
    ),
    "next_twice": (
        lambda m, s, h: [twice("t", m), simple("handler", h, _handler_body)],
        200,
        b"handled",
        ["handler", "t:after"],
    ),
    "http_error_in_handler": (
        lambda m, s, h: [around("a", m), simple("handler", h, _raise_conflict)],
        409,
        b'{"error":"name taken"}',
        ["a:before", "handler", "a:after:409"],
    ),
    "http_error_in_middleware": (
        lambda m, s, h: [
            around("a", m),
            simple("guard", s, _raise_unauthorized),
            simple("handler", h, _handler_body),
        ],
        401,
        b'{"error":"Unauthorized"}',
        ["a:before", "guard", "a:after:401"],
    ),
    "http_error_headers": (
        lambda m, s, h: [around("a", m), simple("handler", h, _raise_retry)],
        429,
        b'{"error":"slow down"}',
        ["a:before", "handler", "a:after:429"],
    ),
}


class Block:
    """The blocking handler's handshake with its test (events only, no sleeps)."""

    entered = threading.Event()
    release = threading.Event()
    released_in_time: list[bool] = []


def build_app() -> Engine:
    app = Engine()
    app.use(Report(), Recovery())
    for mode, (m, s, h) in MODES.items():
        for case, (make, _, _, _) in CASES.items():
            app.get(f"/{mode}/{case}", *make(m, s, h))

    # a plain middleware calling next() before an async handler: the rest runs in a G
    def plain_next(c: Context) -> None:
        c.set("trail", [*c.get("trail", []), "plain:before"])
        c.next()
        c.set("trail", [*c.get("trail", []), "plain:after"])
        c.header("x-trail", ",".join(c.get("trail")))

    async def async_handler(c: Context) -> str:
        c.set("trail", [*c.get("trail", []), "async"])
        return "ran"

    app.get("/bad_mixed", plain_next, async_handler)

    # an exception (not an HTTPError) through a dual middleware's after()
    def boom(c: Context) -> None:
        raise ValueError("boom")

    async def aboom(c: Context) -> None:
        raise ValueError("boom")

    app.get("/dual_exc/plain", Around("d"), boom)
    app.get("/dual_exc/async", Around("d"), aboom)

    # a plain handler at the end of an async chain that blocks its thread
    async def passthrough(c: Context) -> None:
        await c.next()

    def blocking(c: Context) -> str:
        Block.entered.set()
        Block.released_in_time.append(Block.release.wait(WAIT))
        return "unblocked"

    app.get("/block", passthrough, blocking)
    app.get("/ping", passthrough, lambda c: "pong")
    return app


APP = build_app()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(APP, procs=1) as c:
        yield c


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", list(MODES))
def test_chain_semantics(client, mode, case):
    _, status, body, expected = CASES[case]
    r = client.get(f"/{mode}/{case}")
    assert r.status_code == status, r.text
    assert r.content == body
    assert r.headers["x-trail"].split(",") == expected
    if case == "http_error_headers":
        assert r.headers["retry-after"] == "7"
    if case == "abort_with_error":
        assert r.headers["x-why"] == "owner"
    if case == "http_error_in_middleware":
        assert r.headers["www-authenticate"] == "Bearer"
    if status >= 400 and body:
        assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_middleware_after_sees_the_exception_and_recovery_answers(client, kind):
    with captured():
        r = client.get(f"/dual_exc/{kind}")
    assert r.status_code == 500
    # Recovery is outside Around: Around saw the exception with the status not yet set
    assert r.headers["x-trail"].split(",") == ["d:before", "d:after:200:exc=ValueError"]


def test_plain_middleware_calling_next_before_an_async_handler_runs_the_rest(client):
    r = client.get("/bad_mixed")
    assert r.status_code == 200
    assert r.headers["x-trail"].split(",") == ["plain:before", "async", "plain:after"]


def test_a_blocking_plain_handler_in_an_async_chain_does_not_stop_other_requests(client):
    Block.entered.clear()
    Block.release.clear()
    Block.released_in_time.clear()
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(client.get, "/block")
        try:
            assert Block.entered.wait(WAIT), "the blocking handler never ran"
            # procs=1: this answer needs the P the blocked handler's thread gave up
            with httpx.Client(base_url=client.base_url, timeout=WAIT) as other:
                assert other.get("/ping").text == "pong"
            assert not blocked.done()
        finally:
            Block.release.set()
        assert blocked.result(WAIT).text == "unblocked"
    assert Block.released_in_time == [True]


def test_http_error_rejects_bad_statuses():
    for bad in (200, 399, 600, True, "x"):
        with pytest.raises(ValueError, match="400 to 599"):
            HTTPError(bad, "detail")  # type: ignore[arg-type]
    e = HTTPError(418)
    assert e.body() == {"error": "I'm a Teapot"} and str(e) == "418 I'm a Teapot"
    assert Conflict().status == 409 and Conflict("x").detail == "x"
    extra = HTTPError(422, "bad", extra={"fields": ["$.a"]}, headers=[("X-A", "1")])
    assert extra.body() == {"error": "bad", "fields": ["$.a"]}
    assert extra.headers == [("X-A", "1")]
