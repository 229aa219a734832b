"""The WSGI adapter's cached and short paths behave as PEP 3333 and the plain paths do.

The adapter caches status lines, header names' environ keys and the last Host, builds
the response without ``Response.__init__``'s checks and drops an app's Content-Length
that the server would announce anyway: each is checked here against what it replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gmp.http import Headers, Request, Response, WSGIAdapter
from gmp.http.conn import encode_response
from gmp.http.wsgi import _CACHE_MAX, _ENV_KEYS

Environ = dict[str, Any]


def _capture(status: str = "200 OK", headers: list[tuple[str, str]] | None = None) -> Any:
    """A WSGI app answering ``b"ok"`` that keeps each environ it is given."""
    seen: list[Environ] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        seen.append(environ)
        start_response(status, headers or [])
        return [b"ok"]

    app.seen = seen  # type: ignore[attr-defined]
    return app


def _req(
    *pairs: tuple[str, str], target: bytes = b"/", version: str = "1.1", method: str = "GET"
) -> Request:
    path = target.partition(b"?")[0].decode("latin-1")
    return Request(method, path, headers=Headers(pairs), target=target, http_version=version)


class _Result:
    """A WSGI result with ``close()``, counting the calls."""

    def __init__(self, items: list[bytes], fail: bool = False) -> None:
        self.items = items
        self.fail = fail
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        yield from self.items
        if self.fail:
            raise RuntimeError("iteration failed")

    def close(self) -> None:
        self.closed += 1


# -- environ --------------------------------------------------------------------------


def test_status_lines_parse_and_bad_ones_are_refused() -> None:
    for status, code in [("200 OK", 200), ("200 OK", 200), ("299 Custom", 299), ("404", 404)]:
        assert WSGIAdapter(_capture(status))(_req()).status == code
    for bad in ["abc", "99 Too Low", "1000 Too High", ""]:
        with pytest.raises(ValueError):
            WSGIAdapter(_capture(bad))(_req())


def test_headers_become_environ_keys_the_same_on_every_request() -> None:
    app = _capture()
    adapter = WSGIAdapter(app)
    pairs = [
        ("x-dup", "1"),
        ("x-dup", "2"),
        ("content-type", "text/a"),
        ("content-type", "text/b"),
        ("x_sneaky", "drop-me"),
        ("user-agent", "ua/1"),
    ]
    for _ in range(3):  # the first request fills the key cache, the others use it
        adapter(_req(*pairs))
    for env in app.seen:
        assert env["HTTP_X_DUP"] == "1,2" and env["CONTENT_TYPE"] == "text/b"
        assert env["HTTP_USER_AGENT"] == "ua/1"
        assert not any("SNEAKY" in k for k in env)


def test_the_header_key_cache_is_bounded_and_stays_right_when_cleared() -> None:
    app = _capture()
    adapter = WSGIAdapter(app)
    names = [f"x-n{i}" for i in range(_CACHE_MAX + 10)]
    pairs = [(n, "v") for n in names] + [("content-length", "0"), ("content-type", "t/x")]
    adapter(_req(*pairs))
    env = app.seen[-1]
    assert all(env["HTTP_X_N" + n[3:]] == "v" for n in names)
    assert env["CONTENT_LENGTH"] == "0" and env["CONTENT_TYPE"] == "t/x"
    assert len(_ENV_KEYS) <= _CACHE_MAX


def test_server_name_and_port_follow_each_requests_host() -> None:
    app = _capture()
    adapter = WSGIAdapter(app, server_name="base", server_port=81)
    hosts = ["a.example:8080", "b.example", "a.example:8080", "[::1]:9000", "c:x", None]
    for host in hosts:
        adapter(_req(("host", host)) if host else _req())
    got = [(e["SERVER_NAME"], e["SERVER_PORT"]) for e in app.seen]
    assert got == [
        ("a.example", "8080"),
        ("b.example", "81"),
        ("a.example", "8080"),
        ("[::1]", "9000"),
        ("c:x", "81"),
        ("base", "81"),
    ]


def test_path_info_is_the_decoded_path_and_the_protocol_the_requests() -> None:
    app = _capture()
    adapter = WSGIAdapter(app)
    adapter(_req(target=b"/plain/path?q=1"))
    adapter(_req(target=b"/a%2Fb/caf%C3%A9", version="1.0"))
    plain, quoted = app.seen
    assert plain["PATH_INFO"] == "/plain/path" and plain["RAW_URI"] == "/plain/path?q=1"
    assert plain["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert quoted["PATH_INFO"] == "/a/b/café".encode().decode("latin-1")
    assert quoted["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_each_request_gets_its_own_environ_and_input() -> None:
    app = _capture()
    adapter = WSGIAdapter(app)
    adapter(Request("POST", "/", body=b"one"))
    adapter(Request("POST", "/", body=b"two"))
    first, second = app.seen
    assert first is not second and first["wsgi.input"] is not second["wsgi.input"]
    assert (first["wsgi.input"].read(), second["wsgi.input"].read()) == (b"one", b"two")
    assert first["CONTENT_LENGTH"] == "3" and "CONTENT_LENGTH" not in adapter.base_environ


# -- the response ---------------------------------------------------------------------


def _wire(req: Request, resp: Response) -> bytes:
    head, payload, _ = encode_response(req, resp, True)
    return head + payload


def test_an_apps_content_length_matching_the_body_is_left_to_the_server() -> None:
    headers = [("Content-Type", "text/plain"), ("Content-Length", "2")]
    req = _req()
    resp = WSGIAdapter(_capture(headers=headers))(req)
    assert type(resp) is Response and resp.headers == [("Content-Type", "text/plain")]
    wire = _wire(req, resp).lower()
    assert wire.count(b"content-length: 2\r\n") == 1 and wire.endswith(b"\r\n\r\nok")


def test_head_and_mismatched_lengths_keep_the_apps_content_length() -> None:
    head_req = _req(method="HEAD")

    def head_app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "1234")])
        return []  # Werkzeug answers HEAD with no body, its length announced

    resp = WSGIAdapter(head_app)(head_req)
    assert resp.headers == [("Content-Length", "1234")]
    assert b"content-length: 1234\r\n" in _wire(head_req, resp).lower()
    resp = WSGIAdapter(_capture(headers=[("content-length", "5")]))(_req())
    assert resp.headers == [("content-length", "5")]  # not ours to fix: sent as before
    with pytest.raises(ValueError):  # an invalid one still fails the response
        _wire(_req(), WSGIAdapter(_capture(headers=[("Content-Length", "x")]))(_req()))


@pytest.mark.parametrize("shape", ["list", "small", "streamed"])
def test_write_data_comes_first_and_close_is_called(shape: str) -> None:
    result = _Result([b"", b"b1", b"b2"])

    def app(environ: Environ, start_response: Any) -> Any:
        headers = [("Content-Length", "7")] if shape == "small" else []
        write = start_response("200 OK", headers)
        write(b"w1")
        write(bytearray(b"w"))
        if shape == "list":
            return [b"b1", b"b2"]
        return result

    resp = WSGIAdapter(app)(_req())
    body = resp.body if isinstance(resp.body, bytes) else b"".join(resp.body)  # type: ignore[arg-type]
    assert body == b"w1wb1b2"
    if shape == "streamed":
        assert result.closed == 0
        resp.body.close()  # type: ignore[union-attr]
    assert result.closed == (0 if shape == "list" else 1)
    assert all(name.lower() != "content-length" for name, _ in resp.headers)


@pytest.mark.parametrize("items", [[b"x"], [], [b"", b""]])
def test_no_start_response_is_an_error_and_the_result_is_closed(items: list[bytes]) -> None:
    result = _Result(items)
    with pytest.raises(RuntimeError, match="without calling start_response"):
        WSGIAdapter(lambda environ, start_response: result)(_req())
    assert result.closed == 1


def test_a_failing_iteration_closes_the_result() -> None:
    result = _Result([b""], fail=True)

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return result

    with pytest.raises(RuntimeError, match="iteration failed"):
        WSGIAdapter(app)(_req())
    assert result.closed == 1


def test_start_response_twice_needs_exc_info_and_reraises_once_sent() -> None:
    def twice(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("500 Oops", [])
        return []

    with pytest.raises(AssertionError):
        WSGIAdapter(twice)(_req())

    def recovers(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-A", "1")])
        try:
            raise KeyError("view")
        except KeyError as e:
            start_response("500 Oops", [("X-B", "2")], (type(e), e, e.__traceback__))
        return [b"err"]

    resp = WSGIAdapter(recovers)(_req())
    assert (resp.status, resp.headers, resp.body) == (500, [("X-B", "2")], b"err")

    def late(environ: Environ, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"started"
        try:
            raise KeyError("late")
        except KeyError as e:
            start_response("500 Oops", [], (type(e), e, e.__traceback__))

    resp = WSGIAdapter(late)(_req())
    with pytest.raises(KeyError, match="late"):
        b"".join(resp.body)  # type: ignore[arg-type]


def test_a_bytearray_item_still_makes_a_bytes_body() -> None:
    def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", "4")])
        yield bytearray(b"by")  # type: ignore[misc]
        yield b"te"

    resp = WSGIAdapter(app)(_req())
    assert type(resp.body) is bytes and resp.body == b"byte"


def test_a_list_subclass_result_is_closed() -> None:
    closed: list[bool] = []

    class Closing(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return Closing([b"a", b"b"])

    assert WSGIAdapter(app)(_req()).body == b"ab"
    assert closed == [True]
