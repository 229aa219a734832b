"""Shared pieces of the gmp.net tests: a bounded run, waiting for a G to park on a
connection, and reading exactly n bytes.

Every wait is bounded: :func:`run` puts the whole program under ``gmp.fail_after``, so a
lost wake-up fails the test with ``TooSlowError`` instead of hanging it, and
:func:`parked` waits for a state, never for a length of time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import gmp
import gmp.net
from gmp._core.netpoll import READ, READY, WRITE
from gmp.net import Conn

T = TypeVar("T")

LIMIT = 30.0
"""Seconds a test program may take before it fails as hung (far above what it needs)."""

__all__ = [
    "LIMIT",
    "READ",
    "WRITE",
    "echo",
    "parked",
    "parked_on",
    "poll_waiters",
    "recv_all",
    "recv_exactly",
    "run",
    "serve_echo",
]


def run(main: Callable[[], Awaitable[T]], procs: int = 2, limit: float = LIMIT) -> T:
    """``gmp.run(main, procs=procs)`` under a ``fail_after(limit)``."""

    async def bounded() -> T:
        with gmp.fail_after(limit):
            return await main()

    return gmp.run(bounded, procs=procs)


def poll_waiters() -> int:
    """How many Gs of the calling G's runtime are parked on the network poller (Go's
    netpollWaiters): the count a leaked registration would leave too high."""
    rt: Any = gmp.current_runtime()
    n: int = rt._sched.core.npollwait
    return n


def parked_on(conn: Conn | gmp.net.Listener, mode: int) -> bool:
    """Whether a G is parked on ``conn`` (or a listener) in ``mode``: its wait slot
    holds a G."""
    slot = conn._pd.slot[mode]
    return slot is not None and slot is not READY


async def parked(conn: Conn | gmp.net.Listener, mode: int = READ) -> None:
    """Wait until a G is parked on ``conn`` in ``mode`` (bounded by :func:`run`'s limit)."""
    while not parked_on(conn, mode):
        await gmp.sleep(0.001)


async def recv_exactly(conn: Conn, n: int) -> bytes:
    """Exactly ``n`` bytes from ``conn``; an error if the stream ends first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = await conn.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"end of stream after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


async def recv_all(conn: Conn) -> bytes:
    """Everything until end of stream."""
    buf = bytearray()
    while chunk := await conn.recv(1 << 16):
        buf += chunk
    return bytes(buf)


async def echo(conn: Conn) -> None:
    """Send back everything ``conn`` receives, then close it at end of stream."""
    with conn:
        while data := await conn.recv(1 << 16):
            await conn.send_all(data)


def serve_echo(ln: gmp.net.Listener) -> gmp.G[None]:
    """Accept on ``ln`` until it is closed, one echoing G per connection."""

    async def loop() -> None:
        while True:
            try:
                conn = await ln.accept()
            except gmp.ConnClosed:
                return
            gmp.go(echo, conn)

    return gmp.go(loop)
