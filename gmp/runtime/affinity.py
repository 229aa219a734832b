"""Ms that take turns on the GIL share a core while a computing G is handed off.

When sysmon hands the P of a coroutine G that computes without reaching a trap to another
M (gmp._core.preempt.stuck), the two threads take turns on the interpreter: under the GIL
only one runs Python at a time. Left to the OS they run on different cores, and every
object one creates and the other uses crosses between caches. Measured with the spawn
benchmark (100,000 trivial Gs spawned by one G that computes ~0.4 s, then joined, at
procs=1): 201k/s with the handoff, 264k/s without it; the whole process pinned to one core,
298k/s with the handoff. So for as long as the computing G's step lasts, sysmon pins both
threads to the core the computing one is on, and the computing G's M restores both
affinities when the step ends (Go has no counterpart: its Gs are preempted by a signal
and never need a second thread for this).

sysmon also keeps every M on one core while two or more Ps run Python that takes turns
on the GIL, measured and tried again from time to time (gmp._core.onecore;
``Scheduler.cpus`` is the set an unpaired M runs on: every allowed CPU, or that one).

Only where it can help: Linux (``os.sched_setaffinity`` on thread ids), an interpreter
with the GIL (without it the second M would compute in parallel), more than one allowed
CPU. Blocking calls (plain-callable Gs, ``gmp.syscall``) are never pinned: their threads
wait off the CPU, holding no GIL, and the new M should run anywhere.
"""

from __future__ import annotations

import os
import sys

from gmp.observe.log import get_logger

_log = get_logger("gmp.runtime")


def _allowed() -> frozenset[int]:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return frozenset()
    try:
        return frozenset(getter(0))
    except OSError:
        return frozenset()


ALLOWED = _allowed()
"""The CPUs the process may run on, read at import: what an unpinned M goes back to."""


def gil_enabled() -> bool:
    """Whether the interpreter runs with the GIL now: always before 3.13, and on a
    free-threaded build until an extension without free-threading support turns it back
    on at import (``sys._is_gil_enabled``)."""
    return getattr(sys, "_is_gil_enabled", lambda: True)()


ENABLED = hasattr(os, "sched_setaffinity") and len(ALLOWED) > 1 and gil_enabled()
"""Whether sharing a core can help here (see the module docstring)."""


def current_cpu(tid: int) -> int | None:
    """The CPU thread ``tid`` of this process last ran on (field 39 of its stat file)."""
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[36])  # field 39 is the 37th after the name
    except (IndexError, ValueError):
        return None


def pin(tid: int, cpus: frozenset[int] | set[int]) -> bool:
    """Set thread ``tid``'s CPU affinity (0: the calling thread); False if refused."""
    try:
        os.sched_setaffinity(tid, cpus)
    except (OSError, ValueError):
        return False
    return True
