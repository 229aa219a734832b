"""The HTTP servers over real sockets on 127.0.0.1: every request runs as a G.

Every test runs against both servers, ``Server`` (gmp's network poller) and
``TrioServer`` (trio's loop), which promise the same HTTP behaviour: the module's
autouse fixture sets the class ``running`` starts, and the tests that start a server
themselves take it from the fixture.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import http_server_helpers
import httpx
import pytest
from http_server_helpers import Reader, connect, get, running, wait_for

import gmp
from gmp.http import ClientDisconnected, Request, Response, Server, TrioServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True, params=[Server, TrioServer], ids=["netpoll", "trio"])
def server_class(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(http_server_helpers, "SERVER_CLASS", request.param)
    return request.param


async def async_echo(req: Request) -> Response:
    return Response(
        200,
        {"content-type": "text/plain", "x-method": req.method, "x-query": req.query},
        req.body or req.path.encode(),
    )


def sync_echo(req: Request) -> Response:
    return Response(
        200,
        [("content-type", "text/plain"), ("x-method", req.method), ("x-query", req.query)],
        req.body or req.path.encode(),
    )


# -- the basics ------------------------------------------------------------------------


@pytest.mark.parametrize("handler", [sync_echo, async_echo], ids=["sync", "async"])
def test_get_and_post_reach_the_handler_with_method_path_query_headers_body(handler):
    with running(handler) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
        r = c.get("/a/b%20c", params={"x": "1", "y": "two"})
        assert r.status_code == 200
        assert r.text == "/a/b c"
        assert r.headers["x-method"] == "GET"
        assert r.headers["x-query"] == "x=1&y=two"
        assert r.headers["content-length"] == str(len("/a/b c"))
        assert "date" in r.headers
        r = c.post("/p", content=b"payload")
        assert (r.status_code, r.content, r.headers["x-method"]) == (200, b"payload", "POST")


def test_request_object_carries_parsed_fields():
    seen: list[Request] = []

    def handler(req: Request) -> Response:
        seen.append(req)
        return Response.json({"ok": True})

    with running(handler) as server:
        r = httpx.get(
            f"http://127.0.0.1:{server.port}/x?a=1&a=2&b=",
            headers={"X-Thing": "v1"},
        )
        assert r.json() == {"ok": True}
        assert r.headers["content-type"] == "application/json"
    (req,) = seen
    assert req.method == "GET" and req.path == "/x" and req.http_version == "1.1"
    assert req.query_params == {"a": ["1", "2"], "b": [""]}
    assert req.headers.get("x-thing") == req.headers["X-THING"] == "v1"
    assert req.client is not None and req.client[0] == "127.0.0.1"


def test_handler_may_return_str_bytes_or_none():
    def handler(req: Request) -> object:
        return {"/s": "text", "/b": b"bytes", "/n": None}[req.path]

    with running(handler) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
        assert c.get("/s").text == "text"
        assert c.get("/b").content == b"bytes"
        assert c.get("/n").status_code == 204


def test_handler_errors_become_500_and_the_server_keeps_serving():
    def handler(req: Request) -> object:
        if req.path == "/boom":
            raise ValueError("boom")
        if req.path == "/badtype":
            return 42
        if req.path == "/inject":
            return Response(200, {"x-evil": "a\r\nset-cookie: pwned=1"}, b"x")
        return "fine"

    with running(handler) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
        for path in ("/boom", "/badtype", "/inject"):
            r = c.get(path)
            assert r.status_code == 500, path
            assert "set-cookie" not in r.headers
        assert c.get("/ok").text == "fine"
        assert server.stats().handler_errors == 3


def test_hundreds_of_concurrent_requests_all_answered_correctly():
    async def handler(req: Request) -> Response:
        await gmp.sleep(0.001)
        return Response(200, body=req.query.encode())

    n_clients, per_client = 40, 10

    def client(i: int, port: int) -> list[bool]:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            return [c.get(f"/q?{i}-{j}").content == f"{i}-{j}".encode() for j in range(per_client)]

    with running(handler, procs=2) as server, ThreadPoolExecutor(n_clients) as pool:
        results = list(pool.map(client, range(n_clients), [server.port] * n_clients))
        assert all(all(r) for r in results)
        assert server.stats().requests == n_clients * per_client
        wait_for(lambda: server.stats().inflight == 0, what="no request in flight")


def test_two_hundred_connections_in_flight_at_once():
    """200 blocking plain handlers at once: each costs a thread, none is lost."""
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def handler(req: Request) -> Response:
        entered.release()
        gate.wait(10)
        return Response(200, body=req.path.encode())

    with running(handler, procs=2, max_inflight=1000) as server:
        socks = [connect(server) for _ in range(200)]
        for i, s in enumerate(socks):
            s.sendall(get(f"/{i}"))
        wait_for(lambda: server.stats().inflight == 200, timeout=20, what="200 handlers running")
        gate.set()
        for i, s in enumerate(socks):
            r = Reader(s).read()
            assert (r.status, r.body) == (200, f"/{i}".encode())
            s.close()


# -- availability: a blocked handler does not stall the others ---------------------------


def test_a_handler_blocked_in_a_syscall_does_not_delay_ping_at_procs_1():
    release = threading.Event()
    blocked = threading.Event()

    def handler(req: Request) -> object:
        if req.path == "/block":
            blocked.set()
            release.wait(10)  # a blocking call: its thread is stuck, its P moves on
            return "unblocked"

        async def ping() -> str:
            return "pong"

        return ping()

    with running(handler, procs=1) as server:
        base = f"http://127.0.0.1:{server.port}"
        with ThreadPoolExecutor(1) as pool:
            blocker = pool.submit(httpx.get, base + "/block", timeout=15)
            assert blocked.wait(5)
            with httpx.Client(base_url=base) as c:
                for _ in range(20):
                    t0 = time.perf_counter()
                    assert c.get("/ping").text == "pong"
                    # generous: handoff is a few ms; a stalled P would take the 10 s wait
                    assert time.perf_counter() - t0 < 1.0
            assert not blocker.done()  # /ping answered while the blocker still blocks
            release.set()
            assert blocker.result().text == "unblocked"


# -- keep-alive, pipelining, HEAD ----------------------------------------------------------


def test_keep_alive_reuses_one_connection():
    with (
        running(sync_echo) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c,
    ):
        for i in range(5):
            assert c.get(f"/{i}").text == f"/{i}"
        assert server.stats().connections_total == 1


def test_pipelined_requests_are_answered_in_order():
    def handler(req: Request) -> Response:
        time.sleep(float(req.query or 0))  # the first is the slowest
        return Response(200, body=req.path.encode())

    with running(handler, procs=2) as server:
        s = connect(server)
        s.sendall(get("/1?0.05") + get("/2?0.02") + get("/3") + get("/4?0.01"))
        reader = Reader(s)
        assert [reader.read().body for _ in range(4)] == [b"/1", b"/2", b"/3", b"/4"]
        s.close()


def test_connection_close_and_http10_are_honoured():
    with running(sync_echo) as server:
        s = connect(server)
        s.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reader = Reader(s)
        r = reader.read()
        assert r.body == b"/a" and r.header("connection") == "close"
        assert reader.at_eof()
        s = connect(server)
        s.sendall(b"GET /b HTTP/1.0\r\n\r\n")
        reader = Reader(s)
        assert reader.read().body == b"/b"
        assert reader.at_eof()
        s = connect(server)
        s.sendall(b"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = Reader(s)
        r = reader.read()
        assert r.body == b"/c" and r.header("connection") == "keep-alive"
        s.sendall(b"GET /d HTTP/1.0\r\n\r\n")
        assert reader.read().body == b"/d"


def test_head_sends_the_get_headers_and_no_body():
    with running(sync_echo) as server:
        s = connect(server)
        reader = Reader(s)
        s.sendall(b"HEAD /abcdef HTTP/1.1\r\nHost: t\r\n\r\n" + get("/next"))
        head = reader.read(head_only=True)
        assert head.status == 200 and head.header("content-length") == "7"
        # the next response starts right away: no body bytes were sent for HEAD
        assert reader.read().body == b"/next"


def test_head_on_a_streaming_response_sends_no_chunks():
    def handler(req: Request) -> Response:
        return Response.stream(iter([b"a", b"b"]))

    with running(handler) as server:
        s = connect(server)
        reader = Reader(s)
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + get("/"))
        assert reader.read(head_only=True).status == 200
        assert reader.read().body == b"ab"


# -- chunked bodies both ways, 100-continue ---------------------------------------------------


def test_chunked_request_body_is_decoded():
    with running(async_echo) as server:
        s = connect(server)
        s.sendall(
            b"POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n"
        )
        assert Reader(s).read().body == b"hello world"


def sync_stream(req: Request) -> Response:
    def gen() -> Iterator[bytes]:
        for i in range(50):
            yield b"line %d\n" % i

    return Response.stream(gen(), content_type="text/plain")


async def async_stream(req: Request) -> Response:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(50):
            await gmp.sleep(0)
            yield b"line %d\n" % i

    return Response.stream(gen(), content_type="text/plain")


@pytest.mark.parametrize("handler", [sync_stream, async_stream], ids=["sync", "async"])
def test_streaming_response_is_sent_chunked(handler):
    expected = b"".join(b"line %d\n" % i for i in range(50))
    with running(handler) as server:
        s = connect(server)
        reader = Reader(s)
        s.sendall(get("/") + get("/"))
        for _ in range(2):
            r = reader.read()
            assert r.header("transfer-encoding") == "chunked"
            assert r.header("content-length") is None
            assert r.body == expected
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # HTTP/1.0: raw body, ended by the close
        r = reader.read()
        assert r.header("transfer-encoding") is None and r.body == expected


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_large_streaming_body_goes_through_the_flow_control_window(kind):
    chunk = b"x" * 65536
    n = 64  # 4 MiB, 16 times the window

    def sync_h(req: Request) -> Response:
        return Response.stream(iter([chunk] * n), headers={"content-length": str(n * 65536)})

    async def async_h(req: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for _ in range(n):
                yield chunk

        return Response.stream(gen())

    with running(sync_h if kind == "sync" else async_h, stream_window=128 * 1024) as server:
        r = httpx.get(f"http://127.0.0.1:{server.port}/", timeout=20)
        assert len(r.content) == n * 65536
        wait_for(lambda: server.stats().inflight == 0, what="the streaming G to finish")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_client_gone_mid_stream_stops_the_producing_g(kind):
    stopped = threading.Event()
    started = threading.Event()

    def sync_h(req: Request) -> Response:
        def gen() -> Iterator[bytes]:
            try:
                started.set()
                while True:
                    yield b"y" * 65536
            finally:
                stopped.set()

        return Response.stream(gen())

    async def async_h(req: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                started.set()
                while True:
                    yield b"y" * 65536
            finally:
                stopped.set()

        return Response.stream(gen())

    with running(sync_h if kind == "sync" else async_h, stream_window=65536) as server:
        s = connect(server)
        s.sendall(get("/"))
        assert started.wait(5)
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # reset: the next write fails
        assert stopped.wait(10)
        wait_for(lambda: server.stats().inflight == 0, what="the producer G to finish")


def test_expect_100_continue_gets_an_interim_response_before_the_body():
    with running(async_echo) as server:
        s = connect(server)
        reader = Reader(s)
        s.sendall(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = reader.read()
        assert interim.status == 100
        s.sendall(b"hello")
        final = reader.read()
        assert (final.status, final.body) == (200, b"hello")


def test_expect_100_continue_with_a_too_large_body_gets_413_and_no_100():
    with running(async_echo, max_body=10) as server:
        s = connect(server)
        reader = Reader(s)
        s.sendall(
            b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        r = reader.read()
        assert r.status == 413 and r.header("connection") == "close"
        assert reader.at_eof()


# -- limits and hostile input ---------------------------------------------------------


def test_body_over_the_limit_is_413_for_content_length_and_chunked():
    with running(async_echo, max_body=100) as server:
        s = connect(server)
        s.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" + b"z" * 101)
        reader = Reader(s)
        assert reader.read().status == 413
        assert reader.at_eof()
        s = connect(server)
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"40\r\n"
            + b"z" * 64
            + b"\r\n"
            + b"40\r\n"
            + b"z" * 64
            + b"\r\n0\r\n\r\n"
        )
        reader = Reader(s)
        assert reader.read().status == 413
        assert reader.at_eof()
        assert server.stats().too_large == 2
        assert httpx.post(f"http://127.0.0.1:{server.port}/", content=b"a" * 100).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.x\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS ClientHello
    ],
)
def test_malformed_requests_get_400_then_a_clean_close(raw):
    with running(async_echo) as server:
        s = connect(server)
        s.sendall(raw)
        reader = Reader(s)
        r = reader.read()
        assert r.status == 400 and r.header("connection") == "close"
        assert reader.at_eof()
        assert server.stats().bad_requests == 1
        assert httpx.get(f"http://127.0.0.1:{server.port}/ok").text == "/ok"


def test_a_good_request_before_a_malformed_one_is_still_answered():
    with running(async_echo) as server:
        s = connect(server)
        s.sendall(get("/first") + b"NOT HTTP AT ALL\r\n\r\n")
        reader = Reader(s)
        assert reader.read().body == b"/first"
        assert reader.read().status == 400
        assert reader.at_eof()


def test_request_line_and_header_size_limits():
    with running(async_echo, max_request_line=100, max_header_bytes=1000) as server:
        s = connect(server)
        s.sendall(get("/" + "a" * 200))
        reader = Reader(s)
        assert reader.read().status == 414
        assert reader.at_eof()
        s = connect(server)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n")
        reader = Reader(s)
        assert reader.read().status == 431
        assert reader.at_eof()
        s = connect(server)  # a header that never ends, in small pieces
        reader = Reader(s)
        s.sendall(b"GET / HTTP/1.1\r\nX-Endless: ")
        with pytest.raises((EOFError, ConnectionResetError, BrokenPipeError)):
            for _ in range(100):
                s.sendall(b"c" * 100)
            r = reader.read()
            assert r.status == 431
            reader.at_eof()
            raise EOFError


def test_unsupported_expectation_is_417():
    with running(async_echo) as server:
        s = connect(server)
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n")
        assert Reader(s).read().status == 417


def test_idle_keep_alive_connection_is_closed_after_the_timeout():
    with running(async_echo, keepalive_timeout=0.2) as server:
        s = connect(server)
        s.sendall(get("/"))
        reader = Reader(s)
        assert reader.read().status == 200
        t0 = time.monotonic()
        assert reader.at_eof(timeout=5)
        assert time.monotonic() - t0 >= 0.15


def test_slow_client_gets_408_after_the_read_timeout():
    with running(async_echo, read_timeout=0.3, header_timeout=0.3) as server:
        s = connect(server)
        s.sendall(b"GET / HTTP/1.1\r\nHost:")  # never finishes
        reader = Reader(s)
        r = reader.read()
        assert r.status == 408
        assert reader.at_eof()
        assert server.stats().timeouts == 1
        s = connect(server)  # a connection that never sends anything is just closed
        assert Reader(s).at_eof(timeout=5)


def test_connection_cap_holds_new_connections_in_the_backlog():
    with running(async_echo, max_connections=2) as server:
        first, second = connect(server), connect(server)
        for s in (first, second):
            s.sendall(get("/"))
            assert Reader(s).read().status == 200
        third = connect(server)  # the kernel completes the handshake; we do not accept
        third.sendall(get("/third"))
        third.settimeout(0.3)
        with pytest.raises(TimeoutError):
            third.recv(1)
        assert server.stats().connections_open == 2
        first.close()  # a slot frees: the third is accepted and answered
        third.settimeout(5)
        assert Reader(third).read().body == b"/third"


def test_backpressure_answers_503_with_retry_after_at_once():
    gate = threading.Event()

    def handler(req: Request) -> str:
        if req.path == "/hold":
            gate.wait(10)
        return "ok"

    with running(handler, procs=1, max_inflight=2, retry_after=3) as server:
        holders = [connect(server) for _ in range(2)]
        for s in holders:
            s.sendall(get("/hold"))
        wait_for(lambda: server.stats().inflight == 2, what="two held requests")
        t0 = time.perf_counter()
        r = httpx.get(f"http://127.0.0.1:{server.port}/x")
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        assert time.perf_counter() - t0 < 2.0
        assert server.stats().rejected == 1
        gate.set()
        for s in holders:
            assert Reader(s).read().body == b"ok"
        wait_for(lambda: server.stats().inflight == 0, what="held requests done")
        assert httpx.get(f"http://127.0.0.1:{server.port}/x").status_code == 200


# -- graceful shutdown (in process; the subprocess tests use real signals) ------------------


def test_shutdown_finishes_in_flight_requests_and_closes_idle_connections(server_class: Any):
    gate = threading.Event()
    entered = threading.Event()

    def handler(req: Request) -> str:
        if req.path == "/hold":
            entered.set()
            gate.wait(10)
        return "done"

    server = server_class(handler, port=0, procs=1, access_log=False, shutdown_timeout=10)
    thread = threading.Thread(target=server.run, kwargs={"handle_signals": False})
    thread.start()
    assert server.wait_started(10)
    idle = connect(server)
    idle.sendall(get("/"))
    idle_reader = Reader(idle)
    assert idle_reader.read().body == b"done"
    busy = connect(server)
    busy.sendall(get("/hold"))
    assert entered.wait(5)
    server.shutdown_threadsafe()
    assert idle_reader.at_eof(timeout=5)  # idle keep-alive: closed at once
    with pytest.raises(OSError):  # no longer accepting
        wait_for(lambda: _refused(server.port), what="listener closed")
        raise ConnectionRefusedError
    gate.set()
    r = Reader(busy).read()
    assert r.body == b"done" and r.header("connection") == "close"
    thread.join(10)
    assert not thread.is_alive()


def test_shutdown_deadline_cancels_requests_that_do_not_finish(server_class: Any):
    async def handler(req: Request) -> str:
        await gmp.sleep(30)  # a checkpoint: cancellation reaches it
        return "never"

    server = server_class(handler, port=0, procs=1, access_log=False, shutdown_timeout=0.3)
    thread = threading.Thread(target=server.run, kwargs={"handle_signals": False})
    thread.start()
    assert server.wait_started(10)
    s = connect(server)
    s.sendall(get("/"))
    wait_for(lambda: server.stats().inflight == 1, what="the request to start")
    t0 = time.monotonic()
    server.shutdown_threadsafe()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - t0 < 5
    assert Reader(s).at_eof()
    assert server.stats().inflight == 0


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_client_disconnected_is_a_connection_error():
    assert issubclass(ClientDisconnected, ConnectionError)
