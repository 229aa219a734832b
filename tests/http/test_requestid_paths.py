"""RequestID's inlined steps: with or without keys and response headers set before it,
the id lands in ``c.get``, the response header (replacing an earlier one) and
structlog's contextvars, as Context.set/Context.header and bind_contextvars would."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
import structlog

from gmp.http import Context, Engine, Request, RequestID
from gmp.http.request import Headers
from gmp.observe import trace


@pytest.fixture(autouse=True)
def _unbind() -> Iterator[None]:
    yield
    structlog.contextvars.clear_contextvars()  # the Engine ran in the test's context


def _app(*before: object) -> tuple[Engine, list[tuple[object, object]]]:
    seen: list[tuple[object, object]] = []
    app = Engine()
    app.use(*before, RequestID())

    def handler(c: Context) -> None:
        seen.append(
            (c.get("request_id"), structlog.contextvars.get_contextvars().get("request_id"))
        )
        c.string(200, "ok")

    app.get("/", handler)
    return app, seen


def test_id_made_here_goes_everywhere() -> None:
    app, seen = _app()
    resp = app(Request("GET", "/"))
    ((rid, bound),) = seen
    assert re.fullmatch("[0-9a-f]{24}", rid) and bound == rid
    assert dict(resp.headers)["X-Request-ID"] == rid


def test_after_middleware_that_set_keys_and_headers() -> None:
    def earlier(c: Context) -> None:
        c.set("user", "u1")
        c.header("x-request-id", "stale")
        c.header("X-Other", "kept")
        c.next()

    app, seen = _app(earlier)
    resp = app(Request("GET", "/", headers=Headers({"X-Request-ID": "caller-1"})))
    assert seen == [("caller-1", "caller-1")]
    fields = [(k.lower(), v) for k, v in resp.headers]
    assert ("x-other", "kept") in fields
    assert [v for k, v in fields if k == "x-request-id"] == ["caller-1"]


def test_random_hex_is_randbytes_hex() -> None:
    """The same digits as the generator's randbytes(n).hex(), never all zero."""
    saved = trace._rng.rng
    try:
        trace._rng.rng = random.Random(7)
        mine = [trace.random_hex(n) for n in (8, 12, 16) * 50]
    finally:
        trace._rng.rng = saved
    ref = random.Random(7)
    assert mine == [ref.randbytes(n).hex() for n in (8, 12, 16) * 50]
