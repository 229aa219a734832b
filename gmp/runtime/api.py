"""The functions user code calls: ``gmp.run``, ``gmp.go``, ``gmp.gosched``, ``gmp.sleep``,
``gmp.syscall``. They find their runtime through the M running the calling G.
"""

from __future__ import annotations

import math
import time
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from gmp.errors import NotInGError
from gmp.runtime.g import G
from gmp.runtime.runtime import Runtime
from gmp.runtime.traps import GOSCHED_TRAP, SLEEP, SYSCALL, YIELD_TRAP, tls

T = TypeVar("T")


def _not_in_g(what: str) -> NotInGError:
    return NotInGError(f"{what} works only inside a G; start one with gmp.run(main) or rt.go(fn)")


def go(fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G:
    """Start a G from inside a G, like Go's ``go`` statement; returns its handle.

    ``fn`` may be an async function (a coroutine G), a plain callable (run as a blocking
    "syscall" G that sysmon protects by handoff) or a coroutine object. The new G gets a
    copy of the caller's contextvars and the caller's P's runnext slot (Go's newproc).
    """
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.go()")
    return m.rt.spawn(fn, args, None, m)


def current_g() -> G:
    """The G running this code (raises NotInGError outside a G)."""
    m = tls.m
    g = m.curg if m is not None else None
    if g is None:
        raise _not_in_g("gmp.current_g()")
    return g


@types.coroutine
def gosched() -> Generator[Any, Any, None]:
    """Yield the P: the G goes to the tail of the global queue (Go's runtime.Gosched)."""
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.gosched()")
    yield GOSCHED_TRAP


@types.coroutine
def sleep(seconds: float) -> Generator[Any, Any, None]:
    """Park the G for ``seconds`` on its P's timer heap (Go's time.Sleep).

    ``sleep(0)`` (or a negative duration) yields to the other Gs of the P instead: the
    G goes to the tail of the local queue, a cheap checkpoint.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"gmp.sleep() takes a number of seconds, got {type(seconds).__name__}")
    if math.isnan(seconds):
        raise ValueError("gmp.sleep() got NaN seconds")
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.sleep()")
    if seconds <= 0:
        yield YIELD_TRAP
    else:
        yield (SLEEP, time.monotonic() + seconds)


@types.coroutine
def syscall(fn: Callable[..., T], *args: Any) -> Generator[Any, Any, T]:
    """Run a blocking call on the G's thread without stalling the G's P.

    Go's entersyscall/exitsyscall: the M keeps its P while the call is short; if it
    blocks longer than ``handoff_after``, sysmon hands the P to another M so the P's other
    Gs keep running. Returns ``fn(*args)`` or raises what it raised.
    """
    if not callable(fn):
        raise TypeError(f"gmp.syscall() needs a callable, got {type(fn).__name__}")
    m = tls.m
    if m is None or m.curg is None:
        raise _not_in_g("gmp.syscall()")
    result: T = yield (SYSCALL, fn, args)
    return result


def run(
    main: Callable[..., Any] | Coroutine[Any, Any, Any],
    *args: Any,
    procs: int | None = None,
    **options: Any,
) -> Any:
    """Start a runtime, run ``main(*args)`` as its first G, return its result, shut down.

    As in Go, when main returns the program is over: Gs still running are cancelled
    (they see gmp.Cancelled at their next checkpoint) before the runtime closes.
    ``options`` go to :class:`Runtime` (``handoff_after``, ``seed``, ...).
    """
    if tls.m is not None and tls.m.curg is not None:
        raise RuntimeError("gmp.run() called inside a G; use gmp.go() to start more Gs")
    rt = Runtime(procs, **options)
    try:
        g = rt.go(main, *args)
        try:
            return g.result()
        except KeyboardInterrupt:
            rt.close(timeout=0)
            raise
    finally:
        rt.close(timeout=0)
