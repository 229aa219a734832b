"""Rate limiting per client: 429 with ``Retry-After`` and ``RateLimit-*`` headers.

::

    from gmp.resilience import KeyedLimiter, TokenBucket
    per_ip = KeyedLimiter(lambda: TokenBucket(rate=10, burst=20))
    app.use(RateLimit(per_ip))                               # keyed by client address
    api.use(RateLimit(per_key, key="header:X-API-Key"))      # by a header
    app.get("/search", RateLimit(TokenBucket(100, 100)), h)  # one bucket for the route

The algorithms live in :mod:`gmp.resilience.ratelimit` (token bucket: Go's
``x/time/rate``; leaky bucket as a queue: nginx's ``limit_req`` with burst). This
middleware asks the request's bucket for a decision and:

- refused: answers ``429 {"error": ...}`` with ``Retry-After`` (whole seconds, rounded
  up, so a client that waits that long gets in) and the ``RateLimit-Limit``,
  ``RateLimit-Remaining`` and ``RateLimit-Reset`` fields of the IETF draft;
- allowed with a delay (a leaky bucket's queue): waits it out (``gmp.sleep`` in a
  coroutine chain, ``time.sleep`` in a plain one), then goes on;
- allowed: goes on, and adds the ``RateLimit-*`` fields to the response.

``key``: ``"ip"`` (:attr:`Context.client_ip`, which believes ``X-Forwarded-For`` only from
the engine's ``trusted_proxies``), ``"header:<name>"`` (falling back to the address when
the header is missing; header values and addresses never share a bucket), or a function
of the Context. ``cost``: tokens per request, an
int or a function of the Context.

Probes, metrics and debug pages are never limited: a load balancer's ``/readyz`` must
not fail because clients used up the allowance of the address they share with it (every
client behind one proxy has one address). The routes in the engine's
``operational_routes`` (``/livez``, ``/readyz``, ``/startupz``, ``/metrics``,
``/debug/sched`` and whatever ``mount_health`` added) pass untouched unless
``exempt_operational=False``; ``skip_paths`` names more paths or route patterns to let
through (as :class:`~gmp.http.Logger`'s does).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import gmp
from gmp.http.context import Context, Middleware
from gmp.http.errors import TooManyRequests
from gmp.resilience.ratelimit import Decision, KeyedLimiter

__all__ = ["RateLimit"]

_FIELDS = frozenset(("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"))


class RateLimit(Middleware):
    """Limit requests per key (see the module docstring). ``rejected`` counts 429s."""

    __slots__ = (
        "_cost",
        "_count_lock",
        "_fixed",
        "_key",
        "detail",
        "exempt_operational",
        "headers",
        "limiter",
        "rejected",
        "skip_paths",
    )

    def __init__(
        self,
        limiter: Any,
        *,
        key: str | Callable[[Context], Hashable] = "ip",
        cost: int | Callable[[Context], int] = 1,
        headers: bool = True,
        detail: str = "rate limit exceeded",
        skip_paths: Iterable[str] = (),
        exempt_operational: bool = True,
    ) -> None:
        if not hasattr(limiter, "try_acquire"):
            raise TypeError(
                "RateLimit needs a TokenBucket, LeakyBucket or KeyedLimiter, got "
                f"{type(limiter).__name__}"
            )
        self.limiter = limiter
        self._key = _key_function(key) if isinstance(limiter, KeyedLimiter) else None
        if callable(cost):
            self._cost: Callable[[Context], int] | None = cost
            self._fixed = 0
        elif isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise ValueError(f"cost must be a positive int or a function, got {cost!r}")
        else:
            self._cost = None
            self._fixed = cost
        if isinstance(skip_paths, str):
            raise TypeError(f"skip_paths takes a list of paths, got the str {skip_paths!r}")
        self.skip_paths = frozenset(skip_paths)
        self.exempt_operational = exempt_operational
        self.headers = headers
        self.detail = detail
        self.rejected = 0
        self._count_lock = threading.Lock()

    def _decide(self, c: Context) -> Decision:
        cost = self._fixed if self._cost is None else self._cost(c)
        if self._key is not None:
            decision: Decision = self.limiter.try_acquire(self._key(c), cost)
        else:
            decision = self.limiter.try_acquire(cost)
        if not decision.allowed:
            with self._count_lock:
                self.rejected += 1
            raise TooManyRequests(self.detail, headers=decision.headers())
        if self.headers:
            c._header_fields(
                [
                    ("RateLimit-Limit", str(decision.limit)),
                    ("RateLimit-Remaining", str(decision.remaining)),
                    ("RateLimit-Reset", str(math.ceil(decision.reset))),
                ],
                _FIELDS,
            )
        return decision

    def _skipped(self, c: Context) -> bool:
        route = c.full_path
        skip = self.skip_paths
        if skip and (route in skip or c.request.path in skip):
            return True
        if self.exempt_operational and route:
            engine = c.engine
            return engine is not None and route in engine.operational_routes
        return False

    def __call__(self, c: Context) -> None:
        if self._skipped(c):
            c.next()
            return
        decision = self._decide(c)
        if decision.delay > 0:
            time.sleep(decision.delay)
        c.next()

    async def call_async(self, c: Context) -> None:
        if self._skipped(c):
            await c.next()
            return
        decision = self._decide(c)
        if decision.delay > 0:
            await gmp.sleep(decision.delay)
        await c.next()


def _key_function(key: str | Callable[[Context], Hashable]) -> Callable[[Context], Hashable]:
    if callable(key):
        return key
    if key == "ip":
        return lambda c: c.client_ip
    if isinstance(key, str) and key.startswith("header:") and len(key) > 7:
        name = key[7:]

        def by_header(c: Context) -> Hashable:
            # A tuple, so a header value spelled like an address is not that address's
            # bucket (a client could otherwise spend, or borrow, another's allowance).
            value = c.request.headers.get(name)
            return (key, value) if value else c.client_ip

        return by_header
    raise ValueError(f"key must be 'ip', 'header:<name>' or a function of the Context, got {key!r}")
