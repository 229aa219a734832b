"""Tracing: a W3C ``traceparent`` read or started per request, its ids in every log line,
and, with ``gmp-runtime[otel]``, the request's span exported through OpenTelemetry.

``app.use(Tracing())`` (early, so the request id, the access log and everything after
run inside the span). Per request:

- the incoming ``traceparent`` (and ``tracestate``) is parsed by
  :func:`gmp.observe.trace.extract`; a missing or invalid one starts a new trace, as the
  W3C Trace Context spec says;
- a server span named by the route pattern (``GET /users/:id``; a request no route
  matched is named by its method alone, as OpenTelemetry's HTTP conventions ask, so
  span names stay few) becomes the current span (:func:`gmp.observe.trace.start_span`):
  ``trace_id`` and ``span_id`` are bound into structlog's contextvars, so every log line
  of the request's G carries them, and so does every G it starts, since a G copies its
  parent's contextvars;
- the response carries the span as ``traceresponse`` (the W3C Trace Context Level 2
  response header, same format as ``traceparent``) and ``X-Trace-ID``, so a client or a
  support ticket can name the trace;
- the span gets OpenTelemetry's stable HTTP server attributes (``http.request.method``,
  ``url.path``, ``url.query``, ``url.scheme``, ``http.route``, ``server.address``,
  ``server.port``, ``client.address``, ``user_agent.original``,
  ``network.protocol.version``, then ``http.response.status_code``); its status is
  ``error`` for a 5xx (a 504 from :class:`Timeout`, a 503 from :class:`Breaker` or
  backpressure, a 500) with ``error.type`` the status code, or for an exception passing
  through, with ``error.type`` the exception's class; a 4xx leaves it unset, as the
  conventions say for server spans. Listeners registered with
  :func:`gmp.observe.trace.on_span_end` receive it when it ends.

**Export.** ``Tracing(exporter=OTLPSpanExporter())`` (any OpenTelemetry SDK
``SpanExporter``, behind a batch span processor), ``Tracing(tracer_provider=provider)``,
or, with neither, the standard ``OTEL_*`` environment variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``, ``OTEL_SERVICE_NAME``...)
turn on :class:`gmp.observe.otel.OTelBackend`; docs/observability.md has the recipe.
Every span started under the request (:func:`gmp.observe.trace.start_span`,
:func:`gmp.observe.trace.traced` on the functions of the Gs it starts) is exported the
same way, as a child. Without the extra and without those variables nothing is imported
and the middleware is exactly what it was.

Outgoing calls continue the trace with ``gmp.observe.trace.current_context().headers()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from gmp.http.context import Context, Middleware
from gmp.observe.log import get_logger
from gmp.observe.trace import (
    ERROR,
    SERVER,
    Span,
    SpanBackend,
    SpanScope,
    extract,
    start_span,
)

__all__ = ["Tracing", "otel_requested"]

log = get_logger("gmp.http.tracing")

_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
_OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def _span_name(c: Context) -> str:
    route = c.full_path
    method = c.request.method
    if method not in _KNOWN_METHODS:
        method = "HTTP"
    return f"{method} {route}" if route else method


def _split_host(host: str) -> tuple[str, int | None]:
    """``Host`` as (address, port): ``example.com:8080``, ``[::1]:8080``, ``[::1]``."""
    if host.startswith("["):
        end = host.find("]")
        if end > 0:
            rest = host[end + 1 :]
            port = rest[1:] if rest.startswith(":") else ""
            return host[1:end], int(port) if port.isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, int(port)
    return host, None


def otel_requested() -> bool:
    """Whether the environment asks for OpenTelemetry export: one of
    ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
    ``OTEL_TRACES_EXPORTER`` is set, and ``OTEL_SDK_DISABLED`` is not ``true``.
    Reads ``os.environ`` only: nothing is imported to answer."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name) for name in _OTEL_ENV)


def _otel_backend(
    exporter: Any, tracer_provider: Any, batch: bool, service_name: str | None
) -> SpanBackend | None:
    explicit = exporter is not None or tracer_provider is not None
    try:
        from gmp.observe import otel
    except ImportError as e:
        if explicit:
            raise ImportError(
                "Tracing(exporter=...) needs OpenTelemetry: pip install 'gmp-runtime[otel]'"
            ) from e
        log.warning(
            "OTEL_* variables are set but OpenTelemetry is not installed; "
            "spans are not exported (pip install 'gmp-runtime[otel]')",
            error=str(e),
        )
        return None
    if explicit:
        return otel.OTelBackend(
            exporter=exporter,
            tracer_provider=tracer_provider,
            batch=batch,
            service_name=service_name,
        )
    return otel.from_env()


class Tracing(Middleware):
    """Run the rest of the chain in a server span (see the module docstring).

    ``exporter``: an OpenTelemetry ``SpanExporter`` (``batch=False`` exports each span
    as it ends, for tests); ``tracer_provider``: an OpenTelemetry ``TracerProvider`` to
    use instead; ``otel``: None (default) follows the environment when neither is given,
    False never exports; ``service_name`` names the service of a provider built here
    (default: ``OTEL_SERVICE_NAME``). ``name``: the span's name from the Context.
    """

    __slots__ = ("backend", "name", "response_headers")

    def __init__(
        self,
        *,
        name: Callable[[Context], str] = _span_name,
        response_headers: bool = True,
        exporter: Any = None,
        tracer_provider: Any = None,
        batch: bool = True,
        otel: bool | None = None,
        service_name: str | None = None,
    ) -> None:
        self.name = name
        self.response_headers = response_headers
        self.backend: SpanBackend | None = None
        explicit = exporter is not None or tracer_provider is not None
        if otel is False and explicit:
            raise ValueError("otel=False contradicts exporter= or tracer_provider=")
        if explicit or (otel is not False and otel_requested()):
            self.backend = _otel_backend(exporter, tracer_provider, batch, service_name)

    def force_flush(self, timeout: float = 30.0) -> bool:
        """Export the spans the backend still holds (True without a backend)."""
        flush = getattr(self.backend, "force_flush", None)
        return bool(flush(int(timeout * 1000))) if flush is not None else True

    def shutdown(self) -> None:
        """Flush and stop the exporter this middleware built (a no-op otherwise)."""
        stop = getattr(self.backend, "shutdown", None)
        if stop is not None:
            stop()

    def _scope(self, c: Context) -> SpanScope:
        req = c.request
        # One pass over the fields (lower-cased by the parser) instead of a lookup each.
        traceparent = host = agent = None
        states: list[str] | None = None
        for k, v in req.headers:
            if k == "traceparent":
                if traceparent is None:
                    traceparent = v
            elif k == "tracestate":
                if states is None:
                    states = [v]
                else:
                    states.append(v)
            elif k == "host":
                if host is None:
                    host = v
            elif k == "user-agent" and agent is None:
                agent = v
        parent = extract(traceparent, states) if traceparent is not None else None
        method = req.method
        attributes: dict[str, Any] = {
            "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
            "url.path": req.path,
            "url.scheme": "http",
            "network.protocol.version": req.http_version,
        }
        if method not in _KNOWN_METHODS:
            attributes["http.request.method_original"] = method
        if req.query:
            attributes["url.query"] = req.query
        route = c.full_path
        if route:
            attributes["http.route"] = route
        client = c.client_ip
        if client is not None:
            attributes["client.address"] = client
        if host:
            address, port = _split_host(host)
            attributes["server.address"] = address
            if port is not None:
                attributes["server.port"] = port
        if agent is not None:
            attributes["user_agent.original"] = agent
        return start_span(
            self.name(c), parent=parent, attributes=attributes, kind=SERVER, backend=self.backend
        )

    def _begin(self, c: Context, span: Span) -> None:
        ctx = span.context
        c.set("trace", ctx)
        if self.response_headers:
            c.header("traceresponse", ctx.traceparent)
            c.header("X-Trace-ID", ctx.trace_id)

    @staticmethod
    def _end(c: Context, span: Span, exc: BaseException | None) -> None:
        if isinstance(exc, Exception):
            span.attributes["http.response.status_code"] = 500
            span.attributes["error.type"] = type(exc).__qualname__
            return  # the scope sets the status from the exception
        # None, or a cancellation: Timeout abandons the G with the 504 already in the
        # Context, which is what the client got (the access log reads it the same way)
        status = c.status_code
        span.attributes["http.response.status_code"] = status
        if status >= 500:
            span.attributes["error.type"] = str(status)
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "server error"
            span.set_status(ERROR, f"{status} {phrase}")

    def __call__(self, c: Context) -> None:
        with self._scope(c) as span:
            self._begin(c, span)
            try:
                c.next()
            except BaseException as e:
                self._end(c, span, e)
                raise
            self._end(c, span, None)

    async def call_async(self, c: Context) -> None:
        with self._scope(c) as span:
            self._begin(c, span)
            try:
                await c.next()
            except BaseException as e:
                self._end(c, span, e)
                raise
            self._end(c, span, None)
