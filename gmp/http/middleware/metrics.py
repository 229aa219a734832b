"""Request metrics for Prometheus, and the ``/metrics`` endpoint (prometheus_client).

``Metrics()`` counts every request and times it, labelled by method, route *pattern*
(``/users/:id``, never the raw path, so the number of series stays bounded; every miss
is ``<unmatched>``) and status (an exception passing through is a 500, a client that
went away nginx's 499, as Recovery and the Logger have it). A method outside HTTP's
registered set is counted as ``_OTHER``, as OpenTelemetry's HTTP conventions do, so a
client cannot grow the series either:

- ``gmp_http_requests_total{method,route,status}`` (counter)
- ``gmp_http_request_duration_seconds{method,route}`` (histogram)

:class:`ServerCollector` reads the HTTP server's counters at scrape time:
``gmp_http_inflight`` and ``gmp_http_connections_open`` (gauges),
``gmp_http_rejected_total`` (503s from backpressure, which never reach the middleware),
``gmp_http_connections_total``, ``gmp_http_bad_requests_total`` and
``gmp_http_timeouts_total``.

``mount_metrics(app)`` serves the registry at ``/metrics`` in the Prometheus text format,
together with the scheduler's metrics (:class:`gmp.runtime.collectors.SchedulerCollector`:
run queues, steals, handoffs, Ms, Gs, sysmon retakes), the server's, and any breaker or
limiter collectors registered on the same registry. docs/observability.md lists every
series, with a Prometheus configuration and a Grafana dashboard built on them. Each
Metrics instance uses its own ``CollectorRegistry`` unless given one (pass
``prometheus_client.REGISTRY`` to share the process-wide default), so two apps or two
tests never collide on names.

Label children are cached per ``(method, route, status)``: looking one up in
prometheus_client takes its lock and builds a tuple; the cache is a dict read, and a
miss only adds an entry (dict operations are atomic, with or without the GIL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from gmp.http.context import Context, Middleware
from gmp.http.errors import ClientDisconnected
from gmp.http.server import Server, current_server

if TYPE_CHECKING:
    from gmp.http.trio_server import TrioServer
from gmp.resilience.breaker import CircuitBreaker
from gmp.resilience.collectors import BreakerCollector
from gmp.runtime.collectors import SchedulerCollector

__all__ = ["DEFAULT_BUCKETS", "UNMATCHED", "Metrics", "ServerCollector", "mount_metrics"]

UNMATCHED = "<unmatched>"
"""The ``route`` label of every request no route matched (404s, probes, scanners)."""

KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
"""RFC 9110's methods and PATCH; others are labelled ``_OTHER``."""


def method_label(method: str) -> str:
    """``method`` if it is a known one, else ``_OTHER`` (bounded label values)."""
    return method if method in KNOWN_METHODS else "_OTHER"


DEFAULT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Latency buckets in seconds, from 0.5 ms (a /ping) to 10 s."""


class Metrics(Middleware):
    """Count and time requests (see the module docstring)."""

    __slots__ = ("_counts", "_durations", "_timers", "duration", "registry", "requests")

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        namespace: str = "gmp_http",
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "requests",
            "HTTP requests answered, by method, route pattern and status",
            ["method", "route", "status"],
            namespace=namespace,
            registry=self.registry,
        )
        self.duration = Histogram(
            "request_duration_seconds",
            "Time through the rest of the middleware chain and the handler",
            ["method", "route"],
            namespace=namespace,
            buckets=tuple(buckets),
            registry=self.registry,
        )
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def _record(self, c: Context, start: float, status: int) -> None:
        elapsed = time.perf_counter() - start
        route = c.full_path or UNMATCHED
        method = method_label(c.request.method)
        key = (method, route, status)
        child = self._counts.get(key)
        if child is None:
            child = self._counts[key] = self.requests.labels(method, route, str(status))
        child.inc()
        tkey = (method, route)
        timer = self._timers.get(tkey)
        if timer is None:
            timer = self._timers[tkey] = self.duration.labels(method, route)
        timer.observe(elapsed)

    def __call__(self, c: Context) -> None:
        start = time.perf_counter()
        try:
            c.next()
        except ClientDisconnected:
            self._record(c, start, 499)
            raise
        except BaseException:
            self._record(c, start, 500)
            raise
        self._record(c, start, c.status_code)

    async def call_async(self, c: Context) -> None:
        start = time.perf_counter()
        try:
            await c.next()
        except ClientDisconnected:
            self._record(c, start, 499)
            raise
        except BaseException:
            self._record(c, start, 500)
            raise
        self._record(c, start, c.status_code)


class ServerCollector(Collector):
    """The HTTP server's counters for Prometheus, read at scrape time (see the module
    docstring). ``server``: a Server, or a function returning one (or None); default:
    :func:`gmp.http.current_server`, the server whose request does the scrape."""

    def __init__(
        self,
        server: Server | TrioServer | Callable[[], Server | TrioServer | None] | None = None,
    ) -> None:
        self._server = server

    def _find(self) -> Server | TrioServer | None:
        srv = self._server
        if srv is None:
            return current_server()
        if callable(srv):
            return srv()
        return srv

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        srv = self._find()
        if srv is None:
            return
        st = srv.stats()
        yield GaugeMetricFamily(
            "gmp_http_inflight", "Handler Gs running or unfinished", value=st.inflight
        )
        yield GaugeMetricFamily(
            "gmp_http_connections_open", "Open client connections", value=st.connections_open
        )
        yield CounterMetricFamily(
            "gmp_http_connections", "Client connections accepted", value=st.connections_total
        )
        yield CounterMetricFamily(
            "gmp_http_rejected",
            "Requests answered 503 by backpressure (max_inflight)",
            value=st.rejected,
        )
        yield CounterMetricFamily(
            "gmp_http_bad_requests",
            "Requests refused before routing (400, 413, 414, 417, 431, 505)",
            value=st.bad_requests + st.too_large,
        )
        yield CounterMetricFamily(
            "gmp_http_timeouts",
            "Requests timed out reading (408) or slow writers dropped",
            value=st.timeouts,
        )


class _WithoutCreated:
    """What ``/metrics`` serves: the registry without prometheus_client's ``_created``
    samples. In the text format Prometheus 2.x scrapes (0.0.4), each becomes a gauge
    series of its own, a creation timestamp per label set, doubling the series of every
    labelled counter and histogram for data no dashboard reads (prometheus_client's
    ``PROMETHEUS_DISABLE_CREATED_SERIES`` would do the same, process-wide)."""

    __slots__ = ("_registry",)

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            created = metric.name + "_created"
            if any(s.name == created for s in metric.samples):
                metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


def mount_metrics(
    app: Any,
    metrics: Metrics | None = None,
    *,
    path: str = "/metrics",
    scheduler: bool = True,
    registry: CollectorRegistry | None = None,
    breakers: Iterable[CircuitBreaker] = (),
) -> Metrics:
    """Add the :class:`Metrics` middleware to ``app`` (unless given one already in use)
    and serve ``path`` with its registry in Prometheus' text format. ``scheduler``: also
    export the runtime's (:class:`~gmp.runtime.collectors.SchedulerCollector`) and the
    server's (:class:`ServerCollector`) metrics; ``breakers``: circuit breakers whose
    state and transitions to export (:class:`~gmp.resilience.collectors.BreakerCollector`).
    Returns the Metrics."""
    if metrics is None:
        metrics = Metrics(registry)
        app.use(metrics)
    reg = metrics.registry
    if scheduler:
        reg.register(SchedulerCollector())
        reg.register(ServerCollector())
    watched = list(breakers)
    if watched:
        reg.register(BreakerCollector(watched))

    served = _WithoutCreated(reg)

    def serve_metrics(c: Context) -> None:
        c.data(200, CONTENT_TYPE_LATEST, generate_latest(served))

    app.get(path, serve_metrics)
    return metrics
