"""OpenTelemetry export for gmp's spans (``pip install 'gmp-runtime[otel]'``).

:class:`OTelBackend` is a :class:`gmp.observe.trace.SpanBackend` built on the
OpenTelemetry SDK: each gmp span is started as an SDK span (so the SDK's sampler, span
limits, resource and span processors apply), with the ids the SDK chose copied into the
gmp span, hence into the structlog lines (a log line and its span share ``trace_id`` and
``span_id``: Loki's derived field to Tempo needs nothing else). The SDK span is also made
current in OpenTelemetry's own context for the span's block, so an OpenTelemetry-
instrumented client inside a handler (httpx, requests, a database driver) records its
spans as children and sends the right ``traceparent``.

The exporter is chosen in this order, like the SDK's own auto-configuration:

- ``OTelBackend(tracer_provider=...)``: spans go to that provider;
- ``OTelBackend(exporter=...)``: a private ``TracerProvider`` with a
  ``BatchSpanProcessor`` (``batch=False``: a ``SimpleSpanProcessor``, for tests) on that
  exporter;
- neither (:func:`from_env`): the global provider if the application configured an SDK
  one (``opentelemetry-instrument`` does), else a provider built from the standard
  environment variables, set as the global one: ``OTEL_TRACES_EXPORTER`` (``otlp``, the
  default, ``console`` or ``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (``http/protobuf``, the default, or ``grpc`` when its exporter is installed),
  ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``; the SDK
  reads them itself.

This module imports OpenTelemetry at import time; nothing in gmp imports it unless one
of the above is asked for (:mod:`gmp.http.middleware.tracing` checks the environment
with ``os.environ`` alone).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace import SpanContext as OTelSpanContext
from opentelemetry.trace.status import Status

from gmp.observe.log import get_logger
from gmp.observe.trace import ERROR, OK, SAMPLED, Span, SpanContext, trusted_context

__all__ = ["INSTRUMENTATION_NAME", "OTelBackend", "from_env"]

log = get_logger("gmp.observe.otel")

INSTRUMENTATION_NAME = "gmp"
"""The instrumentation scope of every span gmp starts."""

_KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
_EMPTY = otel_context.Context()
"""The parent context of a new trace: empty, so no OpenTelemetry span current in the
caller becomes its parent by accident."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("gmp-runtime", "gmp"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "0"


class OTelBackend:
    """gmp spans recorded as OpenTelemetry SDK spans (see the module docstring)."""

    __slots__ = ("_owns_provider", "provider", "tracer")

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        exporter: SpanExporter | None = None,
        batch: bool = True,
        service_name: str | None = None,
    ) -> None:
        if tracer_provider is not None and exporter is not None:
            raise ValueError("pass tracer_provider or exporter, not both")
        self._owns_provider = tracer_provider is None
        if tracer_provider is None:
            resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
            tracer_provider = TracerProvider(resource=resource)
            if exporter is not None:
                tracer_provider.add_span_processor(_processor(exporter, batch))
        self.provider = tracer_provider
        self.tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, _version())

    # -- SpanBackend -----------------------------------------------------------------

    def start(self, span: Span, parent: Span | SpanContext | None) -> None:
        parent_id: str | None
        if isinstance(parent, Span):
            native = parent.native
            parent_span = native[0] if native is not None else _remote(parent.context, False)
            ctx = otel_trace.set_span_in_context(parent_span, _EMPTY)
            parent_id = parent.context.span_id
        elif isinstance(parent, SpanContext):
            ctx = otel_trace.set_span_in_context(_remote(parent, True), _EMPTY)
            parent_id = parent.span_id
        else:
            ctx = _EMPTY
            parent_id = None
        start_ns = int(span.start * 1e9)
        otel_span = self.tracer.start_span(
            span.name, ctx, _KINDS[span.kind], start_time=start_ns, record_exception=False
        )
        sc = otel_span.get_span_context()
        flags = SAMPLED if sc.trace_flags.sampled else 0
        tracestate = sc.trace_state.to_header() if sc.trace_state else ""
        span.context = trusted_context(
            f"{sc.trace_id:032x}",
            f"{sc.span_id:016x}",
            parent_id,
            flags,
            tracestate,
        )
        token = otel_context.attach(otel_trace.set_span_in_context(otel_span))
        span.native = (otel_span, token)

    def end(self, span: Span) -> None:
        native = span.native
        if native is None:
            return
        otel_span, token = native
        otel_context.detach(token)
        if otel_span.is_recording():
            if span.attributes:
                otel_span.set_attributes(span.attributes)
            if span.status == ERROR:
                otel_span.set_status(Status(StatusCode.ERROR, span.status_message or None))
            elif span.status == OK:
                otel_span.set_status(Status(StatusCode.OK))
            if isinstance(span.error, Exception):
                otel_span.record_exception(span.error)
        end = span.end
        otel_span.end(int(end * 1e9) if end is not None else None)

    # -- lifecycle -------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export what the processors hold now (before a test reads the exporter, or a
        short-lived process exits); True if everything was exported in time."""
        flush = getattr(self.provider, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True

    def shutdown(self) -> None:
        """Flush and stop the provider if this backend built it (a provider passed in
        belongs to the application, which shuts it down)."""
        if self._owns_provider:
            self.provider.shutdown()


def _remote(ctx: SpanContext, is_remote: bool) -> NonRecordingSpan:
    state = TraceState.from_header([ctx.tracestate]) if ctx.tracestate else None
    return NonRecordingSpan(
        OTelSpanContext(
            int(ctx.trace_id, 16),
            int(ctx.span_id, 16),
            is_remote=is_remote,
            trace_flags=TraceFlags(ctx.flags & SAMPLED),
            trace_state=state,
        )
    )


def _processor(exporter: SpanExporter, batch: bool) -> SpanProcessor:
    return BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)


def _env_exporter() -> SpanExporter | None:
    """The exporter ``OTEL_TRACES_EXPORTER`` and ``OTEL_EXPORTER_OTLP_PROTOCOL`` name."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    name = next((n for n in names if n), "otlp")
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={name!r} is not supported by gmp's tracing; "
            "use otlp, console or none"
        )
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    )
    if protocol == "grpc":
        try:
            grpc = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        except ImportError:
            raise ImportError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter: "
                "pip install opentelemetry-exporter-otlp-proto-grpc "
                "(gmp-runtime[otel] brings the http/protobuf one)"
            ) from None
        exporter: SpanExporter = grpc.OTLPSpanExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def from_env() -> OTelBackend | None:
    """The backend the environment asks for (see the module docstring), or None when
    ``OTEL_SDK_DISABLED`` is true or ``OTEL_TRACES_EXPORTER`` is ``none``."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    current = otel_trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return OTelBackend(tracer_provider=current)
    exporter = _env_exporter()
    if exporter is None:
        return None
    backend = OTelBackend(exporter=exporter)
    otel_trace.set_tracer_provider(backend.provider)
    backend._owns_provider = False  # now the process's: the SDK shuts it down at exit
    log.info("OpenTelemetry tracing from the environment", exporter=type(exporter).__name__)
    return backend
