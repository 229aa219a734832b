"""Request metrics for Prometheus, and the ``/metrics`` endpoint (prometheus_client).

``Metrics()`` counts every request and times it, labelled by method, route *pattern*
(``/users/:id``, never the raw path, so the number of series stays bounded; misses are
``<unmatched>``) and status (an exception passing through is a 500, a client that went
away nginx's 499, as Recovery and the Logger have it):

- ``gmp_http_requests_total{method,route,status}`` (counter)
- ``gmp_http_request_duration_seconds{method,route}`` (histogram)

``mount_metrics(app)`` serves the registry at ``/metrics`` in the Prometheus text format,
together with the scheduler's metrics (:class:`gmp.observe.metrics.SchedulerCollector`:
run queues, steals, handoffs, Ms, Gs, sysmon retakes) and any breaker or limiter
collectors registered on the same registry. Each Metrics instance uses its own
``CollectorRegistry`` unless given one (pass ``prometheus_client.REGISTRY`` to share the
process-wide default), so two apps or two tests never collide on names.

Label children are cached per ``(method, route, status)``: looking one up in
prometheus_client takes its lock and builds a tuple; the cache is a dict read, and a
miss only adds an entry (dict operations are atomic, with or without the GIL).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from gmp.http.context import Context, Middleware
from gmp.http.dispatch import ClientDisconnected
from gmp.observe.metrics import BreakerCollector, SchedulerCollector
from gmp.resilience.breaker import CircuitBreaker

__all__ = ["DEFAULT_BUCKETS", "Metrics", "mount_metrics"]

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
        route = c.full_path or "<unmatched>"
        method = c.request.method
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
    export the runtime's and the server's metrics; ``breakers``: circuit breakers whose
    state and transitions to export (:class:`~gmp.observe.metrics.BreakerCollector`).
    Returns the Metrics."""
    if metrics is None:
        metrics = Metrics(registry)
        app.use(metrics)
    reg = metrics.registry
    if scheduler:
        reg.register(SchedulerCollector())
    watched = list(breakers)
    if watched:
        reg.register(BreakerCollector(watched))

    def serve_metrics(c: Context) -> None:
        c.data(200, CONTENT_TYPE_LATEST, generate_latest(reg))

    app.get(path, serve_metrics)
    return metrics
