"""Traps: the small objects a coroutine G yields to talk to its M.

Like trio's ``lowlevel`` traps (``wait_task_rescheduled``, ``cancel_shielded_checkpoint``),
a trap suspends the coroutine and tells the M what to do with the G: requeue it, put it
on a timer, park it, or run a blocking call on its behalf. Each is a tuple whose first
item is the trap kind; the M dispatches on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gmp.runtime.m import M

GOSCHED = 1
"""Requeue on the global queue (Go's Gosched)."""
YIELD = 2
"""Requeue on the tail of the current P's local queue (``sleep(0)``)."""
SLEEP = 3
"""``(SLEEP, when)``: park on the P's timer heap until the runtime clock reaches ``when``."""
PARK = 4
"""``(PARK, commit, abort)``: park, if ``commit(g)`` (run by the M under the scheduler lock,
after the G is off its stack) returns True; resume at once if it returns False (Go's gopark
with its unlockf). ``abort()`` is how cancellation gets the G back (trio's abort_fn)."""
SYSCALL = 5
"""``(SYSCALL, fn, args)``: run ``fn(*args)`` on the M, keeping the P only until sysmon
notices the call blocks (Go's entersyscall/exitsyscall)."""

JOIN = 6
"""``(JOIN, target)``: park until ``target`` finishes, unless it already has."""

GOSCHED_TRAP = (GOSCHED,)
YIELD_TRAP = (YIELD,)

Commit = Callable[[Any], bool]
Abort = Callable[[], bool]


class _TLS(threading.local):
    """Per-thread state: the M running on this thread, if any."""

    m: M | None = None


tls = _TLS()
