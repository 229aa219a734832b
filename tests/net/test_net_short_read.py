"""A read that returns fewer bytes than asked took everything the kernel held, so the
next read waits for readiness before trying (gmp.net.Conn.recv; it saves the ``EAGAIN``
and its exception). The laws that keep that from losing bytes or end of stream:

1. bytes sent after a short read wake the next read (they come with an edge);
2. bytes that arrived before the next read, already reported by the poller, are read at
   once (the pending readiness is consumed, the G does not park);
3. end of stream is never waited for: once the poller saw the peer's FIN, a short read
   that consumed it does not make the next read wait for an edge that will not come.

Each is checked for ``recv`` and ``recv_into``, over TCP and a Unix socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from net_helpers import READ, READY, parked, run

import gmp
from gmp import net
from gmp.net import Conn, Listener

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]

Reader = Callable[[Conn], Awaitable[bytes]]


async def by_recv(conn: Conn) -> bytes:
    return await conn.recv(100)


async def by_recv_into(conn: Conn) -> bytes:
    buf = bytearray(100)
    n = await conn.recv_into(buf)
    return bytes(buf[:n])


READERS = {"recv": by_recv, "recv_into": by_recv_into}


async def pair(kind: str, tmp: Path) -> tuple[Listener, Conn, Conn]:
    if kind == "tcp":
        ln = net.listen("127.0.0.1", 0)
        acc = gmp.go(ln.accept)
        client = await net.dial("127.0.0.1", ln.port)
    else:
        path = str(tmp / "s.sock")
        ln = net.listen_unix(path)
        acc = gmp.go(ln.accept)
        client = await net.dial_unix(path)
    return ln, client, await acc.join()


async def until(cond: Callable[[], bool]) -> None:
    """Wait for a state the poller sets (bounded by run's fail_after)."""
    while not cond():
        await gmp.sleep(0.001)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("procs", [1, 2])
def test_short_reads_lose_nothing(procs: int, reader: str, kind: str, tmp_path: Path) -> None:
    read = READERS[reader]

    async def main() -> None:
        ln, a, b = await pair(kind, tmp_path)
        with ln, a, b:
            await a.send_all(b"one")
            assert await read(b) == b"one"  # short: the next read waits first

            # Law 1: the next read parks, and bytes sent then wake it.
            r = gmp.go(read, b)
            await parked(b, READ)
            await a.send_all(b"two")
            assert await r.join() == b"two"

            # Law 2: bytes the poller reported before the read are read without parking.
            await a.send_all(b"three")
            await until(lambda: b._pd.slot[READ] is READY)
            assert await read(b) == b"three"

            # Law 3: bytes and the FIN, both seen by the poller, then two reads.
            await a.send_all(b"four")
            a.close_write()
            await until(lambda: b._pd.hup)
            assert await read(b) == b"four"  # consumed the FIN too
            assert await read(b) == b""  # end of stream, with no edge left to wait for
            assert await read(b) == b""

    run(main, procs)
