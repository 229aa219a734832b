"""The server span's attributes and status without OpenTelemetry (what on_span_end
listeners receive): the Host field split into address and port (IPv6 too), methods
outside the registered set, several tracestate fields, and the status rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from engine_helpers import serving

from gmp.http import Context, Engine, Tracing
from gmp.http.middleware.tracing import _split_host
from gmp.observe.trace import ERROR, SERVER, UNSET, Span, on_span_end

pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8080", ("example.com", 8080)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", None)),
        ("::1", ("::1", None)),  # a bare IPv6 address is not host:port
        ("example.com:http", ("example.com:http", None)),
    ],
)
def test_host_field_is_split_into_address_and_port(
    host: str, expected: tuple[str, int | None]
) -> None:
    assert _split_host(host) == expected


def _build() -> Engine:
    app = Engine()
    app.use(Tracing(otel=False))

    @app.route("/dav/:name", ["PROPFIND", "GET"])
    def dav(c: Context) -> str:
        return "ok"

    @app.get("/teapot")
    def teapot(c: Context) -> None:
        c.string(418, "short and stout")

    @app.get("/unavailable")
    def unavailable(c: Context) -> None:
        c.string(503, "later")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(_build()) as c:
        yield c


def one_span(client: httpx.Client, method: str, path: str, **kw: object) -> Span:
    spans: list[Span] = []
    done = threading.Event()

    def listen(span: Span) -> None:
        if span.attributes.get("url.path") == path:
            spans.append(span)
            done.set()

    unsubscribe = on_span_end(listen)
    try:
        client.request(method, path, **kw)  # type: ignore[arg-type]
        assert done.wait(10)
    finally:
        unsubscribe()
    [span] = spans
    return span


def test_a_method_outside_the_registered_set_is_other(client: httpx.Client) -> None:
    span = one_span(client, "PROPFIND", "/dav/x", headers={"host": "[::1]:8443"})
    assert span.name == "HTTP /dav/:name"
    assert span.kind == SERVER
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"
    assert span.attributes["server.address"] == "::1"
    assert span.attributes["server.port"] == 8443
    assert "url.query" not in span.attributes


def test_tracestate_fields_are_combined_and_the_parent_kept(client: httpx.Client) -> None:
    span = one_span(
        client,
        "GET",
        "/dav/y",
        headers=[("traceparent", PARENT), ("tracestate", "a=1"), ("tracestate", "b=2")],
    )
    assert span.context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.context.parent_id == "00f067aa0ba902b7"
    assert span.context.tracestate == "a=1,b=2"
    assert span.attributes["http.request.method"] == "GET"
    assert "http.request.method_original" not in span.attributes


@pytest.mark.parametrize(
    ("path", "status", "span_status", "error_type"),
    [
        ("/teapot", 418, UNSET, None),
        ("/unavailable", 503, ERROR, "503"),
        ("/dav/z", 200, UNSET, None),
    ],
)
def test_status_follows_the_response(
    client: httpx.Client, path: str, status: int, span_status: str, error_type: str | None
) -> None:
    span = one_span(client, "GET", path)
    assert span.attributes["http.response.status_code"] == status
    assert span.status == span_status
    assert span.attributes.get("error.type") == error_type
    if span_status == ERROR:
        assert span.status_message == "503 Service Unavailable"
