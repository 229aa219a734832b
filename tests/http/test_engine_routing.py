"""Engine routing through real HTTP: patterns, params, priorities, misses, groups."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import raw_socket, serving
from http_server_helpers import Reader, get, running

from gmp.http import Context, Engine, Request
from gmp.http.engine import ANY_METHODS, join_paths
from gmp.http.router import RouteConflictError

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]


def echo(name: str) -> Any:
    def handler(c: Context) -> dict[str, Any]:
        return {
            "h": name,
            "route": c.full_path,
            "params": c.params,
            "trail": c.get("trail", []),
            "method": c.method,
        }

    handler.__qualname__ = f"echo_{name}"
    return handler


def mark(name: str) -> Any:
    """Middleware recording its name in the request's trail."""

    def mw(c: Context) -> None:
        c.set("trail", [*c.get("trail", []), name])

    mw.__qualname__ = f"mark_{name}"
    return mw


def build_app() -> Engine:
    app = Engine()
    app.get("/", echo("root"))
    app.get("/users", echo("users"))
    app.get("/users/new", echo("users_new"))
    app.get("/users/:id", echo("user"))
    app.get("/users/:id/posts/:post", echo("post"))
    app.get("/files/:name", echo("file"))
    app.get("/static/*filepath", echo("static"))
    app.get("/a b", echo("space"))  # a static route spelled decoded: /a%20b
    # backtracking: /b/x/c is static, /b/:p/d a param below the same position
    app.get("/b/x/c", echo("bxc"))
    app.get("/b/:p/d", echo("bpd"))
    app.get("/dir/", echo("dir"))
    app.post("/form", echo("form"))
    app.get("/hello", lambda c: c.string(200, "hello world"))

    @app.get("/headed")
    def headed_get(c: Context) -> str:
        return "get body"

    @app.head("/headed")
    def headed_head(c: Context) -> None:
        c.header("x-head", "own")
        c.status(200)

    app.any("/anything", echo("any"))
    app.route("/multi", ["PUT", "PATCH"], echo("multi"))

    api = app.group("/api", mark("api"))
    v1 = api.group("/v1", mark("v1"))
    v1.get("/items", mark("route"), echo("items"))

    @v1.get("/deco", middleware=[mark("deco_mw")])
    def deco(c: Context) -> dict[str, Any]:
        return {"trail": c.get("trail", [])}

    admin = app.group("/admin")
    admin.use(mark("admin"))
    admin.get("/panel", echo("panel"))
    root = app.group("/")
    root.get("rooted", echo("rooted"))

    # added after every route above: applies to them all (unlike Gin)
    app.use(mark("engine"))
    return app


APP = build_app()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(APP) as c:
        yield c


# -- matching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "handler", "params"),
    [
        ("/", "root", {}),
        ("/users", "users", {}),
        ("/users/new", "users_new", {}),
        ("/users/newt", "user", {"id": "newt"}),
        ("/users/42", "user", {"id": "42"}),
        ("/users/42/posts/7", "post", {"id": "42", "post": "7"}),
        ("/static/css/site.css", "static", {"filepath": "/css/site.css"}),
        ("/static/", "static", {"filepath": "/"}),
        ("/b/x/c", "bxc", {}),
        ("/b/x/d", "bpd", {"p": "x"}),  # static branch fails below: back up to :p
        ("/b/y/d", "bpd", {"p": "y"}),
        ("/rooted", "rooted", {}),
    ],
)
def test_static_param_and_catchall_routes_deliver_params(client, path, handler, params):
    r = client.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["h"] == handler
    assert body["params"] == params


def test_route_pattern_is_full_path(client):
    assert client.get("/users/9/posts/1").json()["route"] == "/users/:id/posts/:post"
    assert client.get("/api/v1/items").json()["route"] == "/api/v1/items"


def test_param_helper_and_missing_param():
    app = Engine()

    @app.get("/n/:id")
    def n(c: Context) -> dict[str, Any]:
        try:
            c.param("nope", int)
        except LookupError as e:
            missing = str(e)
        return {"id": c.param("id", int), "absent": c.param("nope"), "missing": missing}

    with serving(app) as client:
        body = client.get("/n/12").json()
        assert body["id"] == 12
        assert body["absent"] == ""  # Gin's Param: "" for a name the route lacks
        assert "no path parameter 'nope'" in body["missing"] and "id" in body["missing"]
        r = client.get("/n/twelve")
        assert r.status_code == 400
        assert r.json() == {"error": "path parameter 'id' must be an int, got 'twelve'"}


def test_percent_escaped_params_are_unescaped_and_do_not_split_segments(client):
    r = client.get("/files/a%2Fb")
    assert r.status_code == 200
    assert r.json()["h"] == "file"
    assert r.json()["params"] == {"name": "a/b"}
    assert client.get("/files/caf%C3%A9%20x").json()["params"] == {"name": "café x"}
    # %2F inside a param of a two-param route must not shift the next segment
    r = client.get("/users/a%2Fb/posts/c%2Fd")
    assert r.json()["params"] == {"id": "a/b", "post": "c/d"}
    assert client.get("/static/x%2Fy/z").json()["params"] == {"filepath": "/x/y/z"}


def test_percent_escaped_paths_get_405_and_options_like_any_other(client):
    r = client.post("/files/a%2Fb")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    r = client.options("/files/a%2Fb")
    assert (r.status_code, r.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
    r = client.head("/files/a%2Fb")
    assert r.status_code == 200 and r.content == b""
    got = client.get("/files/a%2Fb").content  # the body names the method: HEAD is 1 longer
    assert int(r.headers["content-length"]) == len(got) + 1


def test_static_route_matched_by_its_decoded_spelling(client):
    r = client.get("/a%20b")
    assert r.status_code == 200 and r.json()["h"] == "space"


# -- misses -------------------------------------------------------------------------


def test_404_is_json(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "no route for GET /no/such/thing"}


def test_405_with_exact_allow_header(client):
    r = client.delete("/users")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert r.json()["error"] == (
        "method DELETE is not allowed for /users; allowed: GET, HEAD, OPTIONS"
    )
    r = client.get("/form")
    assert r.status_code == 405
    assert r.headers["allow"] == "OPTIONS, POST"
    r = client.get("/multi")
    assert (r.status_code, r.headers["allow"]) == (405, "OPTIONS, PATCH, PUT")


def test_options_is_204_with_allow(client):
    r = client.options("/users/7")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"
    assert r.content == b""
    assert client.options("/form").headers["allow"] == "OPTIONS, POST"
    assert client.options("/nowhere").status_code == 404


def test_global_middleware_runs_for_misses():
    app = Engine()
    app.use(lambda c: c.header("x-global", "yes"))
    app.get("/x", lambda c: "x")
    with serving(app) as client:
        for r in (client.get("/none"), client.post("/x"), client.options("/x")):
            assert r.headers["x-global"] == "yes", r


@pytest.mark.parametrize(
    ("method", "path", "code", "location"),
    [
        ("GET", "/users/", 301, "/users"),
        ("GET", "/users/42/", 301, "/users/42"),
        ("GET", "/dir", 301, "/dir/"),
        ("GET", "/users/?page=2&x=%20", 301, "/users?page=2&x=%20"),
        ("HEAD", "/users/", 307, "/users"),  # Gin: 301 is for GET only
        ("POST", "/form/", 307, "/form"),
        ("POST", "/form/?a=1", 307, "/form?a=1"),
    ],
)
def test_trailing_slash_redirects(client, method, path, code, location):
    r = client.request(method, path)
    assert r.status_code == code
    assert r.headers["location"] == location


def test_redirect_keeps_percent_escapes_of_the_path(client):
    r = client.get("/files/a%2Fb/")
    assert r.status_code == 301
    assert r.headers["location"] == "/files/a%2Fb"


def test_no_redirect_when_disabled():
    app = Engine(redirect_trailing_slash=False)
    app.get("/users", lambda c: "u")
    with serving(app) as client:
        r = client.get("/users/")
        assert r.status_code == 404
        assert "location" not in r.headers


def test_head_falls_back_to_get_without_body_on_the_wire(client):
    sock = raw_socket(client)
    try:
        sock.sendall(get("/hello").replace(b"GET", b"HEAD") + get("/hello"))
        reader = Reader(sock)
        head = reader.read(head_only=True)
        assert head.status == 200
        assert head.header("content-length") == str(len("hello world"))
        # the next bytes on the connection are the GET's response, not a HEAD body
        got = reader.read()
        assert got.status == 200 and got.body == b"hello world"
    finally:
        sock.close()


def test_head_route_wins_over_get(client):
    r = client.head("/headed")
    assert r.status_code == 200
    assert r.headers["x-head"] == "own"
    assert client.get("/headed").text == "get body"
    assert "x-head" not in client.get("/headed").headers


def test_head_fallback_can_be_turned_off():
    app = Engine(head_fallback=False)
    app.get("/x", lambda c: "x")
    with serving(app) as client:
        r = client.head("/x")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, OPTIONS"


def test_any_registers_every_method(client):
    for method in ANY_METHODS:
        if method == "CONNECT":
            continue  # httpx does not send CONNECT to an origin; checked below
        r = client.request(method, "/anything")
        assert r.status_code == 200, method
        if method != "HEAD":
            assert r.json()["method"] == method
    assert {m for m, p, _ in APP.routes() if p == "/anything"} == set(ANY_METHODS)


def test_route_registers_the_given_methods(client):
    assert client.put("/multi").json()["method"] == "PUT"
    assert client.patch("/multi").json()["method"] == "PATCH"


# -- groups -------------------------------------------------------------------------


def test_group_middleware_order_engine_group_subgroup_route(client):
    assert client.get("/api/v1/items").json()["trail"] == ["engine", "api", "v1", "route"]
    assert client.get("/api/v1/deco").json()["trail"] == ["engine", "api", "v1", "deco_mw"]


def test_group_middleware_only_runs_for_its_routes(client):
    assert client.get("/admin/panel").json()["trail"] == ["engine", "admin"]
    assert client.get("/users").json()["trail"] == ["engine"]


def test_use_after_routes_applies_to_earlier_routes(client):
    # APP.use(mark("engine")) came after every registration
    assert client.get("/").json()["trail"] == ["engine"]


@pytest.mark.parametrize(
    ("prefix", "relative", "joined"),
    [
        ("", "/users", "/users"),
        ("", "users", "/users"),
        ("/", "/users", "/users"),
        ("/", "", "/"),
        ("/api", "", "/api"),
        ("/api/", "", "/api/"),
        ("/api", "/", "/api/"),
        ("/api/", "/", "/api/"),
        ("/api", "/users", "/api/users"),
        ("/api/", "/users", "/api/users"),
        ("/api", "users/", "/api/users/"),
        ("/api/", "/users/", "/api/users/"),
        ("/api/v1", "/:id", "/api/v1/:id"),
    ],
)
def test_join_paths(prefix, relative, joined):
    assert join_paths(prefix, relative) == joined


def test_nested_group_prefixes():
    app = Engine()
    g = app.group("/api/").group("v1").group("/things/")
    assert g.prefix == "/api/v1/things/"
    g.get("/:id", lambda c: c.param("id"))
    g.get("", lambda c: "list")
    assert sorted(p for _, p, _ in app.routes()) == ["/api/v1/things/", "/api/v1/things/:id"]
    assert app.group("").prefix == "" and app.group("/").group("/x").prefix == "/x"


# -- registration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ("/users/:id", "/users/:name"),
        ("/src/*filepath", "/src/:file"),
        ("/src/:file", "/src/*filepath"),
        ("/x", "/x"),
    ],
)
def test_conflict_raises_naming_both_routes(existing, new):
    app = Engine()
    app.get(existing, echo("a"))
    with pytest.raises(RouteConflictError) as info:
        app.get(new, echo("b"))
    msg = str(info.value)
    assert repr(existing) in msg and repr(new) in msg


def test_failed_multi_method_registration_is_all_or_nothing():
    app = Engine()
    app.post("/things/:name", echo("post"))
    app.get("/other", echo("other"))
    before = app.routes()
    with pytest.raises(RouteConflictError):
        app.route("/things/:id", ["GET", "PUT", "POST", "DELETE"], echo("multi"))
    assert app.routes() == before
    with pytest.raises(RouteConflictError):
        app.any("/things/:id", echo("any"))
    assert app.routes() == before
    with pytest.raises(RouteConflictError):
        app.get("/other", echo("again"))  # a single method failing
    assert app.routes() == before
    with serving(app) as client:
        assert client.get("/things/x").status_code == 405  # GET was not left behind
        assert client.put("/things/x").status_code == 405
        assert client.get("/things/x").headers["allow"] == "OPTIONS, POST"
        assert client.post("/things/x").json()["params"] == {"name": "x"}
        assert client.get("/other").json()["h"] == "other"


def test_a_single_route_conflicting_deep_in_the_tree_leaves_the_router_intact():
    app = Engine()
    app.get("/users/:id", echo("user"))
    app.get("/users/:id/posts", echo("posts"))
    app.get("/users/:id/posts/:post", echo("post"))
    for bad in ("/users/:name/posts/x", "/users/:id/posts/:pid/y", "/users/:id/*rest"):
        with pytest.raises(RouteConflictError):
            app.get(bad, echo("bad"))
    with serving(app) as client:
        assert client.get("/users/5").json()["params"] == {"id": "5"}
        assert client.get("/users/5/posts").json()["h"] == "posts"
        assert client.get("/users/5/posts/x").json()["params"] == {"id": "5", "post": "x"}
        assert client.get("/users/5/posts/x/y").status_code == 404
        assert client.get("/users/5/other").status_code == 404


def test_bad_registrations_raise():
    app = Engine()
    with pytest.raises(ValueError, match="name"):
        app.get("/users/:", echo("x"))
    with pytest.raises(TypeError, match="no handler"):
        app.handle("GET", "/x")
    with pytest.raises(TypeError, match="callable"):
        app.get("/x", "not a function")
    with pytest.raises(TypeError, match="callable"):
        app.use(42)
    with pytest.raises(ValueError, match="no HTTP method"):
        app.route("/x", [], echo("x"))
    with pytest.raises(TypeError, match="not both"):
        app.get("/x", echo("x"), middleware=[mark("m")])
    assert app.routes() == []


def test_registering_after_the_first_request_takes_effect():
    app = Engine()
    app.get("/x", lambda c: "x")
    group = app.group("/g")
    with serving(app) as client:
        assert client.get("/x").text == "x"
        assert client.get("/late").status_code == 404
        app.get("/late", echo("late"))
        group.post("/late", echo("glate"))
        app.use(mark("late"))
        group.use(mark("glate"))
        app.no_route(lambda c: c.string(404, "custom"))
        assert client.get("/late").json()["trail"] == ["late"]
        assert client.post("/g/late").json()["trail"] == ["late", "glate"]
        assert client.get("/nothing").text == "custom"


def test_no_route_and_no_method_handlers_run_after_global_middleware():
    app = Engine()
    app.use(mark("global"))
    app.get("/x", lambda c: "x")

    def nr(c: Context) -> None:
        c.json(404, {"custom": "no route", "trail": c.get("trail")})

    def nm(c: Context) -> None:
        c.json(405, {"custom": "no method", "trail": c.get("trail")})

    app.no_route(nr)
    app.no_method(nm)
    with serving(app) as client:
        r = client.get("/nothing")
        assert (r.status_code, r.json()) == (404, {"custom": "no route", "trail": ["global"]})
        r = client.post("/x")
        assert (r.status_code, r.json()) == (405, {"custom": "no method", "trail": ["global"]})


def test_routes_lists_method_pattern_and_handler_name():
    routes = APP.routes()
    assert ("GET", "/users/:id", f"{__name__}.echo_user") in routes
    assert ("POST", "/form", f"{__name__}.echo_form") in routes
    assert ("HEAD", "/headed", f"{__name__}.build_app.<locals>.headed_head") in routes
    assert ("GET", "/api/v1/items", f"{__name__}.echo_items") in routes
    assert [r for r in routes if r[1] == "/multi"] == [
        ("PUT", "/multi", f"{__name__}.echo_multi"),
        ("PATCH", "/multi", f"{__name__}.echo_multi"),
    ]


def test_engine_is_a_plain_request_handler():
    app = Engine()
    app.get("/x/:id", lambda c: {"id": c.param("id")})
    resp = app(Request("GET", "/x/5"))
    assert resp.status == 200 and resp.body == b'{"id":"5"}'


def test_connect_method_is_answered():
    app = Engine()
    app.any("/anything", echo("any"))
    with running(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        try:
            sock.sendall(b"CONNECT /anything HTTP/1.1\r\nHost: t\r\n\r\n")
            assert Reader(sock).read().status == 200
        finally:
            sock.close()
