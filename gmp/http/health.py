"""Health probes: ``/livez``, ``/readyz`` and ``/startupz``, mounted by one call.

::

    health = mount_health(app, breakers=[payments], checks={"db": db.ping})
    ...
    health.mark_started()        # when caches are warm (only if startup_gate=True)

Kubernetes' three probes (and its own ``/livez``/``/readyz`` endpoints), answered with
JSON that says which check failed:

- ``/livez``: the process can still run a G and answer; 200 while it can. It checks
  nothing external on purpose: a failing dependency must not get the process restarted.
- ``/readyz``: whether to send traffic here; 503 when the server is draining (a
  shutdown began), when it is saturated (handler Gs in flight at ``max_load`` of the
  server's ``max_inflight``, or more than ``max_global_queue`` Gs waiting in the
  runtime's global queue), when a required dependency's circuit breaker is open, or
  when a custom check returns False or raises (named in the answer; any other return
  value, ``db.ping()``'s for one, is a pass). Checks are plain functions.
- ``/startupz``: 503 until the application says it has started (``startup_gate=True``
  and :meth:`Health.mark_started`), or until a ``startup`` function returns True;
  with neither, 200 as soon as the server answers.

The server is found with :func:`gmp.http.current_server`, the runtime with
``gmp.current_runtime()``, both from inside the probe's G. Custom checks run in the
probe's G: a plain one that blocks costs a thread (like any plain handler), so keep
them quick or give them their own timeouts.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gmp.http.context import Context
from gmp.http.server import current_server
from gmp.resilience.breaker import CircuitBreaker, State
from gmp.runtime.runtime import current_runtime

__all__ = ["Health", "mount_health"]


class Health:
    """The probes' state and checks (see the module docstring)."""

    def __init__(
        self,
        *,
        breakers: Iterable[CircuitBreaker] = (),
        checks: Mapping[str, Callable[[], Any]] | None = None,
        max_load: float = 0.9,
        max_global_queue: int | None = None,
        startup: Callable[[], bool] | None = None,
        startup_gate: bool = False,
    ) -> None:
        if not 0 < max_load <= 1:
            raise ValueError(f"max_load must be in (0, 1], got {max_load!r}")
        self.breakers = list(breakers)
        self.checks = dict(checks or {})
        for name, fn in self.checks.items():
            if not callable(fn) or inspect.iscoroutinefunction(fn):
                raise TypeError(f"health check {name!r} must be a plain callable, got {fn!r}")
        self.max_load = max_load
        self.max_global_queue = max_global_queue
        self.startup = startup
        self._started = threading.Event()
        if startup is None and not startup_gate:
            self._started.set()
        self._born = time.monotonic()

    def mark_started(self) -> None:
        """Startup is complete: ``/startupz`` answers 200 from now on."""
        self._started.set()

    @property
    def started(self) -> bool:
        if self._started.is_set():
            return True
        if self.startup is not None:
            try:
                ok = bool(self.startup())
            except Exception:
                return False
            if ok:
                self._started.set()
            return ok
        return False

    def readiness(self) -> dict[str, str]:
        """Each check's result: ``"ok"`` or why not (the body of ``/readyz``)."""
        out: dict[str, str] = {}
        server = current_server()
        if server is not None:
            out["draining"] = "shutting down" if server.draining else "ok"
            st = server.stats()
            limit = server.config.max_inflight
            load = st.inflight / limit
            out["load"] = (
                f"{st.inflight} of {limit} handlers in flight" if load >= self.max_load else "ok"
            )
        try:
            rt = current_runtime()
        except RuntimeError:
            rt = None
        if rt is not None and self.max_global_queue is not None:
            queued = rt.stats().global_queue
            out["global_queue"] = (
                f"{queued} Gs waiting (limit {self.max_global_queue})"
                if queued > self.max_global_queue
                else "ok"
            )
        for b in self.breakers:
            out[f"breaker:{b.name}"] = "open" if b.state is State.OPEN else "ok"
        for name, fn in self.checks.items():
            try:
                result = fn()
            except Exception as e:
                out[name] = f"failed: {type(e).__name__}: {e}"
                continue
            out[name] = "failed" if result is False else "ok"
        if not self.started:
            out["startup"] = "not started"
        return out

    # -- the handlers --------------------------------------------------------------

    def livez(self, c: Context) -> None:
        c.json(200, {"status": "alive", "uptime_s": round(time.monotonic() - self._born, 3)})

    def readyz(self, c: Context) -> None:
        checks = self.readiness()
        ok = all(v == "ok" for v in checks.values())
        c.json(200 if ok else 503, {"status": "ready" if ok else "not ready", "checks": checks})

    def startupz(self, c: Context) -> None:
        if self.started:
            c.json(200, {"status": "started"})
        else:
            c.json(503, {"status": "starting"})

    def mount(self, app: Any, *, prefix: str = "") -> Health:
        """Register ``/livez``, ``/readyz`` and ``/startupz`` (under ``prefix``), marked
        as operational routes so :class:`~gmp.http.RateLimit` never refuses a probe."""
        for name, handler in (
            ("/livez", self.livez),
            ("/readyz", self.readyz),
            ("/startupz", self.startupz),
        ):
            app.get(prefix + name, handler)
            routes = getattr(app, "operational_routes", None)
            if routes is not None:
                routes.add(prefix + name)
        return self


def mount_health(app: Any, *, prefix: str = "", **options: Any) -> Health:
    """``Health(**options).mount(app, prefix=prefix)``: the three probes in one call."""
    return Health(**options).mount(app, prefix=prefix)
