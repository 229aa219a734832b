"""Outgoing connections whose connect parks the G (Go's ``net.Dial``,
``net.DialTimeout``)."""

from __future__ import annotations

import errno
import os
import socket
import ssl as _ssl
import time
from typing import Any

from gmp._core.netpoll import WRITE
from gmp.errors import DeadlineExceeded
from gmp.net._rt import poller as _poller
from gmp.net.conn import Conn
from gmp.net.tls import TLSConn
from gmp.runtime.api import syscall
from gmp.runtime.netpoll import Poller, wait_io

__all__ = ["dial", "dial_unix"]


def _numeric(host: str) -> int | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return family
        except OSError:
            pass
    return None


def _deadline(timeout: float | None) -> float | None:
    """The absolute deadline of a dial given ``timeout`` seconds (None: none)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be a number of seconds or None, got {type(timeout).__name__}"
        )
    return time.monotonic() + timeout


async def _connect(poller: Poller, family: int, addr: Any, deadline: float | None) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        code = sock.connect_ex(addr)
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            raise OSError(code, f"connect to {addr!r}: {os.strerror(code)}")
        if code != 0:
            # Wait for writability on a throwaway registration (Go's fd.connect): the Conn
            # registers the socket afresh once it is connected.
            pd = poller.open(sock.fileno())
            try:
                if deadline is not None:
                    poller.set_deadline(pd, WRITE, deadline)
                while True:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code not in (0, errno.EINPROGRESS, errno.EALREADY):
                        raise OSError(code, f"connect to {addr!r}: {os.strerror(code)}")
                    try:
                        sock.getpeername()
                        break  # connected
                    except OSError:
                        pass
                    try:
                        await wait_io(pd, WRITE)
                    except DeadlineExceeded:
                        raise DeadlineExceeded(f"dial {addr!r}: i/o timeout") from None
            finally:
                poller.close(pd)
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except BaseException:
        sock.close()
        raise


async def dial(
    host: str,
    port: int,
    *,
    timeout: float | None = None,
    ssl: _ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Conn:
    """Connect to TCP ``host:port`` (Go's ``net.DialTimeout``); the G parks while the
    handshake runs. A name is resolved with ``getaddrinfo`` in a blocking call
    (``gmp.syscall``: sysmon hands the P on if it is slow); a numeric address is not.
    ``timeout`` bounds the whole dial (raises :class:`~gmp.errors.DeadlineExceeded`).
    With ``ssl`` the connection is TLS (``server_hostname`` defaults to ``host``) and the
    TLS handshake completes before dial returns, within the same timeout."""
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, got {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 < port <= 65535:
        raise ValueError(f"port must be within 1..65535, got {port}")
    if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext, got {type(ssl).__name__}")
    deadline = _deadline(timeout)
    poller = _poller("gmp.net.dial()")
    family = _numeric(host)
    if family is not None:
        targets: list[tuple[int, Any]] = [(family, (host, port))]
    else:
        infos = await syscall(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        targets = [(fam, addr) for fam, _, _, _, addr in infos]
        if not targets:
            raise OSError(f"dial {host}:{port}: no address")
    last: BaseException | None = None
    for fam, addr in targets:
        try:
            sock = await _connect(poller, fam, addr, deadline)
        except (OSError, DeadlineExceeded) as err:
            last = err
            if isinstance(err, DeadlineExceeded):
                raise
            continue
        if ssl is not None:
            conn: Conn = TLSConn(
                sock, poller, ssl, server_side=False, server_hostname=server_hostname or host
            )
            try:
                if deadline is not None:
                    conn.set_deadline(deadline)
                await conn.handshake()  # type: ignore[attr-defined]
                conn.set_deadline(None)
            except BaseException:
                conn.close()
                raise
            return conn
        try:
            return Conn(sock, poller, addr)
        except BaseException:
            sock.close()
            raise
    assert last is not None
    raise last


async def dial_unix(path: str | os.PathLike[str], *, timeout: float | None = None) -> Conn:
    """Connect to the Unix stream socket at ``path`` (Go's ``net.Dial("unix", path)``)."""
    if not isinstance(path, str | bytes | os.PathLike):
        raise TypeError(f"path must be a str or path, got {type(path).__name__}")
    deadline = _deadline(timeout)
    poller = _poller("gmp.net.dial_unix()")
    sock = await _connect(poller, socket.AF_UNIX, os.fspath(path), deadline)
    try:
        return Conn(sock, poller, os.fspath(path))
    except BaseException:
        sock.close()
        raise
