"""Resilience building blocks for services: rate limiters and circuit breakers.

Framework-agnostic: each gives a per-request decision with the numbers an HTTP layer
needs for its headers (``Retry-After``, ``RateLimit-*``), so middleware is a thin
wrapper. See ``docs/resilience.md``.
"""

from gmp.resilience.breaker import (
    CircuitBreaker,
    CircuitOpenError,
    Counts,
    State,
    StateChange,
    Ticket,
)
from gmp.resilience.ratelimit import (
    Decision,
    KeyedLimiter,
    LeakyBucket,
    Limiter,
    RateLimitTimeout,
    TokenBucket,
)

__all__ = [
    "CircuitBreaker",
    "CircuitOpenError",
    "Counts",
    "Decision",
    "KeyedLimiter",
    "LeakyBucket",
    "Limiter",
    "RateLimitTimeout",
    "State",
    "StateChange",
    "Ticket",
    "TokenBucket",
]
