"""A circuit breaker in front of routes: 503 while a dependency's circuit is open.

::

    from gmp.resilience import CircuitBreaker
    payments = CircuitBreaker("payments", failure_ratio=0.5, min_calls=20, cooldown=10)
    api.group("/checkout", Breaker(payments))

The state machine is :class:`gmp.resilience.CircuitBreaker` (sony/gobreaker's and
resilience4j's). Per request the middleware takes a ticket (``breaker.allow()``); while
the breaker is open, or half-open with every probe slot taken, the request is answered
``503 {"error": ...}`` at once with ``Retry-After`` (the cooldown left, rounded up) and
the handler never runs. Otherwise the outcome is recorded: an exception, or a status
for which ``is_failure(status)`` holds (5xx by default; a 4xx is the client's fault, not
the dependency's), is a failure; cancellation (``gmp.Cancelled``) and a client that went
away (:class:`~gmp.http.ClientDisconnected`) are neither.

The same breaker can guard outbound calls as a decorator (``@payments``) and routes at
once; :class:`gmp.resilience.collectors.BreakerCollector` exports its state to Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gmp.http.context import Context, Middleware
from gmp.http.errors import ClientDisconnected, ServiceUnavailable
from gmp.resilience.breaker import CircuitBreaker, CircuitOpenError, Ticket

__all__ = ["Breaker"]


def _server_error(status: int) -> bool:
    return status >= 500


def _settle_error(ticket: Ticket, exc: BaseException) -> None:
    # An error of the handler's is the dependency failing; a client that left, or a
    # cancellation, says nothing about it.
    if isinstance(exc, Exception) and not isinstance(exc, ClientDisconnected):
        ticket.failure()
    else:
        ticket.release()


class Breaker(Middleware):
    """Guard the rest of the chain with ``breaker`` (see the module docstring)."""

    __slots__ = ("breaker", "detail", "is_failure")

    def __init__(
        self,
        breaker: CircuitBreaker,
        *,
        is_failure: Callable[[int], bool] = _server_error,
        detail: str | None = None,
    ) -> None:
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"Breaker needs a gmp.resilience.CircuitBreaker, got {breaker!r}")
        self.breaker = breaker
        self.is_failure = is_failure
        self.detail = detail

    def _ticket(self) -> Ticket:
        try:
            return self.breaker.allow()
        except CircuitOpenError as e:
            raise ServiceUnavailable(
                self.detail or f"dependency {e.breaker!r} is unavailable (circuit open)",
                headers={"Retry-After": str(max(1, math.ceil(e.retry_after)))},
            ) from None

    def _settle(self, c: Context, ticket: Ticket) -> None:
        if self.is_failure(c.status_code):
            ticket.failure()
        else:
            ticket.success()

    def __call__(self, c: Context) -> None:
        ticket = self._ticket()
        try:
            c.next()
        except BaseException as e:
            _settle_error(ticket, e)
            raise
        self._settle(c, ticket)

    async def call_async(self, c: Context) -> None:
        ticket = self._ticket()
        try:
            await c.next()
        except BaseException as e:
            _settle_error(ticket, e)
            raise
        self._settle(c, ticket)
