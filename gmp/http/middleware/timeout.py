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
  ``def`` handler cannot be interrupted, so it runs to its end and what it returns (or
  raises) is discarded, with an info line saying how late it was. Its writes go to the
  fork, so there is never a second response, and the child G always ends: nothing leaks.
  Which came first, the child's end or the deadline, is decided once, under a lock.

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
    """One child's fate, decided once under ``lock``: it finished first, or the deadline
    did (then whatever it produces later is dropped)."""

    __slots__ = ("done", "expired", "expired_at", "lock", "route")

    def __init__(self, route: str) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.expired = False
        self.expired_at = 0.0
        self.route = route

    def expire(self) -> bool:
        """The waiting G gives up; False if the child finished first (take its outcome)."""
        with self.lock:
            if self.done:
                return False
            self.expired = True
            self.expired_at = time.monotonic()
            return True

    def finish(self, f: Context, exc: BaseException | None) -> bool:
        """The child ends; False (and an info line) if nobody waits for its outcome."""
        with self.lock:
            self.done = True
            late = self.expired
        if late:
            _log.info(
                "timed-out handler finished; its result was discarded",
                route=self.route,
                ms_late=round((time.monotonic() - self.expired_at) * 1000, 3),
                request_id=f.get("request_id"),
                error=repr(exc) if exc is not None else None,
            )
        return not late


def _child_plain(f: Context, run: _Run) -> None:
    try:
        f._in_async = False
        f._run_sync()
    except BaseException as e:
        if run.finish(f, e):
            raise  # joined by the waiting G: on to Recovery
        return  # too late for anyone to see it; logged
    run.finish(f, None)


async def _child_async(f: Context, run: _Run, scope: gmp.CancelScope) -> None:
    try:
        with scope:  # cancelled before we entered it: cancelled at our first checkpoint
            f._in_async = True
            await f._run_async()
    except BaseException as e:
        if run.finish(f, e):
            raise
        return
    run.finish(f, None)


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
        scope = None
        if c._index + 1 >= c._chain.sync_from:
            child = gmp.go(_child_plain, f, run)
        else:
            scope = gmp.CancelScope()
            child = gmp.go(_child_async, f, run, scope)
        try:
            with gmp.move_on_after(self.seconds) as deadline:
                await child.join()
            if deadline.cancelled_caught:
                if run.expire():
                    if scope is not None:
                        scope.cancel()
                    self._answer(c)
                    return
                await child.join()  # it finished just as the deadline passed
        except BaseException:
            # The child raised (joined: on to Recovery), or we are being cancelled
            # (shutdown, the client is gone): the child must not outlive us, and what it
            # does later is nobody's.
            run.expire()
            if scope is not None:
                scope.cancel()
            raise
        adopt(c, f)

    def _answer(self, c: Context) -> None:
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
        c.json(self.status, {"error": self.detail})

    def __repr__(self) -> str:
        return f"Timeout({self.seconds:g})"
