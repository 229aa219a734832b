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
from gmp.resilience.ratelimit import Decision, KeyedLimiter, TokenBucket

__all__ = ["RateLimit"]

# RateLimit._fast: the general path, one TokenBucket, a KeyedLimiter by client address.
_GENERAL, _ONE_BUCKET, _BY_ADDRESS = 0, 1, 2

# str(n) for the small counts a header field carries most (a bucket's remaining
# requests, seconds to reset): an index instead of an int's conversion.
_N = 1024
_TEXT = tuple(str(n) for n in range(_N))

_FIELDS = frozenset(("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"))


class RateLimit(Middleware):
    """Limit requests per key (see the module docstring). ``rejected`` counts 429s."""

    __slots__ = (
        "_cost",
        "_count_lock",
        "_fast",
        "_fixed",
        "_key",
        "_limit_text",
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
        # Which of _admit's paths: exact types only, since a subclass may decide
        # otherwise than the inline code (the fast paths need a fixed cost).
        fast = _GENERAL
        if self._cost is None:
            if type(limiter) is TokenBucket:
                fast = _ONE_BUCKET
            elif type(limiter) is KeyedLimiter and key == "ip":
                fast = _BY_ADDRESS
        self._fast = fast
        self._limit_text = (0, "0")  # (a bucket's limit, its str) last sent

    def _decide(self, c: Context) -> Decision:
        cost = self._fixed if self._cost is None else self._cost(c)
        if self._key is not None:
            decision: Decision = self.limiter.try_acquire(self._key(c), cost)
        else:
            decision = self.limiter.try_acquire(cost)
        return self._apply(c, decision)

    def _apply(self, c: Context, decision: Decision) -> Decision:
        if not decision.allowed:
            with self._count_lock:
                self.rejected += 1
            raise TooManyRequests(self.detail, headers=decision.headers())
        if self.headers:
            self._set_headers(c, decision.limit, decision.remaining, decision.reset)
        return decision

    def _set_headers(self, c: Context, limit: int, remaining: int, reset: float) -> None:
        """The three ``RateLimit-*`` fields of an allowed request."""
        # One attribute holding an immutable pair: a thread reads the old pair or the new
        # one whole, never one's number with the other's text (no GIL needed).
        text = self._limit_text
        if text[0] != limit:
            text = self._limit_text = (limit, str(limit))
        seconds = math.ceil(reset)  # remaining and seconds are >= 0
        c._header_fields(
            [
                ("RateLimit-Limit", text[1]),
                ("RateLimit-Remaining", _TEXT[remaining] if remaining < _N else str(remaining)),
                ("RateLimit-Reset", _TEXT[seconds] if seconds < _N else str(seconds)),
            ],
            _FIELDS,
        )

    def _admit(self, c: Context) -> float:
        """Skip, or decide and set the headers (raising the 429); return the delay the
        request must wait (0 when skipped or none).

        The common case, a fixed cost on a :class:`TokenBucket` (alone or per client
        address in a :class:`KeyedLimiter`) allowed from the tokens there, is inline:
        the bucket's lookup by ``client_ip`` and its :meth:`TokenBucket._take` instead of
        the key function,
        ``KeyedLimiter.try_acquire`` and a Decision (RateLimit +3.0 -> +2.2 us a request,
        ``python -m bench.engine_bench --rounds 1000 --reps 5``, best of 5), and
        the skip test and ``Context.client_ip``'s common case written out (a frame each).
        ``tests/http/test_kit_ratelimit_fast.py`` holds it equal to the general path.
        """
        # Skipped: the paths and patterns named, and the engine's operational routes.
        route = c.full_path
        skip = self.skip_paths
        if skip and (route in skip or c.request.path in skip):
            return 0.0
        if self.exempt_operational and route:
            engine = c.engine
            if engine is not None and route in engine.operational_routes:
                return 0.0
        fast = self._fast
        if fast == _GENERAL:
            return self._decide(c).delay
        limiter = self.limiter
        if fast == _BY_ADDRESS:
            # c.client_ip without its frame when no proxy is trusted (the common case)
            engine = c.engine
            if engine is not None and engine.trusted_proxies:
                ip = c.client_ip
            else:
                client = c.request.client
                ip = client[0] if client else None
            limiter = limiter.bucket(ip)
            if type(limiter) is not TokenBucket:
                return self._apply(c, limiter.try_acquire(self._fixed)).delay
        taken = limiter._take(self._fixed)
        if type(taken) is Decision:
            return self._apply(c, taken).delay
        if self.headers:
            remaining, reset = taken
            self._set_headers(c, limiter._burst, remaining, reset)
        return 0.0

    def __call__(self, c: Context) -> None:
        delay = self._admit(c)
        if delay > 0:
            time.sleep(delay)
        c.next()

    async def call_async(self, c: Context) -> None:
        delay = self._admit(c)
        if delay > 0:
            await gmp.sleep(delay)
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
