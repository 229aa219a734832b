"""gmp.net moves bytes intact: many small round trips, and large transfers in both
directions at once, at procs 1 and 2, over TCP and Unix sockets."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from net_helpers import recv_exactly, run, serve_echo

import gmp
from gmp import net
from gmp.net import Conn, Listener

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]

PROCS = [1, 2]
BIG = 32 << 20  # 32 MiB each way


async def round_trips(conn: Conn, seed: int, n: int) -> int:
    """``n`` echoed messages of 1..4096 bytes; returns the bytes that came back."""
    rng = random.Random(seed)
    total = 0
    with conn:
        for _ in range(n):
            msg = rng.randbytes(rng.randint(1, 4096))
            await conn.send_all(msg)
            assert await recv_exactly(conn, len(msg)) == msg
            total += len(msg)
    return total


@pytest.mark.parametrize("procs", PROCS)
def test_echo_many_round_trips(procs: int) -> None:
    async def main() -> list[int]:
        ln = net.listen("127.0.0.1", 0)
        server = serve_echo(ln)
        try:
            conns = [await net.dial("127.0.0.1", ln.port) for _ in range(4)]
            handles = [gmp.go(round_trips, c, seed, 500) for seed, c in enumerate(conns)]
            return [await h.join() for h in handles]
        finally:
            ln.close()
            await server.join()

    totals = run(main, procs)
    assert len(totals) == 4 and all(t > 500 for t in totals)


async def exchange(conn: Conn, out: bytes, use_into: bool) -> tuple[str, int]:
    """Send ``out`` (then half-close) while reading the peer's stream to its end, in two
    Gs on one connection (Go allows one reader and one writer); the digest of what came
    in and its length."""

    async def writer() -> None:
        await conn.send_all(out)
        conn.close_write()

    w = gmp.go(writer)
    digest = hashlib.sha256()
    n = 0
    if use_into:
        buf = bytearray(1 << 16)
        view = memoryview(buf)
        while got := await conn.recv_into(buf):
            digest.update(view[:got])
            n += got
    else:
        while chunk := await conn.recv(1 << 16):
            digest.update(chunk)
            n += len(chunk)
    await w.join()
    conn.close()
    return digest.hexdigest(), n


async def transfer(ln: Listener, dial: Callable[[], Awaitable[Conn]]) -> None:
    a = random.Random(1).randbytes(BIG)
    b = random.Random(2).randbytes(BIG)

    async def server() -> tuple[str, int]:
        conn = await ln.accept()
        return await exchange(conn, b, use_into=True)

    s = gmp.go(server)
    conn = await dial()
    got_b = await exchange(conn, a, use_into=False)
    got_a = await s.join()
    ln.close()
    assert got_a == (hashlib.sha256(a).hexdigest(), BIG)
    assert got_b == (hashlib.sha256(b).hexdigest(), BIG)


@pytest.mark.parametrize("procs", PROCS)
def test_large_transfer_both_directions_at_once(procs: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        await transfer(ln, lambda: net.dial("127.0.0.1", ln.port))

    run(main, procs)


@pytest.mark.parametrize("procs", PROCS)
def test_large_transfer_over_a_unix_socket(procs: int, tmp_path: Path) -> None:
    path = str(tmp_path / "big.sock")

    async def main() -> None:
        ln = net.listen_unix(path)
        await transfer(ln, lambda: net.dial_unix(path))

    run(main, procs)


@pytest.mark.parametrize("procs", PROCS)
def test_large_echo_while_sending(procs: int) -> None:
    """A writer G pushes 32 MiB into an echo server while a reader G takes the echo
    back: neither side's buffer fills for good, because each parks and is readied."""
    data = random.Random(3).randbytes(BIG)

    async def main() -> str:
        ln = net.listen("127.0.0.1", 0)
        server = serve_echo(ln)
        conn = await net.dial("127.0.0.1", ln.port)

        async def writer() -> None:
            view = memoryview(data)
            for i in range(0, BIG, 1 << 20):  # in 1 MiB pieces, as a stream would
                await conn.send_all(view[i : i + (1 << 20)])

        w = gmp.go(writer)
        got = await recv_exactly(conn, BIG)
        await w.join()
        conn.close()
        ln.close()
        await server.join()
        return hashlib.sha256(got).hexdigest()

    assert run(main, procs) == hashlib.sha256(data).hexdigest()
