"""The router: one radix tree per HTTP method, mapping request paths to handlers.

This is Gin's router (``tree.go``, itself httprouter's ``tree.go`` by Julien Schmidt) in
Python. A route pattern is a path with three kinds of segments::

    /users/new                 static text, matched character for character
    /users/:id                 a parameter: one or more characters up to the next '/'
    /static/*filepath          a catch-all, last in the pattern: everything from the
                               '/' before it to the end, that '/' included

``Router.add(method, pattern, handler)`` registers a route; ``Router.lookup(method,
path)`` returns a :class:`Match` (the handler, the parameter values, the pattern) or
``None``. ``Router.allowed(path)`` lists the methods whose routes match ``path`` (for a
405 and its ``Allow`` header) and ``Router.trailing_slash_redirect(method, path)`` says
whether the path with its trailing slash added or removed would match (Gin's
``RedirectTrailingSlash``, httprouter's ``tsr``).

Why a radix tree
----------------
Lookup cost must not grow with the number of routes. A list of compiled regular
expressions is tried route by route; a radix (compressed prefix) tree is walked by the
characters of the path instead. Each node holds a run of static text shared by every
route below it, and its static children are keyed by their first character, so each step
is one ``str.startswith`` and one dict lookup, and a lookup costs about the same with 10
routes or 1,000 (``python -m bench.router_bench`` measures it).

Routes without wildcards are also kept in a dict from path to route, per method, and
:meth:`Router.lookup` tries it first (sanic-routing does the same): one hash lookup in C
instead of a walk in Python. It answers exactly what the walk would, because a route
that is static all the way is the first one the static-first search reaches; every
other lookup walks the tree.

Precedence (Gin since 1.7: gin#2663, a port of httprouter#329 from 2020)
-------------------------------------------------------------------------
A static segment and a parameter may share a position, e.g. ``/users/new`` beside
``/users/:id``. At each position the search tries the static child first, then the
parameter, then a catch-all; if a branch fails further down, it backs up and tries the
next one (Gin's ``getValue`` does this with its ``skippedNodes`` stack). So
``/users/new`` goes to ``/users/new``, ``/users/newt`` and ``/users/42`` to
``/users/:id``. A catch-all shares its position with nothing (that is a conflict, as in
Gin), so it only ever loses to routes that branch off before it: with ``/a/c/*rest`` and
``/:p/:q``, ``/a/c/x`` goes to the catch-all and ``/a/c`` to ``/:p/:q``.

The search is a complete depth-first search in that order, so whenever some route
matches a path, the first one in that order is found. Gin's backtracking gives up in a
few corner cases where a route does match: for ``/cmd/whoami/`` with routes
``/cmd/whoami`` and ``/cmd/:tool/`` it recommends a redirect to ``/cmd/whoami``; here
``/cmd/:tool/`` matches.

Each node is reached at exactly one position in the path (static edges have a fixed
length, a parameter always runs to the next '/'), so backtracking visits a node at most
once: a lookup is linear in the size of the tree in the worst case and in the length of
the path in the usual one.

Conflicts (checked at registration, as ``addRoute``/``insertChild`` do)
-----------------------------------------------------------------------
:class:`RouteConflictError` (a ``ValueError``) names both routes when:

- the same pattern is registered twice for a method;
- two parameters with different names sit at the same position (``/users/:id`` and
  ``/users/:name/posts``): a lookup could not say which name the value belongs to;
- a catch-all shares its position with anything else: ``/src/*filepath`` takes every
  path below ``/src/``, so it conflicts with ``/src/``, ``/src/:file``,
  ``/src/static.json`` and ``/src/*other``. ``/src`` itself may coexist with it.

A pattern that is malformed on its own raises a plain ``ValueError`` saying what to fix:
it must start with '/'; wildcards need a name, one per segment (``/:a:b``), unique in
the pattern; a catch-all must be last and follow a '/'; no query string or fragment. A
literal ':' or '*' is written ``\\:`` or ``\\*`` (Gin accepts ``\\:``).

Where this differs from Gin, on purpose
---------------------------------------
- A parameter never matches an empty value: ``/users/:id`` does not match ``/users/``.
- No priority counters. httprouter counts routes per child and keeps the most used first
  (``incrementChildPrio``) so its linear scan of ``indices`` stops early; a dict keyed by
  the first character makes that scan O(1) in Python.
- Trailing-slash recommendations are computed by looking up the other spelling of the
  path, only after a miss, instead of inside the walk: the hot path stays lean, the
  answer is exact, and a miss is the slow path anyway.

Percent-encoding
----------------
Paths are matched exactly as given: the router decodes nothing. ``/a%20b`` matches the
pattern ``/a%20b`` and not ``/a b``, and a parameter value keeps its escapes
(``/files/:name`` on ``/files/a%2Fb`` gives ``name='a%2Fb'``). The caller chooses: pass
the raw request path so an encoded '/' cannot split a segment, then unquote parameter
values (``urllib.parse.unquote``) if the application wants them decoded, which is what
Gin does with ``UseRawPath`` and ``UnescapePathValues``.

Concurrency
-----------
Register routes before serving (Gin's ``addRoute`` is "not concurrency-safe" either).
Lookups only read the tree, so any number of Ms may look up at once.
"""

from __future__ import annotations

import string
from typing import Final, Generic, TypeVar

import attrs

__all__ = ["Match", "Route", "RouteConflictError", "Router", "clean_path"]

H = TypeVar("H")

# The characters RFC 9110 allows in a method token ("tchar").
_TCHAR: Final = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)

# Token kinds of a parsed pattern.
_STATIC: Final = 0
_PARAM: Final = 1
_CATCH_ALL: Final = 2


class RouteConflictError(ValueError):
    """Two routes for the same method would compete for the same requests.

    ``route`` is the pattern being added, ``existing`` a registered pattern it conflicts
    with, ``reason`` what is wrong; the message names both and says what to change.
    """

    def __init__(self, method: str, route: str, existing: str, reason: str) -> None:
        self.method = method
        self.route = route
        self.existing = existing
        self.reason = reason
        super().__init__(
            f"route {method} {route!r} conflicts with existing route "
            f"{method} {existing!r}: {reason}"
        )


@attrs.define
class Match(Generic[H]):
    """A successful lookup: what to run, with which path parameters, for which route.

    ``params`` maps each ``:name`` and ``*name`` of the route to its value, as found in
    the path (not percent-decoded); a catch-all's value starts with '/', as in Gin.
    ``route`` is the registered pattern (``/users/:id``), for logs and metrics. Each
    lookup returns a new Match with its own dict, so the caller may keep or change it.
    """

    handler: H
    params: dict[str, str]
    route: str


@attrs.frozen
class Route(Generic[H]):
    """A registered route, as :meth:`Router.routes` lists them (Gin's ``RouteInfo``)."""

    method: str
    path: str
    handler: H


@attrs.define(eq=False)
class _Leaf(Generic[H]):
    """Where a route ends: its handler, its pattern, its wildcard names in order and its
    parsed tokens (kept to rebuild the tree)."""

    handler: H
    route: str
    names: tuple[str, ...]
    tokens: tuple[tuple[int, str], ...]


@attrs.define(eq=False)
class _Node(Generic[H]):
    """A node of a method's tree (``node`` in tree.go).

    ``prefix`` is the static text this node consumes; it is empty only for the root and
    for the node a parameter leads to. ``children`` are the static children keyed by the
    first character of their prefix (tree.go's ``indices`` plus ``children``). ``param``
    is the node reached by consuming one parameter value at this position; its ``name``
    is the parameter's name. ``catch_all`` is the route whose ``*name`` starts at the
    '/' following this node's text. ``leaf`` is the route ending exactly here.

    Invariants the lookup relies on: every pattern starts with '/', and a node with a
    ``catch_all`` has no static child starting with '/'. A parameter cannot match at a
    '/' and a catch-all only matches at a '/', so at any position the search has at
    most two candidates: the static child and the parameter, or one of the static child
    and the catch-all.
    """

    prefix: str
    name: str = ""
    children: dict[str, _Node[H]] = attrs.Factory(dict)
    param: _Node[H] | None = None
    catch_all: _Leaf[H] | None = None
    leaf: _Leaf[H] | None = None


def _parse(path: str) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
    """Split a pattern into static text, parameter and catch-all tokens.

    Mirrors ``findWildcard``/``insertChild``'s checks in tree.go; the '/' before a
    catch-all is left out of the preceding static text because the catch-all's value
    includes it. Returns the tokens and the wildcard names in order.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"route path must begin with '/': got {path!r}")
    tokens: list[tuple[int, str]] = []
    names: list[str] = []
    text: list[str] = []
    i = 0
    end = len(path)
    while i < end:
        ch = path[i]
        if ch == "\\":
            if i + 1 < end and path[i + 1] in ":*":
                text.append(path[i + 1])
                i += 2
                continue
            raise ValueError(
                f"invalid escape in route path {path!r}: only '\\:' and '\\*' may be "
                f"escaped (a literal ':' or '*')"
            )
        if ch in "?#":
            raise ValueError(
                f"route path {path!r} contains {ch!r}: routes match the path only, "
                f"without query string or fragment"
            )
        if ch != ":" and ch != "*":
            text.append(ch)
            i += 1
            continue
        stop = path.find("/", i + 1)
        if stop < 0:
            stop = end
        name = path[i + 1 : stop]
        if not name:
            raise ValueError(
                f"wildcards must be named with a non-empty name in route path {path!r}: "
                f"write {ch}name"
            )
        if ":" in name or "*" in name:
            raise ValueError(
                f"only one wildcard per path segment is allowed, has {ch + name!r} in "
                f"route path {path!r}"
            )
        if name in names:
            raise ValueError(
                f"wildcard name {name!r} appears twice in route path {path!r}: "
                f"each parameter needs its own name"
            )
        names.append(name)
        if ch == ":":
            if text:
                tokens.append((_STATIC, "".join(text)))
                text.clear()
            tokens.append((_PARAM, name))
            i = stop
            continue
        if stop != end:
            raise ValueError(
                f"catch-all routes are only allowed at the end of the path: "
                f"{'*' + name!r} in route path {path!r} is followed by {path[stop:]!r}"
            )
        if not text or text[-1] != "/":
            raise ValueError(
                f"no '/' before catch-all {'*' + name!r} in route path {path!r}: "
                f"a catch-all takes whole segments, write .../*{name}"
            )
        text.pop()
        if text:
            tokens.append((_STATIC, "".join(text)))
            text.clear()
        tokens.append((_CATCH_ALL, name))
        i = end
    if text:
        tokens.append((_STATIC, "".join(text)))
    return tuple(tokens), tuple(names)


def _some_route(node: _Node[H]) -> str:
    """Any route registered at or below ``node``, to name in a conflict message."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.leaf is not None:
            return n.leaf.route
        if n.catch_all is not None:
            return n.catch_all.route
        stack.extend(n.children.values())
        if n.param is not None:
            stack.append(n.param)
    raise AssertionError("a tree node without any route below it")  # pragma: no cover


def _insert_static(node: _Node[H], text: str, method: str, leaf: _Leaf[H]) -> _Node[H]:
    """Walk (and extend) the tree along ``text``; return the node where it ends.

    tree.go's ``addRoute`` loop: follow the child for the next character, split a child
    whose prefix only partly matches (the "split edge" step), and add a new child for
    what is left.
    """
    while text:
        first = text[0]
        child = node.children.get(first)
        if child is None:
            if first == "/" and node.catch_all is not None:
                raise RouteConflictError(
                    method,
                    leaf.route,
                    node.catch_all.route,
                    "the catch-all already takes every path at this position; "
                    "remove one of the two routes or move one under another prefix",
                )
            new: _Node[H] = _Node(text)
            node.children[first] = new
            return new
        prefix = child.prefix
        limit = min(len(prefix), len(text))
        i = 1
        while i < limit and prefix[i] == text[i]:
            i += 1
        if i < len(prefix):
            # Split the edge: a new node holds the common part, the old child the rest.
            upper: _Node[H] = _Node(prefix[:i])
            child.prefix = prefix[i:]
            upper.children[prefix[i]] = child
            node.children[first] = upper
            child = upper
        node = child
        text = text[i:]
    return node


def _insert(root: _Node[H], method: str, leaf: _Leaf[H]) -> None:
    """Add ``leaf``'s route to the tree, raising :class:`RouteConflictError` on a clash."""
    node = root
    for kind, text in leaf.tokens:
        if kind == _STATIC:
            node = _insert_static(node, text, method, leaf)
        elif kind == _PARAM:
            param = node.param
            if param is None:
                param = _Node("", name=text)
                node.param = param
            elif param.name != text:
                raise RouteConflictError(
                    method,
                    leaf.route,
                    _some_route(param),
                    f"parameter ':{text}' is at the same position as ':{param.name}'; "
                    f"use the same name in both routes",
                )
            node = param
        else:
            existing = node.catch_all
            if existing is not None:
                reason = (
                    "the same route is registered twice"
                    if existing.route == leaf.route
                    else f"catch-all '*{text}' is at the same position as "
                    f"'*{existing.names[-1]}'; use the same name in both routes"
                )
                raise RouteConflictError(method, leaf.route, existing.route, reason)
            slash = node.children.get("/")
            if slash is not None:
                raise RouteConflictError(
                    method,
                    leaf.route,
                    _some_route(slash),
                    f"catch-all '*{text}' would take every path at this position, "
                    f"including the existing route's; remove one of the two routes or "
                    f"move one under another prefix",
                )
            node.catch_all = leaf
            return
    if node.leaf is not None:
        raise RouteConflictError(
            method, leaf.route, node.leaf.route, "the same route is registered twice"
        )
    node.leaf = leaf


def _search(root: _Node[H], path: str) -> Match[H] | None:
    """Find the route for ``path``: a static-first depth-first walk (tree.go's ``getValue``).

    The hot path, written for CPython: it walks by index into ``path`` instead of
    slicing it; a child found by its first character needs no ``startswith`` when its
    prefix is that one character; the params dict is created at the first wildcard, not
    before; and a fallback (the parameter beside a static child that was taken) is
    remembered only where one exists, in ``pending``, Gin's ``skippedNodes``. Backing up
    drops the values set since with ``popitem``: a dict pops in reverse insertion order,
    and names along one branch of the tree are unique.

    Every node other than the root and a parameter's node is entered through its parent's
    ``children``, so its prefix is checked before entering and ``pos`` is past it on
    arrival; the root and parameter nodes have empty prefixes.
    """
    node = root
    pos = 0
    end = len(path)
    params: dict[str, str] | None = None
    pending: list[tuple[_Node[H], int, int]] | None = None
    while True:
        while True:
            if pos == end:
                leaf = node.leaf
                if leaf is None:
                    break
                return Match(leaf.handler, {} if params is None else params, leaf.route)
            ch = path[pos]
            child = node.children.get(ch)
            if child is not None:
                prefix = child.prefix
                if len(prefix) == 1 or path.startswith(prefix, pos):
                    if ch != "/" and node.param is not None:
                        if pending is None:
                            pending = []
                        pending.append((node.param, pos, len(params) if params else 0))
                    pos += len(prefix)
                    node = child
                    continue
            if ch == "/":
                # No static child starts with '/' (or it did not match): a catch-all's turn.
                leaf = node.catch_all
                if leaf is None:
                    if pos == end - 1 and node.leaf is not None:
                        # Only a trailing '/' is left after a route: that is a
                        # trailing-slash redirect, not a reason to back up to a
                        # parameter (tree.go's getValue stops the same way, tsr=true).
                        return None
                    break
                if params is None:
                    params = {}
                params[leaf.names[-1]] = path[pos:]
                return Match(leaf.handler, params, leaf.route)
            param = node.param
            if param is None:
                break
            stop = path.find("/", pos)
            if stop < 0:
                stop = end
            if params is None:
                params = {param.name: path[pos:stop]}
            else:
                params[param.name] = path[pos:stop]
            pos = stop
            node = param
        # Dead end: back up to the most recent parameter passed over for a static child.
        if not pending:
            return None
        node, pos, kept = pending.pop()
        if params is None:
            params = {}
        else:
            while len(params) > kept:
                params.popitem()
        stop = path.find("/", pos)
        if stop < 0:
            stop = end
        params[node.name] = path[pos:stop]
        pos = stop


def clean_path(path: str) -> str:
    """The canonical form of a URL path (httprouter's ``CleanPath``, Gin's ``cleanPath``).

    Rooted; runs of '/' become one; ``.`` segments go, and ``..`` removes the segment
    before it (never above the root); a trailing '/' is kept (and added when the path
    ends in ``.`` or ``..``, which name a directory). Go's ``path.Clean`` would drop the
    trailing slash, which for a router is a different route. The common case, a path
    that is already clean, is returned as is without building a new string.
    """
    if not path:
        return "/"
    if (
        path[0] == "/"
        and "//" not in path
        and "/." not in path  # no '.' or '..' segment (a name starting with '.' is rare)
    ):
        return path
    segments = path.split("/")
    last = len(segments) - 1
    trailing = len(path) > 1 and path[-1] == "/"
    kept: list[str] = []
    for i, seg in enumerate(segments):
        if not seg:
            continue
        if seg == ".":
            trailing = trailing or i == last
            continue
        if seg == "..":
            if kept:
                kept.pop()
            trailing = trailing or i == last
            continue
        kept.append(seg)
    out = "/" + "/".join(kept)
    if trailing and len(out) > 1:
        out += "/"
    return out


def _fold_equal(a: str, b: str) -> bool:
    """``a`` and ``b`` equal ignoring case, character by character (Go's
    ``strings.EqualFold``; ``str.lower`` of a whole string may change its length)."""
    if a == b:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x != y and x.lower() != y.lower() and x.upper() != y.upper():
            return False
    return True


def _search_fold(node: _Node[H], path: str, pos: int, out: list[str], fix_slash: bool) -> bool:
    """Find a route for ``path[pos:]`` ignoring the case of static text; append the
    route's own spelling of each static part (parameter values as given) to ``out``.

    tree.go's ``findCaseInsensitivePathRec``, as a depth-first search in the order
    of :func:`_search`: a child spelled exactly as the path first, then children that
    differ only in case, then the parameter, then the catch-all. With ``fix_slash``, a
    missing trailing '/' is added and an extra one removed when that finds a route.
    Only the miss path calls it (Gin's ``RedirectFixedPath``).
    """
    end = len(path)
    if pos == end:
        if node.leaf is not None:
            return True
        if fix_slash:
            slash = node.children.get("/")
            if (slash is not None and slash.prefix == "/" and slash.leaf is not None) or (
                node.catch_all is not None
            ):
                out.append("/")
                return True
        return False
    ch = path[pos]
    rest = end - pos
    # The exact first character, then the other case(s) of it.
    keys = [ch] + [k for k in node.children if k != ch and _fold_equal(k, ch)]
    for key in keys:
        child = node.children.get(key)
        if child is None:
            continue
        prefix = child.prefix
        n = len(prefix)
        if rest >= n and _fold_equal(path[pos : pos + n], prefix):
            out.append(prefix)
            if _search_fold(child, path, pos + n, out, fix_slash):
                return True
            out.pop()
        elif (
            fix_slash
            and rest == n - 1
            and prefix[-1] == "/"
            and child.leaf is not None
            and _fold_equal(path[pos:], prefix[:-1])
        ):
            out.append(prefix)  # the route has a trailing '/' the path lacks
            return True
    if ch == "/":
        if node.catch_all is not None:
            out.append(path[pos:])
            return True
        return bool(fix_slash and rest == 1 and node.leaf is not None)  # drop the '/'
    param = node.param
    if param is not None:
        stop = path.find("/", pos)
        if stop < 0:
            stop = end
        out.append(path[pos:stop])
        if _search_fold(param, path, stop, out, fix_slash):
            return True
        out.pop()
    return False


class Router(Generic[H]):
    """Routes by method and path to handlers of type ``H``, one radix tree per method.

    ``H`` is whatever the caller stores (a handler, a middleware chain); the router never
    calls it. See the module docstring for patterns, precedence and conflicts.
    """

    __slots__ = ("_routes", "_static", "_trees")

    def __init__(self) -> None:
        self._trees: dict[str, _Node[H]] = {}
        # Per method, the routes without wildcards by their (unescaped) path.
        self._static: dict[str, dict[str, _Leaf[H]]] = {}
        self._routes: list[tuple[str, _Leaf[H]]] = []

    def add(self, method: str, path: str, handler: H) -> None:
        """Register ``handler`` for ``method`` requests whose path matches ``path``.

        Raises ``ValueError`` for a malformed method or pattern and
        :class:`RouteConflictError` when the route clashes with a registered one; either
        way the router is left exactly as it was.
        """
        if not isinstance(method, str) or not method or not _TCHAR.issuperset(method):
            raise ValueError(f"HTTP method must be a non-empty token such as 'GET': got {method!r}")
        tokens, names = _parse(path)
        leaf = _Leaf(handler, path, names, tokens)
        root = self._trees.get(method)
        if root is None:
            root = _Node("")
        try:
            _insert(root, method, leaf)
        except RouteConflictError:
            # Splitting edges on the way down may already have reshaped the tree; the
            # lookups it answers are unchanged, but rebuild it so its shape is exactly
            # that of the routes that were accepted.
            self._rebuild(method)
            raise
        self._trees[method] = root
        static = self._static.setdefault(method, {})
        if len(tokens) == 1 and tokens[0][0] == _STATIC:
            static[tokens[0][1]] = leaf
        self._routes.append((method, leaf))

    def _rebuild(self, method: str) -> None:
        root: _Node[H] = _Node("")
        for m, leaf in self._routes:
            if m == method:
                _insert(root, method, leaf)
        if method in self._trees:
            self._trees[method] = root

    def static_handlers(self) -> dict[str, dict[str, H]]:
        """The handlers of the routes without parameters, by method and exact path: the
        first look of a lookup, without making a :class:`Match` (the engine's hot path).
        A snapshot: later registrations are not in it."""
        return {
            method: {path: leaf.handler for path, leaf in leaves.items()}
            for method, leaves in self._static.items()
        }

    def lookup(self, method: str, path: str) -> Match[H] | None:
        """The route ``method path`` goes to, with its parameters, or ``None``.

        ``path`` is matched as given (see "Percent-encoding" in the module docstring);
        a path that does not start with '/' matches nothing.
        """
        static = self._static.get(method)
        if static is None:
            return None
        leaf = static.get(path)
        if leaf is not None:
            return Match(leaf.handler, {}, leaf.route)
        return _search(self._trees[method], path)

    def allowed(self, path: str) -> list[str]:
        """The methods, sorted, with a route matching ``path``: the ``Allow`` header of
        a 405 response (Gin's ``HandleMethodNotAllowed``).

        ``"*"`` (the ``OPTIONS *`` request target) gets every method with a route, as in
        httprouter's ``allowed``.
        """
        if path == "*":
            return sorted(self._trees)
        return sorted(m for m, root in self._trees.items() if _search(root, path) is not None)

    def trailing_slash_redirect(self, method: str, path: str) -> str | None:
        """The path to redirect to when ``path`` has no route but would have one with its
        trailing slash removed (``/foo/`` -> ``/foo``) or added (``/foo`` -> ``/foo/``).

        httprouter's ``tsr`` recommendation, behind Gin's ``RedirectTrailingSlash``: the
        caller redirects (301 for GET, 307 otherwise, as Gin does) and keeps the query
        string. ``None`` when ``path`` itself matches or neither spelling does. Meant for
        the miss path: it costs a lookup.
        """
        root = self._trees.get(method)
        if root is None or not path.startswith("/") or _search(root, path) is not None:
            return None
        if path.endswith("/"):
            if len(path) == 1:
                return None
            other = path[:-1]
        else:
            other = path + "/"
        return other if _search(root, other) is not None else None

    def fixed_path(self, method: str, path: str, *, fix_trailing_slash: bool = True) -> str | None:
        """The registered spelling of ``path`` when it matches a route of ``method`` only
        case-insensitively (``/USERS/42`` -> ``/users/42``), or with its trailing slash
        added or removed when ``fix_trailing_slash``; ``None`` when no route is found.

        tree.go's ``findCaseInsensitivePath``, behind Gin's ``RedirectFixedPath``: the
        caller cleans the path first (:func:`clean_path`) and redirects to the answer.
        Parameter values and catch-all text keep the case they had in ``path``. Meant
        for the miss path; lookups that match never get here.
        """
        root = self._trees.get(method)
        if root is None or not path.startswith("/"):
            return None
        out: list[str] = []
        if _search_fold(root, path, 0, out, fix_trailing_slash):
            return "".join(out)
        return None

    def routes(self) -> list[Route[H]]:
        """Every registered route, in registration order (Gin's ``Engine.Routes``)."""
        return [Route(method, leaf.route, leaf.handler) for method, leaf in self._routes]

    def __len__(self) -> int:
        return len(self._routes)

    def __repr__(self) -> str:
        return f"<Router: {len(self._routes)} routes, methods {sorted(self._trees)}>"
