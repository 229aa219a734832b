"""The HTTP/1.1 server for trio programs: trio owns the sockets, each handler runs as a G.

:class:`gmp.http.Server` serves on gmp's own network poller, one G per connection. A
program whose event loop is trio's keeps its sockets on trio: :class:`TrioServer` serves
an app from inside ``trio.run`` (``await TrioServer(app).serve()`` in a nursery, or
``TrioServer(app).run()``), with the same configuration, limits, timeouts, statistics,
access log and shutdown as :class:`~gmp.http.Server`.

The price is that every request crosses between two schedulers twice: the connection is a
trio task, its handler a G started through :mod:`gmp.http.dispatch`, and the G's
completion comes back to trio through ``TrioToken.run_sync_soon`` (batched). See
docs/http.md for the measured cost.

Shape (Go's ``net/http`` ``Server.Serve`` / ``conn.serve``, on trio's structured
lifetime):

- one accept task per listening socket, taking a connection slot first
  (``max_connections``, Go's ``netutil.LimitListener``), backing off on ``EMFILE`` as Go's
  ``Serve`` does;
- one trio task per connection (the ``conn.serve`` goroutine): read, feed the parser
  (:mod:`gmp.http.parser`), and for each complete request start its handler as a G
  (:mod:`gmp.http.dispatch`) and write the response when the G finishes. Requests on one
  connection are answered one at a time, in order, which is how pipelined requests stay
  ordered (Go does the same); a connection does not read ahead while its handler runs,
  so a client cannot pile up work on one connection.

A plain ``def`` handler runs as a plain-callable G, which the runtime treats as a
blocking "syscall" G: if it blocks, sysmon hands its P to another thread and the other
requests keep being served. An ``async def`` handler runs as a coroutine G. Trio's loop
never waits on a handler: the G's completion reaches it through ``run_sync_soon``.

Lifecycle: :meth:`TrioServer.serve` (inside trio) or :meth:`TrioServer.run` (blocking,
with SIGINT/SIGTERM handling). :meth:`TrioServer.shutdown` is Go's ``Server.Shutdown``:
stop accepting, close idle keep-alive connections, let in-flight requests finish
(answered with ``Connection: close``) up to ``shutdown_timeout``, then cancel what is
left. TLS (``certfile``) is not served here: terminate it in front, or use
:class:`~gmp.http.Server`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import signal
import socket
import threading
import time
from typing import Any

import outcome
import trio

from gmp.errors import Cancelled, RuntimeClosedError
from gmp.http.config import ServerConfig, ServerStats
from gmp.http.conn import encode_response as _encode
from gmp.http.conn import head_only as _head_only
from gmp.http.conn import user_length as _user_length
from gmp.http.dispatch import ClientDisconnected, Dispatcher, Exchange, Handler
from gmp.http.parser import ParseError, RequestParser
from gmp.http.request import Request
from gmp.http.response import (
    CHUNK_END,
    CONTINUE,
    HeaderError,
    Response,
    body_allowed,
    encode_chunk,
    encode_head,
    simple_response,
)
from gmp.http.server import _current_server, bind_socket
from gmp.http.serverbase import ServerBase, access_logger
from gmp.observe.log import get_logger
from gmp.runtime.runtime import Runtime

__all__ = ["TrioServer"]

_log = get_logger("gmp.http.server")

# What a connection is doing; the shutdown drain closes only IDLE ones at once.
_IDLE = 0  # waiting for the first byte of the next request
_READING = 1  # part of a request has arrived
_HANDLING = 2  # the handler's G runs
_WRITING = 3  # writing a response

_RECV = 65536
_ACCEPT_RETRY = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_SKIP = (errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EAGAIN, errno.EINTR)
_CONN_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)


class _Conn:
    """One connection's state, on trio's thread only."""

    __slots__ = ("deadline", "draining", "phase", "scope")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.phase = _IDLE
        self.draining = False
        # time.monotonic() past which the reaper cancels the connection (see _reaper)
        self.deadline = math.inf


class TrioServer(ServerBase):
    """An HTTP/1.1 server on trio's event loop whose handlers run as Gs on a gmp runtime.

    ``app`` is a handler: ``def app(req: Request) -> Response`` or ``async def``. Pass a
    :class:`ServerConfig` or its fields as keywords. ``runtime``: an existing
    :class:`gmp.Runtime` to run handlers on (the caller closes it); without one the
    server creates one (``config.procs``) for the duration of :meth:`serve`.
    """

    def __init__(
        self,
        app: Handler,
        config: ServerConfig | None = None,
        *,
        runtime: Runtime | None = None,
        **options: Any,
    ) -> None:
        super().__init__(app, config, runtime, options)
        config = self.config
        if config.certfile is not None:
            raise ValueError(
                "TrioServer does not serve TLS: terminate it in front, or use gmp.http.Server"
            )
        self._owns_runtime = runtime is None
        self._conns: set[_Conn] = set()
        self._dispatcher: Dispatcher | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._shutdown = trio.Event()
        self._force = trio.Event()
        self._no_conns = trio.Event()
        self._reaper_scope = trio.CancelScope()
        self._slots = trio.Semaphore(config.max_connections)

    # -- public API ----------------------------------------------------------------

    def stats(self) -> ServerStats:
        """A snapshot of the counters (read without locks; each field is one load)."""
        d = self._dispatcher
        return self._snapshot(d.wakeups if d is not None else 0)

    def shutdown(self) -> None:
        """Begin a graceful shutdown (trio's thread; idempotent). A second call after
        the drain has begun forces it: in-flight requests are cancelled."""
        if self._shutdown.is_set():
            self._force.set()
        self._shutdown.set()

    def shutdown_threadsafe(self, *, force: bool = False) -> None:
        """:meth:`shutdown` from any thread (tests, signal handlers of an embedding app)."""
        token = self._token
        if token is None:
            raise RuntimeError("the server is not running")

        def go() -> None:
            self.shutdown()
            if force:
                self.shutdown()

        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(go)

    def run(self, *, handle_signals: bool = True) -> int:
        """Serve until SIGINT/SIGTERM (or :meth:`shutdown`), then shut down gracefully.

        A second signal forces the shutdown. Returns the process exit code (0).
        """
        return trio.run(self._run, handle_signals)

    async def _run(self, handle_signals: bool) -> int:
        async with trio.open_nursery() as nursery:
            if handle_signals and threading.current_thread() is threading.main_thread():
                nursery.start_soon(self._watch_signals)
            await self.serve()
            nursery.cancel_scope.cancel()
        return 0

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                _log.info(
                    "signal received, shutting down"
                    if not self._shutdown.is_set()
                    else "second signal, forcing shutdown",
                    signal=signal.Signals(signum).name,
                    inflight=self._inflight,
                )
                self.shutdown()

    async def serve(
        self,
        *,
        sockets: list[socket.socket] | None = None,
        task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and serve until :meth:`shutdown`; then drain and return.

        ``sockets``: already-bound listening sockets to serve on instead of binding
        ``config.host:config.port``. ``task_status.started`` receives the addresses.
        """
        cfg = self.config
        self._token = trio.lowlevel.current_trio_token()
        self._dispatcher = Dispatcher(self._token, batch=cfg.batch_wakeups)
        server_token = _current_server.set(self)
        listeners = sockets if sockets is not None else await self._bind()
        self.addresses = [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in listeners]
        if self.runtime is None:
            self.runtime = self._new_runtime()
        try:
            async with trio.open_nursery() as conns:
                conns.start_soon(self._reaper)
                async with trio.open_nursery() as acceptors:
                    for listener in listeners:
                        acceptors.start_soon(self._accept_loop, listener, conns)
                    self._log_listening()
                    task_status.started(self.addresses)
                    self._started.set()
                    await self._shutdown.wait()
                    acceptors.cancel_scope.cancel()
                for listener in listeners:
                    listener.close()
                await self._drain(conns)
                self._reaper_scope.cancel()
        finally:
            for listener in listeners:
                listener.close()
            await self._close_runtime()
            _current_server.reset(server_token)

    # -- lifecycle internals ---------------------------------------------------------

    async def _bind(self) -> list[socket.socket]:
        cfg = self.config
        infos = await trio.socket.getaddrinfo(
            cfg.host, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, _, _, _, addr = infos[0]
        return [bind_socket(family, addr, reuse_port=cfg.reuse_port, backlog=cfg.backlog)]

    async def _drain(self, conns: trio.Nursery) -> None:
        """Go's Shutdown: close idle connections, let busy ones finish, then force."""
        cfg = self.config
        self._stopping = True
        busy = 0
        for conn in self._conns:
            conn.draining = True
            if conn.phase == _IDLE:
                conn.scope.cancel()
            else:
                busy += 1
        _log.info("draining", connections_busy=busy, inflight=self._inflight)
        if self._conns:
            with trio.move_on_after(cfg.shutdown_timeout):
                async with trio.open_nursery() as waiters:

                    async def until(event: trio.Event) -> None:
                        await event.wait()
                        waiters.cancel_scope.cancel()

                    waiters.start_soon(until, self._no_conns)
                    waiters.start_soon(until, self._force)
        if self._conns:
            _log.warning(
                "shutdown deadline passed or forced: cancelling requests still running",
                connections=len(self._conns),
                inflight=self._inflight,
            )
            conns.cancel_scope.cancel()

    async def _close_runtime(self) -> None:
        rt = self.runtime
        if rt is None or not self._owns_runtime:
            return
        timeout = self.config.shutdown_timeout if self._inflight else 0.0
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(rt.close, timeout)
        self.runtime = None

    async def _accept_loop(self, listener: socket.socket, conns: trio.Nursery) -> None:
        listener.setblocking(False)
        delay = 0.0
        wait_readable = trio.lowlevel.wait_readable
        while True:
            await self._slots.acquire()
            try:
                while True:
                    try:
                        sock, addr = listener.accept()
                        break
                    except BlockingIOError:
                        await wait_readable(listener)
            except OSError as e:
                self._slots.release()
                if e.errno in _ACCEPT_SKIP:
                    continue
                if e.errno in _ACCEPT_RETRY:
                    # Go's Serve: back off 5 ms, doubling to 1 s, while out of descriptors.
                    delay = min(max(delay * 2, 0.005), 1.0)
                    _log.error("accept failed; retrying", error=str(e), retry_in=delay)
                    await trio.sleep(delay)
                    continue
                raise
            except BaseException:
                self._slots.release()
                raise
            delay = 0.0
            sock.setblocking(False)
            conns.start_soon(self._connection, sock, addr)

    async def _connection(self, sock: socket.socket, addr: Any) -> None:
        conn = _Conn()
        if self._stopping:
            conn.draining = True
            conn.scope.cancel()
        self._conns.add(conn)
        self._counters.connections_total += 1
        try:
            with sock:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                client = (str(addr[0]), int(addr[1])) if isinstance(addr, tuple) else None
                # reset by peer, broken pipe: nothing to answer
                with contextlib.suppress(*_CONN_ERRORS):
                    await self._serve_conn(conn, sock, client)
        finally:
            self._conns.discard(conn)
            self._slots.release()
            if not self._conns and self._stopping:
                self._no_conns.set()

    # -- one connection ---------------------------------------------------------------

    async def _serve_conn(
        self, conn: _Conn, sock: socket.socket, client: tuple[str, int] | None
    ) -> None:
        cfg = self.config
        counters = self._counters
        parser = RequestParser(
            max_request_line=cfg.max_request_line,
            max_header_bytes=cfg.max_header_bytes,
            max_body=cfg.max_body,
            client=client,
        )
        ready = parser.ready
        recv = sock.recv
        wait_readable = trio.lowlevel.wait_readable
        checkpoint = trio.lowlevel.checkpoint
        mono = time.monotonic
        idle_timeout = cfg.header_timeout
        request_deadline = math.inf
        continue_sent = False
        linger = False
        error: ParseError | None = None
        eager = 0  # reads in a row that did not wait (see below)
        with conn.scope:
            while True:
                # -- read until a request is complete ----------------------------------
                while not ready:
                    if parser.error is not None or parser.upgraded:
                        break
                    if parser.in_message:
                        if parser.awaiting_continue and not continue_sent:
                            continue_sent = True
                            await self._write(conn, sock, CONTINUE)
                        conn.phase = _READING
                        conn.deadline = request_deadline
                    else:
                        if conn.draining:
                            return
                        conn.phase = _IDLE
                        conn.deadline = mono() + idle_timeout
                    # Between requests, wait for readability first: the next request is
                    # rarely there yet, and a failed recv raises (costly). Inside a
                    # request, read eagerly: the rest is usually buffered already. trio's
                    # own socket methods would yield to the scheduler on every call (a
                    # third of a small request's cost); we yield every 16 reads that did
                    # not wait, so a client streaming a large body cannot hog the loop.
                    if conn.phase == _IDLE:
                        # Yield once, then try: under load the client's next request has
                        # usually arrived by the time the other connections had their
                        # turn, and a read that succeeds saves trio's epoll re-arming
                        # (an epoll_ctl per wait, 11% of the loop at 17k req/s).
                        await checkpoint()
                    try:
                        data = recv(_RECV)
                        eager += 1
                        if eager >= 16:
                            eager = 0
                            await trio.lowlevel.checkpoint()
                    except BlockingIOError:
                        eager = 0
                        await wait_readable(sock)
                        continue
                    if not data:
                        return  # the client closed (mid-request: nothing to answer)
                    if not parser.in_message:
                        request_deadline = mono() + cfg.read_timeout
                        continue_sent = False
                    parser.feed(data)
                if not ready:
                    error = parser.error
                    linger = error is not None
                    break
                req = ready.popleft()
                idle_timeout = cfg.keepalive_timeout
                # The last request before an Upgrade/CONNECT stop ends the connection.
                keep_alive = req.keep_alive and not conn.draining
                if parser.upgraded and not ready:
                    keep_alive = False
                counters.requests += 1
                keep_alive = await self._respond(conn, sock, req, keep_alive)
                if not keep_alive:
                    linger = bool(ready) or parser.in_message
                    break
        if conn.scope.cancelled_caught:
            phase = conn.phase
            if phase == _READING:
                counters.timeouts += 1
                error = ParseError(408, "request not received in time")
                linger = True
            elif phase == _WRITING:
                counters.timeouts += 1
                return
            else:
                return  # idle timeout, or closed by the shutdown drain
        if error is not None:
            if error.status == 413:
                counters.too_large += 1
            elif error.status != 408:
                counters.bad_requests += 1
            await self._send_error(sock, error)
            if cfg.access_log:
                access_logger.info(
                    "request rejected",
                    status=error.status,
                    reason=error.reason,
                    client=f"{client[0]}:{client[1]}" if client else None,
                )
        if linger:
            await self._linger_close(sock)

    async def _respond(
        self, conn: _Conn, sock: socket.socket, req: Request, keep_alive: bool
    ) -> bool:
        """Run the handler of ``req`` as a G and write its response; returns keep-alive."""
        cfg = self.config
        started = time.perf_counter()
        if self._inflight >= cfg.max_inflight:
            self._counters.rejected += 1
            data = simple_response(
                503,
                "server busy, retry later\n",
                keep_alive=keep_alive,
                extra=[("retry-after", str(cfg.retry_after))],
            )
            await self._write(conn, sock, data if req.method != "HEAD" else _head_only(data))
            self._log_access(req, 503, 0, started, app_ran=False)
            return keep_alive
        rt = self.runtime
        assert rt is not None and self._dispatcher is not None
        ex = Exchange(self._dispatcher, cfg.stream_window, self._on_finished)
        conn.phase = _HANDLING
        conn.deadline = math.inf
        try:
            self._inflight += 1
            try:
                ex.start(rt, self.app, self.is_async, req)
            except RuntimeClosedError:
                self._inflight -= 1
                ex.t_done = True
                data = simple_response(503, "server shutting down\n", keep_alive=False)
                await self._write(conn, sock, data)
                return False
            await ex.wait()
            if conn.draining or self._shutdown.is_set():
                # A shutdown began while the handler ran. The shutdown event is set on the
                # caller's thread at once; conn.draining only when _drain reaches trio's
                # thread, which may be after the handler finished (a readiness probe saw
                # "shutting down" and the answer still kept the connection alive).
                keep_alive = False
            if ex.override is not None:  # answered before the G finished (a deadline)
                return await self._write_early(conn, sock, req, ex.override, keep_alive, started)
            if ex.head is not None:
                return await self._write_stream(conn, sock, req, ex, keep_alive, started)
            g = ex.g
            try:
                if g is not None and g.exc is None and g.done():
                    resp = g.value  # the fast path: no outcome object
                else:
                    resp = ex.outcome().unwrap()
                if not isinstance(resp, Response):  # a runner always normalizes; be safe
                    raise TypeError(f"handler G returned {type(resp).__name__}")
                head, payload, keep_alive = _encode(req, resp, keep_alive)
            # the handler raised, or produced an unsendable response; a gmp.Cancelled
            # no scope caught ended only its G and must not end the server's nursery
            except (Exception, Cancelled) as e:
                return await self._handler_failed(conn, sock, req, e, keep_alive, started)
            await self._send(conn, sock, req, resp.status, head, payload, started)
            return keep_alive
        finally:
            if not ex.t_done:
                ex.abandon()

    async def _write_early(
        self,
        conn: _Conn,
        sock: socket.socket,
        req: Request,
        resp: Response,
        keep_alive: bool,
        started: float,
    ) -> bool:
        """Write a response given by :meth:`Exchange.early`; the caller abandons the G."""
        try:
            head, payload, keep_alive = _encode(req, resp, keep_alive)
        except HeaderError as e:
            return await self._handler_failed(conn, sock, req, e, keep_alive, started)
        await self._send(conn, sock, req, resp.status, head, payload, started)
        return keep_alive

    async def _send(
        self,
        conn: _Conn,
        sock: socket.socket,
        req: Request,
        status: int,
        head: bytes,
        payload: bytes,
        started: float,
    ) -> None:
        """Write an encoded head and body, then the access line."""
        if not payload:
            await self._write(conn, sock, head)
        elif len(payload) <= 65536:
            await self._write(conn, sock, head + payload)
        else:
            await self._write(conn, sock, head)
            await self._write(conn, sock, payload)
        self._log_access(req, status, len(payload), started)

    async def _handler_failed(
        self,
        conn: _Conn,
        sock: socket.socket,
        req: Request,
        exc: BaseException,
        keep_alive: bool,
        started: float,
    ) -> bool:
        self._counters.handler_errors += 1
        _log.error(
            "handler failed",
            method=req.method,
            path=req.path,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        data = simple_response(500, "internal server error\n", keep_alive=keep_alive)
        await self._write(conn, sock, data if req.method != "HEAD" else _head_only(data))
        self._log_access(req, 500, 0, started)
        return keep_alive

    async def _write_stream(
        self,
        conn: _Conn,
        sock: socket.socket,
        req: Request,
        ex: Exchange,
        keep_alive: bool,
        started: float,
    ) -> bool:
        """Write a streaming body as its G produces it (chunked, or raw with a length)."""
        resp = ex.head
        assert resp is not None
        head_only = req.method == "HEAD" or not body_allowed(resp.status)
        http11 = req.http_version == "1.1"
        try:
            user_length = _user_length(resp)
            chunked = not head_only and http11 and user_length is None
            if not head_only and not chunked and user_length is None:
                keep_alive = False  # HTTP/1.0 without a length: the close ends the body
            head, keep_alive, _ = encode_head(
                resp,
                content_length=user_length if not head_only or user_length is not None else None,
                chunked=chunked,
                keep_alive=keep_alive,
                http10_keep_alive=req.http_version == "1.0",
            )
        except HeaderError as e:
            ex.abandon()
            return await self._handler_failed(conn, sock, req, e, keep_alive, started)
        await self._write(conn, sock, head)
        total = 0
        while True:
            await ex.wait(head_taken=True)
            chunks = ex.take_chunks()
            if chunks:
                n = sum(len(c) for c in chunks)
                if not head_only:
                    if chunked:
                        data = b"".join([encode_chunk(c) for c in chunks])
                    else:
                        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                        if user_length is not None and total + n > user_length:
                            data = data[: user_length - total]
                    await self._write(conn, sock, data)
                total += n
                ex.sent(n)
            elif ex.t_done:
                break
        result = ex.outcome()
        if isinstance(result, outcome.Error):
            err = result.error
            if isinstance(err, ClientDisconnected):
                # The client left mid-stream: not a server error (no 500, no traceback).
                _log.info("client went away during a streaming response", path=req.path)
                self._log_access(req, resp.status, total, started)
                return False
            self._counters.handler_errors += 1
            _log.error(
                "streaming handler failed after the response started; dropping the connection",
                method=req.method,
                path=req.path,
                exc_info=(type(err), err, err.__traceback__),
            )
            self._log_access(req, resp.status, total, started)
            return False
        if chunked:
            await self._write(conn, sock, CHUNK_END)
        elif user_length is not None and not head_only and total != user_length:
            _log.warning(
                "streaming body shorter than its Content-Length; closing the connection",
                path=req.path,
                sent=total,
                content_length=user_length,
            )
            keep_alive = False
        self._log_access(req, resp.status, total if not head_only else 0, started)
        return keep_alive

    def _on_finished(self, ex: Exchange) -> None:
        self._inflight -= 1

    async def _write(self, conn: _Conn, sock: socket.socket, data: bytes) -> None:
        """Send all of ``data``; a client that reads nothing for ``write_timeout`` is
        dropped. The first send is tried directly (no trio yield); only a full socket
        buffer makes the task wait, under a write deadline."""
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        phase = conn.phase
        deadline = conn.deadline
        conn.phase = _WRITING
        conn.deadline = time.monotonic() + self.config.write_timeout
        view = memoryview(data)
        while sent < len(data):
            await trio.lowlevel.wait_writable(sock)
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(view[sent:])
        conn.deadline = deadline
        conn.phase = phase

    async def _send_error(self, sock: socket.socket, error: ParseError) -> None:
        """Best effort: the final error response, within ``linger_timeout``."""
        data = simple_response(error.status, error.reason + "\n", keep_alive=False)
        with trio.move_on_after(self.config.linger_timeout) as scope:
            scope.shield = True
            view = memoryview(data)
            sent = 0
            try:
                while sent < len(data):
                    try:
                        sent += sock.send(view[sent:])
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(sock)
            except OSError:
                pass

    async def _linger_close(self, sock: socket.socket) -> None:
        """Half-close, then read and drop what the client still sends, so it gets our
        last response instead of a reset (Go's closeWriteAndWait, nginx's lingering_close)."""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        with trio.move_on_after(self.config.linger_timeout) as scope:
            scope.shield = True
            drained = 0
            try:
                while drained < 1 << 20:
                    try:
                        data = sock.recv(_RECV)
                    except BlockingIOError:
                        await trio.lowlevel.wait_readable(sock)
                        continue
                    if not data:
                        break
                    drained += len(data)
            except OSError:
                pass

    async def _reaper(self) -> None:
        """Enforce every connection's deadline (idle, read, write timeouts).

        One task scanning all connections a few times per timeout replaces a trio
        deadline update per request (measured: 6% of the loop's time at 14k req/s); the
        cost is timeout granularity, a quarter of the shortest timeout at most 0.5 s.
        """
        cfg = self.config
        shortest = min(
            cfg.header_timeout, cfg.read_timeout, cfg.keepalive_timeout, cfg.write_timeout
        )
        period = min(max(shortest / 4, 0.005), 0.5)
        with self._reaper_scope:
            while True:
                await trio.sleep(period)
                now = time.monotonic()
                for conn in self._conns:
                    if conn.deadline < now:
                        conn.scope.cancel()
