"""Snapshots returned by ``rt.stats()``: plain frozen values, safe to keep and compare."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class PStats:
    """One P at the moment of the snapshot."""

    id: int
    status: str
    runq: int
    """Gs in its local queue, runnext included."""
    runs: int
    """Gs it has scheduled (each resumption counts)."""
    steals: int
    """Successful steals it made from other Ps."""
    stolen: int
    """Gs it took in those steals."""
    handoffs: int
    """Times sysmon took it from an M stuck in a blocking call or a long step."""
    preemptions: int
    """Time slices that ran out while runnext Gs kept inheriting them."""
    timers: int
    """Timers pending on its heap."""


@attrs.frozen
class RuntimeStats:
    """The whole runtime at the moment of the snapshot."""

    procs: tuple[PStats, ...]
    global_queue: int
    idle_procs: int
    """Ps on the idle list (Go's npidle)."""
    gs_alive: int
    gs_created: int
    threads: int
    """Ms (OS threads running Gs) created so far, sysmon not counted."""
    threads_alive: int
    idle_threads: int
    spinning_threads: int
    handoffs: int
    steals: int
    spills: int
    """Times a full local queue moved half of itself to the global queue."""
    thread_limit_hits: int
    uptime_ms: int
    procs_changes: int = 0
    """Resizes that changed the P count (``set_procs`` and the autoscaler)."""
    autoscale_changes: int = 0
    """Of those, the autoscaler's."""
    m_crashes: int = 0
    """Ms that died from an internal error and were replaced (self-healing)."""
    autoscale: bool = False
    """Whether the autoscaler is on."""
    netpoll_waiters: int = 0
    """Gs parked on a socket (Go's netpollWaiters)."""
    netpoll_readied: int = 0
    """Gs the network poller has readied so far."""
    netpoll_fds: int = 0
    """Descriptors registered with the poller (connections and listeners open)."""
    one_core_cpu: int | None = None
    """The CPU sysmon keeps the Ms on while they take turns on the GIL, or None
    (gmp._core.onecore)."""
    one_core_pins: int = 0
    """Times sysmon pinned the Ms to one CPU (a confirmed trial counts again)."""

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=True)
        out["procs"] = list(out["procs"])
        return out
