"""docs/observability.md's examples do what the page says: the stack serves /metrics
with the breaker's series and one access line per request carrying the request's trace,
both OpenTelemetry examples export over OTLP/HTTP to a collector (one on loopback here),
and ``@traced`` gives each G a child span of the span it was started in."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from doc_snippets import block_with, run_blocks
from engine_helpers import captured, entries, serve

from gmp.observe.trace import Span, on_span_end

pytestmark = pytest.mark.timeout(60)

DOC = "docs/observability.md"
WAIT = 10.0


def test_stack_serves_metrics_and_logs_each_request_with_its_trace():
    ns, _ = run_blocks(DOC, [block_with(DOC, "mount_metrics(app, breakers=[payments])")])
    app = ns["app"]
    app.get("/users/:id", lambda c: {"id": c.param("id")})
    with captured() as logs, serve(app) as (_, client):
        r = client.get("/users/42")
        metrics = client.get("/metrics")
    assert r.status_code == 200 and r.json() == {"id": "42"}
    assert metrics.status_code == 200
    series = metrics.text.splitlines()
    assert 'gmp_http_requests_total{method="GET",route="/users/:id",status="200"} 1.0' in series
    assert 'gmp_breaker_state{breaker="payments",state="closed"} 1.0' in series
    assert 'gmp_breaker_open{breaker="payments"} 0.0' in series
    # Tracing first: the access line names the trace the client was told about
    [line] = entries(logs, "request", path="/users/42")
    assert line["route"] == "/users/:id" and line["status"] == 200
    assert line["trace_id"] == r.headers["x-trace-id"]
    assert line["request_id"] == r.headers["x-request-id"]
    assert r.headers["traceresponse"] == f"00-{line['trace_id']}-{line['span_id']}-01"


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: puts each POSTed body on ``received``."""

    received: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Collector]]:
    """A collector on loopback, named by the standard variables the exporter reads."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    try:
        yield Collector
    finally:
        server.shutdown()
        thread.join(WAIT)


def exported(collector: type[Collector]) -> list[tuple[str, str, str]]:
    """The next export the collector received: (service, span name, trace id) each."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    path, body = collector.received.get(timeout=WAIT)
    assert path == "/v1/traces"
    out = []
    for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
        service = {a.key: a.value.string_value for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append((service.get("service.name", ""), span.name, span.trace_id.hex()))
    return out


def test_both_opentelemetry_examples_export_to_the_collector(collector):
    pytest.importorskip("opentelemetry.sdk", reason="the example needs the otel extra")
    ns, _ = run_blocks(DOC, [block_with(DOC, "OTLPSpanExporter()")])
    shop, billing, tracing, provider = (ns[k] for k in ("shop", "billing", "tracing", "provider"))
    shop.get("/cart", lambda c: {"items": 0})
    billing.get("/invoices/:id", lambda c: {"id": c.param("id")})
    try:
        with serve(shop) as (_, client):
            r = client.get("/cart")
        assert tracing.force_flush(WAIT)  # the page's way to export what is pending
        assert exported(collector) == [("checkout", "GET /cart", r.headers["x-trace-id"])]
        with serve(billing) as (_, client):
            r = client.get("/invoices/7")
        assert provider.force_flush(int(WAIT * 1000))
        # the application's provider: the SDK reads OTEL_SERVICE_NAME itself
        assert exported(collector) == [("checkout", "GET /invoices/:id", r.headers["x-trace-id"])]
    finally:
        tracing.shutdown()
        provider.shutdown()


@pytest.fixture
def ended() -> Iterator[list[Span]]:
    spans: list[Span] = []
    lock = threading.Lock()

    def keep(span: Span) -> None:
        with lock:
            spans.append(span)

    stop = on_span_end(keep)
    try:
        yield spans
    finally:
        stop()


def test_traced_gives_each_g_a_child_span(ended):
    _, printed = run_blocks(DOC, [block_with(DOC, "@traced")])
    assert printed == "8\n"
    [root] = [s for s in ended if s.name == "GET /order"]
    children = [s for s in ended if s is not root]
    assert sorted(s.name for s in children) == ["blocking_call"] + ["fetch_part"] * 8
    for span in children:  # one trace; each G's span is a child of the span it started in
        assert span.context.trace_id == root.context.trace_id
        assert span.context.parent_id == root.context.span_id
        assert span.end is not None  # ended, and reported to the exporter hook
    assert len({s.context.span_id for s in children}) == 9
