"""One HTTP/1.1 connection, served by one G (Go's ``net/http`` ``conn`` and ``conn.serve``).

:class:`HTTPConn` owns the connection's socket (a :class:`gmp.net.Conn`), its parser, its
phase and its deadline. Its G runs Go's ``conn.serve`` loop: read until the parser has a
request, run the handler in this same G, write the response, repeat. Nothing crosses to
another thread or loop on the way: a read that would block parks the G on the runtime's
network poller, which readies it when the socket is readable, and a write that finds the
socket buffer full parks it until the buffer drains. That is also the flow control of a
streaming body: the G producing it is the G writing it, so a slow reader slows the
producer and no buffer grows (Go's ``ResponseWriter.Write`` blocking on a slow client).

The handler runs in the connection's G:

- an ``async def`` handler is awaited directly;
- a plain ``def`` handler runs through :func:`gmp.syscall` (Go's entersyscall/exitsyscall):
  the M keeps its P while the call is short, and if it blocks (a database driver,
  ``time.sleep``) sysmon hands the P to another M after ``handoff_after``, so the other
  connections' Gs keep being served. A plain handler that returns an awaitable (a sync
  router that picked an ``async def`` route) continues as a coroutine in the same G.

Each request runs in its own copy of the connection's contextvars (as each request got
its own G before, and each request its own task in asyncio servers): what a handler
binds (structlog's ``request_id``, a user id) never leaks into the next request on the
same connection.

Requests on one connection are answered one at a time, in order (pipelining stays
ordered, as in Go), and the connection does not read ahead while a handler runs.

**Answers leave in bursts under load.** Before writing an answer, a G whose P has other
runnable Gs (the other connections readied by the same poll) yields once
(``gmp.sleep(0)``): their handlers run first and the answers then go out back to back.
Go writes at once; here, with the server slower than its clients, answers trickling
out one by one found the client's CPU idle each time, and waking it cost the server
about 10 us per request on a 2-vCPU VM (``perf``: the send's ``sock_def_readable``),
while answers sent together find it awake. Measured with ``wrk -c50`` on the other CPU,
the server's CPU per request fell from about 56 us to 38-42 us. With nothing else
runnable the answer is written at once, so a lone request waits for nobody.

**Answering before the handler ends.** :class:`Exchange` is one request in flight;
:meth:`Exchange.early` lets a deadline (``gmp.http.middleware.Timeout``) answer now.
Go's ``TimeoutHandler`` runs the handler in a second goroutine and writes the 503 from
the first; here the handler already runs in the connection's G, so the connection moves
instead: ``early`` starts a new G that writes the early answer and goes on serving the
connection (the next request is not held up by the abandoned one), and cancels the old
G's scope, so a coroutine handler sees ``gmp.Cancelled`` at its next checkpoint and a
plain one's result is dropped when it returns. Which G owns the connection is decided
once, under the connection's lock: the old G touches the connection again only if it
finished first.

**Timeouts** are enforced through the connection's I/O deadlines (Go sets
``SetReadDeadline``/``SetWriteDeadline`` on each request). Arming a runtime timer per
request costs about 1.7 us each here (the scheduler lock and the timer heap), so, as
before, the connection only records when its current phase must end
(:attr:`HTTPConn.deadline`, a float store) and the server's reaper G, scanning a few times
per timeout, expires the deadline of a connection that overran
(:meth:`HTTPConn.expire`): its parked read or write wakes with
:class:`~gmp.errors.DeadlineExceeded`. An expiry that arrives after the connection moved
to another phase is stale; the connection clears it and goes on.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import math
import threading
import time
import types
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

from gmp.cancel import CancelScope
from gmp.errors import Cancelled, DeadlineExceeded, RuntimeClosedError
from gmp.http.parser import ParseError, RequestParser
from gmp.http.request import Request
from gmp.http.response import (
    CHUNK_END,
    CONTINUE,
    HeaderError,
    Response,
    as_response,
    body_allowed,
    encode_chunk,
    encode_head,
    simple_response,
)
from gmp.net.conn import Conn
from gmp.observe.log import get_logger
from gmp.runtime.api import sleep, syscall
from gmp.runtime.park import current
from gmp.runtime.traps import Syscall, tls

if TYPE_CHECKING:
    from gmp.http.server import Server

__all__ = ["Exchange", "HTTPConn", "encode_response", "head_only", "user_length"]

_log = get_logger("gmp.http.server")
_access = get_logger("gmp.http.access")

# What a connection is doing (Go's ConnState, finer); the drain closes only IDLE ones.
IDLE = 0  # waiting for the first byte of the next request
READING = 1  # part of a request has arrived
HANDLING = 2  # the handler runs
WRITING = 3  # a write waits for the client to read
CLOSING = 4  # an error answer or the lingering close, under their own deadlines

_RUNNING = 0  # the handler runs; an early answer may still take the connection
_CLAIMED = 1  # the connection's G writes the handler's answer
_EARLY = 2  # an early answer took the connection to a new G

_RECV = 65536
_SMALL = 65536  # a head and body up to this size go out in one send
_LOST = object()  # _respond's result when an early answer took the connection


class Exchange:
    """One request in flight on an :class:`HTTPConn` (``Request.exchange``).

    Its one public method, :meth:`early`, is how ``Timeout`` answers at a deadline."""

    __slots__ = ("_hc", "_state", "keep_alive", "req", "started")

    def __init__(self, hc: HTTPConn, req: Request, keep_alive: bool, started: float) -> None:
        self._hc = hc
        self._state = _RUNNING
        self.req: Request | None = req
        self.keep_alive = keep_alive
        self.started = started

    def early(self, resp: Response) -> bool:
        """Answer with ``resp`` now, while the handler still runs (any thread).

        The connection writes ``resp`` from a new G and goes on serving; the handler is
        abandoned: a coroutine handler is cancelled at its next checkpoint, a plain one's
        result is dropped when it returns, and the server counts it in flight until it
        really ends. Returns False, doing nothing, when it is too late: the handler's own
        answer (or its streaming head) is being written, or an early answer was given."""
        if type(resp.body) is not bytes:
            raise TypeError("an early response must have a bytes body")
        hc = self._hc
        with hc.lock:
            if self._state != _RUNNING:
                return False
            self._state = _EARLY
        hc.take_over(self, resp)
        return True

    def claim(self) -> bool:
        """The handler ended (connection's G): True if this G still owns the connection."""
        lock = self._hc.lock
        lock.acquire()  # not ``with``: once a request (gmp.runtime.park.ready)
        try:
            if self._state == _EARLY:
                return False
            self._state = _CLAIMED
        finally:
            lock.release()
        # No early answer can need the request now: drop it, so the request and its
        # exchange (req.exchange) are not a reference cycle left to the cyclic GC (a
        # full collection with one per request paused the server for up to 28 ms).
        self.req = None
        return True


class HTTPConn:
    """One client connection: socket, parser, phase and deadline (Go's ``conn``)."""

    __slots__ = (
        "base_ctx",
        "client",
        "conn",
        "continue_sent",
        "deadline",
        "draining",
        "idle_timeout",
        "lock",
        "parser",
        "phase",
        "request_deadline",
        "scope",
        "server",
    )

    def __init__(self, server: Server, conn: Conn) -> None:
        cfg = server.config
        self.server = server
        self.conn = conn
        addr = conn.remote_addr
        client = (str(addr[0]), int(addr[1])) if isinstance(addr, tuple) else None
        self.client = client
        self.parser = RequestParser(
            max_request_line=cfg.max_request_line,
            max_header_bytes=cfg.max_header_bytes,
            max_body=cfg.max_body,
            client=client,
        )
        self.phase = IDLE
        # time.monotonic() past which the reaper expires the I/O deadline (see expire)
        self.deadline = math.inf
        self.draining = False
        self.idle_timeout = cfg.header_timeout  # then keepalive_timeout after a request
        self.request_deadline = math.inf
        self.continue_sent = False
        self.lock = threading.Lock()
        self.scope = CancelScope()
        self.base_ctx: contextvars.Context | None = None

    def __repr__(self) -> str:
        return f"<HTTPConn {self.client!r} phase={self.phase}>"

    # -- called by other Gs (the server's reaper and drain, an early answer) -------------

    def expire(self) -> None:
        """Wake the connection's parked read or write with DeadlineExceeded (the reaper
        found its phase overdue, or the drain closes it while idle)."""
        if self.phase == WRITING:
            self.conn.set_write_deadline(0.0)
        else:
            self.conn.set_read_deadline(0.0)

    def close_if_idle(self) -> bool:
        """The drain's step for this connection (Go's closeIdleConns): mark it draining
        so it answers its current request with ``Connection: close``, and wake it now if
        it waits for a next request. True if it was idle."""
        self.draining = True
        if self.phase == IDLE:
            self.expire()
            return True
        return False

    def take_over(self, ex: Exchange, resp: Response) -> None:
        """An early answer: a new G writes ``resp`` and serves on; the old one is cancelled.

        Runs on whichever thread fired the deadline, so the new G starts from a copy of
        the connection's own contextvars (``current_server``), not that thread's."""
        old = self.scope
        self.scope = CancelScope()
        ctx = self.base_ctx
        rt = self.server.runtime
        assert ctx is not None and rt is not None
        try:
            ctx.copy().run(rt.go, self._run, ex, resp)
        except RuntimeClosedError:
            self.server._release_conn(self)  # the runtime is closing: nobody serves on
        old.cancel()

    # -- the connection's G ------------------------------------------------------------

    async def serve(self) -> None:
        """The connection's G (Go's ``conn.serve``)."""
        await self._run(None, None)

    async def _run(self, early: Exchange | None, resp: Response | None) -> None:
        if self.base_ctx is None:
            self.base_ctx = contextvars.copy_context()
        lost = False
        try:
            with self.scope:
                lost = await self._serve(early, resp)
        except (OSError, Cancelled):
            # reset, broken pipe, TLS failure, a write deadline, the runtime closing:
            # nothing to answer
            pass
        except Exception:
            _log.exception("connection failed", client=_client(self.client))
        finally:
            if not lost:
                self.server._release_conn(self)

    async def _serve(self, early: Exchange | None, early_resp: Response | None) -> bool:
        """Serve requests until the connection ends; True if another G took it over."""
        parser = self.parser
        ready = parser.ready
        if early is not None:
            assert early_resp is not None
            keep_alive = await self._write_early(early, early_resp)
            if not keep_alive:
                if ready or parser.in_message:
                    await self._linger_close()
                return False
        while True:
            if not ready and not await self._read():
                return False
            req = ready.popleft()
            self.idle_timeout = self.server.config.keepalive_timeout
            # The last request before an Upgrade/CONNECT stop ends the connection.
            keep_alive = req.keep_alive and not self.draining
            if parser.upgraded and not ready:
                keep_alive = False
            result = await self._respond(req, keep_alive)
            if result is _LOST:
                return True
            if not result:
                if ready or parser.in_message:
                    await self._linger_close()
                return False

    # -- reading -------------------------------------------------------------------------

    async def _read(self) -> bool:
        """Read until the parser has a request. False: the connection is over (the client
        closed, a timeout, the drain, or a parse error, answered here)."""
        srv = self.server
        cfg = srv.config
        parser = self.parser
        ready = parser.ready
        conn = self.conn
        mono = time.monotonic
        while not ready:
            if parser.error is not None:
                await self._reject(parser.error)
                return False
            if parser.upgraded:
                return False
            if parser.in_message:
                if parser.awaiting_continue and not self.continue_sent:
                    self.continue_sent = True
                    await self._write(CONTINUE)
                self.phase = READING
                self.deadline = self.request_deadline
            else:
                self.phase = IDLE
                self.deadline = mono() + self.idle_timeout
            if self.draining and self.phase == IDLE:
                # Closed by the shutdown drain, unless a request already reached the
                # socket: it was sent before the drain and is answered (with
                # Connection: close), though the poller has not woken this G for it yet.
                data = self._pending()
            else:
                try:
                    data = await conn.recv(_RECV)
                except DeadlineExceeded:
                    if not (self.draining and self.phase == IDLE) and self.deadline > mono():
                        conn.set_read_deadline(None)  # a stale expiry: the phase moved on
                        continue
                    if self.phase == READING:
                        srv._count("timeouts")
                        await self._reject(ParseError(408, "request not received in time"))
                        return False
                    if not self.draining:
                        return False  # idle timeout
                    data = self._pending()
            if not data:
                return False  # the client closed (mid-request: nothing to answer)
            if not parser.in_message:
                self.request_deadline = mono() + cfg.read_timeout
                self.continue_sent = False
            parser.feed(data)
        return True

    def _pending(self) -> bytes:
        """What the client has already sent, without waiting; ``b""`` if nothing (or the
        client closed)."""
        try:
            return self.conn.socket.recv(_RECV)
        except (OSError, ValueError):  # BlockingIOError, TLS want-read, a reset
            return b""

    # -- answering -----------------------------------------------------------------------

    async def _respond(self, req: Request, keep_alive: bool) -> Any:
        """Run the handler of ``req`` in this G and write its answer; returns whether the
        connection stays open, or ``_LOST`` if an early answer took it over."""
        srv = self.server
        started = time.perf_counter()
        if not srv._admit():
            data = simple_response(
                503,
                "server busy, retry later\n",
                keep_alive=keep_alive,
                extra=[("retry-after", str(srv.config.retry_after))],
            )
            await self._write(data if req.method != "HEAD" else head_only(data))
            srv._log_access(req, 503, 0, started, app_ran=False)
            return keep_alive
        ex = Exchange(self, req, keep_alive, started)
        req.exchange = ex
        self.phase = HANDLING
        self.deadline = math.inf
        base = self.base_ctx
        assert base is not None
        ctx = base.copy()
        streaming = False
        try:
            try:
                resp = await self._call(ctx, req)
            except Cancelled as e:
                if not ex.claim():
                    return _LOST
                if self.scope.cancel_called or current().cancel_pending is not None:
                    raise  # a forced shutdown or the runtime closing: no answer
                # a Cancelled no scope caught ended only the handler: a failed handler
                return await self._handler_failed(req, e, keep_alive, started)
            except Exception as e:
                if not ex.claim():
                    return _LOST
                return await self._handler_failed(req, e, keep_alive, started)
            if not ex.claim():
                return _LOST
            if self.draining or srv.draining:
                # A shutdown began while the handler ran: this answer closes the
                # connection (a readiness probe saw "shutting down").
                keep_alive = False
            if type(resp.body) is not bytes:
                streaming = True
                return await self._write_stream(ctx, req, resp, keep_alive, started)
        finally:
            if not streaming:
                srv._finished()
        try:
            head, payload, keep_alive = encode_response(req, resp, keep_alive)
        except HeaderError as e:
            return await self._handler_failed(req, e, keep_alive, started)
        if _others_runnable():
            await sleep(0)  # let the other ready requests run first: the answers leave together
        await self._send(req, resp.status, head, payload, started)
        return keep_alive

    async def _call(self, ctx: contextvars.Context, req: Request) -> Response:
        """The handler's response, run in ``ctx`` (see the module docstring)."""
        srv = self.server
        app = srv.app
        if srv.is_async:
            result = await _in_context(ctx, ctx.run(app, req))
        else:
            result = await syscall(ctx.run, app, req)
            if type(result) is Response:
                return result
            if inspect.isawaitable(result):
                result = await _in_context(ctx, result)
        if type(result) is Response:
            return result
        return as_response(result)

    async def _write_early(self, ex: Exchange, resp: Response) -> bool:
        """Write an answer given by :meth:`Exchange.early` (the first thing a G that took
        the connection over does); returns whether the connection stays open."""
        req = ex.req
        assert req is not None  # set until the old G claims, which it cannot now
        keep_alive = ex.keep_alive and not self.draining and not self.server.draining
        try:
            head, payload, keep_alive = encode_response(req, resp, keep_alive)
        except HeaderError as e:
            return await self._handler_failed(req, e, keep_alive, ex.started)
        await self._send(req, resp.status, head, payload, ex.started)
        return keep_alive

    async def _send(
        self, req: Request, status: int, head: bytes, payload: bytes, started: float
    ) -> None:
        """Write an encoded head and body, then the access line."""
        if not payload:
            await self._write(head)
        elif len(payload) <= _SMALL:
            await self._write(head + payload)
        else:
            await self._write(head)
            await self._write(payload)
        self.server._log_access(req, status, len(payload), started)

    async def _handler_failed(
        self,
        req: Request,
        exc: BaseException,
        keep_alive: bool,
        started: float,
    ) -> bool:
        """Answer 500 for a handler that raised or returned something unsendable."""
        srv = self.server
        srv._count("handler_errors")
        _log.error(
            "handler failed",
            method=req.method,
            path=req.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        data = simple_response(500, "internal server error\n", keep_alive=keep_alive)
        await self._write(data if req.method != "HEAD" else head_only(data))
        srv._log_access(req, 500, 0, started)
        return keep_alive

    async def _write_stream(
        self,
        ctx: contextvars.Context,
        req: Request,
        resp: Response,
        keep_alive: bool,
        started: float,
    ) -> bool:
        """Produce a streaming body and write each chunk as it comes (chunked, or raw
        with the handler's length); the writes park while the client reads slowly."""
        srv = self.server
        try:
            return await self._stream(ctx, req, resp, keep_alive, started)
        finally:
            srv._finished()

    async def _stream(
        self,
        ctx: contextvars.Context,
        req: Request,
        resp: Response,
        keep_alive: bool,
        started: float,
    ) -> bool:
        srv = self.server
        body: Any = resp.body
        head_only_ = req.method == "HEAD" or not body_allowed(resp.status)
        http11 = req.http_version == "1.1"
        try:
            length = user_length(resp)
            chunked = not head_only_ and http11 and length is None
            if not head_only_ and not chunked and length is None:
                keep_alive = False  # HTTP/1.0 without a length: the close ends the body
            head, keep_alive, _ = encode_head(
                resp,
                content_length=length if not head_only_ or length is not None else None,
                chunked=chunked,
                keep_alive=keep_alive,
                http10_keep_alive=req.http_version == "1.0",
            )
            chunks = _Chunks(ctx, body, blocking=not srv.is_async)
        except (HeaderError, TypeError) as e:
            await _close_body(ctx, body, None)
            return await self._handler_failed(req, e, keep_alive, started)
        total = 0
        try:
            await self._write(head)
            if not head_only_:
                while True:
                    try:
                        chunk = await chunks.next()
                    except StopAsyncIteration:
                        break
                    if not chunk:
                        continue
                    n = len(chunk)
                    if chunked:
                        data = encode_chunk(chunk)
                    elif length is not None and total + n > length:
                        data = chunk[: length - total]
                    else:
                        data = chunk
                    if data:
                        await self._write(data)
                    total += n
        except OSError as e:
            # The client left (or stopped reading past write_timeout): not a server error.
            await chunks.close()
            if not isinstance(e, DeadlineExceeded):
                _log.info("client went away during a streaming response", path=req.path)
            srv._log_access(req, resp.status, total, started)
            raise
        except (Exception, Cancelled) as err:
            await chunks.close()
            if isinstance(err, Cancelled) and self.scope.cancel_called:
                raise
            srv._count("handler_errors")
            _log.error(
                "streaming handler failed after the response started; dropping the connection",
                method=req.method,
                path=req.path,
                exc_info=(type(err), err, err.__traceback__),
            )
            srv._log_access(req, resp.status, total, started)
            return False
        await chunks.close()
        if chunked:
            await self._write(CHUNK_END)
        elif length is not None and not head_only_ and total != length:
            _log.warning(
                "streaming body shorter than its Content-Length; closing the connection",
                path=req.path,
                sent=total,
                content_length=length,
            )
            keep_alive = False
        srv._log_access(req, resp.status, total if not head_only_ else 0, started)
        return keep_alive

    # -- writing -------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        """Send all of ``data``; a client that reads nothing for ``write_timeout`` is
        dropped. The first send usually takes everything; only a full socket buffer
        makes the G park, in the WRITING phase under the write deadline."""
        if not data:
            return
        conn = self.conn
        try:
            sent = await conn.send(data)
        except DeadlineExceeded:
            conn.set_write_deadline(None)  # a stale expiry of an earlier phase
            sent = 0
        total = len(data)
        if sent == total:
            return
        phase = self.phase
        deadline = self.deadline
        self.phase = WRITING
        self.deadline = time.monotonic() + self.server.config.write_timeout
        view = memoryview(data)
        while sent < total:
            try:
                sent += await conn.send(view[sent:])
            except DeadlineExceeded:
                if self.deadline > time.monotonic():
                    conn.set_write_deadline(None)
                    continue
                self.server._count("timeouts")
                raise
        self.deadline = deadline
        self.phase = phase

    async def _reject(self, error: ParseError) -> None:
        """Answer a request the parser refused (or a 408), then close lingering."""
        srv = self.server
        if error.status == 413:
            srv._count("too_large")
        elif error.status != 408:
            srv._count("bad_requests")
        await self._send_error(error)
        if srv.config.access_log:
            _access.info(
                "request rejected",
                status=error.status,
                reason=error.reason,
                client=_client(self.client),
            )
        await self._linger_close()

    async def _send_error(self, error: ParseError) -> None:
        """Best effort: the final error response, within ``linger_timeout``."""
        data = simple_response(error.status, error.reason + "\n", keep_alive=False)
        conn = self.conn
        self.phase = CLOSING
        self.deadline = math.inf
        conn.set_write_deadline(time.monotonic() + self.server.config.linger_timeout)
        with contextlib.suppress(OSError):
            await conn.send_all(data)

    async def _linger_close(self) -> None:
        """Half-close, then read and drop what the client still sends, so it gets our
        last response instead of a reset (Go's closeWriteAndWait, nginx's lingering_close)."""
        conn = self.conn
        self.phase = CLOSING
        self.deadline = math.inf
        try:
            conn.close_write()
        except OSError:
            return
        conn.set_read_deadline(time.monotonic() + self.server.config.linger_timeout)
        drained = 0
        try:
            while drained < 1 << 20:
                data = await conn.recv(_RECV)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass


class _Chunks:
    """A streaming body's chunks, produced in the request's context: a plain handler's
    sync iterable through :func:`gmp.syscall` (a generator that blocks keeps its
    handoff protection), an async iterable awaited in this G."""

    __slots__ = ("_aiter", "_body", "_closed", "_ctx", "_it", "blocking")

    def __init__(self, ctx: contextvars.Context, body: Any, *, blocking: bool) -> None:
        self._ctx = ctx
        self._body = body
        self.blocking = blocking
        self._closed = False
        self._it: Iterator[Any] | None = None
        self._aiter: AsyncIterator[Any] | None = None
        if hasattr(body, "__aiter__"):
            self._aiter = ctx.run(aiter, body)
        else:
            self._it = ctx.run(iter, body)

    async def next(self) -> bytes:
        """The next chunk as bytes; StopAsyncIteration at the end."""
        ait = self._aiter
        if ait is not None:
            chunk = await _in_context(self._ctx, ait.__anext__())
        else:
            it = self._it
            assert it is not None
            if self.blocking:
                chunk = await syscall(self._ctx.run, next, it, _END)
            else:
                chunk = self._ctx.run(next, it, _END)
            if chunk is _END:
                raise StopAsyncIteration
        return _as_bytes(chunk)

    async def close(self) -> None:
        """Close the iterator (a generator's ``finally`` runs) and the body (PEP 3333)."""
        if self._closed:
            return
        self._closed = True
        await _close_body(self._ctx, self._body, self._it or self._aiter)


_END = object()


async def _close_body(ctx: contextvars.Context, body: Any, it: Any) -> None:
    """Close a generator body early (its ``finally`` runs) and a WSGI result."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await _in_context(ctx, aclose())
    elif it is not None:
        close = getattr(it, "close", None)
        if close is not None:
            ctx.run(close)
    if body is not it and not hasattr(body, "__aiter__"):
        close = getattr(body, "close", None)
        if close is not None:
            ctx.run(close)


def _as_bytes(chunk: object) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"a streaming body must yield bytes or str, got {type(chunk).__name__}")


@types.coroutine
def _in_context(ctx: contextvars.Context, awaitable: Any) -> Generator[Any, Any, Any]:
    """Await ``awaitable`` with its code run in ``ctx`` (what an asyncio Task does with
    its context), so the request's contextvars stay the request's.

    Each step runs inside ``ctx.run``. A blocking call the awaited code makes
    (``gmp.syscall``, which the M runs in the G's own context) is re-aimed at ``ctx``
    too, so a plain middleware in an async chain sets its variables where the rest of
    the chain reads them."""
    it: Any = awaitable if type(awaitable) is types.CoroutineType else awaitable.__await__()
    run = ctx.run
    send = it.send
    value: Any = None
    exc: BaseException | None = None
    while True:
        try:
            trap = run(send, value) if exc is None else run(it.throw, exc)
        except StopIteration as stop:
            return stop.value
        if type(trap) is Syscall:
            trap = Syscall(run, (trap.fn, *trap.args))
        try:
            value = yield trap
            exc = None
        except BaseException as e:  # delivered to the awaited coroutine
            value = None
            exc = e


def encode_response(req: Request, resp: Response, keep_alive: bool) -> tuple[bytes, bytes, bool]:
    """The head of a bytes-bodied response and the body to send after it (empty for
    HEAD and for statuses without content), and whether the connection stays open."""
    body = resp.body
    assert isinstance(body, bytes)
    status = resp.status
    send_body = req.method != "HEAD" and body_allowed(status)
    length: int | None = len(body) if body_allowed(status) else None
    if not body and req.method == "HEAD":
        length = None  # the handler may announce its own Content-Length
    head, keep_alive, user_len = encode_head(
        resp,
        content_length=length,
        chunked=False,
        keep_alive=keep_alive,
        http10_keep_alive=req.http_version == "1.0",
    )
    if length is None and user_len is not None and req.method == "HEAD":
        head = head[:-2] + b"content-length: %d\r\n\r\n" % user_len
    return head, body if send_body else b"", keep_alive


def head_only(data: bytes) -> bytes:
    """The head of a complete response (for HEAD requests)."""
    return data[: data.index(b"\r\n\r\n") + 4]


def user_length(resp: Response) -> int | None:
    """The handler's own ``Content-Length`` of a streaming response, if it set one."""
    for name, value in resp.headers:
        if name.lower() == "content-length":
            try:
                n = int(value)
            except ValueError:
                raise HeaderError(f"invalid Content-Length {value!r}") from None
            if n < 0:
                raise HeaderError(f"invalid Content-Length {value!r}")
            return n
    return None


def _others_runnable() -> bool:
    """Whether other Gs wait to run on the calling G's P (its runnext or local queue)."""
    m = tls.m
    p = m.p if m is not None else None
    return p is not None and (p.runnext is not None or bool(p.runq))


def _client(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None
