"""Built-in middleware: request ids, the access log, recovery, and the production kit.

Each works in plain and ``async def`` chains alike (they subclass
:class:`gmp.http.Middleware`). ``Engine.default()`` installs ``RequestID()``,
``Logger()`` and ``Recovery()`` in that order: the Logger sits outside Recovery, so it
logs the 500 that Recovery made of an exception (Gin's ``Default`` has the same order).

The production kit: :class:`Timeout` (504 past a deadline), :class:`RateLimit` (429
with ``Retry-After`` and ``RateLimit-*``), :class:`Breaker` (503 while a dependency's
circuit is open), :class:`Tracing` (W3C traceparent, ids in every log line),
:class:`Metrics` with :func:`mount_metrics` (Prometheus), :class:`FaultInjection`
(latency and errors for resilience tests). A typical stack::

    app.use(Tracing(), RequestID(), Logger(), Recovery(), Metrics(), RateLimit(per_ip),
            Timeout(5.0))
"""

from gmp.http.middleware.breaker import Breaker
from gmp.http.middleware.faults import FaultInjection
from gmp.http.middleware.logger import Logger
from gmp.http.middleware.metrics import Metrics, mount_metrics
from gmp.http.middleware.ratelimit import RateLimit
from gmp.http.middleware.recovery import Recovery
from gmp.http.middleware.requestid import RequestID
from gmp.http.middleware.timeout import Timeout
from gmp.http.middleware.tracing import Tracing

__all__ = [
    "Breaker",
    "FaultInjection",
    "Logger",
    "Metrics",
    "RateLimit",
    "Recovery",
    "RequestID",
    "Timeout",
    "Tracing",
    "mount_metrics",
]
