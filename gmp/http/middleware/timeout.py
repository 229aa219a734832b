"""Per-route deadlines: past it the client gets a 504 and the handler's work is dropped.

``app.get("/report", Timeout(2.0), report)`` or ``app.group("/api", Timeout(1.0))``.

How: Go's ``http.TimeoutHandler`` runs the handler in a goroutine and, when its timer
fires first, writes the 503 from the outer one. gmp starts no second G per request for
that: the rest of the chain runs inline, in the request's own G (its connection's G),
and the deadline joins the Timeout's queue of requests in flight, which one runtime
timer (on a P's timer heap, like any ``gmp.sleep``) watches (:class:`_Watch`). When
the deadline passes first:

- the connection is given the ``504 {"error": ...}`` at once (``Exchange.early``): a new
  G takes the connection over, writes the 504 with the headers outer middleware had set
  (request id, trace) and goes on serving the connection, so the client never waits past
  the deadline; a warning is logged (route, timeout, request id);
- the request's G is abandoned: a coroutine handler sees ``gmp.Cancelled`` at its next
  checkpoint (an ``await`` of gmp's); a plain ``def`` handler cannot be interrupted, so
  it runs to its end and what it returns, or raises, is dropped, with an info line saying
  how late it was. When it ends, the Context holds the 504, so outer middleware (the
  access log, metrics) records what the client got. The server counts the G in flight
  until it really ends: nothing leaks and nothing is answered twice.

Which came first, the handler's end or the deadline, is decided once, under a lock. The
deadline covers the chain: a streaming body (``c.stream``) is produced after the chain
returns, and that production is not timed (the server's ``write_timeout`` bounds a slow
client); a streaming response that already began cannot be replaced.

The timer fires on whichever M holds the P: if the handler's thread is the one blocked,
sysmon hands the P (which has the timer, so it has work) to another M after
``handoff_after``, and that M fires it. Cost per request: a dict entry added and dropped
under a lock (1.4 us with the rest of the middleware, ``python -m bench.engine_bench``).
Timeout works in plain and ``async def`` chains alike, so it keeps a plain chain plain.

Called without a server (an Engine invoked directly, as in unit tests), there is no
connection to answer early: a late plain handler's result is replaced by the 504 when it
returns, and a coroutine one is cancelled at its next checkpoint past the deadline.
The 504 can be changed with ``status`` (Go's ``TimeoutHandler`` answers 503) and
``detail``.
"""

from __future__ import annotations

import json
import math
import threading
import time
import weakref
from typing import Any

import gmp
from gmp.errors import RuntimeClosedError
from gmp.http.context import Context, Middleware
from gmp.http.response import Response
from gmp.observe.log import get_logger
from gmp.runtime.traps import tls

_monotonic = time.monotonic

__all__ = ["Timeout"]

_log = get_logger("gmp.http.timeout")


class _Deadline:
    """One request's race between its chain and its deadline (see :class:`_Watch`)."""

    __slots__ = ("c", "exchange", "expired_at", "headers", "kept", "when")

    def __init__(self, when: float, c: Context, exchange: Any) -> None:
        self.when = when
        self.exchange = exchange
        self.expired_at = 0.0
        # Set by the sweep when the connection could not be answered early: the
        # handler's own outcome then stands although its deadline passed.
        self.kept = False
        # A snapshot: the expiry runs on another thread while the chain may write the
        # Context. The fields set so far, as c.writer.header_fields gives them.
        self.headers = list(c._headers or ())
        # What the log lines name is read when they are written: the method, path and
        # route never change, and the id is one dict read (atomic with or without the
        # GIL) of a key set before this middleware ran.
        self.c = c

    @property
    def method(self) -> str:
        return self.c.request.method

    @property
    def path(self) -> str:
        return self.c.request.path

    @property
    def route(self) -> str:
        return self.c.full_path

    @property
    def request_id(self) -> Any:
        keys = self.c.keys
        return None if keys is None else keys.get("request_id")


_GONE = object()


class _Watch:
    """The in-flight deadlines of one Timeout on one runtime, oldest first, and the one
    runtime timer that stands for all of them.

    Go's ``http.TimeoutHandler`` arms a timer per request. gmp did too, and it cost
    three times what the middleware costs in a loop: a per-request timer armed for
    5 s and cancelled a millisecond later stays in its P's heap until a sweep
    (gmp._core.timers), so under load the heap held some 100k dead entries, each a
    tuple, a Timer, a handle and the request's snapshot for the cyclic GC to walk, and
    every push paid a log(n) sift. Measured in ``gmp serve`` at procs=1 (``/ping``,
    ``wrk -c64``): Timeout(5) alone cost 9.2 us a request against 3.1 in a loop.

    All the deadlines of one Timeout are ``seconds`` after their request began, so the
    order they began in is the order they expire in: an insertion-ordered dict is the
    queue, O(1) to add and to drop, and it holds only the requests in flight. One timer,
    armed at the oldest deadline, sweeps the front of the queue when it fires and arms
    itself again at the oldest deadline left; an idle Timeout has no timer. A finished
    request leaves the timer armed at a deadline that may now be early: the sweep then
    finds nothing due and re-arms, at most once per ``seconds``.

    Adding and sweeping take the Timeout's lock, so a request added while the sweep
    finds the queue empty either is seen by it or sees the timer disarmed and arms it.
    The end of the chain takes none: who decides, the end or the deadline, is whoever
    takes the entry out of the dict, and ``dict.pop`` is one atomic operation (under the
    GIL and, on free-threaded builds, under the dict's own lock), so exactly one side
    gets it. Two lock round trips a request were 0.45 of the 1.4 us the middleware added
    (``python -m bench.engine_bench``); one is left.
    """

    __slots__ = ("__weakref__", "armed", "inflight", "mw", "rt")

    def __init__(self, mw: Timeout, rt: Any) -> None:
        self.mw = mw
        # Weak: the Timeout keeps a watch per runtime it served, and a closed runtime
        # must not be kept alive by an app that outlives it (one app, many test servers).
        self.rt = weakref.ref(rt)
        self.inflight: dict[_Deadline, None] = {}
        self.armed = False  # guarded by the Timeout's lock

    def _arm(self, when: float) -> None:
        """Arm the timer at ``when`` (Timeout's lock held; at_func takes the scheduler's,
        which is never held by code that takes a Timeout's)."""
        rt = self.rt()
        if rt is None:
            return
        try:
            rt.at_func(when, self.sweep)
        except RuntimeClosedError:
            return  # stopping: it fires no more timers, and it answers nobody any more
        self.armed = True

    def add(self, d: _Deadline) -> None:
        """A request began: queue its deadline, and arm the timer if none is."""
        lock = self.mw._lock
        lock.acquire()  # not ``with``: once a request (gmp.runtime.park.ready)
        try:
            self.inflight[d] = None
            if not self.armed:
                self._arm(d.when)
        finally:
            lock.release()

    def done(self, d: _Deadline) -> bool:
        """The chain ended: True if in time (we took the entry), else the sweep took it
        and the connection was answered at the deadline (unless it could not be)."""
        return self.inflight.pop(d, _GONE) is not _GONE or d.kept

    def sweep(self) -> None:
        """The timer fired (an M, no scheduler lock): expire what is due, re-arm."""
        mw = self.mw
        now = time.monotonic()
        due: list[_Deadline] = []
        inflight = self.inflight
        with mw._lock:
            after = None
            # A copy: the ends of chains take entries out meanwhile (without the lock).
            for d in list(inflight):
                if d.when > now:
                    after = d.when
                    break
                d.expired_at = now
                if inflight.pop(d, _GONE) is not _GONE:
                    due.append(d)
            self.armed = False
            if after is not None:
                self._arm(after)
        for d in due:
            mw._expire(d)


class Timeout(Middleware):
    """A deadline of ``seconds`` for the rest of the chain (see the module docstring).
    ``expired`` counts the requests it answered."""

    __slots__ = ("_body", "_last", "_lock", "_watches", "detail", "expired", "seconds", "status")

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
        self._body = json.dumps({"error": self.detail}, separators=(",", ":")).encode()
        self.expired = 0
        # Guards the watches' queues, each deadline's outcome and ``expired``.
        self._lock = threading.Lock()
        self._watches: weakref.WeakKeyDictionary[Any, _Watch] = weakref.WeakKeyDictionary()
        # The last (runtime, watch) pair, one attribute so a reader on another thread
        # sees a matching pair: one server is the common case, and it skips the lookup.
        self._last: tuple[Any, _Watch] | None = None

    def _watch(self) -> _Watch | None:
        """The calling G's runtime's watch; None outside a G (no runtime timer there)."""
        m = tls.m
        if m is None or m.curg is None:
            return None
        rt = m.rt
        last = self._last
        if last is not None and last[0] is rt:
            return last[1]
        with self._lock:
            w = self._watches.get(rt)
            if w is None:
                w = self._watches[rt] = _Watch(self, rt)
            self._last = (rt, w)
        return w

    def _expire(self, d: _Deadline) -> None:
        """``d``'s deadline passed first (the sweep's M, no lock): answer the client."""
        if not d.exchange.early(self._response(d.headers)):
            # Too late to replace (a streaming response began) or nobody to answer (the
            # connection is gone): the handler's own outcome stands.
            d.kept = True
            return
        self._count()
        _log.warning(
            "request timed out",
            method=d.method,
            path=d.path,
            route=d.route,
            timeout_s=self.seconds,
            request_id=d.request_id,
        )

    def _finish(self, w: _Watch, d: _Deadline, exc: BaseException | None) -> bool:
        """The chain ended; True if in time, else False after logging the late end."""
        if w.done(d):
            return True
        _log.info(
            "timed-out handler finished; its result was discarded",
            route=d.route,
            ms_late=round((time.monotonic() - d.expired_at) * 1000, 3),
            request_id=d.request_id,
            error=repr(exc) if exc is not None else None,
        )
        return False

    def _count(self) -> None:
        with self._lock:
            self.expired += 1

    def _response(self, headers: list[tuple[str, str]]) -> Response:
        kept = [(k, v) for k, v in headers if k.lower() != "content-type"]
        kept.append(("content-type", "application/json"))
        return Response(self.status, kept, self._body)

    def _late(self, c: Context) -> None:
        """The Context holds what the client got, for outer middleware."""
        c.abort()
        c.writer.reset()
        c.json(self.status, {"error": self.detail})

    # -- with a server: the connection answers at the deadline -------------------------

    def __call__(self, c: Context) -> None:
        exchange = c.request.exchange
        if exchange is None:
            self._plain_without_server(c)
            return
        # _watch()'s common case written out: the runtime of the last request.
        m = tls.m
        last = self._last
        if m is not None and last is not None and last[0] is m.rt and m.curg is not None:
            w: _Watch | None = last[1]
        else:
            w = self._watch()
            if w is None:
                c.next()  # outside a G there is no runtime timer to race against
                return
        assert w is not None
        d = _Deadline(_monotonic() + self.seconds, c, exchange)
        w.add(d)
        try:
            c.next()
        except Exception as e:
            if self._finish(w, d, e):
                raise  # in time: on to Recovery
            self._late(c)  # too late for anyone to see it; logged
            return
        except BaseException as e:  # gmp.Cancelled: abandoned at the deadline, or shutdown
            if not self._finish(w, d, e):
                self._late(c)
            raise
        # _finish(w, d, None)'s in-time case written out (w.done: see _Watch).
        if w.inflight.pop(d, _GONE) is _GONE and not d.kept and not self._finish(w, d, None):
            self._late(c)

    async def call_async(self, c: Context) -> None:
        exchange = c.request.exchange
        if exchange is None:
            await self._async_without_server(c)
            return
        w = self._watch()
        if w is None:
            await c.next()  # outside a G there is no runtime timer to race against
            return
        d = _Deadline(_monotonic() + self.seconds, c, exchange)
        w.add(d)
        try:
            await c.next()
        except Exception as e:
            if self._finish(w, d, e):
                raise  # in time: on to Recovery
            self._late(c)  # too late for anyone to see it; logged
            return
        except BaseException as e:  # gmp.Cancelled: abandoned at the deadline, or shutdown
            if not self._finish(w, d, e):
                self._late(c)
            raise
        # _finish(w, d, None)'s in-time case written out, as in __call__.
        if w.inflight.pop(d, _GONE) is _GONE and not d.kept and not self._finish(w, d, None):
            self._late(c)

    # -- without a server ------------------------------------------------------------

    def _expire_inline(self, c: Context, started: float) -> None:
        self._count()
        _log.warning(
            "request timed out",
            method=c.request.method,
            path=c.request.path,
            route=c.full_path,
            timeout_s=self.seconds,
            ms=round((time.monotonic() - started) * 1000, 3),
            request_id=c.get("request_id"),
        )
        self._late(c)

    def _plain_without_server(self, c: Context) -> None:
        started = time.monotonic()
        c.next()
        if time.monotonic() - started > self.seconds:
            self._expire_inline(c, started)

    async def _async_without_server(self, c: Context) -> None:
        started = time.monotonic()
        with gmp.move_on_after(self.seconds) as scope:
            await c.next()
        if scope.cancelled_caught or time.monotonic() - started > self.seconds:
            self._expire_inline(c, started)

    def __repr__(self) -> str:
        return f"Timeout({self.seconds:g})"
