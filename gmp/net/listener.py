"""Listening sockets whose ``accept`` parks the G (Go's ``net.Listen`` /
``net.Listener``)."""

from __future__ import annotations

import contextlib
import os
import socket
import socket as _socket
import ssl as _ssl
import stat
from typing import Any

from gmp._core.netpoll import READ, check_err
from gmp.errors import ConnClosed
from gmp.net._rt import poller as _poller
from gmp.net.conn import Conn
from gmp.net.tls import TLSConn
from gmp.runtime.netpoll import Poller, _raise_err, wait_io
from gmp.runtime.park import checkpoint, current, safe_point_due

__all__ = ["Listener", "listen", "listen_unix"]


class Listener:
    """A listening socket (Go's ``net.Listener``). ``await accept()`` parks the G until a
    connection arrives; ``close()`` wakes it with :class:`~gmp.errors.ConnClosed`.

    With ``ssl`` (an ``ssl.SSLContext``), accepted connections are TLS connections whose
    handshake runs at their first read or write, in the G that owns them (Go's
    ``tls.NewListener``): a slow client's handshake never stalls the accept loop."""

    __slots__ = ("_closed", "_pd", "_poller", "_sock", "_ssl", "addr", "unix_path")

    def __init__(
        self,
        sock: socket.socket,
        poller: Poller,
        ssl: _ssl.SSLContext | None = None,
        unix_path: str | None = None,
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._poller = poller
        self._pd = poller.open(sock.fileno())
        self._ssl = ssl
        self._closed = False
        self.addr: Any = sock.getsockname()
        self.unix_path = unix_path

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<gmp.net.Listener {state} {self.addr!r}>"

    @property
    def port(self) -> int:
        """The bound TCP port (useful after ``listen(port=0)``)."""
        if not isinstance(self.addr, tuple):
            raise ValueError("a Unix listener has no port")
        port: int = self.addr[1]
        return port

    @property
    def socket(self) -> socket.socket:
        return self._sock

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._closed

    async def accept(self) -> Conn:
        """The next connection (Go's ``Listener.Accept``). Raises ConnClosed after
        ``close()``; ``OSError`` such as ``EMFILE`` reaches the caller, whose accept loop
        should back off (Go's ``Server.Serve`` sleeps 5 ms to 1 s)."""
        raw, addr = await self.accept_socket()
        try:
            if self._ssl is not None:
                return TLSConn(raw, self._poller, self._ssl, server_side=True, remote_addr=addr)
            return Conn(raw, self._poller, addr)
        except BaseException:
            raw.close()
            raise

    async def accept_socket(self) -> tuple[_socket.socket, Any]:
        """The next connection as a plain non-blocking socket and its address, for callers
        that hand it to another runtime or wrap it themselves."""
        pd = self._pd
        sock = self._sock
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        while True:
            err = check_err(pd, READ)
            if err:
                _raise_err(pd, err)
            try:
                raw, addr = sock.accept()
            except BlockingIOError:
                pass
            except OSError:
                if self._closed:
                    raise ConnClosed("use of closed network connection") from None
                raise
            else:
                raw.setblocking(False)
                if raw.family in (socket.AF_INET, socket.AF_INET6):
                    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return raw, addr
            await wait_io(pd, READ)

    def close(self) -> None:
        """Stop listening; a G in ``accept`` raises ConnClosed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._poller.close(self._pd)
        self._sock.close()
        if self.unix_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.unix_path)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be within 0..65535, got {port}")
    return port


def listen(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    backlog: int = 1024,
    reuse_port: bool = False,
    ssl: _ssl.SSLContext | None = None,
) -> Listener:
    """Listen on TCP ``host:port`` (Go's ``net.Listen("tcp", ...)``), from inside a G.

    ``port=0`` picks a free port (``listener.port``). ``reuse_port`` sets
    ``SO_REUSEPORT`` so several processes can share the port (the server's
    ``--workers``). ``ssl`` makes it a TLS listener."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, got {type(host).__name__}")
    _check_port(port)
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 1:
        raise ValueError(f"backlog must be a positive int, got {backlog!r}")
    if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext, got {type(ssl).__name__}")
    poller = _poller("gmp.net.listen()")
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, type_, proto, _, addr = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(backlog)
        return Listener(sock, poller, ssl)
    except BaseException:
        sock.close()
        raise


def listen_unix(
    path: str | os.PathLike[str], *, backlog: int = 1024, ssl: _ssl.SSLContext | None = None
) -> Listener:
    """Listen on a Unix stream socket at ``path`` (Go's ``net.Listen("unix", path)``).
    A stale socket file left by a dead process is replaced; one a live listener answers
    on is not (``OSError`` EADDRINUSE), nor is any other kind of file. ``close()``
    removes the file."""
    if not isinstance(path, str | bytes | os.PathLike):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    path = os.fsdecode(path)
    poller = _poller("gmp.net.listen_unix()")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode) and _stale(path):
                os.unlink(path)
        sock.bind(path)
        sock.listen(backlog)
        return Listener(sock, poller, ssl, unix_path=path)
    except BaseException:
        sock.close()
        raise


def _stale(path: str) -> bool:
    """Whether nobody listens on the socket file ``path`` (a connect is refused)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # accepted, or a full queue (EAGAIN): somebody listens there
    finally:
        probe.close()
    return False
