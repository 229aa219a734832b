"""Traps: the small objects a coroutine G yields to talk to its M.

Like trio's ``lowlevel`` traps (``wait_task_rescheduled``, ``cancel_shielded_checkpoint``),
a trap suspends the coroutine and tells the M what to do with the G: requeue it, put it
on a timer, park it, or run a blocking call on its behalf. Each kind is a small slotted
class; the M dispatches on ``type(trap)``. Every trap is a safe point: the M delivers a
pending cancellation and honours a time slice that ran out (``gmp._core.preempt``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gmp._core.p import P
from gmp._core.preempt import safe_point_look

if TYPE_CHECKING:
    from gmp.runtime.g import G
    from gmp.runtime.m import M

Commit = Callable[[Any], bool]
Abort = Callable[[], bool]


class Trap:
    """Base of every trap kind (for isinstance checks and error messages)."""

    __slots__ = ()

    def __repr__(self) -> str:
        names: tuple[str, ...] = type(self).__slots__
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"{type(self).__name__}({fields})"


class Gosched(Trap):
    """Requeue on the global queue's tail (Go's Gosched)."""

    __slots__ = ()


class Yield(Trap):
    """Requeue on the tail of the current P's local queue (``sleep(0)``)."""

    __slots__ = ()


class Preempt(Trap):
    """A safe point an operation that completed without parking yields when its P's time
    slice ran out (Go's preemption check at a function prologue): the G goes to the
    global queue's tail if the slice is still over when the M looks, else it goes on."""

    __slots__ = ()


class Sleep(Trap):
    """Park on the P's timer heap until the runtime clock reaches ``when``."""

    __slots__ = ("when",)

    def __init__(self, when: float) -> None:
        self.when = when


class Park(Trap):
    """Park if ``commit(g)`` (run by the M under the scheduler lock, after the G is off its
    stack) returns True; resume at once if it returns False (Go's gopark with its unlockf).
    ``abort()`` is how cancellation gets the G back (trio's abort_fn); ``reason`` says what
    the G waits for (Go's waitReason: "chan receive", "sync.Mutex.Lock"), for deadlock
    reports and tracebacks."""

    __slots__ = ("abort", "commit", "reason")

    def __init__(self, commit: Commit, abort: Abort | None, reason: str = "park") -> None:
        self.commit = commit
        self.abort = abort
        self.reason = reason


class Syscall(Trap):
    """Run ``fn(*args)`` on the M, keeping the P only until sysmon notices the call blocks
    (Go's entersyscall/exitsyscall)."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args


class Join(Trap):
    """Park until ``target`` finishes, unless it already has."""

    __slots__ = ("target",)

    def __init__(self, target: G[Any]) -> None:
        self.target = target


GOSCHED_TRAP = Gosched()
YIELD_TRAP = Yield()
PREEMPT_TRAP = Preempt()


class _TLS(threading.local):
    """Per-thread state: the M running on this thread, if any."""

    m: M | None = None


tls = _TLS()


def slice_look(m: M, p: P) -> bool:
    """Whether the G at this safe point must give up its P: called when the P's
    countdown of safe points (``p.safe_points``, decremented by every safe point that
    does not reach the M) is spent. That happens when sysmon asked for a preemption
    (gmp._core.preempt.slice_expired zeroes the count as it sets ``p.preempt``) and
    every :data:`~gmp._core.p.SAFE_POINT_LOOK` safe points, when the M looks at the
    slice itself (gmp._core.preempt.safe_point_look).

    So the common path tests the count alone, not the count and ``p.preempt``. Only
    the P's owner decrements the count; sysmon's zero can be overwritten by the owner's
    store of the count it had read, which delays that request by at most the count it
    overwrote (:data:`~gmp._core.p.SAFE_POINT_LOOK` safe points), never loses it: the
    flag stays set, and sysmon zeroes the count again at each look while the slice is
    over.
    """
    return p.preempt or safe_point_look(p, _monotonic(), m.rt.timeslice)


_monotonic = time.monotonic
