"""Changing the number of Ps at run time (Go's ``procresize``, proc.go).

Go calls procresize with the world stopped: no G runs, so it can destroy Ps freely. gmp
does not stop the world, so this module decides only what is pure and leaves the rest to
the driver:

- **growing** revives Ps from ``sched.allp`` (or creates them) and puts them at the bottom
  of the idle list; the driver wakes an M if there is work (Go's ``startTheWorld`` ->
  ``wakep``);
- **shrinking** retires the highest-numbered Ps, as Go does. Each retired P's ``runnext``
  and local queue move to the *head* of the global queue in their order (Go's
  ``p.destroy`` uses ``globrunqputhead``), so they run before later arrivals; its live
  timers move to a surviving P (Go moves them to the P running procresize; there may be
  none here, so the survivor is ``ps[id % n]``). The P is marked
  :attr:`~gmp._core.p.PStatus.DEAD` and taken off the idle list. Its owner, if any, is
  reported in :attr:`Resize.owners`: the driver must detach it, and the G that M is
  stepping keeps running until it traps, exactly as after a sysmon retake.

``sched.ps`` is always replaced by a new list, never mutated, so a driver may iterate it
without the lock and see either the old Ps or the new ones, never a half-changed list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gmp._core.g import G
from gmp._core.p import P, PStatus
from gmp._core.sched import Sched

MAX_PROCS = 1024
"""Upper bound on Ps, as Go's ``_MaxGomaxprocs``."""


@dataclass(frozen=True, slots=True)
class Resize:
    """What a :func:`procresize` call did, for the driver to finish the job."""

    old: int
    new: int
    added: tuple[P, ...]
    retired: tuple[P, ...]
    owners: tuple[Any, ...]
    """The driver's owner (``p.m``) of each retired P before it was retired, or None."""
    moved_gs: int
    """Gs moved from retired Ps' queues to the global queue."""
    moved_timers: int
    """Live timers moved from retired Ps to survivors."""


def check_procs(n: object, limit: int = MAX_PROCS) -> int:
    """Validate a P count: an int in ``1..limit``; raise TypeError/ValueError otherwise."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"procs must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"procs must be at least 1, got {n}")
    if n > limit:
        raise ValueError(f"procs must be at most {limit}, got {n}")
    return n


def _revive(p: P) -> None:
    p.status = PStatus.IDLE
    p.m = None
    p.preempt = False
    p.sysmon_runtick = -1
    p.sysmon_slice.schedtick = -1
    p.own_slice.schedtick = -1


def retire(sched: Sched, p: P, heir: P) -> tuple[int, int]:
    """Empty ``p`` into the global queue head and ``heir``'s timers; mark it DEAD.

    Returns ``(gs_moved, timers_moved)``. Order is kept: runnext first, then the local
    queue oldest first, all ahead of what the global queue already held.
    """
    gs: list[G] = []
    if p.runnext is not None:
        gs.append(p.runnext)
        p.runnext = None
    gs.extend(p.runq)
    p.runq.clear()
    sched.runq.extendleft(reversed(gs))
    timers = p.timers.drain()
    for t in timers:
        heir.timers.push(t)
    p.status = PStatus.DEAD
    p.m = None
    p.preempt = False
    return len(gs), len(timers)


def procresize(sched: Sched, n: int, limit: int = MAX_PROCS) -> Resize:
    """Set the number of live Ps to ``n`` (Go's procresize, minus stopping the world)."""
    check_procs(n, limit)
    old = len(sched.ps)
    if n == old:
        return Resize(old, n, (), (), (), 0, 0)
    allp = sched.allp
    if n > old:
        if len(allp) < n:
            # A new list, like ps: readers without the lock may be iterating the old one.
            allp = sched.allp = allp + [P(i) for i in range(len(allp), n)]
        added = tuple(allp[old:n])
        for p in added:
            _revive(p)
        sched.ps = allp[:n]
        # Cold Ps go to the bottom of the idle stack: pidleget prefers recently idled ones.
        sched.idle = list(reversed(added)) + sched.idle
        return Resize(old, n, added, (), (), 0, 0)
    survivors = allp[:n]
    retired = tuple(reversed(allp[n:old]))  # highest first, as Go destroys them
    owners = tuple(p.m for p in retired)
    sched.ps = survivors
    sched.idle = [p for p in sched.idle if p.id < n]
    moved_gs = moved_timers = 0
    for p in retired:
        gs, ts = retire(sched, p, survivors[p.id % n])
        moved_gs += gs
        moved_timers += ts
    return Resize(old, n, (), retired, owners, moved_gs, moved_timers)


def live_p(sched: Sched, p: P) -> P:
    """``p`` if it is live, else the survivor that inherited its timers."""
    if p.status is PStatus.DEAD:
        return sched.ps[p.id % len(sched.ps)]
    return p


__all__ = ["MAX_PROCS", "Resize", "check_procs", "live_p", "procresize", "retire"]
