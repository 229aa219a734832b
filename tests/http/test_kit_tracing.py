"""Tracing middleware over real HTTP: W3C traceparent continued or started, the trace's
ids in the handler's log lines and in those of the Gs it starts, returned in the
response, and the ended span handed to listeners."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import captured, entries, serving

import gmp
from gmp.http import Context, Engine, RequestID, Tracing
from gmp.observe.log import get_logger
from gmp.observe.trace import Span, on_span_end, parse_traceparent

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
_log = get_logger("tests.tracing")


def _build() -> Engine:
    app = Engine()
    app.use(Tracing(), RequestID())

    @app.get("/users/:id")
    def user(c: Context) -> dict[str, Any]:
        _log.info("in handler", user=c.param("id"))
        return {"trace": c.get("trace").trace_id}

    @app.get("/spawn")
    async def spawn(c: Context) -> dict[str, Any]:
        async def child() -> None:
            _log.info("in child G")

        await gmp.go(child).join()
        return {}

    @app.get("/fail")
    def fail(c: Context) -> None:
        raise ValueError("broken")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(_build()) as c:
        yield c


def test_incoming_traceparent_is_continued(client: httpx.Client) -> None:
    r = client.get("/users/7", headers={"traceparent": PARENT, "tracestate": "vendor=1"})
    assert r.status_code == 200
    resp = parse_traceparent(r.headers["traceresponse"])
    assert resp is not None
    assert resp.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert resp.span_id != "00f067aa0ba902b7"  # our own span, a child of the caller's
    assert resp.sampled
    assert r.headers["x-trace-id"] == resp.trace_id
    assert r.json() == {"trace": resp.trace_id}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
    ],
)
def test_missing_or_invalid_traceparent_starts_a_new_trace(
    client: httpx.Client, header: str | None
) -> None:
    headers = {"traceparent": header} if header is not None else {}
    a = client.get("/users/1", headers=headers)
    b = client.get("/users/1", headers=headers)
    ta, tb = (
        parse_traceparent(a.headers["traceresponse"]),
        parse_traceparent(b.headers["traceresponse"]),
    )
    assert ta is not None and tb is not None
    assert ta.trace_id != tb.trace_id  # a fresh trace per request
    assert ta.trace_id.lower() != "4bf92f3577b34da6a3ce929d0e0e4736"


def test_log_lines_of_the_request_and_its_gs_carry_the_trace(client: httpx.Client) -> None:
    with captured() as logs:
        r = client.get("/users/9", headers={"traceparent": PARENT})
        s = client.get("/spawn", headers={"traceparent": PARENT})
    span = parse_traceparent(r.headers["traceresponse"])
    spawn_span = parse_traceparent(s.headers["traceresponse"])
    assert span is not None and spawn_span is not None
    [line] = entries(logs, "in handler", user="9")
    assert line["trace_id"] == span.trace_id
    assert line["span_id"] == span.span_id
    assert line["request_id"] == r.headers["x-request-id"]
    [child] = entries(logs, "in child G")
    assert child["trace_id"] == spawn_span.trace_id
    assert child["span_id"] == spawn_span.span_id


def test_finished_span_reaches_listeners_with_route_and_status(client: httpx.Client) -> None:
    spans: list[Span] = []
    done = threading.Event()

    def listen(span: Span) -> None:
        if span.name.endswith("/users/:id") or span.name.endswith("/fail"):
            spans.append(span)
            if len(spans) == 2:
                done.set()

    unsubscribe = on_span_end(listen)
    try:
        client.get("/users/3")
        assert client.get("/fail").status_code == 500
        assert done.wait(10)
    finally:
        unsubscribe()
    ok, bad = spans
    assert ok.name == "GET /users/:id"
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["http.route"] == "/users/:id"
    assert ok.end is not None and ok.end >= ok.start
    assert bad.name == "GET /fail"
    assert isinstance(bad.error, ValueError)


def test_tracestate_is_carried_into_the_span(client: httpx.Client) -> None:
    seen: list[str] = []
    done = threading.Event()

    def listen(span: Span) -> None:
        seen.append(span.context.tracestate)
        done.set()

    unsubscribe = on_span_end(listen)
    try:
        client.get("/users/4", headers={"traceparent": PARENT, "tracestate": "a=1,b=2"})
        assert done.wait(10)
    finally:
        unsubscribe()
    assert seen[0] == "a=1,b=2"
