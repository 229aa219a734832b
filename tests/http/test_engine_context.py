"""Context through real HTTP: the request side, writing responses, values, copies,
contextvars and client addresses."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from engine_helpers import captured, entries, raw_socket, serving
from http_server_helpers import Reader, connect, get, running

import gmp
from gmp.http import Context, Engine, Recovery, RequestID, Response

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

WAIT = 10.0  # seconds an event may take before the test fails


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")

# Results that detached Gs hand back to the tests, keyed by a name from the request.
RESULTS: dict[str, Any] = {}
EVENTS: dict[str, threading.Event] = {}


def event(name: str) -> threading.Event:
    return EVENTS.setdefault(name, threading.Event())


def build_app() -> Engine:
    app = Engine()
    app.use(Recovery())

    # -- the request side --------------------------------------------------------

    @app.get("/query")
    def query(c: Context) -> dict[str, Any]:
        return {
            "name": c.query("name"),
            "default": c.query("missing", "dflt"),
            "page": c.query("page", 1, int),
            "ratio": c.query("ratio", 0.5, float),
            "flag": c.query("flag", False, bool),
            "tags": c.query_list("tag"),
            "ids": c.query_list("id", int),
            "empty": c.query("empty"),
        }

    @app.get("/headers")
    def headers(c: Context) -> dict[str, Any]:
        return {
            "lower": c.get_header("x-custom"),
            "upper": c.get_header("X-CUSTOM"),
            "missing": c.get_header("x-none", "d"),
            "content_type": c.content_type,
        }

    @app.get("/cookies")
    def cookies(c: Context) -> dict[str, Any]:
        return {n: c.cookie(n) for n in ("a", "b", "quoted", "second", "none")}

    @app.post("/body")
    def body(c: Context) -> Response:
        return Response(200, [("content-type", "application/octet-stream")], c.body[::-1])

    @app.post("/json_body")
    def json_body(c: Context) -> dict[str, Any]:
        return {"got": c.json_body()}

    # -- writing -------------------------------------------------------------------

    app.get("/w/json", lambda c: c.json(201, {"k": ["v", 1, None], "é": True}))
    app.get("/w/string", lambda c: c.string(202, "héllo"))
    app.get("/w/html", lambda c: c.html(200, "<p>hi</p>"))
    app.get("/w/data", lambda c: c.data(200, "image/png", b"\x89PNG\x00"))
    app.get("/w/status", lambda c: c.status(418))

    @app.get("/w/headers")
    def w_headers(c: Context) -> None:
        c.header("X-One", "first")
        c.header("x-one", "second")  # replaces, any case
        c.header("X-Gone", "soon")
        c.header("x-gone", None)
        c.add_header("Vary", "Accept")
        c.add_header("Vary", "Cookie")
        c.string(200, "h")

    @app.get("/w/cookie")
    def w_cookie(c: Context) -> None:
        c.set_cookie("sid", "abc", max_age=60, domain="example.com", secure=True)
        c.set_cookie("pref", "a b;c", http_only=False, same_site=None, path="/p")
        c.status(204)

    @app.get("/w/redirect")
    def w_redirect(c: Context) -> None:
        for code in (200, 309, 299, True):
            try:
                c.redirect(code, "/nope")
            except ValueError:
                c.add_header("x-rejected", str(code))
        c.redirect(int(c.query("code", "302")), "/target?x=1")

    @app.get("/w/stream")
    def w_stream(c: Context) -> None:
        def gen() -> Iterator[str | bytes]:
            for i in range(5):
                yield f"chunk{i};"
            yield b"end"

        c.header("x-streamed", "sync")
        c.stream(gen(), content_type="text/event-stream")

    @app.get("/w/astream")
    async def w_astream(c: Context) -> None:
        async def agen() -> AsyncIterator[bytes]:
            for i in range(5):
                await gmp.sleep(0)
                yield f"a{i};".encode()

        c.stream(agen(), code=206)

    @app.get("/w/astream_sync_gen")
    async def w_astream_sync_gen(c: Context) -> None:
        c.stream(iter([b"x", "y", b"z"]))

    # -- returning -----------------------------------------------------------------

    returns: dict[str, Any] = {
        "response": Response(201, [("content-type", "text/x-mine")], b"resp"),
        "str": "text",
        "bytes": b"\x00\x01",
        "dict": {"a": 1},
        "list": [1, "two"],
        "none": None,
    }

    @app.get("/r/:kind")
    def ret(c: Context) -> Any:
        c.header("x-merged", "yes")
        kind = c.param("kind")
        if kind == "response":
            return Response(201, [("content-type", "text/x-mine"), ("x-merged", "own")], b"r")
        if kind == "response_plain":
            return Response(200, [("content-type", "text/plain")], b"r")
        return returns[kind]

    @app.get("/ar/:kind")
    async def aret(c: Context) -> Any:
        c.header("x-merged", "yes")
        return returns[c.param("kind")]

    shared = Response(200, [("content-type", "text/plain")], b"shared")

    @app.get("/r_shared", middleware=[RequestID()])
    def ret_shared(c: Context) -> Response:
        return shared

    @app.get("/r_status/:kind")
    def ret_status(c: Context) -> Any:
        c.status(201)
        return returns[c.param("kind")]

    @app.get("/r_bad")
    def ret_bad(c: Context) -> Any:
        return 42

    @app.get("/ar_bad")
    async def aret_bad(c: Context) -> Any:
        return {1, 2}

    # -- values, copies ------------------------------------------------------------

    def setter(c: Context) -> None:
        c.set("user", "ann")
        c.set("n", 3)

    @app.get("/keys", middleware=[setter])
    def keys(c: Context) -> dict[str, Any]:
        try:
            c.must_get("absent")
        except KeyError as e:
            err = str(e)
        return {"user": c.must_get("user"), "n": c.get("n"), "d": c.get("zz", 9), "err": err}

    @app.get("/copy/:id", middleware=[setter])
    def copy(c: Context) -> str:
        name = c.query("name", "")
        cp = c.copy()
        released = event(name)

        def detached(cc: Context) -> None:
            assert released.wait(WAIT), "the test never released the detached G"
            out: dict[str, Any] = {
                "id": cc.param("id"),
                "user": cc.get("user"),
                "path": cc.request.path,
                "query": cc.query("name"),
                "full_path": cc.full_path,
            }
            for what, write in (
                ("json", lambda: cc.json(200, {})),
                ("string", lambda: cc.string(200, "x")),
                ("status", lambda: cc.status(201)),
                ("header", lambda: cc.header("x", "y")),
                ("cookie", lambda: cc.set_cookie("a", "b")),
                ("next", cc.next),
            ):
                try:
                    write()
                    out[what] = "wrote"
                except RuntimeError as e:
                    out[what] = str(e)
            RESULTS[name] = out
            event(name + ":done").set()

        gmp.go(detached, cp)
        return "handler returned"

    # -- contextvars and structlog ---------------------------------------------------

    def set_var(c: Context) -> None:
        value = c.get_header("x-var")
        if value is not None:
            VAR.set(value)

    async def aset_var(c: Context) -> None:
        set_var(c)
        await c.next()

    def spawn_reader(c: Context) -> dict[str, Any]:
        name = c.query("name", "")
        log = structlog.get_logger("tests.engine")
        log.info("in handler", name=name)

        def child() -> None:
            structlog.get_logger("tests.engine").info("in child G", name=name)
            RESULTS[name] = VAR.get()
            event(name).set()

        gmp.go(child)
        return {"handler": VAR.get()}

    def plain_handler(c: Context) -> dict[str, Any]:
        return spawn_reader(c)

    async def async_handler(c: Context) -> dict[str, Any]:
        return spawn_reader(c)

    app.get("/var/plain", RequestID(), set_var, plain_handler)
    app.get("/var/async", RequestID(), aset_var, async_handler)
    app.get("/var/mixed", RequestID(), aset_var, plain_handler)  # plain via syscall
    app.get("/var/plain_mw_async", RequestID(), set_var, async_handler)

    app.get("/ip", lambda c: {"ip": c.client_ip, "remote": c.remote_addr})
    return app


APP = build_app()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(APP) as c:
        yield c


# -- the request side ---------------------------------------------------------------


def test_query_values_defaults_lists_and_types(client):
    r = client.get(
        "/query?name=ann&name=bob&page=3&ratio=0.25&flag=yes&tag=a&tag=b&id=1&id=2&empty="
    )
    assert r.json() == {
        "name": "ann",
        "default": "dflt",
        "page": 3,
        "ratio": 0.25,
        "flag": True,
        "tags": ["a", "b"],
        "ids": [1, 2],
        "empty": "",
    }
    r = client.get("/query")
    assert r.json() == {
        "name": None,
        "default": "dflt",
        "page": 1,
        "ratio": 0.5,
        "flag": False,
        "tags": [],
        "ids": [],
        "empty": None,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("ON", True), ("0", False), ("False", False), ("no", False)],
)
def test_query_bool_spellings(client, value, expected):
    assert client.get(f"/query?flag={value}").json()["flag"] is expected


@pytest.mark.parametrize(
    ("qs", "message"),
    [
        ("page=two", "query parameter 'page' must be an int, got 'two'"),
        ("ratio=x", "query parameter 'ratio' must be a float, got 'x'"),
        ("flag=maybe", "query parameter 'flag' must be a boolean (true/false), got 'maybe'"),
        ("id=1&id=b", "query parameter 'id' must be an int, got 'b'"),
    ],
)
def test_bad_query_value_is_400_naming_the_parameter(client, qs, message):
    r = client.get(f"/query?{qs}")
    assert r.status_code == 400
    assert r.json() == {"error": message}


def test_headers_in_any_case(client):
    r = client.get("/headers", headers={"X-Custom": "v1", "Content-Type": "Application/JSON; x=y"})
    assert r.json() == {
        "lower": "v1",
        "upper": "v1",
        "missing": "d",
        "content_type": "application/json",
    }


def test_cookies_multiple_and_quoted(client):
    sock = raw_socket(client)
    try:
        sock.sendall(
            get(
                "/cookies",
                'Cookie: a=1; b=two; quoted="hello world"\r\nCookie: second=2\r\n',
            )
        )
        resp = Reader(sock).read()
    finally:
        sock.close()
    assert json.loads(resp.body) == {
        "a": "1",
        "b": "two",
        "quoted": "hello world",
        "second": "2",
        "none": None,
    }


def test_raw_body_and_json_body(client):
    assert client.post("/body", content=b"abc\x00").content == b"\x00cba"
    assert client.post("/json_body", content=b'{"x": [1, 2]}').json() == {"got": {"x": [1, 2]}}
    r = client.post("/json_body", content=b'{"x": ')
    assert r.status_code == 400
    assert r.json()["error"] == "request body is not valid JSON: Expecting value at line 1 column 7"


# -- writing the response --------------------------------------------------------------


def test_json_string_html_data_status(client):
    r = client.get("/w/json")
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.content == '{"k":["v",1,null],"é":true}'.encode()
    r = client.get("/w/string")
    assert (r.status_code, r.headers["content-type"]) == (202, "text/plain; charset=utf-8")
    assert r.content == "héllo".encode()
    r = client.get("/w/html")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == "<p>hi</p>"
    r = client.get("/w/data")
    assert (r.headers["content-type"], r.content) == ("image/png", b"\x89PNG\x00")
    r = client.get("/w/status")
    assert (r.status_code, r.content, r.headers["content-length"]) == (418, b"", "0")


def test_header_replace_remove_and_add(client):
    r = client.get("/w/headers")
    assert r.headers.get_list("x-one") == ["second"]
    assert "x-gone" not in r.headers
    assert r.headers.get_list("vary") == ["Accept", "Cookie"]


def test_set_cookie_attributes_on_the_wire(client):
    r = client.get("/w/cookie")
    assert r.status_code == 204
    sid, pref = r.headers.get_list("set-cookie")
    attrs = {a.strip().lower() for a in sid.split(";")}
    assert attrs == {
        "sid=abc",
        "path=/",
        "max-age=60",
        "domain=example.com",
        "secure",
        "httponly",
        "samesite=lax",
    }
    assert pref.startswith('pref="a b\\073c"')  # quoted as needed, ';' escaped
    assert "path=/p" in pref.lower()
    assert "httponly" not in pref.lower() and "samesite" not in pref.lower()


def test_redirect_and_its_code_check(client):
    r = client.get("/w/redirect")
    assert r.status_code == 302
    assert r.headers["location"] == "/target?x=1"
    assert r.headers.get_list("x-rejected") == ["200", "309", "299", "True"]
    assert r.content == b""
    assert client.get("/w/redirect?code=308").status_code == 308


def test_stream_from_a_plain_handler_arrives_chunked_and_complete(client):
    sock = raw_socket(client)
    try:
        sock.sendall(get("/w/stream") + get("/w/astream") + get("/w/astream_sync_gen"))
        reader = Reader(sock)
        r = reader.read()
        assert r.status == 200
        assert r.header("transfer-encoding") == "chunked"
        assert r.header("content-type") == "text/event-stream"
        assert r.header("x-streamed") == "sync"
        assert r.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;end"
        r = reader.read()
        assert (r.status, r.header("transfer-encoding")) == (206, "chunked")
        assert r.body == b"a0;a1;a2;a3;a4;"
        r = reader.read()
        assert (r.status, r.body) == (200, b"xyz")
    finally:
        sock.close()


# -- returning the response -------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/r", "/ar"], ids=["plain", "async"])
@pytest.mark.parametrize(
    ("kind", "status", "ctype", "body"),
    [
        ("str", 200, "text/plain; charset=utf-8", b"text"),
        ("bytes", 200, "application/octet-stream", b"\x00\x01"),
        ("dict", 200, "application/json", b'{"a":1}'),
        ("list", 200, "application/json", b'[1,"two"]'),
        ("none", 200, None, b""),
    ],
)
def test_returned_values_become_the_response(client, prefix, kind, status, ctype, body):
    r = client.get(f"{prefix}/{kind}")
    assert r.status_code == status
    assert r.headers.get("content-type") == ctype
    assert r.content == body
    assert r.headers["x-merged"] == "yes"  # c.header() merged into what was returned


def test_returned_response_keeps_its_own_headers_and_gets_context_ones(client):
    r = client.get("/r/response")
    assert (r.status_code, r.content, r.headers["content-type"]) == (201, b"r", "text/x-mine")
    assert r.headers.get_list("x-merged") == ["own"]  # the Response's own value wins
    r = client.get("/r/response_plain")
    assert r.headers["x-merged"] == "yes"


def test_a_shared_returned_response_is_not_modified_by_context_headers(client):
    ids = [client.get("/r_shared").headers.get_list("x-request-id") for _ in range(3)]
    assert all(len(i) == 1 for i in ids)
    assert len({i[0] for i in ids}) == 3  # each request's own id, not the first one's


@pytest.mark.parametrize("kind", ["str", "bytes", "dict", "list"])
def test_returned_value_takes_the_status_set_with_c_status(client, kind):
    assert client.get(f"/r_status/{kind}").status_code == 201


@pytest.mark.parametrize(
    ("path", "what"), [("/r_bad", "returned int"), ("/ar_bad", "returned set")]
)
def test_unsupported_return_type_is_a_500_with_a_clear_type_error(client, path, what):
    with captured() as logs:
        r = client.get(path)
    assert r.status_code == 500
    assert r.json() == {"error": "internal server error"}
    (line,) = entries(logs, "handler raised; answered 500")
    exc = line["exc_info"][1]
    assert isinstance(exc, TypeError)
    assert what in str(exc) and "must return a gmp.http.Response" in str(exc)
    assert "ret_bad" in str(exc)


# -- values and copies -----------------------------------------------------------------


def test_set_get_must_get(client):
    assert client.get("/keys").json() == {
        "user": "ann",
        "n": 3,
        "d": 9,
        "err": "\"no value set for key 'absent' in this request's Context\"",
    }


def test_copy_in_a_detached_g_reads_after_the_handler_returned_and_cannot_write(client):
    name = "copy-1"
    r = client.get(f"/copy/77?name={name}")
    assert r.text == "handler returned"  # the response is out; now let the G read
    event(name).set()
    assert event(name + ":done").wait(WAIT)
    out = RESULTS.pop(name)
    assert out["id"] == "77"
    assert out["user"] == "ann"
    assert out["path"] == "/copy/77"
    assert out["query"] == name
    assert out["full_path"] == "/copy/:id"
    for what in ("json", "string", "status", "header", "cookie"):
        assert "a copied Context cannot write the response" in out[what], what
    assert "a copied Context has no chain" in out["next"]


# -- contextvars --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "async", "mixed", "plain_mw_async"])
def test_contextvar_from_middleware_reaches_handler_and_spawned_g_and_does_not_leak(client, kind):
    sock = raw_socket(client)
    try:
        reader = Reader(sock)
        first, second = f"{kind}-first", f"{kind}-second"
        sock.sendall(get(f"/var/{kind}?name={first}", "X-Var: from-mw\r\n"))
        r = reader.read()
        assert r.status == 200, r.body
        assert r.body == b'{"handler":"from-mw"}'
        assert event(first).wait(WAIT)
        assert RESULTS.pop(first) == "from-mw"
        # the same connection, no X-Var: the value set for the first request is gone
        sock.sendall(get(f"/var/{kind}?name={second}"))
        r = reader.read()
        assert r.body == b'{"handler":"unset"}'
        assert event(second).wait(WAIT)
        assert RESULTS.pop(second) == "unset"
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["plain", "async", "mixed"])
def test_request_id_is_in_log_lines_of_the_handler_and_of_gs_it_starts(client, kind):
    name = f"rid-{kind}"
    with captured() as logs:
        r = client.get(f"/var/{kind}?name={name}", headers={"X-Request-ID": f"id-{kind}"})
        assert r.headers["x-request-id"] == f"id-{kind}"
        assert event(name).wait(WAIT)
        (in_handler,) = entries(logs, "in handler", name=name)
        (in_child,) = entries(logs, "in child G", name=name)
    RESULTS.pop(name)
    assert in_handler["request_id"] == f"id-{kind}"
    assert in_child["request_id"] == f"id-{kind}"


def test_request_id_does_not_leak_into_logs_of_a_request_without_request_id_middleware():
    app = Engine()
    app.get("/with", RequestID(), lambda c: structlog.get_logger("t").info("with") or "w")
    app.get("/without", lambda c: structlog.get_logger("t").info("without") or "wo")
    with serving(app) as client, captured() as logs:
        assert client.get("/with", headers={"x-request-id": "abc"}).text == "w"
        assert client.get("/without").text == "wo"  # same connection
        (with_,) = entries(logs, "with")
        (without,) = entries(logs, "without")
    assert with_["request_id"] == "abc"
    assert "request_id" not in without


# -- client addresses ----------------------------------------------------------------------


def test_client_ip_without_trusted_proxies_ignores_forwarded_for(client):
    r = client.get("/ip", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json() == {"ip": "127.0.0.1", "remote": "127.0.0.1"}


@pytest.mark.parametrize(
    ("forwarded", "ip"),
    [
        ([], "127.0.0.1"),
        (["203.0.113.9"], "203.0.113.9"),
        (["198.51.100.1, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # right to left
        (["198.51.100.1", "203.0.113.9, 10.1.2.3"], "203.0.113.9"),  # two header fields
        (["10.0.0.1, 10.1.2.3"], "10.0.0.1"),  # every hop trusted: the first
        (["198.51.100.1, garbage"], "127.0.0.1"),  # unparsable: not believed
        (["garbage"], "127.0.0.1"),
        (["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_ip_with_trusted_proxies_reads_forwarded_for(forwarded, ip):
    app = Engine(trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    app.get("/ip", lambda c: {"ip": c.client_ip})
    with running(app) as server:
        extra = "".join(f"X-Forwarded-For: {f}\r\n" for f in forwarded)
        sock = connect(server)
        try:
            sock.sendall(get("/ip", extra))
            body = Reader(sock).read().body
        finally:
            sock.close()
    assert body == f'{{"ip":"{ip}"}}'.encode()


def test_client_ip_when_the_peer_is_not_trusted():
    app = Engine(trusted_proxies=["10.0.0.0/8"])
    app.get("/ip", lambda c: {"ip": c.client_ip})
    with serving(app) as client:
        r = client.get("/ip", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.json() == {"ip": "127.0.0.1"}


def test_trusted_proxies_are_validated():
    with pytest.raises(ValueError, match="not an address or network"):
        Engine(trusted_proxies=["nope"])
