"""Go-style schedtrace lines (``GODEBUG=schedtrace=X``) and ``GMP_DEBUG`` parsing.

Go prints, every X ms::

    SCHED 2013ms: gomaxprocs=4 idleprocs=1 threads=7 spinningthreads=0 idlethreads=2
    runqueue=0 [3 0 12 1]

gmp prints the same fields, then per-P steals and handoffs so work stealing and sysmon
retakes are visible at a glance::

    SCHED 2013ms: gomaxprocs=4 idleprocs=1 threads=7 spinningthreads=0 idlethreads=2
    runqueue=0 gs=40 [3 0 12 1] steals=[0 5 2 1] handoffs=[1 0 0 0]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gmp.runtime.stats import RuntimeStats


def parse_gmp_debug(value: str | None = None) -> dict[str, int]:
    """Parse ``GMP_DEBUG`` (``schedtrace=1000,scheddetail=1``) like Go parses GODEBUG."""
    if value is None:
        value = os.environ.get("GMP_DEBUG", "")
    out: dict[str, int] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"GMP_DEBUG entry {item!r} is not key=value (e.g. schedtrace=1000)")
        try:
            out[key.strip()] = int(raw)
        except ValueError:
            raise ValueError(
                f"GMP_DEBUG entry {item!r}: value must be an integer (e.g. schedtrace=1000)"
            ) from None
    return out


def schedtrace_line(stats: RuntimeStats) -> str:
    """Format one schedtrace line from a stats snapshot."""
    procs = stats.procs
    idle = stats.idle_procs
    qs = " ".join(str(p.runq) for p in procs)
    steals = " ".join(str(p.steals) for p in procs)
    handoffs = " ".join(str(p.handoffs) for p in procs)
    return (
        f"SCHED {stats.uptime_ms}ms: gomaxprocs={len(procs)} idleprocs={idle} "
        f"threads={stats.threads} spinningthreads={stats.spinning_threads} "
        f"idlethreads={stats.idle_threads} runqueue={stats.global_queue} gs={stats.gs_alive} "
        f"[{qs}] steals=[{steals}] handoffs=[{handoffs}]"
    )


def fields(stats: RuntimeStats) -> Mapping[str, object]:
    """Structured counterpart of :func:`schedtrace_line` for JSON log renderers."""
    return stats.as_dict()
