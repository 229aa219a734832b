"""Unix stream sockets: listen_unix/dial_unix (Go's net.Listen("unix", path)), the
socket file's life (a stale one replaced, a live one or a plain file left alone, the
file removed at close)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest
from net_helpers import recv_all, recv_exactly, run, serve_echo

import gmp
from gmp import net

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]


@pytest.mark.parametrize("procs", [1, 2])
def test_unix_echo_and_the_file_is_removed_at_close(procs: int, tmp_path: Path) -> None:
    path = tmp_path / "echo.sock"

    async def main() -> list[bytes]:
        ln = net.listen_unix(str(path))
        assert ln.addr == str(path) and ln.unix_path == str(path)
        with pytest.raises(ValueError, match="no port"):
            _ = ln.port
        assert path.is_socket()
        server = serve_echo(ln)
        got = []
        for i in range(3):
            conn = await net.dial_unix(path)  # a Path works as well as a str
            with conn:
                assert conn.remote_addr == str(path)
                for j in range(100):
                    msg = f"message {i}.{j}".encode()
                    await conn.send_all(msg)
                    got.append(await recv_exactly(conn, len(msg)))
        ln.close()
        await server.join()
        return got

    got = run(main, procs)
    assert len(got) == 300 and got[-1] == b"message 2.99"
    assert not path.exists()


def test_unix_half_close(tmp_path: Path) -> None:
    path = str(tmp_path / "half.sock")

    async def main() -> bytes:
        ln = net.listen_unix(path)

        async def server() -> None:
            conn = await ln.accept()
            with conn:
                await conn.send_all(b"len " + str(len(await recv_all(conn))).encode())

        s = gmp.go(server)
        conn = await net.dial_unix(path)
        with conn:
            await conn.send_all(b"x" * 100_000)
            conn.close_write()
            reply = await recv_all(conn)
        await s.join()
        ln.close()
        return reply

    assert run(main) == b"len 100000"


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # as a process that died without removing its socket file leaves it
    dead.close()
    assert os.path.exists(path)

    async def main() -> bytes:
        with pytest.raises(ConnectionRefusedError):
            await net.dial_unix(path)  # nobody listens there
        ln = net.listen_unix(path)
        acc = gmp.go(ln.accept)
        conn = await net.dial_unix(path)
        other = await acc.join()
        await other.send_all(b"fresh")
        got = await recv_exactly(conn, 5)
        for c in (conn, other, ln):
            c.close()
        return got

    assert run(main) == b"fresh"
    assert not os.path.exists(path)


def test_a_live_socket_or_a_plain_file_is_not_replaced(tmp_path: Path) -> None:
    live = str(tmp_path / "live.sock")
    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")

    async def main() -> None:
        ln = net.listen_unix(live)
        with pytest.raises(OSError) as info:
            net.listen_unix(live)  # another server already answers there
        assert info.value.errno == errno.EADDRINUSE
        # the first listener still has its file and still accepts
        acc = gmp.go(ln.accept)
        conn = await net.dial_unix(live)
        (await acc.join()).close()
        conn.close()
        ln.close()
        with pytest.raises(OSError) as info:
            net.listen_unix(str(plain))
        assert info.value.errno == errno.EADDRINUSE

    run(main)
    assert not os.path.exists(live)
    assert plain.read_text() == "keep me"


def test_a_bytes_path_is_removed_at_close(tmp_path: Path) -> None:
    path = os.fsencode(tmp_path / "bytes.sock")

    async def main() -> None:
        ln = net.listen_unix(path)  # type: ignore[arg-type]
        assert os.path.exists(path)
        ln.close()

    run(main)
    assert not os.path.exists(path)


def test_dial_unix_to_a_missing_file() -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await net.dial_unix("/nonexistent/dir/gmp.sock")

    run(main)
