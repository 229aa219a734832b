"""The production stack of ``gmp_prod_app`` behind ``Tracing()``: the tracing rows of
``make bench-http``.

One module serves two rows. ``gmp-prod+trace`` runs it with ``OTEL_SDK_DISABLED=true``:
a W3C span per request, ids in every log line, no export. ``gmp-prod+otel`` runs it with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at ``bench.http.otlp_sink``: the same spans
recorded by the OpenTelemetry SDK and exported over OTLP/HTTP by its batch span
processor, as a service would configure it (``Tracing()`` reads the variables).
"""

from __future__ import annotations

from bench.http.apps.gmp_engine_app import block, json_, ping
from gmp.http import Engine, Logger, Recovery, RequestID, Tracing
from gmp.http.middleware.metrics import Metrics, mount_metrics
from gmp.http.middleware.ratelimit import RateLimit
from gmp.http.middleware.timeout import Timeout
from gmp.resilience import KeyedLimiter, TokenBucket

app = Engine()
metrics = Metrics()
app.use(
    Tracing(),
    RequestID(),
    Logger(),
    Recovery(),
    Timeout(5.0),
    RateLimit(KeyedLimiter(lambda: TokenBucket(rate=1e9, burst=1_000_000_000))),
    metrics,
)
mount_metrics(app, metrics)
app.get("/ping", ping)
app.get("/json", json_)
app.get("/block", block)
