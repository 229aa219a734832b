"""Per-route deadlines: past it the client gets a 504 and the handler's work is dropped.

``app.get("/report", Timeout(2.0), report)`` or ``app.group("/api", Timeout(1.0))``.

How (Go's ``http.TimeoutHandler``, which runs the handler in a goroutine and answers 503
from the outer one when its timer fires): the rest of the chain runs in a child G on a
*fork* of the Context (same request, params and values, its own response), while the
request's G waits for it with a deadline (``gmp.move_on_after`` around ``join``):

- the child finishes in time: its response becomes the request's (and an exception it
  raised travels on to Recovery, as it would without the timeout);
- the deadline passes first: the client gets ``504 {"error": ...}`` at once, a warning
  is logged (route, timeout, request id), and the child is cancelled. A coroutine
  handler sees ``gmp.Cancelled`` at its next checkpoint (an ``await`` of gmp's); a plain
  ``def`` handler cannot be interrupted, so it runs to its end and what it returns is
  discarded, with an info line saying how late it was. Its writes go to the fork, so
  there is never a second response, and the child G always ends: nothing leaks.

A plain rest of the chain runs as a plain-callable child G (a blocking handler costs its
thread; sysmon hands the P on, so the waiting G's timer still fires on time); otherwise
a coroutine child. Timeout itself is an ``async def`` middleware, so a chain holding it
runs as a coroutine G: plain middleware *before* it must not call ``c.next()`` (the
built-ins are fine; see :mod:`gmp.http.context`). The 504 can be changed with ``status``
(Go's ``TimeoutHandler`` answers 503) and ``detail``.
"""

from __future__ import annotations

import math
import threading
import time

import gmp
from gmp.http.context import ABORT_INDEX, Context
from gmp.observe.log import get_logger

__all__ = ["Timeout"]

_log = get_logger("gmp.http.timeout")


def fork(c: Context) -> Context:
    """A Context that continues ``c``'s chain from where it is, writing its own response."""
    f = Context(c.request, c.params, c._chain, c.engine)
    f.keys = dict(c.keys) if c.keys else None
    f._index = c._index
    f._status = c._status
    f._headers = list(c._headers) if c._headers else None
    f._body = c._body
    f._result = c._result
    return f


def adopt(c: Context, f: Context) -> None:
    """Take the forked chain's outcome as ``c``'s own."""
    c.keys = f.keys
    c._status = f._status
    c._headers = f._headers
    c._body = f._body
    c._result = f._result
    c.errors.extend(f.errors)
    c._index = f._index if f._index >= ABORT_INDEX else len(c._chain.handlers)


class _Run:
    """One child's bookkeeping, shared by the waiting G and the child (under ``lock``)."""

    __slots__ = ("expired", "expired_at", "lock", "route")

    def __init__(self, route: str) -> None:
        self.lock = threading.Lock()
        self.expired = False
        self.expired_at = 0.0
        self.route = route

    def finished(self, f: Context) -> None:
        with self.lock:
            late = self.expired
            at = self.expired_at
        if late:
            _log.info(
                "timed-out handler finished; its result was discarded",
                route=self.route,
                ms_late=round((time.monotonic() - at) * 1000, 3),
                request_id=f.get("request_id"),
            )


def _child_plain(f: Context, run: _Run) -> None:
    try:
        f._in_async = False
        f.next()
    finally:
        run.finished(f)


async def _child_async(f: Context, run: _Run, scope: gmp.CancelScope) -> None:
    try:
        with scope:
            f._in_async = True
            await f._run_async()
    finally:
        run.finished(f)


class Timeout:
    """A deadline of ``seconds`` for the rest of the chain (see the module docstring)."""

    __slots__ = ("_count_lock", "detail", "expired", "seconds", "status")

    def __init__(self, seconds: float, *, status: int = 504, detail: str | None = None) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"Timeout(seconds) needs a number, got {type(seconds).__name__}")
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError(f"Timeout(seconds) must be positive and finite, got {seconds!r}")
        if not 400 <= status <= 599:
            raise ValueError(f"Timeout status must be an error status (4xx/5xx), got {status}")
        self.seconds = float(seconds)
        self.status = status
        self.detail = detail or f"the handler did not finish within {self.seconds:g} s"
        self.expired = 0  # requests answered by this timeout (read: metrics, tests)
        self._count_lock = threading.Lock()

    async def __call__(self, c: Context) -> None:
        f = fork(c)
        run = _Run(c.full_path)
        scope = gmp.CancelScope()
        chain = c._chain
        if c._index + 1 >= chain.sync_from:
            child = gmp.go(_child_plain, f, run)
        else:
            child = gmp.go(_child_async, f, run, scope)
        try:
            with gmp.move_on_after(self.seconds):
                await child.join()
        except BaseException:
            # The child raised (on to Recovery), or we are being cancelled (shutdown, the
            # client is gone): either way the child must not outlive us.
            scope.cancel()
            raise
        if not child.done():
            with run.lock:
                done = child.done()
                if not done:
                    run.expired = True
                    run.expired_at = time.monotonic()
            if not done:
                scope.cancel()
                with self._count_lock:
                    self.expired += 1
                _log.warning(
                    "request timed out",
                    method=c.request.method,
                    path=c.request.path,
                    route=c.full_path,
                    timeout_s=self.seconds,
                    request_id=c.get("request_id"),
                )
                c.abort()
                c._result = None
                c.json(self.status, {"error": self.detail})
                return
        adopt(c, f)  # (an exception of the child's was raised by join, for Recovery)

    def __repr__(self) -> str:
        return f"Timeout({self.seconds:g})"
