"""Tracing's OpenTelemetry export, checked with the SDK's in-memory exporter over real
HTTP: one server span per request named by the route pattern, the stable HTTP
attributes, a remote parent continued, child spans across Gs, the status from the
response (500, an exception, 504 from Timeout, 503 from an open breaker; 4xx unset),
log lines that share the exported ids, sampling honoured, the batch processor, and the
standard environment variables, down to an OTLP/HTTP export to a collector on
loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

pytest.importorskip(
    "opentelemetry.sdk", reason="needs the otel extra: pip install 'gmp-runtime[otel]'"
)

from engine_helpers import captured, entries, serving
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import gmp
from gmp.http import Breaker, Context, Engine, HTTPError, Recovery, RequestID, Timeout, Tracing
from gmp.observe import otel
from gmp.observe.log import get_logger
from gmp.observe.trace import start_span, traced
from gmp.resilience import CircuitBreaker

pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"
PARENT = f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"
WAIT = 10.0

_log = get_logger("tests.otel")
exporter = InMemorySpanExporter()
dependency = CircuitBreaker(
    "dependency", failure_ratio=None, consecutive_failures=1, cooldown=600.0
)


@traced(name="fetch part")
async def fetch_part(i: int) -> int:
    with start_span("inner"):
        _log.info("in part", part=i)
    return i


@traced
def blocking_part() -> None:
    _log.info("in blocking part")


def _build() -> Engine:
    app = Engine()
    app.use(Tracing(exporter=exporter, batch=False), RequestID())

    @app.get("/users/:id")
    def user(c: Context) -> dict[str, Any]:
        _log.info("in handler", user=c.param("id"))
        return {"id": c.param("id")}

    @app.get("/fanout")
    async def fanout(c: Context) -> dict[str, Any]:
        handles = [gmp.go(fetch_part, i) for i in range(3)]
        handles.append(gmp.go(blocking_part))
        return {"parts": [await h.join() for h in handles]}

    @app.get("/raises")
    def raises(c: Context) -> None:
        raise ValueError("broken")

    @app.get("/bad")
    def bad(c: Context) -> None:
        raise HTTPError(400, "no")

    recovered = app.group("/recovered", Recovery())

    @recovered.get("/boom")
    def boom(c: Context) -> None:
        raise RuntimeError("boom")

    slow = app.group("/slow", Timeout(0.05))

    @slow.get("/sleep")
    async def sleep(c: Context) -> None:
        await gmp.sleep(30)

    guarded = app.group("/guarded", Breaker(dependency))

    @guarded.get("/fail")
    def fail(c: Context) -> None:
        c.string(502, "bad gateway")

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(_build()) as c:
        yield c


@pytest.fixture(autouse=True)
def _clear() -> None:
    exporter.clear()


def wait_spans(match: Callable[[ReadableSpan], bool], n: int = 1) -> list[ReadableSpan]:
    """The exported spans ``match`` selects, once there are ``n`` of them (a span ends
    after its response is sent, so it is polled for, with a deadline)."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [s for s in exporter.get_finished_spans() if match(s)]
        if len(found) >= n:
            return found
        assert time.monotonic() < deadline, f"only {len(found)} of {n} spans exported"
        time.sleep(0.002)


def named(name: str) -> Callable[[ReadableSpan], bool]:
    return lambda s: s.name == name


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def test_one_server_span_per_request_with_http_attributes(client: httpx.Client) -> None:
    r = client.get("/users/7?verbose=1", headers={"traceparent": PARENT, "user-agent": "t/1"})
    assert r.status_code == 200
    [span] = wait_spans(named("GET /users/:id"))
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    port = client.base_url.port
    assert attrs == {
        "http.request.method": "GET",
        "url.path": "/users/7",
        "url.query": "verbose=1",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "http.route": "/users/:id",
        "client.address": "127.0.0.1",
        "server.address": "127.0.0.1",
        "server.port": port,
        "user_agent.original": "t/1",
        "http.response.status_code": 200,
    }
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "gmp"
    assert span.start_time is not None and span.end_time is not None
    assert span.end_time >= span.start_time


def test_remote_parent_is_continued_and_ids_match_the_response(client: httpx.Client) -> None:
    r = client.get("/users/1", headers={"traceparent": PARENT, "tracestate": "vendor=1"})
    [span] = wait_spans(named("GET /users/:id"))
    trace_id, span_id = hex_ids(span)
    assert trace_id == PARENT_TRACE
    assert span.parent is not None and span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT_SPAN
    assert r.headers["traceresponse"] == f"00-{trace_id}-{span_id}-01"
    assert r.headers["x-trace-id"] == trace_id
    ctx = span.get_span_context()
    assert ctx is not None and ctx.trace_state.get("vendor") == "1"


def test_without_a_parent_each_request_is_a_new_root(client: httpx.Client) -> None:
    client.get("/users/1")
    client.get("/users/2")
    a, b = wait_spans(named("GET /users/:id"), 2)
    assert a.parent is None and b.parent is None
    assert hex_ids(a)[0] != hex_ids(b)[0]


def test_log_lines_carry_the_exported_span_ids(client: httpx.Client) -> None:
    with captured() as logs:
        client.get("/users/9", headers={"traceparent": PARENT})
        [span] = wait_spans(named("GET /users/:id"))
    trace_id, span_id = hex_ids(span)
    [line] = entries(logs, "in handler", user="9")
    assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)


def test_each_traced_g_is_a_child_span_of_the_request(client: httpx.Client) -> None:
    with captured() as logs:
        r = client.get("/fanout", headers={"traceparent": PARENT})
        assert r.json() == {"parts": [0, 1, 2, None]}
        [server] = wait_spans(named("GET /fanout"))
    parts = wait_spans(named("fetch part"), 3)
    inner = wait_spans(named("inner"), 3)
    [blocking] = wait_spans(named("blocking_part"))
    trace_id, server_span = hex_ids(server)
    part_ids = set()
    for part in [*parts, blocking]:
        assert part.kind is SpanKind.INTERNAL
        assert hex_ids(part)[0] == trace_id
        assert part.parent is not None and not part.parent.is_remote
        assert f"{part.parent.span_id:016x}" == server_span
        part_ids.add(part.get_span_context().span_id)  # type: ignore[union-attr]
    for span in inner:
        assert span.parent is not None and span.parent.span_id in part_ids
    # each G's log lines name its own span, in the request's trace
    for line in entries(logs, "in part"):
        assert line["trace_id"] == trace_id
        assert int(line["span_id"], 16) in {s.get_span_context().span_id for s in inner}  # type: ignore[union-attr]
    [line] = entries(logs, "in blocking part")
    assert line["span_id"] == hex_ids(blocking)[1]


def test_a_recovered_500_is_an_error(client: httpx.Client) -> None:
    assert client.get("/recovered/boom").status_code == 500
    [span] = wait_spans(named("GET /recovered/boom"))
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "500"


def test_an_exception_through_tracing_is_an_error_with_its_class(client: httpx.Client) -> None:
    assert client.get("/raises").status_code == 500
    [span] = wait_spans(named("GET /raises"))
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: broken"
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["http.response.status_code"] == 500
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["exception.type"] == "ValueError"


def test_a_timeout_504_is_an_error(client: httpx.Client) -> None:
    assert client.get("/slow/sleep").status_code == 504
    [span] = wait_spans(named("GET /slow/sleep"))
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 504
    assert span.attributes["error.type"] == "504"
    assert span.status.description == "504 Gateway Timeout"


def test_an_open_breaker_503_is_an_error(client: httpx.Client) -> None:
    assert client.get("/guarded/fail").status_code == 502  # trips the breaker
    assert client.get("/guarded/fail").status_code == 503  # refused while open
    spans = wait_spans(named("GET /guarded/fail"), 2)
    codes = sorted(s.attributes["http.response.status_code"] for s in spans)  # type: ignore[index]
    assert codes == [502, 503]
    assert all(s.status.status_code is StatusCode.ERROR for s in spans)


def test_client_errors_and_misses_leave_the_status_unset(client: httpx.Client) -> None:
    assert client.get("/bad").status_code == 400
    assert client.get("/no/such/path").status_code == 404
    [bad] = wait_spans(named("GET /bad"))
    [miss] = wait_spans(named("GET"))
    assert bad.status.status_code is StatusCode.UNSET
    assert miss.status.status_code is StatusCode.UNSET
    assert miss.attributes is not None
    assert "http.route" not in miss.attributes  # one span name for every miss
    assert miss.attributes["url.path"] == "/no/such/path"


def test_an_unsampled_parent_is_not_exported_but_keeps_its_trace(client: httpx.Client) -> None:
    unsampled = f"00-{PARENT_TRACE}-{PARENT_SPAN}-00"
    r = client.get("/users/5", headers={"traceparent": unsampled})
    client.get("/users/6")  # sampled: once it is exported, the unsampled one would be too
    [span] = wait_spans(named("GET /users/:id"))
    assert span.attributes is not None and span.attributes["url.path"] == "/users/6"
    assert r.headers["traceresponse"].startswith(f"00-{PARENT_TRACE}-")
    assert r.headers["traceresponse"].endswith("-00")


# -- processors, providers, environment ------------------------------------------------


def _one_request(tracing: Tracing) -> httpx.Response:
    app = Engine()
    app.use(tracing)
    app.get("/ping", lambda c: c.string(200, "pong"))
    with serving(app) as c:
        return c.get("/ping")


def test_the_default_batch_processor_exports_on_flush() -> None:
    mem = InMemorySpanExporter()
    tracing = Tracing(exporter=mem)
    assert _one_request(tracing).status_code == 200
    assert tracing.force_flush(WAIT)
    [span] = mem.get_finished_spans()
    assert span.name == "GET /ping"
    tracing.shutdown()


def test_an_application_tracer_provider_is_used() -> None:
    mem = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(mem))
    _one_request(Tracing(tracer_provider=provider))
    [span] = mem.get_finished_spans()
    assert span.name == "GET /ping"


def test_environment_uses_an_sdk_provider_the_application_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mem = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(mem))
    monkeypatch.setattr(otel.otel_trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    _one_request(Tracing())
    [span] = mem.get_finished_spans()
    assert span.name == "GET /ping"


@pytest.mark.parametrize(
    "env",
    [{}, {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}],
)
def test_no_export_unless_asked(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert Tracing().backend is None
    assert Tracing(otel=False).backend is None


def test_traces_exporter_none_turns_export_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel.otel_trace, "get_tracer_provider", lambda: object())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert Tracing().backend is None


def test_contradictory_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="otel=False"):
        Tracing(exporter=InMemorySpanExporter(), otel=False)
    with pytest.raises(ValueError, match="not both"):
        Tracing(exporter=InMemorySpanExporter(), tracer_provider=TracerProvider())


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps each POSTed body."""

    bodies: list[tuple[str, str, bytes]] = []
    got = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.got.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_otlp_http_export_reaches_a_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(
            "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.server_port}"
        )
        monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
        tracing = Tracing(exporter=OTLPSpanExporter())
        r = _one_request(tracing)
        assert tracing.force_flush(WAIT)
        assert _Collector.got.wait(WAIT)
    finally:
        tracing.shutdown()
        collector.shutdown()
        thread.join(WAIT)
    path, ctype, body = _Collector.bodies[0]
    assert (path, ctype) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "checkout"
    [scope_spans] = resource_spans.scope_spans
    [span] = scope_spans.spans
    assert span.name == "GET /ping"
    assert span.trace_id.hex() == r.headers["x-trace-id"]
