"""gopark / goready for code that builds blocking primitives on the runtime.

A primitive (channel, mutex, ...) keeps its own ``threading.Lock``. To block, a G takes
that lock, enqueues itself, and awaits :func:`park` with a ``commit`` that releases the
lock. The M runs ``commit`` only after the coroutine is suspended, under the scheduler
lock, so a waker that takes the primitive's lock next finds a G that is really parked
(Go's gopark with its unlockf). ``abort`` is how cancellation takes the G back: it must
take the primitive's lock, remove the G if it is still queued and return True, or return
False if a waker already dequeued it (trio's abort_fn).

Lock order is always: a primitive's lock, then the scheduler lock. A waker dequeues a G
under the primitive's lock and calls :func:`ready` after releasing it (or while holding
it: ``ready`` only takes the scheduler lock).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Generator
from typing import Any

from gmp._core.place import goready, preempt_due
from gmp.errors import NotInGError
from gmp.runtime.g import G, cancel_exc
from gmp.runtime.traps import PREEMPT_TRAP, Park, slice_look, tls


@types.coroutine
def park(
    commit: Callable[[G[Any]], bool], abort: Callable[[], bool] | None, reason: str = "park"
) -> Generator[Any, Any, Any]:
    """Suspend the current G until :func:`ready` (Go's gopark). Returns what the waker
    sent (``g.send``), or raises what it threw (``g.throw``, e.g. Cancelled). ``reason``
    names the wait in deadlock reports (Go's waitReason)."""
    m = tls.m
    if m is None:
        value = yield Park(commit, abort, reason)
        return value
    # The M's own Park, refilled: it acts on the trap before it steps anything else, so
    # one per M is enough, and a park allocates nothing (a Park costs 110 ns to create).
    t = m.parktrap
    t.commit = commit
    t.abort = abort
    t.reason = reason
    value = yield t
    return value


def ready(g: G[Any], value: Any = None, exc: BaseException | None = None) -> None:
    """Make a parked G runnable on the waker's P (Go's goready); deliver ``value``/``exc``.

    Scheduler.ready's body, inlined: every channel hand-off and lock release readies a G
    through here (two per ping-pong round trip, which went from 4.69 to 4.49 us at procs=1
    against a baseline that drifted 5.53 -> 5.35 between the runs: a call each, within
    the noise).

    The lock is taken with ``acquire``/``release`` in ``try``/``finally``, not ``with``:
    in CPython 3.11 ``with`` looks up ``__enter__`` and ``__exit__`` on the type, binds
    both and calls ``__exit__`` with three arguments, about 1k instructions against the
    critical section's few hundred. A ping-pong round trip: 44.7k -> 42.6k instructions
    (callgrind, procs=1). The runtime's hot paths take their locks this way."""
    rt = g.rt
    m = tls.m
    lock = rt.lock
    lock.acquire()  # not ``with``: no __enter__/__exit__ calls (see below)
    try:
        g.send = value
        if exc is not None:
            g.throw = exc
        if goready(rt.core, m.p if m is not None and m.rt is rt else None, g):
            rt.wakep()
    finally:
        lock.release()


def current() -> G[Any]:
    """The running G, or NotInGError naming what needs one."""
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise NotInGError("this gmp operation works only inside a G")
    return g


def safe_point_due(g: G[Any]) -> bool:
    """The safe point of an operation that completes without parking (Go's prologue
    check): raise a due cancellation now, and return whether the P's time slice ran out,
    so the caller must ``await checkpoint(g)``. A G inside a cancelled scope pays a
    synchronous check, not a coroutine; one inside scopes nobody cancelled (every
    TaskGroup child) pays two attribute loads (``G.scope_cancelled``)."""
    if g.cancel_pending is not None or g.scope_cancelled:
        raise_if_cancelled(g)
    m = tls.m
    if m is None:
        return False
    p = m.p
    if p is None:
        return False
    p.safe_points = n = p.safe_points - 1
    return n <= 0 and slice_look(m, p)


@types.coroutine
def checkpoint(g: G[Any]) -> Generator[Any, Any, None]:
    """A safe point for an operation that will not park: raise a due cancellation, and
    give up the P if its time slice ran out (the M puts the G on the global tail)."""
    raise_if_cancelled(g)
    m = tls.m
    if m is not None and preempt_due(m.p):
        yield PREEMPT_TRAP
        raise_if_cancelled(g)  # cancelled while it waited on the global queue (gosched)


def raise_if_cancelled(g: G[Any]) -> None:
    """A checkpoint that does not block: raise the G's due cancellation, if any."""
    if g.cancel_pending is not None or g.scope_cancelled:
        exc = cancel_exc(g)
        if exc is not None:
            raise exc
