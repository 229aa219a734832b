"""What the server on gmp's network poller adds: one G per connection (idle connections
cost no thread), requests isolated in their own contextvars, HTTPS, serving from inside a
G, and the trio server kept for trio programs."""

from __future__ import annotations

import contextvars
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from http_server_helpers import Reader, connect, get, running, wait_for

import gmp
from gmp import net
from gmp.http import Request, Response, Server, TrioServer, current_server
from gmp.http.cli import build_parser, run_serve

pytestmark = pytest.mark.timeout(120)


def echo(req: Request) -> Response:
    return Response(200, body=req.body or req.path.encode())


def gmp_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gmp-") and t.is_alive()]


# -- idle connections are parked Gs, not threads -------------------------------------------


def test_500_idle_keep_alive_connections_hold_at_most_procs_plus_4_threads():
    procs = 2
    with running(echo, procs=procs, keepalive_timeout=60) as server:
        socks: list[socket.socket] = []
        try:
            for i in range(500):
                s = connect(server)
                s.sendall(get(f"/{i}"))
                socks.append(s)
            for i, s in enumerate(socks):
                assert Reader(s).read().body == f"/{i}".encode()
            wait_for(lambda: server.stats().connections_open == 500, what="500 open connections")
            threads = gmp_threads()
            assert len(threads) <= procs + 4, [t.name for t in threads]
            # and every one of them is still served
            for i, s in enumerate(socks[::50]):
                s.sendall(get(f"/again{i}"))
                assert Reader(s).read().body == f"/again{i}".encode()
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: server.stats().connections_open == 0, what="connections closed")


# -- each request runs in its own copy of the connection's contextvars ----------------------

_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_request_never_sees_contextvars_set_by_the_previous_one_on_its_connection(kind):
    def sync_h(req: Request) -> Response:
        seen = _user.get()
        _user.set(req.path)
        structlog.contextvars.bind_contextvars(request_path=req.path)
        return Response(200, body=f"{seen} {current_server() is not None}".encode())

    async def async_h(req: Request) -> Response:
        await gmp.sleep(0)
        return sync_h(req)

    with running(sync_h if kind == "sync" else async_h) as server:
        s = connect(server)
        reader = Reader(s)
        for path in ("/a", "/b", "/c"):
            s.sendall(get(path))
            assert reader.read().body == b"None True"
        s.close()


# -- HTTPS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("tls")
    ca_pem, cert_pem, key_pem = d / "ca.pem", d / "cert.pem", d / "key.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert.cert_chain_pems[0].write_to_path(str(cert_pem))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_pem), append=True)
    cert.private_key_pem.write_to_path(str(key_pem))
    yield ca_pem, cert_pem, key_pem


def test_https_with_certfile_and_keyfile(tls_files):
    ca_pem, cert_pem, key_pem = tls_files

    def stream(req: Request) -> Response:
        if req.path == "/stream":
            return Response.stream(iter([b"x" * 70000] * 20))
        return echo(req)

    with running(stream, certfile=str(cert_pem), keyfile=str(key_pem)) as server:
        ctx = ssl.create_default_context(cafile=str(ca_pem))
        with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=ctx) as c:
            for i in range(3):  # keep-alive over one TLS session
                assert c.get(f"/p{i}").text == f"/p{i}"
            assert c.post("/", content=b"b" * 100_000).content == b"b" * 100_000
            assert c.get("/stream").content == b"x" * 70000 * 20
        assert server.stats().connections_total == 1
        # a plain-HTTP client on the TLS port gets no answer and costs nothing
        s = connect(server)
        s.sendall(get("/plain"))
        assert Reader(s).at_eof()
        wait_for(lambda: server.stats().connections_open == 0, what="the failed handshake closed")
        # and the server still serves TLS afterwards
        with httpx.Client(verify=ctx) as c:
            assert c.get(f"https://127.0.0.1:{server.port}/ok").text == "/ok"


def test_gmp_serve_with_certfile_and_keyfile_serves_https_and_stops_on_sigterm(tls_files):
    ca_pem, cert_pem, key_pem = tls_files
    here = Path(__file__).parent
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gmp.http",
            "serve",
            "http_apps:app",
            "--port",
            "0",
            "--procs",
            "1",
            "--log-format",
            "json",
            "--certfile",
            str(cert_pem),
            "--keyfile",
            str(key_pem),
        ],
        cwd=here,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(here), *sys.path])),
    )
    try:
        assert popen.stderr is not None
        listening: dict[str, object] = {}
        for line in popen.stderr:
            rec = json.loads(line)
            if rec.get("event") == "listening":
                listening = rec
                break
        assert listening.get("tls") is True, listening
        ctx = ssl.create_default_context(cafile=str(ca_pem))
        with httpx.Client(verify=ctx) as c:
            assert c.get(f"https://127.0.0.1:{listening['port']}/ping").text == "pong"
        popen.send_signal(signal.SIGTERM)
        assert popen.wait(20) == 0
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(10)


def test_cli_refuses_a_keyfile_without_a_certfile_and_a_missing_file(tmp_path, capsys):
    args = build_parser().parse_args(["serve", "x:app", "--keyfile", str(tmp_path / "k.pem")])
    assert run_serve(args) == 2
    assert "--keyfile needs --certfile" in capsys.readouterr().err
    args = build_parser().parse_args(["serve", "x:app", "--certfile", str(tmp_path / "c.pem")])
    assert run_serve(args) == 2
    assert "--certfile: no such file" in capsys.readouterr().err


# -- Server.serve() inside a G, on the caller's runtime ------------------------------------


def test_serve_awaited_inside_a_g_and_a_gmp_net_client():
    async def handler(req: Request) -> Response:
        return Response(200, body=b"hi " + req.path.encode())

    server = Server(handler, port=0, access_log=False)

    async def main() -> bytes:
        g = gmp.go(server.serve)
        while not server.listening:
            await gmp.sleep(0.001)
        conn = await net.dial("127.0.0.1", server.port, timeout=5)
        with conn:
            await conn.send_all(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := await conn.recv():
                data += chunk
        server.shutdown()
        await g.join()
        return data

    data = gmp.run(main, procs=1)
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"hi /x")


def test_serve_outside_a_g_says_where_it_runs():
    import trio

    server = Server(echo, port=0)
    with pytest.raises(RuntimeError, match="TrioServer"):
        trio.run(server.serve)


# -- the trio server, for trio programs ----------------------------------------------------


def test_trio_server_serves_from_inside_trio_while_trio_tasks_run():
    import trio

    servers: list[TrioServer] = []

    def handler(req: Request) -> Response:
        if req.path == "/stream":
            return Response.stream(iter([b"a", b"b", b"c"]))
        found = current_server() is servers[0]
        return Response(200, body=b"trio %s %r" % (req.path.encode(), found))

    ticks = 0
    bodies: list[bytes] = []

    async def main() -> None:
        nonlocal ticks
        server = TrioServer(handler, port=0, procs=1, access_log=False)
        servers.append(server)
        done = False
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(server.serve)
            port = addresses[0][1]

            async def ticker() -> None:
                nonlocal ticks
                while not done:
                    ticks += 1
                    await trio.sleep(0.001)

            nursery.start_soon(ticker)

            def client() -> None:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
                    bodies.append(c.get("/one").content)
                    bodies.append(c.get("/stream").content)

            await trio.to_thread.run_sync(client)
            done = True
            server.shutdown()  # serve() drains and returns; the nursery then ends

    trio.run(main)
    assert bodies == [b"trio /one True", b"abc"]
    assert ticks > 0


def test_trio_server_refuses_tls(tls_files):
    _, cert_pem, key_pem = tls_files
    with pytest.raises(ValueError, match="TrioServer does not serve TLS"):
        TrioServer(echo, certfile=str(cert_pem), keyfile=str(key_pem))


# -- a client that stops reading is dropped after the write timeout ----------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_client_that_stops_reading_is_dropped_after_the_write_timeout(kind):
    stopped = threading.Event()

    def sync_h(req: Request) -> Response:
        if req.path != "/":
            return echo(req)

        def gen() -> Iterator[bytes]:
            try:
                while True:
                    yield b"z" * 65536
            finally:
                stopped.set()

        return Response.stream(gen())

    async def async_h(req: Request) -> Response:
        return sync_h(req)

    with running(sync_h if kind == "sync" else async_h, write_timeout=0.3) as server:
        s = connect(server)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(get("/"))
        # never read: the server's writes park on the full socket buffer, then give up
        assert stopped.wait(10)
        wait_for(lambda: server.stats().timeouts == 1, what="the write timeout counted")
        wait_for(lambda: server.stats().connections_open == 0, what="the connection dropped")
        assert server.stats().inflight == 0
        s.close()
        assert httpx.get(f"http://127.0.0.1:{server.port}/x").status_code == 200
