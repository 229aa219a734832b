"""Hostile and malformed input on real sockets: the server answers or closes, never dies,
never leaks a G, and keeps serving everyone else. Both servers (the netpoller's and
TrioServer) are held to it."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from http_server_helpers import Reader, connect, running, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gmp.http import Request, Response, Server, TrioServer

pytestmark = pytest.mark.timeout(120)


def echo(req: Request) -> Response:
    return Response(200, body=req.body or req.path.encode())


_request_lines = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n",
        b"POST /x HTTP/1.1\r\n",
        b"GET /",
        b"",
        b"G\x00T / HTTP/1.1\r\n",
        b"POST /x HTTP/1.0\r\n",
        b"GET / HTTP/2.0\r\n",
        b"GET * HTTP/1.1\r\n",
    ]
)
_headers = st.lists(
    st.sampled_from(
        [
            b"Host: t\r\n",
            b"Content-Length: 3\r\n",
            b"Content-Length: 99999999999999999999\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Transfer-Encoding: gzip, chunked\r\n",
            b"Expect: 100-continue\r\n",
            b"Connection: close\r\n",
            b"X: \xff\xfe\r\n",
            b": empty-name\r\n",
            b"no-colon\r\n",
        ]
    ),
    max_size=5,
)


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    """Mostly HTTP-shaped bytes with the pieces servers get wrong, or plain noise."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    head = draw(_request_lines) + b"".join(draw(_headers)) + draw(st.sampled_from([b"\r\n", b""]))
    return head + draw(st.binary(max_size=64))


SERVERS = pytest.mark.parametrize("server_class", [Server, TrioServer], ids=["netpoll", "trio"])


@SERVERS
def test_hostile_bytes_never_break_the_server(server_class: Any):
    with running(
        echo,
        server_class=server_class,
        max_body=1000,
        max_header_bytes=2000,
        read_timeout=0.5,
        header_timeout=0.5,
        linger_timeout=0.2,
    ) as server:

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(hostile())
        def one(data: bytes) -> None:
            tried.append(data)
            s = connect(server, timeout=5)
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)  # no more input: the server must answer or close
                reader = Reader(s)
                try:
                    while True:
                        r = reader.read()
                        assert 100 <= r.status < 600
                        assert r.status < 500 or r.status in (503, 505)
                except (EOFError, ConnectionResetError):
                    pass
            finally:
                s.close()

        tried: list[bytes] = []
        one()
        assert len(tried) >= 30
        # Still serving, nothing in flight, nothing leaked.
        assert httpx.get(f"http://127.0.0.1:{server.port}/alive").text == "/alive"
        wait_for(lambda: server.stats().inflight == 0, what="no G in flight")
        wait_for(lambda: server.stats().connections_open == 0, what="every connection closed")
        assert server.stats().handler_errors == 0


@SERVERS
def test_a_client_that_resets_mid_request_costs_nothing(server_class: Any):
    with running(echo, server_class=server_class) as server:
        for _ in range(20):
            s = connect(server)
            s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        wait_for(lambda: server.stats().connections_open == 0, what="connections reaped")
        assert server.stats().requests == 0
        assert httpx.get(f"http://127.0.0.1:{server.port}/x").text == "/x"
