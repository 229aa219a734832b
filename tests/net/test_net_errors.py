"""gmp.net's ends of a connection and its errors: half-close, reset, close from another
G, a closed listener, refused and timed-out dials, bad arguments and use outside a G."""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from net_helpers import READ, WRITE, parked, poll_waiters, recv_all, recv_exactly, run

import gmp
from gmp import net

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- half-close ---------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_close_write_ends_the_peers_stream_and_the_reply_still_arrives(procs: int) -> None:
    async def main() -> tuple[bytes, bytes]:
        ln = net.listen("127.0.0.1", 0)

        async def server() -> bytes:
            conn = await ln.accept()
            with conn:
                got = await recv_all(conn)  # until the client's close_write
                assert await conn.recv(10) == b""  # end of stream stays the end
                await conn.send_all(b"got " + got)
                return got

        s = gmp.go(server)
        conn = await net.dial("127.0.0.1", ln.port)
        with conn:
            await conn.send_all(b"the whole request")
            conn.close_write()
            reply = await recv_all(conn)
            with pytest.raises(BrokenPipeError):
                await conn.send_all(b"more")  # this side's writing is over
        ln.close()
        return await s.join(), reply

    assert run(main, procs) == (b"the whole request", b"got the whole request")


def test_close_write_after_close_is_conn_closed() -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        conn = await net.dial("127.0.0.1", ln.port)
        conn.close()
        with pytest.raises(gmp.ConnClosed):
            conn.close_write()
        ln.close()

    run(main)


# -- reset --------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_peer_abort_is_a_connection_reset(procs: int) -> None:
    """``abort()`` closes with a reset: a reader parked on the other end and a reader
    that comes later both get ConnectionResetError, not an empty read."""

    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        accepted: gmp.Chan[net.Conn] = gmp.Chan(1)

        async def acceptor() -> None:
            await accepted.send(await ln.accept())

        gmp.go(acceptor)
        client = await net.dial("127.0.0.1", ln.port)
        server = await accepted.recv()

        # 1. the server's reader is parked when the client aborts
        async def read() -> bytes:
            return await server.recv(10)

        r = gmp.go(read)
        await parked(server, READ)
        client.abort()
        with pytest.raises(ConnectionResetError) as info:
            await r.join()
        assert info.value.errno == errno.ECONNRESET
        assert "reset" in str(info.value).lower()
        server.close()

        # 2. the reader comes after the reset has arrived
        gmp.go(acceptor)
        client = await net.dial("127.0.0.1", ln.port)
        server = await accepted.recv()
        await client.send_all(b"x")
        assert await recv_exactly(server, 1) == b"x"  # the connection is established
        server.abort()
        with pytest.raises(ConnectionResetError):
            await client.recv(10)
        client.close()
        ln.close()

    run(main, procs)


# -- closing from another G -----------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_close_wakes_a_parked_reader_and_writer_with_conn_closed(procs: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        acc = gmp.go(ln.accept)
        conn = await net.dial("127.0.0.1", ln.port)
        peer = await acc.join()  # never reads: the writer's buffer fills
        base = poll_waiters()  # nobody else waits now (the accept is over)

        async def reader() -> bytes:
            return await conn.recv(10)

        async def writer() -> None:
            await conn.send_all(b"w" * (64 << 20))

        r = gmp.go(reader)
        w = gmp.go(writer)
        await parked(conn, READ)
        await parked(conn, WRITE)
        conn.close()
        with pytest.raises(gmp.ConnClosed, match="closed network connection"):
            await r.join()
        with pytest.raises(gmp.ConnClosed):
            await w.join()
        assert poll_waiters() == base
        # Later operations fail the same way, without touching the closed socket.
        with pytest.raises(gmp.ConnClosed):
            await conn.recv(1)
        with pytest.raises(gmp.ConnClosed):
            await conn.send(b"x")
        conn.close()  # idempotent
        assert conn.closed
        peer.close()
        ln.close()

    run(main, procs)


@pytest.mark.parametrize("procs", [1, 2])
def test_a_second_reader_at_once_is_refused_and_the_first_is_unharmed(procs: int) -> None:
    """Go allows one reader and one writer at a time; a second concurrent reader gets
    a RuntimeError that says so (it once killed the M that parked it, and hung)."""

    async def main() -> bytes:
        ln = net.listen("127.0.0.1", 0)
        acc = gmp.go(ln.accept)
        conn = await net.dial("127.0.0.1", ln.port)
        peer = await acc.join()
        first = gmp.go(conn.recv, 10)
        await parked(conn, READ)
        with pytest.raises(RuntimeError, match="another G is already reading from"):
            await conn.recv(10)
        assert poll_waiters() == 1  # only the first reader waits
        await peer.send_all(b"for one")
        got = await first.join()
        for c in (conn, peer, ln):
            c.close()
        return got

    assert run(main, procs) == b"for one"


def test_conn_closed_is_an_oserror_and_deadline_exceeded_a_timeout_error() -> None:
    assert issubclass(gmp.ConnClosed, OSError)
    assert issubclass(gmp.DeadlineExceeded, TimeoutError)
    assert net.ConnClosed is gmp.ConnClosed and net.DeadlineExceeded is gmp.DeadlineExceeded


# -- listeners ------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_listener_close_wakes_a_parked_accept_with_conn_closed(procs: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        a = gmp.go(ln.accept)
        await parked(ln, READ)
        ln.close()
        with pytest.raises(gmp.ConnClosed):
            await a.join()
        with pytest.raises(gmp.ConnClosed):
            await ln.accept()  # and at once afterwards
        assert ln.closed
        ln.close()  # idempotent

    run(main, procs)


def test_listener_reports_its_port_and_address() -> None:
    async def main() -> None:
        with net.listen("127.0.0.1", 0) as ln:
            assert ln.addr == ("127.0.0.1", ln.port) and ln.port > 0
            conn = await net.dial("127.0.0.1", ln.port)
            with conn, await ln.accept() as other:
                assert conn.remote_addr == ln.addr
                assert other.remote_addr == conn.local_addr
        assert ln.closed

    run(main)


# -- dialling -------------------------------------------------------------------------------


def test_dial_to_a_closed_port_is_refused(closed_port: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)  # the poller exists before the fds are counted
        before = open_fds()
        with pytest.raises(ConnectionRefusedError, match=str(closed_port)):
            await net.dial("127.0.0.1", closed_port)
        assert open_fds() == before  # the failed dial's socket is closed
        ln.close()

    run(main)


@pytest.mark.parametrize("procs", [1, 2])
def test_dial_timeout_is_deadline_exceeded(procs: int, full_backlog: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        before = open_fds()
        start = time.monotonic()
        with pytest.raises(gmp.DeadlineExceeded, match="i/o timeout") as info:
            await net.dial("127.0.0.1", full_backlog, timeout=0.1)
        assert time.monotonic() - start >= 0.1  # not before its time
        assert isinstance(info.value, TimeoutError)
        assert str(full_backlog) in str(info.value)
        assert open_fds() == before
        assert poll_waiters() == 0
        ln.close()

    run(main, procs)


def test_dial_resolves_a_name() -> None:
    async def main() -> bytes:
        ln = net.listen("127.0.0.1", 0)
        acc = gmp.go(ln.accept)
        conn = await net.dial("localhost", ln.port)  # getaddrinfo in a blocking call
        other = await acc.join()
        await other.send_all(b"hi")
        got = await recv_exactly(conn, 2)
        conn.close()
        other.close()
        ln.close()
        return got

    assert run(main) == b"hi"


# -- bad input ------------------------------------------------------------------------------


def test_bad_arguments_name_the_problem() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="host must be a str, got int"):
            net.listen(8080, 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="port must be an int, got str"):
            net.listen("127.0.0.1", "8080")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"port must be within 0\.\.65535, got 70000"):
            net.listen("127.0.0.1", 70000)
        with pytest.raises(ValueError, match="backlog must be a positive int"):
            net.listen("127.0.0.1", 0, backlog=0)
        with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext, got str"):
            net.listen("127.0.0.1", 0, ssl="cert.pem")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a str or path, got int"):
            net.listen_unix(3)  # type: ignore[arg-type]

        with pytest.raises(TypeError, match="host must be a str, got bytes"):
            await net.dial(b"127.0.0.1", 80)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="port must be an int, got str"):
            await net.dial("127.0.0.1", "80")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"port must be within 1\.\.65535, got 0"):
            await net.dial("127.0.0.1", 0)
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
            await net.dial("127.0.0.1", 80, timeout="1s")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext, got bool"):
            await net.dial("127.0.0.1", 80, ssl=True)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a str or path, got int"):
            await net.dial_unix(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
            await net.dial_unix("/nonexistent.sock", timeout="1")  # type: ignore[arg-type]

        ln = net.listen("127.0.0.1", 0)
        conn = await net.dial("127.0.0.1", ln.port)
        for setter in (conn.set_deadline, conn.set_read_deadline, conn.set_write_deadline):
            with pytest.raises(TypeError, match=r"time\.monotonic\(\) value or None, got str"):
                setter("soon")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="got bool"):
                setter(True)
        with pytest.raises(TypeError, match="got timedelta"):
            import datetime

            conn.set_deadline(datetime.timedelta(seconds=1))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"context must be an ssl\.SSLContext, got str"):
            await net.tls_client(conn, "ctx", "localhost")  # type: ignore[arg-type]
        assert not conn.closed  # a refused upgrade leaves the plain connection as it was
        peer = await ln.accept()
        await conn.send_all(b"still here")
        assert await recv_exactly(peer, 10) == b"still here"
        peer.close()
        conn.close()
        ln.close()

    run(main)


def test_gmp_net_outside_a_g_is_not_in_g_error() -> None:
    with pytest.raises(gmp.NotInGError, match=r"gmp\.net\.listen\(\) works only inside a G"):
        net.listen("127.0.0.1", 0)
    with pytest.raises(gmp.NotInGError, match=r"gmp\.net\.listen_unix\(\) works only inside"):
        net.listen_unix("/tmp/never-made.sock")
    makers: list[tuple[Callable[[], Coroutine[Any, Any, net.Conn]], str]] = [
        (lambda: net.dial("127.0.0.1", 80), "gmp.net.dial()"),
        (lambda: net.dial_unix("/tmp/never-made.sock"), "gmp.net.dial_unix()"),
    ]
    for make, name in makers:
        coro = make()
        try:
            with pytest.raises(gmp.NotInGError, match=re.escape(name) + " works only inside a G"):
                coro.send(None)
        finally:
            coro.close()
    assert not os.path.exists("/tmp/never-made.sock")
