"""The same endpoints through the full production stack, for the issue-8 ratio.

RequestID, Logger (``gmp serve --log-format json``: a JSON line per request on
stderr, as a service would log; the bench sends it to /dev/null), Recovery, Timeout
(5 s), RateLimit (a token bucket per client address, sized so the benchmark never hits
it: the cost of the decision is what is measured) and Metrics, in that order, then the
handler; plus /metrics. The handlers are ``gmp_engine_app``'s, the anchor (the bare
Engine) in the same run.
"""

from __future__ import annotations

from bench.http.apps.gmp_engine_app import block, json_, ping
from gmp.http import Engine, Logger, Recovery, RequestID
from gmp.http.middleware.metrics import Metrics, mount_metrics
from gmp.http.middleware.ratelimit import RateLimit
from gmp.http.middleware.timeout import Timeout
from gmp.resilience import KeyedLimiter, TokenBucket

app = Engine()
metrics = Metrics()
app.use(
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
