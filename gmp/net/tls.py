"""TLS over a gmp connection (Go's ``crypto/tls`` ``Conn``): ``ssl.SSLContext`` does the
cryptography, the G parks on the poller whenever OpenSSL wants more bytes or room.

The socket is wrapped non-blocking (``do_handshake_on_connect=False``): OpenSSL then
raises ``SSLWantReadError``/``SSLWantWriteError`` where a plain socket raises
``EAGAIN``, and :class:`~gmp.net.conn.Conn` parks on the matching direction. The
handshake runs at the first read or write (or an explicit :meth:`TLSConn.handshake`), in
the G that owns the connection, as Go's ``tls.Conn`` does.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

from gmp._core.netpoll import READ, WRITE, check_err
from gmp.net.conn import Conn
from gmp.runtime.netpoll import Poller, _raise_err, wait_io

__all__ = ["TLSConn", "tls_client", "tls_server"]


class TLSConn(Conn):
    """A :class:`~gmp.net.conn.Conn` speaking TLS. ``socket`` is the ``ssl.SSLSocket``."""

    __slots__ = ("_handshaken",)

    def __init__(
        self,
        sock: socket.socket,
        poller: Poller,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
        remote_addr: Any = None,
    ) -> None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"context must be an ssl.SSLContext, got {type(context).__name__}")
        sock.setblocking(False)
        wrapped = context.wrap_socket(
            sock,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
            do_handshake_on_connect=False,
        )
        self._handshaken = False
        super().__init__(wrapped, poller, remote_addr)
        self._io = _OneAtATime(wrapped)

    async def handshake(self) -> None:
        """Complete the TLS handshake (idempotent). Raises ``ssl.SSLError`` on failure."""
        if self._handshaken:
            return
        sock: Any = self._io
        pd = self._pd
        while True:
            err = check_err(pd, READ)
            if err:
                _raise_err(pd, err)
            try:
                sock.do_handshake()
                self._handshaken = True
                return
            except ssl.SSLWantReadError:
                mode = READ
            except ssl.SSLWantWriteError:
                mode = WRITE
            except OSError:
                self._raise_if_closed()
                raise
            await wait_io(pd, mode)

    @property
    def cipher(self) -> tuple[str, str, int] | None:
        return self._sock.cipher()  # type: ignore[attr-defined, no-any-return]

    @property
    def version(self) -> str | None:
        return self._sock.version()  # type: ignore[attr-defined, no-any-return]

    async def recv(self, n: int = 65536) -> bytes:
        if not self._handshaken:
            await self.handshake()
        try:
            return await super().recv(n)
        except ssl.SSLZeroReturnError:
            return b""  # the peer sent close_notify: end of stream

    async def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        if not self._handshaken:
            await self.handshake()
        try:
            return await super().recv_into(buf, nbytes)
        except ssl.SSLZeroReturnError:
            return 0

    async def send(self, data: Any) -> int:
        if not self._handshaken:
            await self.handshake()
        return await super().send(data)

    async def send_all(self, data: Any) -> None:
        if not self._handshaken:
            await self.handshake()
        await super().send_all(data)

    def close_write(self) -> None:
        """Shut the socket's write side (``shutdown(SHUT_WR)``) without a TLS
        close_notify: Python's ``ssl`` sends one only within a full ``unwrap()``, which
        discards application data already on its way in. The peer reads end of stream
        (``b""`` here, and in Python's ``ssl`` by default), but an OpenSSL peer then
        takes its session as broken and cannot write back: over TLS, close_write ends
        a one-way stream; a reply needs framing and ``close()`` instead."""
        super().close_write()


class _OneAtATime:
    """An ``ssl.SSLSocket`` whose calls never overlap. OpenSSL forbids two threads in one
    ``SSL`` object at once, and ``_ssl`` releases the GIL inside ``SSL_read`` and
    ``SSL_write``: a reader G and a writer G of one connection on two Ms (Go allows one of
    each, and so does gmp.net) raced there, and the stream broke (``test_tls_echo[2]``
    read end of stream, once in a full suite). Every call is non-blocking, so the lock is
    held for one ``SSL_*`` call, never across a park."""

    __slots__ = ("_lock", "_sock")

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def recv(self, n: int) -> bytes:
        with self._lock:
            return self._sock.recv(n)

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        with self._lock:
            return self._sock.recv_into(buf, nbytes)

    def send(self, data: Any) -> int:
        with self._lock:
            return self._sock.send(data)

    def do_handshake(self) -> None:
        with self._lock:
            self._sock.do_handshake()


async def tls_server(conn: Conn, context: ssl.SSLContext) -> TLSConn:
    """Upgrade an accepted plain connection to TLS (server side) and handshake."""
    return await _upgrade(conn, context, True, None)


async def tls_client(conn: Conn, context: ssl.SSLContext, server_hostname: str) -> TLSConn:
    """Upgrade a dialled plain connection to TLS (client side) and handshake."""
    return await _upgrade(conn, context, False, server_hostname)


async def _upgrade(
    conn: Conn, context: ssl.SSLContext, server_side: bool, hostname: str | None
) -> TLSConn:
    if isinstance(conn, TLSConn):
        raise ValueError("the connection already speaks TLS")
    if not isinstance(context, ssl.SSLContext):
        # Checked before the socket changes hands: a refused upgrade leaves conn usable.
        raise TypeError(f"context must be an ssl.SSLContext, got {type(context).__name__}")
    poller = conn._poller
    sock = conn._sock
    remote = conn.remote_addr
    # Hand the socket over: forget the plain registration without closing the socket.
    conn._closed = True
    poller.close(conn._pd)
    raw = socket.socket(fileno=sock.detach())
    tconn = TLSConn(
        raw, poller, context, server_side=server_side, server_hostname=hostname, remote_addr=remote
    )
    try:
        await tconn.handshake()
    except BaseException:
        tconn.close()
        raise
    return tconn
