"""Per-route deadlines: past it the client gets a 504 and the handler's work is dropped.

``app.get("/report", Timeout(2.0), report)`` or ``app.group("/api", Timeout(1.0))``.

How: Go's ``http.TimeoutHandler`` runs the handler in a goroutine and, when its timer
fires first, writes the 503 from the outer one. gmp starts no second G per request for
that: the rest of the chain runs inline, in the request's own G (its connection's G),
and a runtime timer (on the P's timer heap, like any ``gmp.sleep``) is armed for the
deadline. When it fires first:

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
``handoff_after``, and that M fires it. Cost per request: one timer armed and cancelled.
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
from typing import Any

import gmp
from gmp.http.context import Context, Middleware
from gmp.http.response import Response
from gmp.observe.log import get_logger
from gmp.runtime.runtime import TimerHandle
from gmp.runtime.traps import tls

__all__ = ["Timeout"]

_log = get_logger("gmp.http.timeout")


class _Deadline:
    """One request's race between its chain and its timer, decided once under ``lock``.

    ``fire`` runs on the thread that fires the timer; ``finish`` in the request's G."""

    __slots__ = (
        "done",
        "exchange",
        "expired",
        "expired_at",
        "headers",
        "lock",
        "method",
        "mw",
        "path",
        "request_id",
        "route",
    )

    def __init__(self, mw: Timeout, c: Context, exchange: Any) -> None:
        self.mw = mw
        self.exchange = exchange
        self.lock = threading.Lock()
        self.done = False
        self.expired = False
        self.expired_at = 0.0
        # Snapshots: fire() runs on another thread while the chain may write the Context.
        # The fields set so far, as c.writer.header_fields gives them, without the view.
        self.headers = list(c._headers or ())
        self.request_id = c.get("request_id")
        self.route = c.full_path
        req = c.request
        self.method = req.method
        self.path = req.path

    def fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            self.expired_at = time.monotonic()
        mw = self.mw
        if not self.exchange.early(mw._response(self.headers)):
            # Too late to replace (a streaming response began) or nobody to answer (the
            # connection is gone): the handler's own outcome stands.
            with self.lock:
                self.expired = False
            return
        mw._count()
        _log.warning(
            "request timed out",
            method=self.method,
            path=self.path,
            route=self.route,
            timeout_s=mw.seconds,
            request_id=self.request_id,
        )

    def finish(self, exc: BaseException | None) -> bool:
        """The chain ended; True if in time, else False after logging the late end."""
        with self.lock:
            self.done = True
            late = self.expired
        if late:
            _log.info(
                "timed-out handler finished; its result was discarded",
                route=self.route,
                ms_late=round((time.monotonic() - self.expired_at) * 1000, 3),
                request_id=self.request_id,
                error=repr(exc) if exc is not None else None,
            )
        return not late


def _arm(when: float, callback: Any) -> TimerHandle | None:
    """A runtime timer on the calling G's P (as a cancel scope's deadline is); None
    outside a G."""
    m = tls.m
    if m is None or m.curg is None:
        return None
    return m.rt.at_func(when, callback)  # the Scheduler's, without Runtime's forwarding


class Timeout(Middleware):
    """A deadline of ``seconds`` for the rest of the chain (see the module docstring).
    ``expired`` counts the requests it answered."""

    __slots__ = ("_body", "_count_lock", "detail", "expired", "seconds", "status")

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
        self._count_lock = threading.Lock()

    def _count(self) -> None:
        with self._count_lock:
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
        d = _Deadline(self, c, exchange)
        timer = _arm(time.monotonic() + self.seconds, d.fire)
        try:
            c.next()
        except Exception as e:
            if d.finish(e):
                raise  # in time: on to Recovery
            self._late(c)  # too late for anyone to see it; logged
            return
        except BaseException as e:
            if not d.finish(e):
                self._late(c)
            raise
        finally:
            if timer is not None:
                timer.stop()  # a race with firing is settled by d's lock
        if not d.finish(None):
            self._late(c)

    async def call_async(self, c: Context) -> None:
        exchange = c.request.exchange
        if exchange is None:
            await self._async_without_server(c)
            return
        d = _Deadline(self, c, exchange)
        timer = _arm(time.monotonic() + self.seconds, d.fire)
        try:
            await c.next()
        except Exception as e:
            if d.finish(e):
                raise
            self._late(c)
            return
        except BaseException as e:  # gmp.Cancelled: abandoned at the deadline, or shutdown
            if not d.finish(e):
                self._late(c)
            raise
        finally:
            if timer is not None:
                timer.stop()
        if not d.finish(None):
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
