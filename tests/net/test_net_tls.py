"""TLS through ssl.SSLContext: a TLS listener and dial, a failed handshake that leaves
the accept loop running, upgrading plain connections, and TLS under deadlines.

The certificates are made at run time by ``trustme``: a throwaway CA and a certificate
for ``localhost`` and ``127.0.0.1`` it signs, so no key is committed to the repository.
"""

from __future__ import annotations

import hashlib
import random
import ssl
import time
from pathlib import Path

import pytest
from net_helpers import recv_all, recv_exactly, run

import gmp
from gmp import net
from gmp.net import Conn, Listener
from gmp.net.tls import TLSConn

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]

# trustme needs cryptography, which has no wheel for every interpreter (3.13t): without it
# the module is skipped with this reason rather than failing to collect.
trustme = pytest.importorskip("trustme", reason="TLS tests need trustme (and cryptography)")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture(scope="module")
def untrusting_ctx() -> ssl.SSLContext:
    """A client that trusts another CA only (not the system's either, so the test does
    not depend on what the machine trusts)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(ctx)
    return ctx


async def tls_echo(conn: Conn, failures: gmp.Chan[BaseException]) -> None:
    """Echo until end of stream; a failed handshake is reported, not raised."""
    try:
        with conn:
            while data := await conn.recv(1 << 16):
                await conn.send_all(data)
    except (ssl.SSLError, ConnectionError) as e:
        await failures.send(e)


def serve_tls(ln: Listener, failures: gmp.Chan[BaseException]) -> gmp.G[None]:
    async def loop() -> None:
        while True:
            try:
                conn = await ln.accept()
            except gmp.ConnClosed:
                return
            gmp.go(tls_echo, conn, failures)

    return gmp.go(loop)


@pytest.mark.parametrize("procs", [1, 2])
def test_tls_echo(procs: int, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    data = random.Random(5).randbytes(4 << 20)

    async def main() -> tuple[str | None, str]:
        failures: gmp.Chan[BaseException] = gmp.Chan(8)
        ln = net.listen("127.0.0.1", 0, ssl=server_ctx)
        server = serve_tls(ln, failures)
        conn = await net.dial("127.0.0.1", ln.port, ssl=client_ctx, server_hostname="localhost")
        assert isinstance(conn, TLSConn)
        for i in range(200):  # small round trips
            msg = b"ping %d" % i
            await conn.send_all(msg)
            assert await recv_exactly(conn, len(msg)) == msg

        async def writer() -> None:  # and 4 MiB through the echo while reading it back
            await conn.send_all(data)

        w = gmp.go(writer)
        got = await recv_exactly(conn, len(data))
        await w.join()
        version = conn.version
        conn.close()
        ln.close()
        await server.join()
        got_failure = await gmp.select(gmp.Recv(failures), default=True)
        assert got_failure.index == -1, got_failure.value
        return version, hashlib.sha256(got).hexdigest()

    version, digest = run(main, procs)
    assert version is not None and version.startswith("TLSv1.")
    assert digest == hashlib.sha256(data).hexdigest()


def test_tls_failed_handshake_leaves_the_accept_loop_running(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, untrusting_ctx: ssl.SSLContext
) -> None:
    async def main() -> None:
        failures: gmp.Chan[BaseException] = gmp.Chan(8)
        ln = net.listen("127.0.0.1", 0, ssl=server_ctx)
        server = serve_tls(ln, failures)

        # 1. a client that does not trust the server's CA
        with pytest.raises(ssl.SSLError) as info:
            await net.dial("127.0.0.1", ln.port, ssl=untrusting_ctx, server_hostname="localhost")
        assert isinstance(info.value, ssl.SSLCertVerificationError)
        assert "certificate verify failed" in str(info.value)
        assert isinstance(await failures.recv(), ssl.SSLError | ConnectionError)

        # 2. a client that speaks plain text to the TLS port
        plain = await net.dial("127.0.0.1", ln.port)
        await plain.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert isinstance(await failures.recv(), ssl.SSLError)
        plain.close()

        # 3. the same accept loop serves a good client afterwards
        conn = await net.dial("127.0.0.1", ln.port, ssl=client_ctx, server_hostname="localhost")
        await conn.send_all(b"still serving")
        assert await recv_exactly(conn, 13) == b"still serving"
        assert not server.done()
        conn.close()
        ln.close()
        await server.join()

    run(main)


def test_tls_wrong_hostname_fails_verification(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async def main() -> None:
        failures: gmp.Chan[BaseException] = gmp.Chan(8)
        ln = net.listen("127.0.0.1", 0, ssl=server_ctx)
        server = serve_tls(ln, failures)
        with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.com"):
            await net.dial("127.0.0.1", ln.port, ssl=client_ctx, server_hostname="example.com")
        await failures.recv()
        ln.close()
        await server.join()

    run(main)


@pytest.mark.parametrize("procs", [1, 2])
def test_tls_upgrade_of_plain_connections(
    procs: int, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """STARTTLS: both sides speak plain text first, then upgrade in place."""

    async def main() -> tuple[bytes, bytes]:
        ln = net.listen("127.0.0.1", 0)

        async def server() -> bytes:
            plain = await ln.accept()
            assert await recv_exactly(plain, 9) == b"STARTTLS\n"
            await plain.send_all(b"GO\n")
            conn = await net.tls_server(plain, server_ctx)
            assert plain.closed and not conn.closed  # the socket changed hands
            with conn:
                got = await recv_exactly(conn, 14)
                await conn.send_all(b"secret reply")
                return got

        s = gmp.go(server)
        plain = await net.dial("127.0.0.1", ln.port)
        await plain.send_all(b"STARTTLS\n")
        assert await recv_exactly(plain, 3) == b"GO\n"
        conn = await net.tls_client(plain, client_ctx, "localhost")
        assert plain.closed and conn.version is not None
        with pytest.raises(ValueError, match="already speaks TLS"):
            await net.tls_client(conn, client_ctx, "localhost")
        with conn:
            await conn.send_all(b"secret request")
            reply = await recv_all(conn)  # until the server closes
        ln.close()
        return await s.join(), reply

    assert run(main, procs) == (b"secret request", b"secret reply")


def test_tls_upgrade_over_a_unix_socket(
    tmp_path: Path, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    path = str(tmp_path / "tls.sock")

    async def main() -> bytes:
        ln = net.listen_unix(path, ssl=server_ctx)
        failures: gmp.Chan[BaseException] = gmp.Chan(8)
        server = serve_tls(ln, failures)
        conn = await net.tls_client(await net.dial_unix(path), client_ctx, "localhost")
        await conn.send_all(b"over unix")
        got = await recv_exactly(conn, 9)
        conn.close()
        ln.close()
        await server.join()
        return got

    assert run(main) == b"over unix"


def test_tls_handshake_within_the_dial_timeout(client_ctx: ssl.SSLContext) -> None:
    """A server that accepts but never answers the ClientHello: the dial's timeout
    covers the TLS handshake too."""

    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)  # plain: it never speaks TLS
        acc = gmp.go(ln.accept)
        start = time.monotonic()
        with pytest.raises(gmp.DeadlineExceeded):
            await net.dial(
                "127.0.0.1", ln.port, ssl=client_ctx, server_hostname="localhost", timeout=0.1
            )
        assert time.monotonic() - start >= 0.1
        (await acc.join()).close()
        ln.close()

    run(main)


def test_tls_peer_close_is_end_of_stream(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    async def main() -> bytes:
        ln = net.listen("127.0.0.1", 0, ssl=server_ctx)

        async def server() -> None:
            conn = await ln.accept()
            await conn.send_all(b"bye")
            conn.close()

        s = gmp.go(server)
        conn = await net.dial("127.0.0.1", ln.port, ssl=client_ctx, server_hostname="localhost")
        got = await recv_all(conn)
        await s.join()
        conn.close()
        ln.close()
        return got

    assert run(main) == b"bye"


def test_tls_close_write_ends_a_one_way_stream(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> None:
    """close_write on TLS shuts the socket's write side (no close_notify): the peer
    reads everything sent and then the end of stream."""
    data = random.Random(6).randbytes(1 << 20)

    async def main() -> bytes:
        ln = net.listen("127.0.0.1", 0, ssl=server_ctx)

        async def server() -> bytes:
            # The server's handshake runs at its first read, as in Go: read at once.
            with await ln.accept() as conn:
                return await recv_all(conn)

        s = gmp.go(server)
        conn = await net.dial("127.0.0.1", ln.port, ssl=client_ctx, server_hostname="localhost")
        await conn.send_all(data)
        conn.close_write()
        got = await s.join()
        conn.close()
        ln.close()
        return got

    assert run(main) == data
