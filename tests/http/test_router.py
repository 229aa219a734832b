"""The radix-tree router (gmp/http/router.py), specified the way httprouter's and Gin's
tree_test.go specify their tree: tables of routes, then tables of requests with the route
and parameters each must find, then conflicts, precedence and trailing slashes, then
properties checked against a brute-force reference matcher.

A route's handler is its own pattern, so a lookup's handler says which route won.
Every lookup is checked twice: through ``Router.lookup`` and through the bare tree walk,
because ``lookup`` answers routes without wildcards from a dict first and the tree must
be right on its own.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmp.http.router import Match, Route, RouteConflictError, Router, _Node, _search

FAST = settings(max_examples=150, derandomize=True, database=None, deadline=None)

Request = tuple[str, str | None, dict[str, str]]
"""A request path, the route it must find (None: no match) and the parameters."""


def router_with(routes: list[str], method: str = "GET") -> Router[str]:
    router: Router[str] = Router()
    for route in routes:
        router.add(method, route, route)
    return router


def find(router: Router[str], path: str, method: str = "GET") -> Match[str] | None:
    """``router.lookup``, checked against the tree walk alone."""
    match = router.lookup(method, path)
    tree = router._trees.get(method)
    walked = _search(tree, path) if tree is not None else None
    assert match == walked, f"lookup and tree walk disagree on {path!r}: {match} != {walked}"
    return match


def shape(router: Router[str], method: str = "GET") -> object:
    """The tree as nested tuples: prefix, param name, children, param, catch-all, leaf."""

    def walk(node: _Node[str]) -> object:
        return (
            node.prefix,
            node.name,
            sorted((k, walk(c)) for k, c in node.children.items()),
            None if node.param is None else walk(node.param),
            None if node.catch_all is None else node.catch_all.route,
            None if node.leaf is None else node.leaf.route,
        )

    return walk(router._trees[method]), sorted(router._static[method])


def check_requests(router: Router[str], requests: list[Request]) -> None:
    for path, route, params in requests:
        match = find(router, path)
        if route is None:
            assert match is None, f"{path!r} should match nothing, matched {match}"
            continue
        assert match is not None, f"{path!r} should match {route!r}, matched nothing"
        assert match.handler == route, f"{path!r} matched {match.route!r}, not {route!r}"
        assert match.route == route
        assert match.params == params, f"{path!r}: params {match.params} != {params}"


ALPHA, BETA = "/\u03b1", "/\u03b2"  # non-ASCII paths: one character, two UTF-8 bytes

# -- static routes --------------------------------------------------------------------------


def test_static_routes_find_exactly_their_path() -> None:
    """TestTreeAddAndGet: shared prefixes split into nodes, each path finds its own."""
    routes = ["/hi", "/contact", "/co", "/c", "/a", "/ab", "/doc/", "/doc/go_faq.html"]
    router = router_with([*routes, "/doc/go1.html", ALPHA, BETA])
    check_requests(
        router,
        [
            ("/a", "/a", {}),
            ("/", None, {}),
            ("/hi", "/hi", {}),
            ("/contact", "/contact", {}),
            ("/co", "/co", {}),
            ("/con", None, {}),  # key mismatch
            ("/cona", None, {}),  # key mismatch
            ("/no", None, {}),  # no matching child
            ("/ab", "/ab", {}),
            (ALPHA, ALPHA, {}),
            (BETA, BETA, {}),
            ("/doc/", "/doc/", {}),
            ("/doc", None, {}),
            ("/doc/go1.html", "/doc/go1.html", {}),
            ("/doc/go1.htm", None, {}),
            ("/doc/go1.html/", None, {}),
        ],
    )


def test_the_root_route_and_a_route_added_before_its_prefix() -> None:
    router = router_with(["/users/list", "/users", "/", "/u"])
    check_requests(
        router,
        [
            ("/", "/", {}),
            ("/u", "/u", {}),
            ("/users", "/users", {}),
            ("/users/list", "/users/list", {}),
            ("/users/", None, {}),
            ("/user", None, {}),
            ("", None, {}),
            ("users", None, {}),
        ],
    )


# -- parameters and catch-alls --------------------------------------------------------------

WILDCARD_ROUTES = [
    "/",
    "/cmd/:tool/",
    "/cmd/:tool/:sub",
    "/cmd/whoami",
    "/cmd/whoami/root",
    "/cmd/whoami/root/",
    "/src/*filepath",
    "/search/",
    "/search/:query",
    "/search/gin-gonic",
    "/search/google",
    "/user_:name",
    "/user_:name/about",
    "/files/:dir/*filepath",
    "/doc/",
    "/doc/go_faq.html",
    "/doc/go1.html",
    "/info/:user/public",
    "/info/:user/project/:project",
    "/info/:user/project/golang",
    "/aa/*xx",
    "/ab/*xx",
    "/:cc",
    "/c1/:dd/e",
    "/c1/:dd/e1",
    "/:cc/cc",
    "/:cc/:dd/ee",
    "/:cc/:dd/:ee/ff",
    "/:cc/:dd/:ee/:ff/gg",
    "/:cc/:dd/:ee/:ff/:gg/hh",
    "/get/test/abc/",
    "/get/:param/abc/",
    "/something/:paramname/thirdthing",
    "/something/secondthing/test",
    "/get/abc",
    "/get/:param",
    "/get/abc/123abc",
    "/get/abc/:param",
    "/get/abc/123abc/xxx8",
    "/get/abc/123abc/:param",
    "/get/abc/123abc/xxx8/1234",
    "/get/abc/123abc/xxx8/:param",
    "/get/abc/123abc/xxx8/1234/ffas",
    "/get/abc/123abc/xxx8/1234/:param",
    "/get/abc/123abc/xxx8/1234/kkdd/12c",
    "/get/abc/123abc/xxx8/1234/kkdd/:param",
    "/get/abc/:param/test",
    "/get/abc/123abd/:param",
    "/get/abc/123abddd/:param",
    "/get/abc/123/:param",
    "/get/abc/123abg/:param",
    "/get/abc/123abf/:param",
    "/get/abc/123abfff/:param",
    "/get/abc/escaped_colon/test\\:param",
]

UNI = "someth!ng+in+ünìcodé"

WILDCARD_REQUESTS: list[Request] = [
    ("/", "/", {}),
    ("/cmd/test", None, {}),
    ("/cmd/test/", "/cmd/:tool/", {"tool": "test"}),
    ("/cmd/test/3", "/cmd/:tool/:sub", {"tool": "test", "sub": "3"}),
    ("/cmd/who", None, {}),
    ("/cmd/who/", "/cmd/:tool/", {"tool": "who"}),
    ("/cmd/whoami", "/cmd/whoami", {}),
    # As in Gin: only a trailing '/' is left after /cmd/whoami, so the lookup stops
    # (a trailing-slash redirect) instead of backing up to /cmd/:tool/.
    ("/cmd/whoami/", None, {}),
    ("/cmd/whoami/r", "/cmd/:tool/:sub", {"tool": "whoami", "sub": "r"}),
    ("/cmd/whoami/r/", None, {}),
    ("/cmd/whoami/root", "/cmd/whoami/root", {}),
    ("/cmd/whoami/root/", "/cmd/whoami/root/", {}),
    ("/src/", "/src/*filepath", {"filepath": "/"}),
    ("/src/some/file.png", "/src/*filepath", {"filepath": "/some/file.png"}),
    ("/search/", "/search/", {}),
    (f"/search/{UNI}", "/search/:query", {"query": UNI}),
    (f"/search/{UNI}/", None, {}),
    ("/search/gin", "/search/:query", {"query": "gin"}),
    ("/search/gin-gonic", "/search/gin-gonic", {}),
    ("/search/google", "/search/google", {}),
    ("/user_gopher", "/user_:name", {"name": "gopher"}),
    ("/user_gopher/about", "/user_:name/about", {"name": "gopher"}),
    (
        "/files/js/inc/framework.js",
        "/files/:dir/*filepath",
        {"dir": "js", "filepath": "/inc/framework.js"},
    ),
    ("/info/gordon/public", "/info/:user/public", {"user": "gordon"}),
    (
        "/info/gordon/project/go",
        "/info/:user/project/:project",
        {"user": "gordon", "project": "go"},
    ),
    ("/info/gordon/project/golang", "/info/:user/project/golang", {"user": "gordon"}),
    ("/aa/aa", "/aa/*xx", {"xx": "/aa"}),
    ("/ab/ab", "/ab/*xx", {"xx": "/ab"}),
    ("/a", "/:cc", {"cc": "a"}),
    # gin-gonic/gin#2796: a static prefix must not swallow a parameter's value.
    ("/all", "/:cc", {"cc": "all"}),
    ("/d", "/:cc", {"cc": "d"}),
    ("/ad", "/:cc", {"cc": "ad"}),
    ("/dd", "/:cc", {"cc": "dd"}),
    ("/dddaa", "/:cc", {"cc": "dddaa"}),
    ("/aa", "/:cc", {"cc": "aa"}),
    ("/aaa", "/:cc", {"cc": "aaa"}),
    ("/aaa/cc", "/:cc/cc", {"cc": "aaa"}),
    ("/ab", "/:cc", {"cc": "ab"}),
    ("/abb", "/:cc", {"cc": "abb"}),
    ("/abb/cc", "/:cc/cc", {"cc": "abb"}),
    ("/allxxxx", "/:cc", {"cc": "allxxxx"}),
    ("/alldd", "/:cc", {"cc": "alldd"}),
    ("/all/cc", "/:cc/cc", {"cc": "all"}),
    ("/a/cc", "/:cc/cc", {"cc": "a"}),
    ("/c1/d/e", "/c1/:dd/e", {"dd": "d"}),
    ("/c1/d/e1", "/c1/:dd/e1", {"dd": "d"}),
    ("/c1/d/ee", "/:cc/:dd/ee", {"cc": "c1", "dd": "d"}),
    ("/cc/cc", "/:cc/cc", {"cc": "cc"}),
    ("/ccc/cc", "/:cc/cc", {"cc": "ccc"}),
    ("/deedwjfs/cc", "/:cc/cc", {"cc": "deedwjfs"}),
    ("/acllcc/cc", "/:cc/cc", {"cc": "acllcc"}),
    ("/get/test/abc/", "/get/test/abc/", {}),
    ("/get/te/abc/", "/get/:param/abc/", {"param": "te"}),
    ("/get/testaa/abc/", "/get/:param/abc/", {"param": "testaa"}),
    ("/get/xx/abc/", "/get/:param/abc/", {"param": "xx"}),
    ("/get/tt/abc/", "/get/:param/abc/", {"param": "tt"}),
    ("/get/a/abc/", "/get/:param/abc/", {"param": "a"}),
    ("/get/t/abc/", "/get/:param/abc/", {"param": "t"}),
    ("/get/aa/abc/", "/get/:param/abc/", {"param": "aa"}),
    ("/get/abas/abc/", "/get/:param/abc/", {"param": "abas"}),
    ("/something/secondthing/test", "/something/secondthing/test", {}),
    ("/something/abcdad/thirdthing", "/something/:paramname/thirdthing", {"paramname": "abcdad"}),
    (
        "/something/secondthingaaaa/thirdthing",
        "/something/:paramname/thirdthing",
        {"paramname": "secondthingaaaa"},
    ),
    ("/something/se/thirdthing", "/something/:paramname/thirdthing", {"paramname": "se"}),
    ("/something/s/thirdthing", "/something/:paramname/thirdthing", {"paramname": "s"}),
    ("/c/d/ee", "/:cc/:dd/ee", {"cc": "c", "dd": "d"}),
    ("/c/d/e/ff", "/:cc/:dd/:ee/ff", {"cc": "c", "dd": "d", "ee": "e"}),
    ("/c/d/e/f/gg", "/:cc/:dd/:ee/:ff/gg", {"cc": "c", "dd": "d", "ee": "e", "ff": "f"}),
    (
        "/c/d/e/f/g/hh",
        "/:cc/:dd/:ee/:ff/:gg/hh",
        {"cc": "c", "dd": "d", "ee": "e", "ff": "f", "gg": "g"},
    ),
    (
        "/cc/dd/ee/ff/gg/hh",
        "/:cc/:dd/:ee/:ff/:gg/hh",
        {"cc": "cc", "dd": "dd", "ee": "ee", "ff": "ff", "gg": "gg"},
    ),
    ("/get/abc", "/get/abc", {}),
    ("/get/a", "/get/:param", {"param": "a"}),
    ("/get/abz", "/get/:param", {"param": "abz"}),
    ("/get/12a", "/get/:param", {"param": "12a"}),
    ("/get/abcd", "/get/:param", {"param": "abcd"}),
    ("/get/abc/123abc", "/get/abc/123abc", {}),
    ("/get/abc/12", "/get/abc/:param", {"param": "12"}),
    ("/get/abc/123ab", "/get/abc/:param", {"param": "123ab"}),
    ("/get/abc/xyz", "/get/abc/:param", {"param": "xyz"}),
    ("/get/abc/123abcddxx", "/get/abc/:param", {"param": "123abcddxx"}),
    ("/get/abc/123abc/xxx8", "/get/abc/123abc/xxx8", {}),
    ("/get/abc/123abc/x", "/get/abc/123abc/:param", {"param": "x"}),
    ("/get/abc/123abc/xxx", "/get/abc/123abc/:param", {"param": "xxx"}),
    ("/get/abc/123abc/abc", "/get/abc/123abc/:param", {"param": "abc"}),
    ("/get/abc/123abc/xxx8xxas", "/get/abc/123abc/:param", {"param": "xxx8xxas"}),
    ("/get/abc/123abc/xxx8/1234", "/get/abc/123abc/xxx8/1234", {}),
    ("/get/abc/123abc/xxx8/1", "/get/abc/123abc/xxx8/:param", {"param": "1"}),
    ("/get/abc/123abc/xxx8/123", "/get/abc/123abc/xxx8/:param", {"param": "123"}),
    ("/get/abc/123abc/xxx8/78k", "/get/abc/123abc/xxx8/:param", {"param": "78k"}),
    ("/get/abc/123abc/xxx8/1234xxxd", "/get/abc/123abc/xxx8/:param", {"param": "1234xxxd"}),
    ("/get/abc/123abc/xxx8/1234/ffas", "/get/abc/123abc/xxx8/1234/ffas", {}),
    ("/get/abc/123abc/xxx8/1234/f", "/get/abc/123abc/xxx8/1234/:param", {"param": "f"}),
    ("/get/abc/123abc/xxx8/1234/ffa", "/get/abc/123abc/xxx8/1234/:param", {"param": "ffa"}),
    ("/get/abc/123abc/xxx8/1234/kka", "/get/abc/123abc/xxx8/1234/:param", {"param": "kka"}),
    (
        "/get/abc/123abc/xxx8/1234/ffas321",
        "/get/abc/123abc/xxx8/1234/:param",
        {"param": "ffas321"},
    ),
    ("/get/abc/123abc/xxx8/1234/kkdd/12c", "/get/abc/123abc/xxx8/1234/kkdd/12c", {}),
    ("/get/abc/123abc/xxx8/1234/kkdd/1", "/get/abc/123abc/xxx8/1234/kkdd/:param", {"param": "1"}),
    (
        "/get/abc/123abc/xxx8/1234/kkdd/12b",
        "/get/abc/123abc/xxx8/1234/kkdd/:param",
        {"param": "12b"},
    ),
    (
        "/get/abc/123abc/xxx8/1234/kkdd/12c2e3",
        "/get/abc/123abc/xxx8/1234/kkdd/:param",
        {"param": "12c2e3"},
    ),
    ("/get/abc/12/test", "/get/abc/:param/test", {"param": "12"}),
    ("/get/abc/123abdd/test", "/get/abc/:param/test", {"param": "123abdd"}),
    ("/get/abc/123abdddf/test", "/get/abc/:param/test", {"param": "123abdddf"}),
    ("/get/abc/123ab/test", "/get/abc/:param/test", {"param": "123ab"}),
    ("/get/abc/123abgg/test", "/get/abc/:param/test", {"param": "123abgg"}),
    ("/get/abc/123abff/test", "/get/abc/:param/test", {"param": "123abff"}),
    ("/get/abc/123abffff/test", "/get/abc/:param/test", {"param": "123abffff"}),
    ("/get/abc/123abd/test", "/get/abc/123abd/:param", {"param": "test"}),
    ("/get/abc/123abddd/test", "/get/abc/123abddd/:param", {"param": "test"}),
    ("/get/abc/123/test22", "/get/abc/123/:param", {"param": "test22"}),
    ("/get/abc/123abg/test", "/get/abc/123abg/:param", {"param": "test"}),
    ("/get/abc/123abf/testss", "/get/abc/123abf/:param", {"param": "testss"}),
    ("/get/abc/123abfff/te", "/get/abc/123abfff/:param", {"param": "te"}),
    # An escaped colon is a literal ':' in the route.
    ("/get/abc/escaped_colon/test:param", "/get/abc/escaped_colon/test\\:param", {}),
]


def test_wildcard_routes_find_their_route_and_parameters() -> None:
    """TestTreeWildcard: Gin's large table of params, catch-alls and static neighbours."""
    check_requests(router_with(WILDCARD_ROUTES), WILDCARD_REQUESTS)


def test_registration_order_does_not_change_any_answer() -> None:
    check_requests(router_with(list(reversed(WILDCARD_ROUTES))), WILDCARD_REQUESTS)


def test_a_parameter_takes_one_or_more_characters_up_to_the_next_slash() -> None:
    router = router_with(["/users/:id", "/users/:id/posts/:post", "/x:tail"])
    check_requests(
        router,
        [
            ("/users/42", "/users/:id", {"id": "42"}),
            ("/users/a.b-c~d", "/users/:id", {"id": "a.b-c~d"}),
            ("/users/42/posts/7", "/users/:id/posts/:post", {"id": "42", "post": "7"}),
            ("/users/", None, {}),  # never an empty value
            ("/users//posts/7", None, {}),
            ("/users/42/", None, {}),
            ("/users/42/posts/", None, {}),
            ("/x", None, {}),
            ("/xyz", "/x:tail", {"tail": "yz"}),
        ],
    )


def test_a_catch_all_value_includes_its_leading_slash() -> None:
    """As in Gin: /src/*filepath on /src/a/b gives filepath='/a/b', on /src/ gives '/'."""
    router = router_with(["/src/*filepath", "/src", "/files/:dir/*rest"])
    check_requests(
        router,
        [
            ("/src", "/src", {}),
            ("/src/", "/src/*filepath", {"filepath": "/"}),
            ("/src/a", "/src/*filepath", {"filepath": "/a"}),
            ("/src/a/b/", "/src/*filepath", {"filepath": "/a/b/"}),
            ("/src//a", "/src/*filepath", {"filepath": "//a"}),
            ("/srcx", None, {}),
            ("/files/js", None, {}),
            ("/files/js/", "/files/:dir/*rest", {"dir": "js", "rest": "/"}),
            ("/files/js/app.js", "/files/:dir/*rest", {"dir": "js", "rest": "/app.js"}),
        ],
    )


def test_a_catch_all_at_the_root_takes_every_path() -> None:
    router = router_with(["/*path"])
    check_requests(
        router,
        [
            ("/", "/*path", {"path": "/"}),
            ("/a/b", "/*path", {"path": "/a/b"}),
            ("", None, {}),
            ("a", None, {}),
        ],
    )


def test_paths_are_matched_as_given_without_percent_decoding() -> None:
    router = router_with(["/a%20b", "/files/:name", "/raw/*rest"])
    check_requests(
        router,
        [
            ("/a%20b", "/a%20b", {}),
            ("/a b", None, {}),
            ("/files/a%2Fb", "/files/:name", {"name": "a%2Fb"}),
            ("/files/a/b", None, {}),
            ("/raw/%41/x", "/raw/*rest", {"rest": "/%41/x"}),
        ],
    )


def test_the_match_names_the_registered_pattern_and_params_are_fresh_dicts() -> None:
    router = router_with(["/users/:id", "/ping"])
    first = router.lookup("GET", "/users/1")
    assert first == Match("/users/:id", {"id": "1"}, "/users/:id")
    assert first is not None
    first.params["id"] = "changed"
    assert router.lookup("GET", "/users/1") == Match("/users/:id", {"id": "1"}, "/users/:id")
    ping = router.lookup("GET", "/ping")
    assert ping is not None and ping.params == {}
    ping.params["x"] = "y"
    again = router.lookup("GET", "/ping")
    assert again is not None and again.params == {}


def test_methods_have_separate_trees() -> None:
    router: Router[str] = Router()
    router.add("GET", "/users/:id", "get")
    router.add("POST", "/users", "post")
    router.add("DELETE", "/users/:name", "delete")  # another tree: no name conflict
    assert (m := router.lookup("GET", "/users/7")) is not None and m.handler == "get"
    assert router.lookup("POST", "/users/7") is None
    assert (m := router.lookup("DELETE", "/users/7")) is not None and m.params == {"name": "7"}
    assert router.lookup("PUT", "/users/7") is None
    assert router.lookup("get", "/users/7") is None  # methods are case-sensitive


# -- precedence -----------------------------------------------------------------------------


def test_static_beats_param_at_the_same_position() -> None:
    """Gin 1.8+ / httprouter after 2020: /users/new and /users/:id coexist, static first."""
    for order in (["/users/new", "/users/:id"], ["/users/:id", "/users/new"]):
        check_requests(
            router_with(order),
            [
                ("/users/new", "/users/new", {}),
                ("/users/ne", "/users/:id", {"id": "ne"}),
                ("/users/newt", "/users/:id", {"id": "newt"}),
                ("/users/42", "/users/:id", {"id": "42"}),
            ],
        )


def test_a_failed_static_branch_falls_back_to_the_parameter() -> None:
    """The search backs up past a static child that led nowhere (Gin's skippedNodes)."""
    router = router_with(["/users/new/edit", "/users/:id/posts", "/a/:x/c", "/:y/b/d"])
    check_requests(
        router,
        [
            ("/users/new/edit", "/users/new/edit", {}),
            ("/users/new/posts", "/users/:id/posts", {"id": "new"}),
            ("/a/b/c", "/a/:x/c", {"x": "b"}),
            # /a/... is tried first and fails at its last segment; /:y/b/d then matches.
            ("/a/b/d", "/:y/b/d", {"y": "a"}),
        ],
    )


def test_backtracking_drops_the_values_of_the_abandoned_branch() -> None:
    router = router_with(["/:a/x/:b/y", "/:a/:c/z"])
    check_requests(
        router,
        [
            ("/1/x/2/y", "/:a/x/:b/y", {"a": "1", "b": "2"}),
            ("/1/x/z", "/:a/:c/z", {"a": "1", "c": "x"}),
            ("/1/x/2/z", None, {}),
        ],
    )


def test_the_earliest_position_decides_static_then_param_then_catch_all() -> None:
    """A catch-all shares its position with nothing (that is a conflict), so it competes
    only with routes that branch off earlier, and there the static branch goes first."""
    router = router_with(["/a/b", "/:p/b", "/a/c/*rest", "/:p/:q", "/:p/c/*rest"])
    check_requests(
        router,
        [
            ("/a/b", "/a/b", {}),
            ("/a/c/x", "/a/c/*rest", {"rest": "/x"}),
            ("/a/d", "/:p/:q", {"p": "a", "q": "d"}),
            ("/x/b", "/:p/b", {"p": "x"}),
            ("/x/c/y", "/:p/c/*rest", {"p": "x", "rest": "/y"}),
            # Static 'c' first, which has no route ending there, then the parameter.
            ("/x/c", "/:p/:q", {"p": "x", "q": "c"}),
            ("/a/c", "/:p/:q", {"p": "a", "q": "c"}),
        ],
    )


def test_a_parameter_may_start_mid_segment_beside_static_text() -> None:
    router = router_with(["/user_:name", "/user_x", "/id:id", "/id/:id", "/:id"])
    check_requests(
        router,
        [
            ("/user_x", "/user_x", {}),
            ("/user_xy", "/user_:name", {"name": "xy"}),
            ("/user_", "/:id", {"id": "user_"}),
            ("/id7", "/id:id", {"id": "7"}),
            ("/id/7", "/id/:id", {"id": "7"}),
            ("/id", "/:id", {"id": "id"}),
        ],
    )


# -- conflicts ------------------------------------------------------------------------------

OK, CONFLICT, INVALID = "ok", "conflict", "invalid"

CONFLICT_TABLES: dict[str, list[tuple[str, str]]] = {
    # TestTreeWildcardConflict
    "wildcard": [
        ("/cmd/:tool/:sub", OK),
        ("/cmd/vet", OK),
        ("/foo/bar", OK),
        ("/foo/:name", OK),
        ("/foo/:names", CONFLICT),
        ("/cmd/*path", CONFLICT),
        ("/cmd/:badvar", CONFLICT),
        ("/cmd/:tool/names", OK),
        ("/cmd/:tool/:badsub/details", CONFLICT),
        ("/src/*filepath", OK),
        ("/src/:file", CONFLICT),
        ("/src/static.json", CONFLICT),
        ("/src/*filepathx", CONFLICT),
        ("/src/", CONFLICT),
        ("/src/foo/bar", CONFLICT),
        ("/src1/", OK),
        ("/src1/*filepath", CONFLICT),
        ("/src2*filepath", INVALID),
        ("/src2/*filepath", OK),
        ("/search/:query", OK),
        ("/search/valid", OK),
        ("/user_:name", OK),
        ("/user_x", OK),
        ("/user_:name", CONFLICT),  # Gin lets a nil handler through twice; a route is a route
        ("/id:id", OK),
        ("/id/:id", OK),
        ("/static/*file", OK),
        ("/static/", CONFLICT),
        ("/escape/test\\:d1", OK),
        ("/escape/test\\:d2", OK),
        ("/escape/test:param", OK),
    ],
    # TestTreeChildConflict
    "child": [
        ("/cmd/vet", OK),
        ("/cmd/:tool", OK),
        ("/cmd/:tool/:sub", OK),
        ("/cmd/:tool/misc", OK),
        ("/cmd/:tool/:othersub", CONFLICT),
        ("/src/AUTHORS", OK),
        ("/src/*filepath", CONFLICT),
        ("/user_x", OK),
        ("/user_:name", OK),
        ("/id/:id", OK),
        ("/id:id", OK),
        ("/:id", OK),
        ("/*filepath", CONFLICT),
    ],
    # TestTreeCatchAllConflict and TestCatchAllAfterSlash
    "catch-all": [
        ("/src/*filepath/x", INVALID),
        ("/src2/", OK),
        ("/src2/*filepath/x", INVALID),
        ("/src3/*filepath", OK),
        ("/src3/*filepath/x", INVALID),
        ("/src3", OK),  # the catch-all's own prefix may be a route
        ("/src3/*other", CONFLICT),
        ("/non-leading-*catchall", INVALID),
    ],
    # TestTreeCatchAllConflictRoot
    "catch-all at the root": [("/", OK), ("/*filepath", CONFLICT)],
    "root catch-all first": [
        ("/*filepath", OK),
        ("/", CONFLICT),
        ("/x", CONFLICT),
        ("/:p", CONFLICT),
    ],
    "catch-all after a param": [
        ("/files/:dir/*path", OK),
        ("/files/:dir", OK),
        ("/files/:dir/x", CONFLICT),
        ("/files/:other/*path", CONFLICT),
        ("/files/list", OK),
    ],
    "duplicates": [
        ("/", OK),
        ("/", CONFLICT),
        ("/doc/", OK),
        ("/doc/", CONFLICT),
        ("/src/*filepath", OK),
        ("/src/*filepath", CONFLICT),
        ("/search/:query", OK),
        ("/search/:query", CONFLICT),
        ("/user_:name", OK),
        ("/user_:name", CONFLICT),
        ("/a\\:b", OK),
        ("/a\\:b", CONFLICT),
    ],
}


@pytest.mark.parametrize("table", sorted(CONFLICT_TABLES))
def test_conflicts_are_detected_at_registration(table: str) -> None:
    router: Router[str] = Router()
    for route, expected in CONFLICT_TABLES[table]:
        if expected == OK:
            router.add("GET", route, route)
        elif expected == CONFLICT:
            with pytest.raises(RouteConflictError) as info:
                router.add("GET", route, route)
            assert info.value.route == route
            assert info.value.existing in [r.path for r in router.routes()]
        else:
            with pytest.raises(ValueError) as error:
                router.add("GET", route, route)
            assert not isinstance(error.value, RouteConflictError)
    accepted = [route for route, expected in CONFLICT_TABLES[table] if expected == OK]
    assert [r.path for r in router.routes()] == accepted


@pytest.mark.parametrize(
    ("route", "existing", "words"),
    [
        ("/who/are/foo", "/who/are/*you", "catch-all"),
        ("/who/are/foo/", "/who/are/*you", "catch-all"),
        ("/who/are/foo/bar", "/who/are/*you", "catch-all"),
        ("/who/are/*me", "/who/are/*you", "'*me' is at the same position as '*you'"),
        ("/con:nection", "/con:tact", "':nection' is at the same position as ':tact'"),
        ("/con:nection/x", "/con:tact", "':nection' is at the same position as ':tact'"),
        ("/who/*all", "/who/foo/hello", "catch-all '*all'"),
        ("/con:tact", "/con:tact", "registered twice"),
    ],
)
def test_a_conflict_error_names_both_routes(route: str, existing: str, words: str) -> None:
    """TestTreeWildcardConflictEx: the message says which routes clash and why."""
    router = router_with(["/con:tact", "/who/are/*you", "/who/foo/hello"])
    with pytest.raises(RouteConflictError) as info:
        router.add("GET", route, route)
    message = str(info.value)
    assert f"GET {route!r}" in message
    assert f"GET {existing!r}" in message
    assert words in message
    assert (info.value.method, info.value.route, info.value.existing) == ("GET", route, existing)
    assert isinstance(info.value, ValueError)


def test_a_rejected_route_leaves_the_router_as_it_was() -> None:
    routes = ["/src/foo/bar", "/src/foo", "/users/:id/x", "/s"]
    router = router_with(routes)
    before = {path: find(router, path) for path in ["/src/foo/bar", "/src/foo", "/s", "/src"]}
    for route in ["/src/*filepath", "/users/:name", "/src/foo/*rest", "/s"]:
        with pytest.raises(RouteConflictError):
            router.add("GET", route, route)
        with pytest.raises(RouteConflictError):
            router.add("GET", route, route)  # the same answer the second time
    assert [r.path for r in router.routes()] == routes
    assert len(router) == len(routes)
    for path, match in before.items():
        assert find(router, path) == match
    assert shape(router) == shape(router_with(routes))  # not even a split edge left over
    check_requests(router, [("/users/7/x", "/users/:id/x", {"id": "7"}), ("/src/x", None, {})])


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ("users", "must begin with '/'"),
        ("", "must begin with '/'"),
        ("/user:", "non-empty name"),
        ("/user:/", "non-empty name"),
        ("/cmd/:/", "non-empty name"),
        ("/src/*", "non-empty name"),
        ("/:foo:bar", "only one wildcard per path segment"),
        ("/:foo:bar/", "only one wildcard per path segment"),
        ("/:foo*bar", "only one wildcard per path segment"),
        ("/src/*filepath/x", "only allowed at the end"),
        ("/foo/x*zy", "no '/' before catch-all"),
        ("/foo/b*r", "no '/' before catch-all"),
        ("/:a/:b/:a", "appears twice"),
        ("/:a/*a", "appears twice"),
        ("/r\\x", "invalid escape"),
        ("/r\\", "invalid escape"),
        ("/search?q=1", "query string"),
        ("/page#top", "query string"),
    ],
)
def test_malformed_patterns_raise_value_error_saying_what_to_fix(route: str, words: str) -> None:
    router: Router[str] = Router()
    with pytest.raises(ValueError) as info:
        router.add("GET", route, route)
    assert not isinstance(info.value, RouteConflictError)
    assert words in str(info.value)
    assert repr(route) in str(info.value)
    assert len(router) == 0 and router.lookup("GET", "/") is None


@pytest.mark.parametrize("method", ["", "GE T", "GET\r\n", "GÉT"])
def test_the_method_must_be_a_token(method: str) -> None:
    with pytest.raises(ValueError, match="HTTP method must be a non-empty token"):
        Router[str]().add(method, "/", "x")


def test_escapes_make_literal_colons_and_stars() -> None:
    router = router_with(["/a\\:b", "/s\\*", "/t/:x"])
    check_requests(
        router,
        [
            ("/a:b", "/a\\:b", {}),
            ("/a\\:b", None, {}),
            ("/s*", "/s\\*", {}),
            ("/t/:y", "/t/:x", {"x": ":y"}),
        ],
    )


# -- trailing slash redirects ---------------------------------------------------------------

TSR_ROUTES = [
    "/hi",
    "/b/",
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
    "/admin",
    "/admin/:category",
    "/admin/:category/:page",
    "/doc",
    "/doc/go_faq.html",
    "/doc/go1.html",
    "/no/a",
    "/no/b",
    "/api/:page/:name",
    "/api/hello/:name/bar/",
    "/api/bar/:name",
    "/api/baz/foo",
    "/api/baz/foo/bar",
    "/blog/:p",
    "/posts/:b/:c",
    "/posts/b/:c/d/",
    "/vendor/:x/*y",
]


@pytest.mark.parametrize(
    "path",
    [
        "/hi/",
        "/b",
        "/search/gopher/",
        "/cmd/vet",
        "/src",
        "/x/",
        "/y",
        "/0/go/",
        "/1/go",
        "/a",
        "/admin/",
        "/admin/config/",
        "/admin/config/permissions/",
        "/doc/",
        "/admin/static/",
        "/admin/cfg/",
        "/admin/cfg/users/",
        "/api/hello/x/bar",
        "/api/baz/foo/",
        "/api/baz/bax/",
        "/api/bar/huh/",
        "/api/baz/foo/bar/",
        "/api/world/abc/",
        "/blog/pp/",
        "/posts/b/c/d",
        "/vendor/x",
    ],
)
def test_a_trailing_slash_redirect_is_recommended(path: str) -> None:
    """TestTreeTrailingSlashRedirect: no route, but the other spelling has one."""
    router = router_with(TSR_ROUTES)
    assert find(router, path) is None
    other = path[:-1] if path.endswith("/") else path + "/"
    assert router.trailing_slash_redirect("GET", path) == other
    assert find(router, other) is not None


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/no",
        "/no/",
        "/_",
        "/_/",
        "/api",
        "/api/",
        "/api/hello/x/foo",
        "/api/baz/foo/bad",
        "/foo/p/p",
        "/hi",  # matches as is: nothing to redirect
        "",
        "hi/",
    ],
)
def test_no_trailing_slash_redirect_without_a_route_for_the_other_spelling(path: str) -> None:
    router = router_with(TSR_ROUTES)
    assert router.trailing_slash_redirect("GET", path) is None
    assert router.trailing_slash_redirect("POST", path) is None  # no tree at all


def test_no_redirect_from_the_root_to_a_parameter() -> None:
    """TestTreeRootTrailingSlashRedirect."""
    router = router_with(["/:test"])
    assert find(router, "/") is None
    assert router.trailing_slash_redirect("GET", "/") is None


def test_a_redirect_past_a_parameter_with_children() -> None:
    """TestRedirectTrailingSlash."""
    router = router_with(["/hello/:name", "/hello/:name/123", "/hello/:name/234"])
    assert router.trailing_slash_redirect("GET", "/hello/abx/") == "/hello/abx"


def test_redirects_are_per_method() -> None:
    router: Router[str] = Router()
    router.add("GET", "/foo", "get")
    router.add("POST", "/foo/", "post")
    assert router.trailing_slash_redirect("GET", "/foo/") == "/foo"
    assert router.trailing_slash_redirect("POST", "/foo") == "/foo/"
    assert router.trailing_slash_redirect("POST", "/foo/") is None
    assert router.trailing_slash_redirect("PUT", "/foo") is None


# -- allowed methods ------------------------------------------------------------------------


def test_allowed_lists_the_methods_whose_routes_match_sorted() -> None:
    router: Router[str] = Router()
    router.add("GET", "/users/:id", "a")
    router.add("PUT", "/users/:id", "b")
    router.add("DELETE", "/users/:name", "c")
    router.add("POST", "/users", "d")
    router.add("PATCH", "/users/me", "e")
    router.add("OPTIONS", "/static/*path", "f")
    assert router.allowed("/users/7") == ["DELETE", "GET", "PUT"]
    assert router.allowed("/users/me") == ["DELETE", "GET", "PATCH", "PUT"]
    assert router.allowed("/users") == ["POST"]
    assert router.allowed("/static/") == ["OPTIONS"]
    assert router.allowed("/nothing") == []
    assert router.allowed("users/7") == []
    assert router.allowed("*") == ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"]
    assert Router[str]().allowed("*") == []


def test_routes_lists_every_route_in_registration_order() -> None:
    router: Router[int] = Router()
    router.add("GET", "/b", 1)
    router.add("POST", "/a/:x", 2)
    router.add("GET", "/a/*rest", 3)
    expected = [Route("GET", "/b", 1), Route("POST", "/a/:x", 2), Route("GET", "/a/*rest", 3)]
    assert router.routes() == expected
    assert len(router) == 3
    assert "3 routes" in repr(router)


# -- properties -----------------------------------------------------------------------------

# Static paths from a tiny alphabet, so that they share long prefixes and split nodes
# in every possible place; '/' included so segments come and go.
static_paths = st.text(alphabet="ab/.", max_size=10).map(lambda s: "/" + s)


@FAST
@given(routes=st.sets(static_paths, min_size=1, max_size=40), probes=st.lists(static_paths))
def test_every_static_route_finds_itself_and_nothing_else_matches(
    routes: set[str], probes: list[str]
) -> None:
    router = router_with(sorted(routes, key=lambda r: r[::-1]))  # not in sorted order
    for route in routes:
        assert find(router, route) == Match(route, {}, route)
    for probe in probes:
        if probe not in routes:
            assert find(router, probe) is None


# Routes as segments: ("s", word) static, ("p", "") a parameter, ("c", "") a catch-all
# (last only). Parameter names are positional (p0, p1, ...), so two parameters at the
# same depth never clash by name; catch-alls can clash, and those clashes are checked
# against a predicate of their own.
Segment = tuple[str, str]
WORDS = ["a", "b", "ab", "ba", "aab"]
segment = st.one_of(st.sampled_from([("s", w) for w in WORDS]), st.just(("p", "")))
route_segments = st.tuples(st.lists(segment, min_size=1, max_size=4), st.booleans()).map(
    lambda t: (*t[0][:-1], ("c", "")) if t[1] else tuple(t[0])
)


def pattern(segs: tuple[Segment, ...]) -> str:
    out = []
    for i, (kind, word) in enumerate(segs):
        out.append(word if kind == "s" else f":p{i}" if kind == "p" else "*rest")
    return "/" + "/".join(out)


def reference_match(
    routes: list[tuple[Segment, ...]], path: str
) -> tuple[str, dict[str, str]] | None:
    """Brute force: every route that matches, then the one that is static earliest, then
    param before catch-all, position by position."""
    parts = path[1:].split("/")
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for segs in routes:
        params: dict[str, str] = {}
        rank: list[int] = []
        for i, (kind, word) in enumerate(segs):
            if kind == "c":
                if len(parts) <= i:
                    break
                params["rest"] = "/" + "/".join(parts[i:])
                rank.append(2)
                continue
            if i >= len(parts) or (kind == "s" and parts[i] != word) or not parts[i]:
                break
            if kind == "p":
                params[f"p{i}"] = parts[i]
            rank.append(0 if kind == "s" else 1)
        else:
            if segs[-1][0] != "c" and len(parts) != len(segs):
                continue
            key = tuple(rank)
            if best is None or key < best[0]:
                best = (key, pattern(segs), params)
    return None if best is None else (best[1], best[2])


def clashes(new: tuple[Segment, ...], old: tuple[Segment, ...]) -> bool:
    """Whether two segment routes must conflict: the same route, or a catch-all and
    another route below the catch-all's position."""
    if new == old:
        return True
    for a, b in ((new, old), (old, new)):
        if a[-1][0] == "c":
            i = len(a) - 1
            if len(b) > i and b[:i] == a[:i]:
                return True
    return False


@FAST
@given(
    candidates=st.lists(route_segments, min_size=1, max_size=12),
    probes=st.lists(st.lists(st.sampled_from([*WORDS, "x", "xa", ""]), min_size=1, max_size=5)),
)
def test_lookups_agree_with_a_brute_force_matcher(
    candidates: list[tuple[Segment, ...]], probes: list[list[str]]
) -> None:
    router: Router[str] = Router()
    accepted: list[tuple[Segment, ...]] = []
    for segs in candidates:
        expect_conflict = any(clashes(segs, old) for old in accepted)
        try:
            router.add("GET", pattern(segs), pattern(segs))
        except RouteConflictError:
            assert expect_conflict, (
                f"{pattern(segs)} rejected beside {list(map(pattern, accepted))}"
            )
        else:
            assert not expect_conflict, f"{pattern(segs)} accepted beside {accepted}"
            accepted.append(segs)
    for probe in probes:
        path = "/" + "/".join(probe)
        expected = reference_match(accepted, path)
        match = find(router, path)
        if expected is None:
            assert match is None, f"{path}: {match}, expected no match"
        else:
            assert match is not None, f"{path}: no match, expected {expected}"
            assert (match.route, match.params) == expected


@FAST
@given(
    candidates=st.lists(route_segments, min_size=1, max_size=12),
    values=st.lists(st.text(alphabet="xyz019-_.~%", min_size=1, max_size=6), min_size=4),
)
def test_parameters_extract_exactly_the_segment_values(
    candidates: list[tuple[Segment, ...]], values: list[str]
) -> None:
    """Fill every route's wildcards with values no static word matches: the route itself
    must come back, with each value under its own name."""
    router: Router[str] = Router()
    for segs in candidates:
        try:
            router.add("GET", pattern(segs), pattern(segs))
        except RouteConflictError:
            continue
        parts: list[str] = []
        expected: dict[str, str] = {}
        for i, (kind, word) in enumerate(segs):
            if kind == "s":
                parts.append(word)
            elif kind == "p":
                parts.append(values[i])
                expected[f"p{i}"] = values[i]
            else:
                parts.append(values[i] + "/" + values[i - 1])
                expected["rest"] = "/" + values[i] + "/" + values[i - 1]
        match = find(router, "/" + "/".join(parts))
        assert match is not None
        assert (match.route, match.params) == (pattern(segs), expected)
