"""A connection whose waits park the G, not the thread (Go's ``net.Conn`` over
``internal/poll.FD``).

Every operation first tries the socket without blocking; only ``EAGAIN`` (or TLS's
want-read/want-write) parks the G on the runtime's network poller
(:func:`gmp.runtime.netpoll.wait_io`), which readies it when epoll reports the socket
ready. An operation that completes at once is still a safe point: it delivers a due
cancellation and gives up the P when its time slice ran out, so a G reading a socket
that always has data cannot keep its P (the fairness rule of every other gmp operation).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from typing import Any

from gmp._core.netpoll import ERR_CLOSING, READ, WRITE, check_err
from gmp.errors import ConnClosed
from gmp.runtime.netpoll import FD, Poller, _raise_err, wait_io
from gmp.runtime.park import checkpoint, current, safe_point_due

__all__ = ["Conn"]

_WANT_READ = ssl.SSLWantReadError
_WANT_WRITE = ssl.SSLWantWriteError


class Conn:
    """A stream connection (TCP, Unix, or TLS over either) driven by a gmp runtime.

    Made by :meth:`gmp.net.Listener.accept` and :func:`gmp.net.dial`; use it from Gs of
    the runtime that made it. One G may read while another writes (Go allows one of
    each); two readers at once get an error. ``close()`` wakes both with
    :class:`~gmp.errors.ConnClosed`.
    """

    __slots__ = (
        "_closed",
        "_drained",
        "_io",
        "_pd",
        "_plain",
        "_poller",
        "_sock",
        "local_addr",
        "remote_addr",
    )

    def __init__(self, sock: socket.socket, poller: Poller, remote_addr: Any = None) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._io: Any = sock  # what the loops call recv/send on (TLS: one thread at a time)
        self._poller = poller
        self._pd: FD = poller.open(sock.fileno())
        self._closed = False
        # A short read of a plain socket took everything the kernel had: the next read
        # waits for readiness first instead of trying (see recv). Not for TLS, whose
        # library may hold decrypted bytes the kernel no longer shows.
        self._plain = not isinstance(sock, ssl.SSLSocket)
        self._drained = False
        self.local_addr: Any = sock.getsockname()
        self.remote_addr: Any = remote_addr if remote_addr is not None else _peer(sock)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<gmp.net.Conn {state} {self.local_addr!r} <-> {self.remote_addr!r}>"

    @property
    def socket(self) -> socket.socket:
        """The underlying non-blocking socket (for options such as ``TCP_NODELAY``)."""
        return self._sock

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- reading ---------------------------------------------------------------------------

    async def recv(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; ``b""`` at end of stream (the peer closed or half-closed).

        Raises :class:`~gmp.errors.DeadlineExceeded` past the read deadline,
        :class:`~gmp.errors.ConnClosed` after ``close()``, and ``ConnectionResetError``
        when the peer reset the connection."""
        pd = self._pd
        sock = self._io
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        if self._drained:
            # The last read was short: the socket was empty then, so any byte since came
            # with an edge the poller reports. Waiting first (no park when that readiness
            # is already pending) saves the recv that would fail with EAGAIN, and its
            # exception. Not once epoll saw the peer's FIN (pd.hup): a short read may
            # have consumed it, and end of stream is a state, not an edge to come (a
            # test lost 1 run in 20 to that before hup). Go always tries the read first.
            self._drained = False
            await wait_io(pd, READ)
        while True:
            err = check_err(pd, READ)
            if err:
                _raise_err(pd, err)
            try:
                data: bytes = sock.recv(n)
            except (BlockingIOError, _WANT_READ):
                mode = READ
            except _WANT_WRITE:
                mode = WRITE
            except OSError:
                self._raise_if_closed()
                raise
            else:
                if 0 < len(data) < n and self._plain and not pd.hup:
                    self._drained = True
                return data
            await wait_io(pd, mode)

    async def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        """Read into ``buf`` (a writable buffer); returns the count, 0 at end of stream."""
        pd = self._pd
        sock = self._io
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        if self._drained:  # see recv
            self._drained = False
            await wait_io(pd, READ)
        while True:
            err = check_err(pd, READ)
            if err:
                _raise_err(pd, err)
            try:
                got: int = sock.recv_into(buf, nbytes)
            except (BlockingIOError, _WANT_READ):
                mode = READ
            except _WANT_WRITE:
                mode = WRITE
            except OSError:
                self._raise_if_closed()
                raise
            else:
                if 0 < got < (nbytes or memoryview(buf).nbytes) and self._plain and not pd.hup:
                    self._drained = True
                return got
            await wait_io(pd, mode)

    # -- writing ---------------------------------------------------------------------------

    async def send(self, data: Any) -> int:
        """Send some of ``data``; returns how many bytes the kernel took (at least one)."""
        pd = self._pd
        sock = self._io
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        while True:
            err = check_err(pd, WRITE)
            if err:
                _raise_err(pd, err)
            try:
                sent: int = sock.send(data)
                return sent
            except (BlockingIOError, _WANT_WRITE):
                mode = WRITE
            except _WANT_READ:
                mode = READ
            except OSError:
                self._raise_if_closed()
                raise
            await wait_io(pd, mode)

    async def send_all(self, data: Any) -> None:
        """Send all of ``data``, parking whenever the socket buffer is full (flow
        control: a slow reader slows the writer, it never grows a buffer here)."""
        pd = self._pd
        sock = self._io
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        view = memoryview(data).cast("B")
        total = len(view)
        sent = 0
        while sent < total:
            err = check_err(pd, WRITE)
            if err:
                _raise_err(pd, err)
            try:
                sent += sock.send(view[sent:])
                continue
            except (BlockingIOError, _WANT_WRITE):
                mode = WRITE
            except _WANT_READ:
                mode = READ
            except OSError:
                self._raise_if_closed()
                raise
            await wait_io(pd, mode)

    # -- deadlines (Go's SetDeadline / SetReadDeadline / SetWriteDeadline) -----------------

    def set_deadline(self, when: float | None) -> None:
        """Both directions' deadline, on ``time.monotonic()``'s clock (None: none).

        As in Go it is absolute, not an idle timeout: an operation pending or started after
        it passes raises :class:`~gmp.errors.DeadlineExceeded`; setting a new one
        (or None) makes the connection usable again."""
        self.set_read_deadline(when)
        self.set_write_deadline(when)

    def set_read_deadline(self, when: float | None) -> None:
        """The read deadline (``time.monotonic()`` clock; None: none)."""
        self._poller.set_deadline(self._pd, READ, _check_when(when))

    def set_write_deadline(self, when: float | None) -> None:
        """The write deadline (``time.monotonic()`` clock; None: none)."""
        self._poller.set_deadline(self._pd, WRITE, _check_when(when))

    def set_timeout(self, seconds: float | None) -> None:
        """Shorthand: ``set_deadline(time.monotonic() + seconds)`` (None clears)."""
        self.set_deadline(None if seconds is None else time.monotonic() + seconds)

    # -- closing ---------------------------------------------------------------------------

    def close_write(self) -> None:
        """Half-close: the peer reads end of stream; this side can still read (Go's
        ``TCPConn.CloseWrite``). On TLS, see :meth:`gmp.net.tls.TLSConn.close_write`."""
        if self._closed:
            raise ConnClosed("use of closed network connection")
        self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the connection; Gs blocked on it raise ConnClosed. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._poller.close(self._pd)
        self._sock.close()

    def abort(self) -> None:
        """Close with a reset (``SO_LINGER`` 0): the peer sees ``ECONNRESET``."""
        if not self._closed:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_if_closed(self) -> None:
        if self._closed:
            _raise_err(self._pd, ERR_CLOSING)


def _check_when(when: float | None) -> float | None:
    if when is None:
        return None
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise TypeError(
            f"a deadline is a time.monotonic() value or None, got {type(when).__name__}"
        )
    return float(when)


def _peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None
