"""The HTTP/1.1 server on gmp's network poller: one G per connection, the handler in it.

Shape (Go's ``net/http``, with the same names where they mean the same thing):

- :meth:`Server.serve` is ``Server.Serve``: it listens through :mod:`gmp.net` and runs
  one accept G per listening socket. Each takes a connection slot first
  (``max_connections``, Go's ``netutil.LimitListener``), accepts, and starts one G per
  connection; it backs off 5 ms doubling to 1 s while the process is out of descriptors
  (``EMFILE``), as Go's ``Serve`` does.
- The connection's G (:mod:`gmp.http.conn`, Go's ``conn.serve``) reads, parses, runs the
  handler itself and writes the response. A plain ``def`` handler runs through
  :func:`gmp.syscall`, so one that blocks has its P handed to another M by sysmon and the
  other connections keep being served; an ``async def`` handler is awaited. An idle
  keep-alive connection is a G parked on the poller and one epoll registration, not a
  thread.
- :meth:`Server.shutdown` is ``Server.Shutdown``: stop accepting (close the listeners),
  close idle keep-alive connections, let in-flight requests finish (answered with
  ``Connection: close``) up to ``shutdown_timeout``, polling as Go does (1 ms doubling,
  here to 50 ms), then cancel what is left.
- One reaper G enforces the idle, header, read and write timeouts through the
  connections' I/O deadlines (see :mod:`gmp.http.conn` for why not a timer per request).

:meth:`Server.run` is ``ListenAndServe`` for a program: it makes the runtime (``procs``
Ps, a 1 ms handoff), serves until SIGINT/SIGTERM (a second signal forces the shutdown)
and closes the runtime. Inside a G, ``await server.serve()`` serves on the caller's
runtime. A trio program serves an app with :class:`gmp.http.trio_server.TrioServer`
instead (docs/http.md says what that costs).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import signal
import socket
import ssl as _ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gmp
from gmp.cancel import CancelScope
from gmp.chan import Chan
from gmp.errors import ConnClosed
from gmp.http.config import ServerConfig, ServerStats
from gmp.http.conn import HTTPConn
from gmp.http.request import Handler
from gmp.http.serverbase import ServerBase, is_async_handler
from gmp.net._rt import poller as _poller
from gmp.net.conn import Conn
from gmp.net.listener import Listener
from gmp.observe.log import get_logger
from gmp.runtime.runtime import Runtime, current_runtime
from gmp.runtime.traps import tls
from gmp.sync import Semaphore

if TYPE_CHECKING:
    from gmp.http.trio_server import TrioServer

__all__ = ["Server", "bind_socket", "current_server", "is_async_handler"]

_current_server: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "gmp_http_server", default=None
)


def current_server() -> Server | TrioServer | None:
    """The server whose request is being handled (None outside one).

    :meth:`Server.serve` sets it in its G; the accept and connection Gs copy its
    contextvars and every request runs in a copy of its connection's, so health checks
    and metrics find their server without being handed it (Go passes it as
    ``http.ServerContextKey``). :class:`~gmp.http.trio_server.TrioServer` sets it too.
    """
    server: Server | TrioServer | None = _current_server.get()
    return server


_log = get_logger("gmp.http.server")

_ACCEPT_RETRY = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_SKIP = (errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EAGAIN, errno.EINTR)
_DRAIN_POLL_MAX = 0.05  # Go's Shutdown polls up to every 500 ms; a server here stops sooner


class Server(ServerBase):
    """An HTTP/1.1 server whose connections and handlers run as Gs on a gmp runtime.

    ``app`` is a handler: ``def app(req: Request) -> Response`` or ``async def``. Pass a
    :class:`ServerConfig` or its fields as keywords. ``runtime``: an existing
    :class:`gmp.Runtime` to serve on (the caller closes it); without one :meth:`run`
    creates one (``config.procs``) for the duration of the run, and :meth:`serve` uses
    the runtime of the G that awaits it. ``ssl``: an ``ssl.SSLContext`` to serve HTTPS
    with (``config.certfile``/``keyfile`` build one).
    """

    def __init__(
        self,
        app: Handler,
        config: ServerConfig | None = None,
        *,
        runtime: Runtime | None = None,
        ssl: _ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        super().__init__(app, config, runtime, options)
        config = self.config
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, got {type(ssl).__name__}")
        self.ssl = ssl if ssl is not None else tls_context(config)
        self._mu = threading.Lock()  # guards the counters, _inflight and _conns (srv.mu)
        self._conns: set[HTTPConn] = set()
        self._shutdown = threading.Event()
        self._force = False
        self._stop_ch: Chan[None] | None = None
        self._served = False
        self._slots = Semaphore(config.max_connections)

    # -- public API ----------------------------------------------------------------

    def stats(self) -> ServerStats:
        """A snapshot of the counters (any thread)."""
        with self._mu:
            return self._snapshot(0)  # no second loop to wake: a G answers its own requests

    def shutdown(self) -> None:
        """Begin a graceful shutdown (Go's ``Server.Shutdown``), from any thread or G;
        idempotent. A second call after the drain has begun forces it: in-flight
        requests are cancelled."""
        with self._mu:
            if self._shutdown.is_set():
                self._force = True
                return
            self._shutdown.set()
            ch = self._stop_ch
        if ch is not None:
            ch.close()  # wakes serve()'s G, from whatever thread this is

    def shutdown_threadsafe(self, *, force: bool = False) -> None:
        """:meth:`shutdown` from any thread (tests, signal handlers of an embedding app);
        ``force`` forces it at once. Raises RuntimeError if the server never started."""
        if not self._served:
            raise RuntimeError("the server is not running")
        self.shutdown()
        if force:
            self.shutdown()

    def run(self, *, handle_signals: bool = True) -> int:
        """Serve until SIGINT/SIGTERM (or :meth:`shutdown`), then shut down gracefully
        (Go's ``ListenAndServe`` plus the ``signal.Notify`` + ``Shutdown`` of a Go main).

        A second signal forces the shutdown. Signals are handled only when this runs in
        the main thread. Returns the process exit code (0)."""
        cfg = self.config
        rt = self.runtime
        owned = rt is None
        if rt is None:
            rt = self._new_runtime()
            self.runtime = rt
        try:
            # Handlers first: a signal that arrived after "listening" but before they
            # were installed killed the process with the default action instead of
            # draining (the main thread can lag the serve G under load).
            with self._signals(handle_signals):
                g = rt.go(self.serve)
                # Wait in slices: a process signal may be delivered to an M's thread,
                # whose C handler only flags it; a main thread blocked in one untimed
                # lock acquire would never run the Python handler (1 run in 8 of the
                # SIGINT drain test hung so). Each slice ends in bytecode, which runs it.
                while True:
                    try:
                        g.result(timeout=0.1)
                        break
                    except TimeoutError:
                        if g.done():
                            raise  # the serve G's own TimeoutError
                        continue
        finally:
            if owned:
                with self._mu:
                    busy = self._inflight
                rt.close(cfg.shutdown_timeout if busy else 0.0)
                self.runtime = None
        return 0

    async def serve(self, *, sockets: list[socket.socket] | None = None) -> None:
        """Listen and serve until :meth:`shutdown`; then drain and return (Go's
        ``Server.Serve`` and the waiting half of ``Shutdown``). Await it inside a G.

        ``sockets``: already-bound listening sockets to serve on instead of binding
        ``config.host:config.port``."""
        m = tls.m
        if m is None or m.curg is None:
            raise RuntimeError(
                "Server.serve() runs inside a G (gmp.run, rt.go) or through Server.run(); "
                "to serve from trio, use gmp.http.TrioServer"
            )
        if self.runtime is None:
            self.runtime = current_runtime()
        self._served = True
        token = _current_server.set(self)
        listeners: list[Listener] = []
        try:
            listeners = self._listen(sockets)
            self.addresses = [_address(ln) for ln in listeners]
            accept_scopes = [CancelScope() for _ in listeners]
            acceptors = [
                gmp.go(self._accept_loop, ln, scope)
                for ln, scope in zip(listeners, accept_scopes, strict=True)
            ]
            reaper_scope = CancelScope()
            reaper = gmp.go(self._reaper, reaper_scope)
            with self._mu:
                stop = self._stop_ch = Chan()
                pending = self._shutdown.is_set()
            self._log_listening(tls=self.ssl is not None)
            self._started.set()
            if not pending:
                await stop.recv_ok()
            # Go's Shutdown: close the listeners, then the idle connections, then wait.
            self._stopping = True
            for ln in listeners:
                self._accept_queued(ln)
                ln.close()
            for scope in accept_scopes:
                scope.cancel()  # an acceptor waiting for a free slot, not in accept
            for a in acceptors:
                await a.join()
            await self._drain()
            reaper_scope.cancel()
            await reaper.join()
        finally:
            for ln in listeners:
                ln.close()
            _current_server.reset(token)

    # -- lifecycle internals ---------------------------------------------------------

    def _listen(self, sockets: list[socket.socket] | None) -> list[Listener]:
        cfg = self.config
        if sockets is None:
            infos = socket.getaddrinfo(
                cfg.host, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, _, _, _, addr = infos[0]
            sockets = [bind_socket(family, addr, reuse_port=cfg.reuse_port, backlog=cfg.backlog)]
        poller = _poller("Server.serve()")
        out: list[Listener] = []
        try:
            for sock in sockets:
                out.append(Listener(sock, poller, self.ssl))
        except BaseException:
            for ln in out:
                ln.close()
            raise
        return out

    @contextlib.contextmanager
    def _signals(self, handle: bool) -> Iterator[None]:
        """SIGINT/SIGTERM begin the shutdown; a second one forces it (main thread only).

        The handler starts a short-lived thread for the work: a signal handler runs
        between two bytecodes of the main thread, which may hold a runtime lock then."""
        if not handle or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(signum: int, _frame: Any) -> None:
            threading.Thread(
                target=self._on_signal, args=(signum,), name="http-signal", daemon=True
            ).start()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _on_signal(self, signum: int) -> None:
        with self._mu:
            inflight = self._inflight
        _log.info(
            "signal received, shutting down"
            if not self._shutdown.is_set()
            else "second signal, forcing shutdown",
            signal=signal.Signals(signum).name,
            inflight=inflight,
        )
        self.shutdown()

    async def _drain(self) -> None:
        """Go's Shutdown: close idle connections, let busy ones finish, then force."""
        cfg = self.config
        with self._mu:
            conns = list(self._conns)
        busy = sum(1 for hc in conns if not hc.close_if_idle())
        with self._mu:
            inflight = self._inflight
        _log.info("draining", connections_busy=busy, inflight=inflight)
        deadline = time.monotonic() + cfg.shutdown_timeout
        if await self._wait_conns(deadline, 0.001):
            return
        with self._mu:
            left = list(self._conns)
            inflight = self._inflight
        _log.warning(
            "shutdown deadline passed or forced: cancelling requests still running",
            connections=len(left),
            inflight=inflight,
        )
        for hc in left:
            hc.scope.cancel()
        # Cancelled Gs unwind at their next checkpoint; one stuck in a blocking call is
        # left to the runtime's close (which reports it).
        self._force = False
        await self._wait_conns(time.monotonic() + min(1.0, cfg.shutdown_timeout), 0.001)

    async def _wait_conns(self, deadline: float, interval: float) -> bool:
        """Poll until no connection is left (True), the deadline passes or a forced
        shutdown is asked for (False). Go's Shutdown polls the same way."""
        while True:
            with self._mu:
                if not self._conns:
                    return True
            now = time.monotonic()
            if self._force or now >= deadline:
                return False
            await gmp.sleep(min(interval, deadline - now))
            interval = min(interval * 2, _DRAIN_POLL_MAX)

    async def _accept_loop(self, ln: Listener, scope: CancelScope) -> None:
        """One listener's acceptor (Go's ``Server.Serve`` loop)."""
        delay = 0.0
        slots = self._slots
        with scope:
            while True:
                await slots.acquire()
                try:
                    conn = await ln.accept()
                except ConnClosed:
                    slots.release()
                    return
                except OSError as e:
                    slots.release()
                    if e.errno in _ACCEPT_SKIP:
                        continue
                    if e.errno in _ACCEPT_RETRY:
                        # Go's Serve: back off 5 ms, doubling to 1 s, out of descriptors.
                        delay = min(max(delay * 2, 0.005), 1.0)
                        _log.error("accept failed; retrying", error=str(e), retry_in=delay)
                        await gmp.sleep(delay)
                        continue
                    raise
                except BaseException:
                    slots.release()
                    raise
                delay = 0.0
                self._start_conn(conn)

    def _accept_queued(self, ln: Listener) -> None:
        """Take the connections already in the listen queue before closing it, to be
        served as draining (answered with ``Connection: close``): closing the listener
        would reset them, though their clients sent requests before the shutdown began
        (found by ``make soak``: 54 of 64 requests sent right before SIGTERM were reset).
        Go's Shutdown resets them; a drain that answers what was sent is the stronger
        promise. Over the connection cap they are left to the reset."""
        sock = ln.socket
        while self._slots.try_acquire():
            try:
                raw, addr = sock.accept()
            except OSError:  # EAGAIN: the queue is empty (or the listener failed)
                self._slots.release()
                return
            if ln._ssl is not None:
                raw.close()  # a TLS handshake is not worth starting in a drain
                self._slots.release()
                continue
            try:
                conn = Conn(raw, ln._poller, addr)
            except BaseException:
                raw.close()
                self._slots.release()
                raise
            self._start_conn(conn)  # releases the slot itself if it fails

    def _start_conn(self, conn: Conn) -> None:
        hc = HTTPConn(self, conn)
        with self._mu:
            self._conns.add(hc)
            self._counters.connections_total += 1
            if self._stopping:
                hc.draining = True
        try:
            gmp.go(hc.serve)
        except BaseException:
            self._release_conn(hc)
            raise

    def _release_conn(self, hc: HTTPConn) -> None:
        """The connection ended (its owning G's last act): close it, free its slot."""
        hc.conn.close()
        with self._mu:
            if hc not in self._conns:
                return
            self._conns.discard(hc)
        self._slots.release()

    async def _reaper(self, scope: CancelScope) -> None:
        """Enforce every connection's deadline (idle, header, read, write timeouts).

        One G scanning all connections a few times per timeout replaces a timer per
        request (see :mod:`gmp.http.conn`); the cost is timeout granularity, a quarter
        of the shortest timeout, at most 0.5 s."""
        cfg = self.config
        shortest = min(
            cfg.header_timeout, cfg.read_timeout, cfg.keepalive_timeout, cfg.write_timeout
        )
        period = min(max(shortest / 4, 0.005), 0.5)
        with scope:
            while True:
                await gmp.sleep(period)
                now = time.monotonic()
                with self._mu:
                    conns = list(self._conns)
                for hc in conns:
                    if hc.deadline < now:
                        hc.expire()

    # -- what connections report -----------------------------------------------------

    def _admit(self) -> bool:
        """A request is parsed: count it, and take an in-flight slot unless at
        ``max_inflight`` (then the caller answers 503 with Retry-After)."""
        # acquire/release, not ``with``: once a request each (gmp.runtime.park.ready).
        mu = self._mu
        mu.acquire()
        try:
            self._counters.requests += 1
            if self._inflight >= self.config.max_inflight:
                self._counters.rejected += 1
                return False
            self._inflight += 1
            return True
        finally:
            mu.release()

    def _finished(self) -> None:
        """A handler (and its streaming body) ended."""
        mu = self._mu
        mu.acquire()
        try:
            self._inflight -= 1
        finally:
            mu.release()

    def _count(self, name: str) -> None:
        with self._mu:
            c = self._counters
            setattr(c, name, getattr(c, name) + 1)


def tls_context(config: ServerConfig) -> _ssl.SSLContext | None:
    """The server-side TLS context of ``config.certfile``/``keyfile`` (None without
    them). HTTP/1.1 is the only protocol offered through ALPN."""
    if config.certfile is None:
        return None
    ctx = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(config.certfile, config.keyfile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def bind_socket(
    family: socket.AddressFamily,
    addr: Any,
    *,
    reuse_port: bool = False,
    backlog: int = 1024,
) -> socket.socket:
    """A listening, non-blocking TCP socket. ``reuse_port`` sets ``SO_REUSEPORT`` before
    bind, so several processes can listen on one port and the kernel spreads connections
    between them (``gmp serve --workers N``)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _address(ln: Listener) -> tuple[str, int]:
    addr = ln.addr
    return str(addr[0]), int(addr[1])
