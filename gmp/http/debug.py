"""``/debug/sched``: the scheduler's state over HTTP (Go's ``/debug/pprof`` spirit).

``mount_debug(app)`` adds ``GET /debug/sched``: ``rt.stats()`` as JSON (per-P status,
run queue, Gs run, steals, handoffs, preemptions, timers; the global queue, idle Ps,
Ms, Gs alive and created, handoffs, steals, spills, P-count changes, crashed Ms) and the
server's counters. ``?format=schedtrace`` answers the one-line ``SCHED`` summary that
``GMP_DEBUG=schedtrace=1000`` prints (docs/architecture.md puts it next to Go's). Mount
it behind authentication, or only on an internal listener, in production.
"""

from __future__ import annotations

from typing import Any

import attrs

from gmp.http.context import Context
from gmp.http.server import current_server
from gmp.observe.schedtrace import schedtrace_line
from gmp.runtime.runtime import current_runtime

__all__ = ["mount_debug"]


def sched(c: Context) -> None:
    """The ``/debug/sched`` handler."""
    stats = current_runtime().stats()
    if c.query("format") == "schedtrace":
        c.string(200, schedtrace_line(stats) + "\n")
        return
    out: dict[str, Any] = {"runtime": stats.as_dict()}
    server = current_server()
    if server is not None:
        out["server"] = attrs.asdict(server.stats())
    c.json(200, out)


def mount_debug(app: Any, *, prefix: str = "/debug") -> None:
    """Register ``GET {prefix}/sched``."""
    app.get(prefix + "/sched", sched)
