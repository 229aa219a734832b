"""Tracing: a W3C ``traceparent`` read or started per request, its ids in every log line.

``app.use(Tracing())`` (early, so the request id, the access log and everything after
run inside the span). Per request:

- the incoming ``traceparent`` (and ``tracestate``) is parsed by
  :func:`gmp.observe.trace.extract`; a missing or invalid one starts a new trace, as the
  W3C Trace Context spec says;
- a server span (``GET /users/:id``, named by the route pattern) becomes the current span
  (:func:`gmp.observe.trace.start_span`): ``trace_id`` and ``span_id`` are bound into
  structlog's contextvars, so every log line of the request's G carries them, and so
  does every G it starts, since a G copies its parent's contextvars;
- the response carries the span as ``traceresponse`` (the W3C Trace Context Level 2
  response header, same format as ``traceparent``) and ``X-Trace-ID``, so a client or a
  support ticket can name the trace;
- the span gets ``http.method``, ``http.route``, ``http.status_code`` and the client
  address as attributes, and its error if one passed through; listeners registered with
  :func:`gmp.observe.trace.on_span_end` (an exporter) receive it when it ends.

Outgoing calls continue the trace with ``gmp.observe.trace.current_context().headers()``.
"""

from __future__ import annotations

from collections.abc import Callable

from gmp.http.context import Context, Middleware
from gmp.observe.trace import Span, SpanScope, extract, start_span

__all__ = ["Tracing"]


def _span_name(c: Context) -> str:
    return f"{c.request.method} {c.full_path or '<unmatched>'}"


class Tracing(Middleware):
    """Run the rest of the chain in a server span (see the module docstring)."""

    __slots__ = ("name", "response_headers")

    def __init__(
        self,
        *,
        name: Callable[[Context], str] = _span_name,
        response_headers: bool = True,
    ) -> None:
        self.name = name
        self.response_headers = response_headers

    def _scope(self, c: Context) -> SpanScope:
        headers = c.request.headers
        parent = extract(headers.get("traceparent"), headers.get_all("tracestate") or None)
        return start_span(
            self.name(c),
            parent=parent,
            attributes={
                "http.method": c.request.method,
                "http.route": c.full_path,
                "client.address": c.client_ip,
            },
        )

    def _begin(self, c: Context, span: Span) -> None:
        ctx = span.context
        c.set("trace", ctx)
        if self.response_headers:
            c.header("traceresponse", ctx.traceparent)
            c.header("X-Trace-ID", ctx.trace_id)

    def __call__(self, c: Context) -> None:
        with self._scope(c) as span:
            self._begin(c, span)
            c.next()
            span.attributes["http.status_code"] = c.status_code

    async def call_async(self, c: Context) -> None:
        with self._scope(c) as span:
            self._begin(c, span)
            await c.next()
            span.attributes["http.status_code"] = c.status_code
