"""The WSGI adapter with a real Flask app: each request runs as a plain-callable G."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import http_flask_app
import httpx
import pytest
from http_server_helpers import running, wait_for

from gmp.http import Request, WSGIAdapter

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def flask_server():
    http_flask_app.release.clear()
    with (
        running(WSGIAdapter(http_flask_app.app), procs=2) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client,
    ):
        yield server, client
    http_flask_app.release.set()


def test_flask_routes_json_forms_and_headers(flask_server):
    _, c = flask_server
    r = c.get("/ping")
    assert r.text == "pong" and r.headers["content-length"] == "4"  # sent whole, not chunked
    assert c.get("/json").json() == {"message": "hello", "path": "/json", "script": ""}
    r = c.post("/json?q=1", json={"k": [1, 2]})
    assert r.json() == {"got": {"k": [1, 2]}, "args": {"q": "1"}}
    assert c.post("/form", data={"a": "x", "b": "y"}).text == "x-y"
    h = c.get("/headers", headers={"User-Agent": "ua/1", "X-Custom": "c"}).json()
    assert h == {"agent": "ua/1", "custom": "c"}
    assert c.get("/missing").status_code == 404
    r = c.get("/cookie")
    assert sorted(r.headers.get_list("set-cookie")) == ["a=1; Path=/", "b=2; Path=/"]


def test_flask_streaming_response_is_chunked(flask_server):
    _, c = flask_server
    r = c.get("/stream")
    assert r.text == "".join(f"part{i}\n" for i in range(5))
    assert r.headers["transfer-encoding"] == "chunked"


def test_flask_view_exception_is_a_500_from_flask(flask_server):
    _, c = flask_server
    assert c.get("/boom").status_code == 500
    assert c.get("/ping").text == "pong"


def test_a_blocking_flask_view_does_not_stall_the_others(flask_server):
    server, c = flask_server
    with ThreadPoolExecutor(4) as pool:
        blockers = [pool.submit(c.get, "/block", timeout=15) for _ in range(3)]
        wait_for(lambda: server.stats().inflight >= 3, what="three blocked views")
        t0 = time.perf_counter()
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as other:
            for _ in range(10):
                assert other.get("/ping").text == "pong"
        assert time.perf_counter() - t0 < 5.0
        assert not any(b.done() for b in blockers)
        http_flask_app.release.set()
        assert all(b.result().text == "unblocked" for b in blockers)


def test_concurrent_flask_requests(flask_server):
    server, _ = flask_server

    def hit(i: int) -> bool:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as c:
            return all(c.get("/sleep").text == "slept" for _ in range(3))

    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(hit, range(20)))


def test_environ_follows_pep_3333():
    seen: dict[str, object] = {}

    def wsgi_app(environ, start_response):  # type: ignore[no-untyped-def]
        seen.update(environ)
        start_response("201 Created", [("X-A", "1")])
        return [b"a", b"b"]

    body_read = threading.Event()

    def reading_app(environ, start_response):  # type: ignore[no-untyped-def]
        data = environ["wsgi.input"].read()
        body_read.set()
        write = start_response("200 OK", [])
        write(b"legacy-")
        return iter([b"", data])

    req = Request("POST", "/p q", "a=1", body=b"xyz", target=b"/p%20q?a=1", client=("1.2.3.4", 5))
    req.headers.add("host", "example.com:8080")
    req.headers.add("x-dup", "1")
    req.headers.add("x-dup", "2")
    req.headers.add("x_sneaky", "drop-me")
    req.headers.add("content-type", "text/plain")
    resp = WSGIAdapter(wsgi_app)(req)
    assert (resp.status, resp.body, resp.headers) == (201, b"ab", [("X-A", "1")])
    assert seen["PATH_INFO"] == "/p q" and seen["QUERY_STRING"] == "a=1"
    assert seen["REQUEST_METHOD"] == "POST" and seen["CONTENT_LENGTH"] == "3"
    assert seen["CONTENT_TYPE"] == "text/plain" and seen["HTTP_X_DUP"] == "1,2"
    assert "HTTP_X_SNEAKY" not in seen and seen["REMOTE_ADDR"] == "1.2.3.4"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("example.com", "8080")
    resp = WSGIAdapter(reading_app)(Request("POST", "/", body=b"data"))
    assert b"".join(resp.body) == b"legacy-data"  # type: ignore[arg-type]
    assert body_read.is_set()
