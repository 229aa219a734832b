"""Gin's routing and response semantics, driven by tables as Gin's own tests are.

Each table row is one request and what Gin answers; rows where gmp differs on purpose
say so (and docs/http.md lists the differences). The engine is called directly with a
Request (it is a plain handler), so these tests need no server; the few that need one
(async chains, concurrent registration over HTTP) start it.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote

import pytest

from gmp.http import Context, Engine, Request
from gmp.http.engine import join_paths
from gmp.http.router import Router, clean_path

pytestmark = pytest.mark.timeout(60)


def call(app: Engine, method: str, target: str) -> Any:
    """``app`` answering ``method target`` (``target`` as sent: path, escapes, query)."""
    raw_path, _, query = target.partition("?")
    resp = app(Request(method, unquote(raw_path), query, target=target.encode("latin-1")))
    assert not hasattr(resp, "__await__"), "use a server for async chains"
    return resp


def named(name: str) -> Any:
    def handler(c: Context) -> dict[str, Any]:
        return {"h": name, "params": c.params}

    handler.__qualname__ = name
    return handler


# -- the case-insensitive lookup (tree.go's findCaseInsensitivePath) --------------------

CI_ROUTES = [
    "/hi",
    "/b/",
    "/ABC/",
    "/search/:query",
    "/cmd/:tool/",
    "/src/*filepath",
    "/x",
    "/x/y",
    "/y/",
    "/y/z",
    "/0/:id",
    "/0/:id/1",
    "/1/:id/",
    "/1/:id/2",
    "/aa",
    "/a/",
    "/doc",
    "/doc/go_faq.html",
    "/doc/go1.html",
    "/doc/go/away",
    "/no/a",
    "/no/b",
    "/Π",
    "/u/apfêl/",
    "/u/äpfêl/",
    "/u/öpfêl",
    "/v/Äpfêl/",
    "/v/Öpfêl",
    "/w/♬",
    "/w/♭/",
    "/w/𠜎",
    "/w/𠜏/",
    "/loooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooong",
]

# (request path, fixed path or None, with trailing-slash fixing)
CI_TABLE = [
    # already right: the same spelling back
    ("/hi", "/hi", False),
    ("/b/", "/b/", False),
    ("/ABC/", "/ABC/", False),
    ("/search/someth!ng+in+ünìcodé", "/search/someth!ng+in+ünìcodé", False),
    ("/cmd/test/", "/cmd/test/", False),
    ("/src/some/file.png", "/src/some/file.png", False),
    ("/Π", "/Π", False),
    # case fixed in static text; parameter and catch-all values keep theirs
    ("/HI", "/hi", False),
    ("/B/", "/b/", False),
    ("/abc/", "/ABC/", False),
    ("/SEARCH/QUERY", "/search/QUERY", False),
    ("/CMD/TOOL/", "/cmd/TOOL/", False),
    ("/SRC/FILE/PATH", "/src/FILE/PATH", False),
    ("/x/Y", "/x/y", False),
    ("/X/y", "/x/y", False),
    ("/0/ID/1", "/0/ID/1", False),
    ("/DOC/GO1.HTML", "/doc/go1.html", False),
    ("/π", "/Π", False),
    ("/U/ÄPFÊL/", "/u/äpfêl/", False),
    ("/u/ÖPFÊL", "/u/öpfêl", False),
    ("/V/äpfêL/", "/v/Äpfêl/", False),
    ("/W/♬", "/w/♬", False),
    (
        "/LOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOOONG",
        "/loooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooong",
        False,
    ),
    # trailing slash fixed only when asked
    ("/HI/", "/hi", True),
    ("/HI/", None, False),
    ("/b", "/b/", True),
    ("/b", None, False),
    ("/abc", "/ABC/", True),
    ("/CMD/TOOL", "/cmd/TOOL/", True),
    ("/Y", "/y/", True),
    ("/1/ID", "/1/ID/", True),
    ("/X/", "/x", True),
    ("/DOC/", "/doc", True),
    ("/U/ÄPFÊL", "/u/äpfêl/", True),
    ("/W/♭", "/w/♭/", True),
    ("/w/𠜏", "/w/𠜏/", True),
    ("/src", "/src/", True),
    # paths that must not be fixed
    ("/no", None, True),
    ("/no/", None, True),
    ("/NO/C", None, True),
    ("/_", None, True),
    ("/doc/go", None, True),
    ("/search", None, False),
    ("/0/ID", "/0/ID", False),
    ("/1/ID", None, False),
]


@pytest.fixture(scope="module")
def ci_router() -> Router[str]:
    router: Router[str] = Router()
    for route in CI_ROUTES:
        router.add("GET", route, route)
    return router


@pytest.mark.parametrize(("path", "fixed", "fix_slash"), CI_TABLE)
def test_case_insensitive_lookup_table(ci_router, path, fixed, fix_slash):
    assert ci_router.fixed_path("GET", path, fix_trailing_slash=fix_slash) == fixed


def test_every_route_is_found_in_any_case_and_maps_back_to_itself(ci_router):
    for route in CI_ROUTES:
        concrete = route.replace(":query", "q").replace(":tool", "t").replace(":id", "i")
        concrete = concrete.replace("*filepath", "f")
        for spelling in (concrete, concrete.upper(), concrete.lower(), concrete.swapcase()):
            fixed = ci_router.fixed_path("GET", spelling)
            assert fixed is not None, spelling
            match = ci_router.lookup("GET", fixed)
            assert match is not None and match.route == route, (spelling, fixed)


# -- cleanPath (path.go) ---------------------------------------------------------------

CLEAN_TABLE = [
    ("", "/"),
    ("/", "/"),
    ("abc", "/abc"),
    ("a/b/c", "/a/b/c"),
    ("abc/", "/abc/"),
    ("/abc", "/abc"),
    ("/abc/def/", "/abc/def/"),
    ("//abc//def//", "/abc/def/"),
    ("/abc/./def", "/abc/def"),
    ("/./abc/def", "/abc/def"),
    ("/abc/.", "/abc/"),
    ("/abc/def/ghi/../jkl", "/abc/def/jkl"),
    ("/abc/def/../ghi/../jkl", "/abc/jkl"),
    ("/abc/def/..", "/abc/"),
    ("/abc/def/../..", "/"),
    ("/abc/def/../../..", "/"),
    ("/abc/def/../../../ghi/jkl/../../../mno", "/mno"),
    ("/../abc", "/abc"),
    ("abc/./../def", "/def"),
    ("/.hidden/x", "/.hidden/x"),
]


@pytest.mark.parametrize(("path", "clean"), CLEAN_TABLE)
def test_clean_path_table(path, clean):
    assert clean_path(path) == clean
    assert clean_path(clean) == clean  # idempotent


# -- the engine's misses: Gin's handleHTTPRequest order --------------------------------


def miss_app(**settings: Any) -> Engine:
    app = Engine(**settings)
    app.get("/path", named("path"))
    app.get("/users/:id", named("user"))
    app.get("/dir/", named("dir"))
    app.post("/form", named("form"))
    app.get("/static/*filepath", named("static"))
    app.get("/cmd/whoami", named("whoami"))
    app.get("/cmd/:tool/", named("tool"))
    return app


# (settings, method, target, status, Location or handler)
MISS_TABLE = [
    # RedirectFixedPath off (Gin's default): no fixing
    ({}, "GET", "/PATH", 404, None),
    ({}, "GET", "/../path", 404, None),
    # RedirectFixedPath on: case and dots fixed, 301 for GET, 307 for the rest
    ({"redirect_fixed_path": True}, "GET", "/PATH", 301, "/path"),
    ({"redirect_fixed_path": True}, "GET", "/../path", 301, "/path"),
    ({"redirect_fixed_path": True}, "GET", "//path", 301, "/path"),
    ({"redirect_fixed_path": True}, "GET", "/a/../PATH?q=1", 301, "/path?q=1"),
    ({"redirect_fixed_path": True}, "GET", "/USERS/Ada", 301, "/users/Ada"),
    ({"redirect_fixed_path": True}, "GET", "/STATIC/A/b.css", 301, "/static/A/b.css"),
    ({"redirect_fixed_path": True}, "GET", "/DIR", 301, "/dir/"),
    ({"redirect_fixed_path": True}, "POST", "/FORM", 307, "/form"),
    ({"redirect_fixed_path": True}, "HEAD", "/PATH", 307, "/path"),
    ({"redirect_fixed_path": True}, "GET", "/nothing", 404, None),
    ({"redirect_fixed_path": True}, "CONNECT", "/PATH", 404, None),
    # the trailing-slash redirect comes first, and is 307 for HEAD too (Gin)
    ({}, "GET", "/path/", 301, "/path"),
    ({}, "HEAD", "/path/", 307, "/path"),
    ({}, "POST", "/form/", 307, "/form"),
    ({}, "GET", "/dir", 301, "/dir/"),
    ({"redirect_trailing_slash": False}, "GET", "/path/", 404, None),
    (
        {"redirect_trailing_slash": False, "redirect_fixed_path": True},
        "GET",
        "/path/",
        301,
        "/path",
    ),
    # a static route ending just before the trailing '/' wins over a parameter route
    ({}, "GET", "/cmd/whoami/", 301, "/cmd/whoami"),
    ({}, "GET", "/cmd/other/", 200, "tool"),
    # RemoveExtraSlash: served, no redirect
    ({"remove_extra_slash": True}, "GET", "//path", 200, "path"),
    ({"remove_extra_slash": True}, "GET", "/users//7", 200, "user"),
    ({"remove_extra_slash": True}, "GET", "/a/../path", 200, "path"),
    ({}, "GET", "/users//7", 404, None),
    # 405 after the redirects; 404 last
    ({}, "DELETE", "/path", 405, None),
    ({"handle_method_not_allowed": False}, "DELETE", "/path", 404, None),
]


@pytest.mark.parametrize(("settings", "method", "target", "status", "where"), MISS_TABLE)
def test_miss_table(settings, method, target, status, where):
    resp = call(miss_app(**settings), method, target)
    assert resp.status == status
    headers = dict(resp.headers)
    if 300 <= status < 400:
        assert headers["location"] == where
    elif status == 200:
        import json

        assert json.loads(resp.body)["h"] == where


RAW_TABLE = [
    # (settings, target, handler, params)
    ({}, "/users/a%2Fb", "user", {"id": "a/b"}),  # gmp's default: the raw path
    ({"unescape_path_values": False}, "/users/a%2Fb", "user", {"id": "a%2Fb"}),
    ({"use_raw_path": False}, "/users/a%2Fb", None, None),  # Gin's default: splits
    ({"use_raw_path": False}, "/users/a%20b", "user", {"id": "a b"}),
    ({}, "/users/a%20b", "user", {"id": "a b"}),
]


@pytest.mark.parametrize(("settings", "target", "handler", "params"), RAW_TABLE)
def test_raw_path_table(settings, target, handler, params):
    import json

    resp = call(miss_app(**settings), "GET", target)
    if handler is None:
        assert resp.status == 404
        return
    assert resp.status == 200
    assert json.loads(resp.body) == {"h": handler, "params": params}


# -- serveError: custom 404/405 chains ---------------------------------------------------


def trace_app(no_route: list[Any], no_method: list[Any], **settings: Any) -> Engine:
    app = Engine(**settings)

    def outer(c: Context) -> None:
        c.set("trail", [f"outer:{c.writer.status}"])
        c.next()
        c.get("trail").append(f"after:{c.writer.status}:{c.writer.size}")
        c.header("x-trail", "|".join(c.get("trail")))

    app.use(outer)
    app.get("/only-get", named("get"))
    app.no_route(*no_route)
    app.no_method(*no_method)
    return app


def mw_misdirected(c: Context) -> None:
    c.status(421)
    c.next()


def writes_custom(c: Context) -> None:
    c.get("trail").append(f"custom:{c.writer.status}:{c.response_header('allow')}")
    c.string(c.writer.status, "custom")


def passes(c: Context) -> None:
    c.get("trail").append(f"passes:{c.writer.status}")


def aborts(c: Context) -> None:
    c.abort()


# (no_route chain, no_method chain, settings, method, path, status, body, trail)
SERVE_ERROR_TABLE = [
    # defaults: the chain starts at 404/405, the default body is gmp's JSON ...
    (
        [],
        [],
        {},
        "GET",
        "/x",
        404,
        b'{"error":"no route for GET /x"}',
        ["outer:404", "after:404:31"],
    ),
    # ... or Gin's text
    (
        [],
        [],
        {"error_format": "text"},
        "GET",
        "/x",
        404,
        b"404 page not found",
        ["outer:404", "after:404:18"],
    ),
    (
        [],
        [],
        {"error_format": "text"},
        "POST",
        "/only-get",
        405,
        b"405 method not allowed",
        ["outer:405", "after:405:22"],
    ),
    # a custom handler that writes: its body, the status it chose; Allow set for 405
    (
        [writes_custom],
        [writes_custom],
        {},
        "GET",
        "/x",
        404,
        b"custom",
        ["outer:404", "custom:404:None", "after:404:6"],
    ),
    (
        [writes_custom],
        [writes_custom],
        {},
        "POST",
        "/only-get",
        405,
        b"custom",
        ["outer:405", "custom:405:GET, HEAD, OPTIONS", "after:405:6"],
    ),
    # a custom handler that writes nothing and leaves the status: the default body
    (
        [passes],
        [passes],
        {"error_format": "text"},
        "GET",
        "/x",
        404,
        b"404 page not found",
        ["outer:404", "passes:404", "after:404:18"],
    ),
    # middleware that changed the status: kept, with an empty body (WriteHeaderNow)
    (
        [mw_misdirected, passes],
        [],
        {},
        "GET",
        "/x",
        421,
        b"",
        ["outer:404", "passes:421", "after:421:-1"],
    ),
    # an aborted chain still gets the default body (serveError runs after Next)
    (
        [aborts],
        [],
        {"error_format": "text"},
        "GET",
        "/x",
        404,
        b"404 page not found",
        ["outer:404", "after:404:-1"],
    ),
]


@pytest.mark.parametrize(
    ("no_route", "no_method", "settings", "method", "path", "status", "body", "trail"),
    SERVE_ERROR_TABLE,
)
def test_serve_error_order_table(no_route, no_method, settings, method, path, status, body, trail):
    resp = call(trace_app(no_route, no_method, **settings), method, path)
    assert resp.status == status
    assert resp.body == body
    headers = dict(resp.headers)
    assert headers["x-trail"].split("|") == trail
    if status == 405:
        assert headers["Allow"] == "GET, HEAD, OPTIONS"


# -- ResponseWriter: the first status stays, writes append -------------------------------


def writes(*steps: Any) -> Any:
    def handler(c: Context) -> Any:
        result = None
        for step in steps:
            result = step(c)
        c.header("x-writer", f"{c.writer.status}:{c.writer.size}:{c.writer.written}")
        return result

    return handler


# (steps, status, body, content type, writer view at the end)
WRITER_TABLE = [
    ([], 200, b"", None, "200:-1:False"),
    ([lambda c: c.status(201)], 201, b"", None, "201:-1:False"),
    (
        [lambda c: c.string(200, "a"), lambda c: c.string(500, "b")],
        200,
        b"ab",
        "text/plain; charset=utf-8",
        "200:2:True",
    ),
    (
        [lambda c: c.string(202, "a"), lambda c: c.status(404)],
        202,
        b"a",
        "text/plain; charset=utf-8",
        "202:1:True",
    ),
    (
        [lambda c: c.json(200, [1]), lambda c: c.json(200, [2])],
        200,
        b"[1][2]",
        "application/json",
        "200:6:True",
    ),
    (
        [lambda c: c.header("content-type", "text/x"), lambda c: c.json(200, 1)],
        200,
        b"1",
        "text/x",
        "200:1:True",
    ),
    (
        [lambda c: c.status(418), lambda c: c.string(418, "tea")],
        418,
        b"tea",
        "text/plain; charset=utf-8",
        "418:3:True",
    ),
    (
        [lambda c: c.abort_with_status(401), lambda c: c.string(200, "x")],
        401,
        b"x",
        None,  # the header was written at once: no Content-Type from the later write
        "401:1:True",
    ),
    # a returned value is a write too
    (
        [lambda c: c.status(201), lambda c: {"a": 1}],
        201,
        b'{"a":1}',
        "application/json",
        "201:-1:False",
    ),
    (
        [lambda c: c.string(200, "x"), lambda c: "y"],
        200,
        b"xy",
        "text/plain; charset=utf-8",
        "200:1:True",
    ),
    # reset: what was written is gone, so the next write sets the status again
    (
        [lambda c: c.string(200, "x"), lambda c: c.writer.reset(), lambda c: c.string(503, "z")],
        503,
        b"z",
        "text/plain; charset=utf-8",
        "503:1:True",
    ),
]


@pytest.mark.parametrize(("steps", "status", "body", "ctype", "view"), WRITER_TABLE)
def test_response_writer_table(steps, status, body, ctype, view):
    app = Engine()
    app.get("/w", writes(*steps))
    resp = call(app, "GET", "/w")
    assert resp.status == status
    assert resp.body == body
    headers = {k.lower(): v for k, v in resp.headers}
    assert headers.get("content-type") == ctype
    assert headers["x-writer"] == view


def test_an_http_error_replaces_what_was_written():
    from gmp.http import Conflict

    app = Engine()

    @app.get("/e")
    def h(c: Context) -> None:
        c.string(200, "partial")
        raise Conflict("taken")

    resp = call(app, "GET", "/e")
    assert resp.status == 409
    assert resp.body == b'{"error":"taken"}'


# -- registration: methods, paths, while serving ----------------------------------------

BAD_METHODS = ["get", "PATCh", "1GET", "GET!", "", "G ET", "GÉT"]


@pytest.mark.parametrize("method", BAD_METHODS)
def test_method_names_must_be_upper_case_letters(method):
    app = Engine()
    with pytest.raises(ValueError, match="upper-case letters") as e:
        app.route("/x", [method], named("x"))
    assert repr(method) in str(e.value)
    assert app.routes() == []


def test_a_lower_case_method_gets_a_hint():
    with pytest.raises(ValueError, match="did you mean 'GET'"):
        Engine().route("/x", ["get"], named("x"))


@pytest.mark.parametrize("method", ["GET", "PROPFIND", "M"])
def test_upper_case_methods_are_accepted(method):
    app = Engine()
    app.route("/x", [method], named("x"))
    assert call(app, method, "/x").status == 200


JOIN_TABLE = [
    ("", "", ""),
    ("", "/", "/"),
    ("/", "a", "/a"),
    ("/a", "", "/a"),
    ("/a/", "", "/a/"),
    ("/a", "/", "/a/"),
    ("/a", "b", "/a/b"),
    ("/a/", "/b", "/a/b"),
    ("/a/", "/hola//", "/a/hola/"),
    ("/a//", "//b//c", "/a/b/c"),
    ("/a", "/b/", "/a/b/"),
    ("/a/b", "../c", "/a/c"),
    ("/a", "./b/.", "/a/b"),
    ("/a", "/:id", "/a/:id"),
    ("/a", "/*rest", "/a/*rest"),
]


@pytest.mark.parametrize(("prefix", "relative", "joined"), JOIN_TABLE)
def test_join_paths_table(prefix, relative, joined):
    assert join_paths(prefix, relative) == joined


def test_group_paths_are_cleaned():
    app = Engine()
    app.group("/a/").get("/hola//", named("hola"))
    assert [path for _, path, _ in app.routes()] == ["/a/hola/"]


def test_registration_while_requests_run_on_many_threads():
    """Readers on 6 threads while routes and middleware are added: every answer is
    either the miss (before the route) or the route, and never an error."""
    app = Engine()
    app.get("/base", lambda c: c.string(200, "base"))
    assert call(app, "GET", "/base").status == 200  # serving: the table is built
    stop = threading.Event()
    errors: list[BaseException] = []
    answers: set[tuple[str, int]] = set()
    lock = threading.Lock()
    count = 40

    def reader() -> None:
        try:
            while not stop.is_set():
                for i in range(0, count, 7):
                    resp = call(app, "GET", f"/r{i}")
                    assert resp.status in (200, 404), resp.status
                    if resp.status == 200:
                        assert resp.body == f"r{i}".encode()
                    with lock:
                        answers.add((f"/r{i}", resp.status))
                assert call(app, "GET", "/base").status == 200
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for i in range(count):
            app.get(f"/r{i}", lambda c, i=i: c.string(200, f"r{i}"))
        app.use(lambda c: c.header("x-late", "1"))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[0]
    for i in range(count):
        resp = call(app, "GET", f"/r{i}")
        assert resp.status == 200 and dict(resp.headers)["x-late"] == "1"


def test_a_conflict_while_serving_leaves_the_table_as_it_was():
    from gmp.http.router import RouteConflictError

    app = Engine()
    app.get("/u/:id", named("u"))
    assert call(app, "GET", "/u/1").status == 200
    table = app._table
    with pytest.raises(RouteConflictError):
        app.get("/u/:name", named("clash"))
    assert app._table is table
    assert call(app, "GET", "/u/1").status == 200


# -- small Gin behaviours ---------------------------------------------------------------


def test_param_of_a_missing_name_is_empty():
    app = Engine()
    app.get("/p/:id", lambda c: {"x": c.param("x"), "id": c.param("id")})
    assert call(app, "GET", "/p/7").body == b'{"x":"","id":"7"}'


def test_gin_defaults_are_one_call_away():
    app = Engine.gin()
    app.get("/g", named("g"))
    assert call(app, "POST", "/g").status == 404  # no 405 in Gin by default
    assert call(app, "HEAD", "/g").status == 404  # no HEAD fallback
    assert call(app, "OPTIONS", "/g").status == 404
    assert call(app, "GET", "/nothing").body == b"404 page not found"


def test_serve_error_in_an_async_chain_over_http():
    from engine_helpers import serve

    app = Engine(error_format="text")

    async def outer(c: Context) -> None:
        c.set("start", c.writer.status)
        await c.next()
        c.header("x-seen", f"{c.get('start')}:{c.writer.status}:{c.writer.size}")

    app.use(outer)
    app.get("/x", named("x"))
    app.no_method(lambda c: None)
    with serve(app) as (_, client):
        r = client.get("/nothing")
        assert (r.status_code, r.text, r.headers["x-seen"]) == (
            404,
            "404 page not found",
            "404:404:18",
        )
        r = client.post("/x")
        assert r.status_code == 405 and r.text == "405 method not allowed"
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"


def test_writer_header_fields_are_the_fields_set_so_far_without_the_response() -> None:
    app = Engine()
    seen: list[Any] = []

    def mw(c: Context) -> None:
        c.header("X-Request-ID", "r1")
        c.add_header("Vary", "Accept")
        seen.append(c.writer.header_fields)
        c.next()
        seen.append(c.writer.header_fields)

    def handler(c: Context) -> None:
        c.json(200, {"ok": True})

    app.use(mw)
    app.get("/h", handler)
    resp = call(app, "GET", "/h")
    assert resp.status == 200
    assert seen[0] == [("X-Request-ID", "r1"), ("Vary", "Accept")]
    # A copy: the content type set by c.json shows only after the handler ran.
    assert ("X-Request-ID", "r1") in seen[1]
    seen[0].append(("x", "y"))
    assert ("x", "y") not in seen[1]
