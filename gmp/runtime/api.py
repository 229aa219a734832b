"""The functions user code calls: ``gmp.run``, ``gmp.go``, ``gmp.gosched``, ``gmp.sleep``,
``gmp.syscall``. They find their runtime through the M running the calling G.
"""

from __future__ import annotations

import contextlib
import time
import types
from collections.abc import Callable, Coroutine, Generator
from inspect import CO_COROUTINE, CO_GENERATOR, CO_ITERABLE_COROUTINE
from typing import Any, ParamSpec, TypeVar, overload

from gmp._core.g import RUNNING as _G_RUNNING
from gmp._core.p import PStatus
from gmp._core.sched import entersyscall
from gmp.errors import NotInGError
from gmp.runtime.g import G
from gmp.runtime.park import raise_if_cancelled
from gmp.runtime.runtime import Runtime
from gmp.runtime.traps import GOSCHED_TRAP, PREEMPT_TRAP, YIELD_TRAP, Sleep, Syscall, tls

T = TypeVar("T")
R = TypeVar("R")
PS = ParamSpec("PS")


def _not_in_g(what: str) -> NotInGError:
    return NotInGError(f"{what} works only inside a G; start one with gmp.run(main) or rt.go(fn)")


@overload
def go(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> G[T]: ...
@overload
def go(fn: Coroutine[Any, Any, T]) -> G[T]: ...
@overload
def go(fn: Callable[..., T], *args: Any) -> G[T]: ...
def go(fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G[Any]:
    """Start a G from inside a G, like Go's ``go`` statement; returns its handle.

    The handle is typed by the G's result: ``gmp.go(fetch, url)`` with ``async def
    fetch(...) -> bytes`` is a ``G[bytes]``, whose ``await h.join()`` is ``bytes``.

    ``fn`` may be an async function (a coroutine G), a plain callable (run as a blocking
    "syscall" G that sysmon protects by handoff) or a coroutine object. The new G gets a
    copy of the caller's contextvars and the caller's P's runnext slot (Go's newproc).
    """
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.go()")
    return m.rt.spawn(fn, args, None, m)


def current_g() -> G[Any]:
    """The G running this code (raises NotInGError outside a G)."""
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise _not_in_g("gmp.current_g()")
    return g


def _native_coroutine(
    qualname: str,
) -> Callable[[Callable[PS, Generator[Any, Any, R]]], Callable[PS, Coroutine[Any, Any, R]]]:
    """Turn a one-trap generator function into a coroutine function, at no cost per call.

    Why: a forgotten ``await gmp.sleep(1)`` must not pass silently. CPython warns about a
    coroutine that is dropped unstarted (``RuntimeWarning: coroutine 'gmp.sleep' was never
    awaited``, at the line that dropped it, with the creation site under
    ``sys.set_coroutine_origin_tracking_depth`` or tracemalloc, and an "Exception ignored"
    report under ``-W error``), but not about a ``@types.coroutine`` generator. So the
    generator's code object is re-flagged ``CO_COROUTINE``: calling the function then makes a
    native coroutine whose single frame yields the trap itself. Measured per ``await``: a
    ``@types.coroutine`` generator 114 ns, this 118 ns, an ``async def`` awaiting an inner
    trap generator 203 ns, a slotted class with ``__await__`` and ``__del__`` 274 ns
    (gosched costs 0.7-0.9 us in all). An interpreter that does not run the re-flagged code
    (checked once at import) gets the ``async def`` wrapper instead.
    """

    def wrap(gen_fn: Callable[PS, Generator[Any, Any, R]]) -> Callable[PS, Coroutine[Any, Any, R]]:
        fn: Any
        if _REFLAG_WORKS:
            fn = _reflagged(gen_fn)
        else:  # pragma: no cover - only on interpreters that refuse the re-flagged code
            inner: Callable[..., Any] = types.coroutine(gen_fn)

            async def fn(*args: Any) -> Any:
                return await inner(*args)

        fn.__name__ = gen_fn.__name__
        fn.__qualname__ = qualname  # the name in the never-awaited warning
        fn.__doc__ = gen_fn.__doc__
        fn.__module__ = gen_fn.__module__
        fn.__annotations__ = dict(gen_fn.__annotations__)
        result: Callable[PS, Coroutine[Any, Any, R]] = fn
        return result

    return wrap


def _reflagged(gen_fn: Callable[..., Any]) -> Callable[..., Any]:
    code: types.CodeType = gen_fn.__code__
    flags = (code.co_flags & ~(CO_GENERATOR | CO_ITERABLE_COROUTINE)) | CO_COROUTINE
    return types.FunctionType(
        code.replace(co_flags=flags),
        gen_fn.__globals__,
        gen_fn.__name__,
        gen_fn.__defaults__,
        gen_fn.__closure__,
    )


def _probe_reflag() -> bool:
    """True if this interpreter runs a re-flagged generator as a native coroutine."""

    def gen(x: int) -> Generator[int, int, int]:
        return (yield x) + 1

    try:
        coro = _reflagged(gen)(41)
        if not isinstance(coro, types.CoroutineType):
            return False
        if coro.send(None) != 41:
            return False
        try:
            coro.send(1)
        except StopIteration as stop:
            return bool(stop.value == 2)
        return False
    except Exception:  # pragma: no cover - any failure means: use the wrapper
        return False


_REFLAG_WORKS = _probe_reflag()

native_coroutine = _native_coroutine
"""The same decorator for gmp's blocking primitives (gmp.chan's channel operations):
``await ch.send(v)`` is then one frame that yields the park trap itself."""


@_native_coroutine("gmp.gosched")
def gosched() -> Generator[Any, Any, None]:
    """Yield the P: the G goes to the tail of the global queue (Go's runtime.Gosched).

    A coroutine: ``await gmp.gosched()``; dropping it unawaited warns. A checkpoint: a
    cancellation due before the yield, or made while the G waited to run again (a
    deadline that passed meanwhile), is raised here.
    """
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise _not_in_g("gmp.gosched()")
    yield GOSCHED_TRAP
    # trio's checkpoint() takes the schedule point first and the cancel point after it,
    # so that a deadline the scheduler processed during the yield is seen at this
    # checkpoint. The M checks before the yield (M._schedule); this is the after. Without
    # it, ``with move_on_at(past): await gosched()`` ran on past its deadline, and a
    # scope whose only checkpoint came after its deadline never caught it
    # (tests/sync/test_cancel_deadlines.py). Two attribute loads when nothing is due.
    if g.scope_cancelled or g.cancel_pending is not None:
        raise_if_cancelled(g)


@_native_coroutine("gmp.sleep")
def _sleep(seconds: float) -> Generator[Any, Any, None]:
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.sleep()")
    yield Sleep(time.monotonic() + seconds)


@_native_coroutine("gmp.sleep")
def _yield() -> Generator[Any, Any, None]:
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise _not_in_g("gmp.sleep()")
    yield YIELD_TRAP
    if g.scope_cancelled or g.cancel_pending is not None:  # the cancel point: see gosched
        raise_if_cancelled(g)


def sleep(seconds: float) -> Coroutine[Any, Any, None]:
    """Park the G for ``seconds`` on its P's timer heap (Go's time.Sleep).

    ``sleep(0)`` (or a negative duration) yields to the other Gs of the P instead: the
    G goes to the tail of the local queue, a cheap checkpoint. A bad argument raises here,
    at the call; the duration starts at the ``await``, which must happen inside a G
    (NotInGError otherwise: the coroutine may be made anywhere, e.g. ``rt.go(gmp.sleep(1))``).
    A sleep never awaited warns, as a never-awaited coroutine does.
    """
    # sleep(0) is a checkpoint in hot loops: exact-type tests before isinstance over a
    # union, and a coroutine of its own for the yield, took a sleep(0) round from 0.98 to
    # 0.83 us at procs=1 (two Gs, 100k rounds each).
    cls = seconds.__class__
    if (cls is not int and cls is not float) and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float)
    ):
        raise TypeError(f"gmp.sleep() takes a number of seconds, got {type(seconds).__name__}")
    if seconds <= 0:
        return _yield()
    if seconds != seconds:
        raise ValueError("gmp.sleep() got NaN seconds")
    return _sleep(seconds)


@_native_coroutine("gmp.syscall")
def _syscall(fn: Callable[..., Any], args: tuple[Any, ...]) -> Generator[Any, Any, Any]:
    """Go's entersyscall ... exitsyscall, run by the G itself on its M.

    Go's entersyscall is a few stores: the G stays on its thread and the P is marked so
    sysmon can retake it. Here too: the G marks its P (under the scheduler lock, which the
    M does not hold while a G runs) and calls ``fn`` in place, instead of yielding a trap
    the M would act on: that trip through the M and back up the G's await chain cost
    about 1.3 us of a 35 us HTTP request (a plain handler is one syscall). Only when the
    P is gone on return (sysmon handed it off, a resize retired it) or its time slice ran
    out does the G yield, a Preempt trap, and the M requeues it (Go's exitsyscall0) or
    sends it to the global tail. A due cancellation is raised on return, dropping the
    result, as the M's path does."""
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise _not_in_g("gmp.syscall()")
    assert m is not None
    lock = m.rt.lock
    # acquire/release, not ``with`` (gmp.runtime.park.ready says why); twice per call.
    lock.acquire()
    try:
        p = m.p
        if p is not None:
            entersyscall(p, g)
    finally:
        lock.release()
    if p is None:  # no P to mark (lost while the G ran): the M's path handles it
        result = yield Syscall(fn, args)
        return result
    err: BaseException | None = None
    try:
        result = fn(*args)
    except BaseException as e:
        err = e
        result = None
    lock.acquire()
    try:
        g.status = _G_RUNNING
        kept = m.p is p
        if kept:
            p.status = _P_RUNNING
            p.runtick += 1
    finally:
        lock.release()
    if not kept or p.preempt:
        yield PREEMPT_TRAP  # the M requeues a G without a P, or preempts it
    elif g.cancel_pending is not None or g.scope_cancelled:
        raise_if_cancelled(g)
    if err is not None:
        try:
            raise err
        finally:
            err = None  # no cycle through this frame's traceback
    return result


def syscall(fn: Callable[..., T], *args: Any) -> Coroutine[Any, Any, T]:
    """Run a blocking call on the G's thread without stalling the G's P.

    Go's entersyscall/exitsyscall: the M keeps its P while the call is short; if it
    blocks longer than ``handoff_after``, sysmon hands the P to another M so the P's other
    Gs keep running. Returns ``fn(*args)`` or raises what it raised. A non-callable
    raises here, at the call; ``fn`` runs at the ``await`` (inside a G, else
    NotInGError). A syscall never awaited warns, as a never-awaited coroutine does, and
    never runs ``fn``.
    """
    if not callable(fn):
        raise TypeError(f"gmp.syscall() needs a callable, got {type(fn).__name__}")
    coro: Coroutine[Any, Any, T] = _syscall(fn, args)
    return coro


_P_RUNNING = PStatus.RUNNING

_INTERRUPT_GRACE = 0.1
"""Seconds cancelled Gs get to unwind after Ctrl-C (``cancel_grace`` if that is shorter)."""


@overload
def run(
    main: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    procs: int | None = None,
    unjoined_errors: str = "log",
    **options: Any,
) -> T: ...
@overload
def run(
    main: Coroutine[Any, Any, T],
    *,
    procs: int | None = None,
    unjoined_errors: str = "log",
    **options: Any,
) -> T: ...
@overload
def run(
    main: Callable[..., T],
    *args: Any,
    procs: int | None = None,
    unjoined_errors: str = "log",
    **options: Any,
) -> T: ...
def run(
    main: Callable[..., Any] | Coroutine[Any, Any, Any],
    *args: Any,
    procs: int | None = None,
    unjoined_errors: str = "log",
    **options: Any,
) -> Any:
    """Start a runtime, run ``main(*args)`` as its first G, return its result, shut down.

    As in Go, when main returns the program is over: Gs still running are cancelled
    (they see gmp.Cancelled at their next checkpoint) before the runtime closes.
    ``options`` go to :class:`Runtime` (``handoff_after``, ``seed``, ...).

    When every G is parked and nothing can wake one (no timer, no blocking call, no
    outside waiter), the run raises :class:`gmp.DeadlockError` naming each parked G and
    what it waits on (Go's "all goroutines are asleep"). ``unjoined_errors="raise"``
    gives Go's crash semantics: an exception escaping a G that nobody joins ends the run
    and is raised here; the default ``"log"`` logs it and goes on
    (:meth:`Runtime.run_main`).

    Ctrl-C (KeyboardInterrupt in the waiting thread) cancels every G, gives them
    ``_INTERRUPT_GRACE`` to unwind instead of the full ``cancel_grace`` (a G stuck in a
    blocking call would hold it all), and raises the KeyboardInterrupt: one traceback, at
    the first press, as a Go program dies at its first SIGINT. A second press while the
    runtime closes only stops the waiting; it does not chain a second traceback.
    """
    if tls.m is not None and tls.m.curg is not None:
        raise RuntimeError("gmp.run() called inside a G; use gmp.go() to start more Gs")
    rt = Runtime(procs, **options)
    interrupted = False
    try:
        return rt.run_main(main, *args, unjoined_errors=unjoined_errors)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted:
            _close_after_interrupt(rt)
        else:
            rt.close(timeout=0)


def _close_after_interrupt(rt: Runtime) -> None:
    """Close ``rt`` quickly after Ctrl-C; swallow a second Ctrl-C that lands meanwhile
    (the first is already propagating, and a chained second traceback only confuses)."""
    rt.cancel_grace = min(rt.cancel_grace, _INTERRUPT_GRACE)
    with contextlib.suppress(KeyboardInterrupt):
        rt.close(timeout=0)
