"""Fault injection for resilience tests: added latency and errors at given rates.

``app.use(FaultInjection(latency=0.2, latency_rate=0.1, error_rate=0.05))`` delays one
request in ten by 200 ms and fails one in twenty with a 503, so retries, timeouts,
breakers and dashboards can be exercised before production does it for you (the idea
of Envoy's fault filter and of chaos testing). ``latency`` may be a ``(low, high)``
range (uniform). ``paths`` limits the faults to some route patterns (``/users/:id``) or
exact paths, and path prefixes ending in ``*``; ``paths=[]`` applies to none. ``seed``
makes a run repeatable.

Delays use ``gmp.sleep`` in coroutine chains and ``time.sleep`` in plain ones (the
plain chain's blocking call holds its own thread; sysmon hands its P on). An injected error is an
:class:`~gmp.http.errors.HTTPError` (``{"error": "injected fault"}`` with
``error_status``) raised before the handler runs, marked with ``X-Fault-Injected``. The
random source is guarded by a lock: decisions stay independent under any number of Ms.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable

import gmp
from gmp.http.context import Context, Middleware
from gmp.http.errors import HTTPError

__all__ = ["FaultInjection"]


def _rate(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability from 0 to 1, got {value!r}")
    return float(value)


class FaultInjection(Middleware):
    """Inject latency and errors (see the module docstring). ``injected_delays`` and
    ``injected_errors`` count what was done."""

    __slots__ = (
        "_lock",
        "_rng",
        "error_rate",
        "error_status",
        "high",
        "injected_delays",
        "injected_errors",
        "latency_rate",
        "low",
        "paths",
        "prefixes",
    )

    def __init__(
        self,
        *,
        latency: float | tuple[float, float] = 0.0,
        latency_rate: float = 0.0,
        error_rate: float = 0.0,
        error_status: int = 503,
        paths: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> None:
        low, high = latency if isinstance(latency, tuple) else (latency, latency)
        if not 0 <= low <= high or math.isinf(high):
            raise ValueError(
                f"latency must be finite and >= 0 (or a range low <= high), got {latency!r}"
            )
        if not 400 <= error_status <= 599:
            raise ValueError(f"error_status must be 4xx or 5xx, got {error_status!r}")
        self.low, self.high = float(low), float(high)
        self.latency_rate = _rate("latency_rate", latency_rate)
        self.error_rate = _rate("error_rate", error_rate)
        self.error_status = error_status
        if isinstance(paths, str):
            raise TypeError(f"paths must be a list of paths, not one str: [{paths!r}]")
        items = list(paths) if paths is not None else None
        # paths=[] is no path at all (not every path, as None is)
        self.paths = (
            frozenset(p for p in items if not p.endswith("*")) if items is not None else None
        )
        self.prefixes = tuple(p[:-1] for p in items if p.endswith("*")) if items else ()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected_delays = 0
        self.injected_errors = 0

    def _applies(self, c: Context) -> bool:
        if self.paths is None and not self.prefixes:
            return True
        if self.paths is not None and (c.full_path in self.paths or c.request.path in self.paths):
            return True
        return any(c.request.path.startswith(p) for p in self.prefixes)

    def _draw(self) -> tuple[float, bool]:
        with self._lock:
            delay = 0.0
            if self.latency_rate and self._rng.random() < self.latency_rate:
                delay = self._rng.uniform(self.low, self.high)
                self.injected_delays += 1
            fail = bool(self.error_rate) and self._rng.random() < self.error_rate
            if fail:
                self.injected_errors += 1
        return delay, fail

    def _error(self) -> HTTPError:
        return HTTPError(self.error_status, "injected fault", headers={"X-Fault-Injected": "error"})

    def __call__(self, c: Context) -> None:
        if self._applies(c):
            delay, fail = self._draw()
            if delay:
                time.sleep(delay)
                c.header("X-Fault-Injected", "latency")
            if fail:
                raise self._error()
        c.next()

    async def call_async(self, c: Context) -> None:
        if self._applies(c):
            delay, fail = self._draw()
            if delay:
                await gmp.sleep(delay)
                c.header("X-Fault-Injected", "latency")
            if fail:
                raise self._error()
        await c.next()
