"""The Gin-like framework: :class:`Engine` (``gin.New``), route groups, middleware chains.

::

    from gmp.http import Context, Engine

    app = Engine.default()                 # gin.Default(): RequestID, Logger, Recovery

    @app.get("/users/:id")
    def get_user(c: Context) -> None:
        c.json(200, {"id": c.param("id", int)})

    api = app.group("/api", auth)          # a prefix and its own middleware
    @api.post("/items")
    async def create(c: Context) -> dict:  # async def works too; return a dict for JSON
        item = c.bind_json(Item)           # 400 with every problem listed on bad input
        return {"created": item.name}

    app.run(port=8000)                     # or: gmp serve mymodule:app

An Engine is a server handler (``engine(request) -> Response``), so ``gmp.http.Server``
and ``gmp serve`` run it like any other. Per request it looks the path up in the
radix-tree router (:mod:`gmp.http.router`), builds a :class:`~gmp.http.Context` and runs
the route's chain in the request's G (see :mod:`gmp.http.context` for plain and
``async def`` chains).

Misses go through the engine's global middleware too, so they are logged like any
request (Gin's ``allNoRoute``): a path that matches for another method is a 405 with
``Allow`` (Gin's ``HandleMethodNotAllowed``, on by default here); ``OPTIONS`` on such a
path is a 204 with ``Allow`` (httprouter's ``HandleOPTIONS``); a path that would match
with its trailing slash added or removed is redirected, 301 for GET and 307 otherwise
(HEAD too), query string kept (Gin's ``RedirectTrailingSlash``), and with
``redirect_fixed_path`` so is a path that matches once cleaned and compared ignoring
case (Gin's ``RedirectFixedPath``); anything else is a 404. The 404 and 405 chains
start with that status and write the default body only if nothing else was written and
the status was left alone (Gin's ``serveError``).
``HEAD`` falls back to the ``GET`` route when it has none of its own (Go 1.22's
``ServeMux`` does this; the server drops the body).

Routes take Gin's positional form, ``app.get("/p", mw, handler)``, or the decorator form,
``@app.get("/p")``; ``@app.get("/p", mw)`` also works and reads as it looks: ``mw`` is route
middleware and the decorated function the handler (``middleware=[mw]`` says the same).

Where this differs from Gin, on purpose: middleware added with ``use()`` applies to every
route of its group, also those registered before the call (Gin copies the chain at
registration, so order of calls matters there). Routes and middleware may be added at
any time, also while serving: the first request compiles the chains into a table, and
each later change builds a new table and swaps it in with one assignment, so a request
never sees a half-changed tree (Gin documents its ``addRoute`` as unsafe while
serving).

Paths are matched on the raw request path when it contains percent-escapes, so ``%2F``
in a parameter cannot split a segment; parameter values are then unescaped (Gin's
``UseRawPath`` with ``UnescapePathValues``; ``use_raw_path=False`` routes on the
decoded path as Gin does by default). A static route that only matches the decoded
path is still found (the decoded path is tried second).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, overload
from urllib.parse import unquote

from gmp.http.context import Chain, Context, HandlerFunc
from gmp.http.request import Request
from gmp.http.router import Router, clean_path

__all__ = ["ANY_METHODS", "OPERATIONAL_ROUTES", "Engine", "RouterGroup"]

F = TypeVar("F", bound=Callable[..., Any])

OPERATIONAL_ROUTES = frozenset(
    ("/livez", "/readyz", "/startupz", "/healthz", "/metrics", "/debug/sched", "/debug/page")
)
"""The default paths of ``mount_health``, ``mount_metrics`` and ``mount_debug``: every
engine starts with them in :attr:`Engine.operational_routes`."""

ANY_METHODS = ("GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE")
"""The methods ``any()`` registers (Gin's ``anyMethods``)."""


def join_paths(prefix: str, relative: str) -> str:
    """``prefix`` and ``relative`` joined and cleaned, keeping ``relative``'s trailing
    slash (Gin's ``joinPaths``: ``path.Join``, then the '/' put back).

    ``join_paths("/a/", "/hola//")`` is ``/a/hola/``; ``..`` and ``.`` are resolved."""
    if not relative:
        return prefix
    joined = clean_path(prefix + "/" + relative)
    if len(joined) > 1 and joined.endswith("/") and not relative.endswith("/"):
        joined = joined[:-1]  # clean_path keeps a '/' that "." or ".." implied
    return joined


def _check_handler(what: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be callable (def or async def taking a Context), got {fn!r}")


_PERCENT = ord("%")
"""``b"%" in target`` as a byte value: ``bytes.__contains__`` with an int skips the buffer
protocol a bytes needle goes through, 18 ns instead of 168 (an Engine request pays it)."""


class _Route:
    """A registered route before and after compilation: its group, own elements, chain."""

    __slots__ = ("chain", "elements", "group", "pattern")

    def __init__(self, group: RouterGroup, elements: tuple[HandlerFunc, ...], pattern: str):
        self.group = group
        self.elements = elements
        self.pattern = pattern
        self.chain: Chain | None = None


class _Registered:
    """What the positional form (``app.get(path, mw, handler)``) returns.

    ``@app.get("/x", auth)`` reads as "a route with middleware ``auth``", but the
    positional form registered ``auth`` as the handler. Applied to a function as a
    decorator, this object makes that reading true: the route's elements become the
    positional ones, as route middleware, then the decorated function as the handler.
    """

    __slots__ = ("_engine", "_route")

    def __init__(self, engine: Engine, route: _Route) -> None:
        self._engine = engine
        self._route = route

    def __call__(self, fn: F) -> F:
        _check_handler("the decorated handler", fn)
        engine = self._engine
        with engine._lock:
            self._route.elements = (*self._route.elements, fn)
            engine._changed()
        return fn


class RouterGroup:
    """Routes sharing a path prefix and middleware (Gin's ``RouterGroup``).

    Made by :meth:`Engine.group` or :meth:`RouterGroup.group`; the engine itself is the
    root group. Register with the method decorators (``@g.get(path)``) or Gin's
    positional form (``g.get(path, middleware..., handler)``).
    """

    def __init__(self, engine: Engine | None, prefix: str, parent: RouterGroup | None) -> None:
        if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
            raise ValueError(f"a group prefix must be a path starting with '/', got {prefix!r}")
        self._engine = engine
        self.prefix = prefix
        self.parent = parent
        self.middleware: list[HandlerFunc] = []

    @property
    def engine(self) -> Engine:
        engine = self._engine
        assert engine is not None
        return engine

    def use(self, *middleware: HandlerFunc) -> RouterGroup:
        """Add middleware to every route of this group (and of its subgroups), also
        those registered before; while serving, the change is swapped in atomically."""
        engine = self.engine
        for mw in middleware:
            _check_handler("middleware", mw)
        with engine._lock:
            self.middleware.extend(middleware)
            engine._changed()
        return self

    def group(self, prefix: str, *middleware: HandlerFunc) -> RouterGroup:
        """A subgroup under ``prefix`` with its own middleware (Gin's ``Group``)."""
        g = RouterGroup(self.engine, join_paths(self.prefix, prefix), self)
        if middleware:
            g.use(*middleware)
        return g

    def _chain_middleware(self) -> list[HandlerFunc]:
        groups: list[RouterGroup] = []
        g: RouterGroup | None = self
        while g is not None:
            groups.append(g)
            g = g.parent
        out: list[HandlerFunc] = []
        for g in reversed(groups):
            out.extend(g.middleware)
        return out

    def handle(self, method: str | Sequence[str], path: str, *handlers: HandlerFunc) -> None:
        """Register ``handlers`` (route middleware first, the handler last) for ``method``
        (or several) on ``path`` below this group's prefix (Gin's ``Handle``).

        Raises ``ValueError`` for a malformed pattern and
        :class:`~gmp.http.router.RouteConflictError` when it clashes with a route.
        """
        self._handle_route(method, path, *handlers)

    def _handle_route(
        self, method: str | Sequence[str], path: str, *handlers: HandlerFunc
    ) -> _Route:
        if not handlers:
            raise TypeError(f"no handler given for route {path!r}")
        for h in handlers:
            _check_handler("a handler", h)
        if not isinstance(path, str):
            raise TypeError(f"route path must be a str, got {type(path).__name__}")
        methods = [method] if isinstance(method, str) else list(method)
        full = join_paths(self.prefix, path)
        return self.engine._add_routes(methods, full, self, tuple(handlers))

    def _register(
        self,
        methods: str | Sequence[str],
        path: str,
        handlers: tuple[HandlerFunc, ...],
        middleware: Iterable[HandlerFunc] | None,
    ) -> Any:
        if handlers:
            if middleware:
                raise TypeError(
                    "pass route middleware either positionally before the handler or as "
                    "middleware=[...] with the decorator form, not both"
                )
            return _Registered(self.engine, self._handle_route(methods, path, *handlers))
        mws = tuple(middleware or ())

        def decorator(fn: F) -> F:
            self.handle(methods, path, *mws, fn)
            return fn

        return decorator

    @overload
    def get(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def get(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def get(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """``@g.get(path)`` or ``g.get(path, *middleware, handler)``: a GET route."""
        return self._register("GET", path, handlers, middleware)

    @overload
    def post(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def post(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def post(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """A POST route (decorator or Gin's positional form)."""
        return self._register("POST", path, handlers, middleware)

    @overload
    def put(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def put(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def put(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """A PUT route."""
        return self._register("PUT", path, handlers, middleware)

    @overload
    def patch(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def patch(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def patch(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """A PATCH route."""
        return self._register("PATCH", path, handlers, middleware)

    @overload
    def delete(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def delete(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def delete(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """A DELETE route."""
        return self._register("DELETE", path, handlers, middleware)

    @overload
    def head(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def head(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def head(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """A HEAD route (without one, HEAD uses the GET route)."""
        return self._register("HEAD", path, handlers, middleware)

    @overload
    def options(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def options(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def options(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """An OPTIONS route (without one, OPTIONS answers 204 with ``Allow``)."""
        return self._register("OPTIONS", path, handlers, middleware)

    @overload
    def any(
        self, path: str, *, middleware: Iterable[HandlerFunc] | None = None
    ) -> Callable[[F], F]: ...

    @overload
    def any(self, path: str, handler: HandlerFunc, /, *handlers: HandlerFunc) -> Any: ...

    def any(
        self, path: str, *handlers: HandlerFunc, middleware: Iterable[HandlerFunc] | None = None
    ) -> Any:
        """The route for every method in :data:`ANY_METHODS` (Gin's ``Any``)."""
        return self._register(ANY_METHODS, path, handlers, middleware)

    @overload
    def route(
        self,
        path: str,
        methods: Sequence[str],
        *,
        middleware: Iterable[HandlerFunc] | None = None,
    ) -> Callable[[F], F]: ...

    @overload
    def route(
        self, path: str, methods: Sequence[str], handler: HandlerFunc, /, *handlers: HandlerFunc
    ) -> Any: ...

    def route(
        self,
        path: str,
        methods: Sequence[str],
        *handlers: HandlerFunc,
        middleware: Iterable[HandlerFunc] | None = None,
    ) -> Any:
        """The route for the given ``methods`` (Gin's ``Match``)."""
        if isinstance(methods, str):
            methods = [methods]
        return self._register(list(methods), path, handlers, middleware)

    def __repr__(self) -> str:
        return f"<RouterGroup {self.prefix or '/'!r}: {len(self.middleware)} middleware>"


class _Table:
    """What serving reads: a router of compiled chains and the miss chains. Built
    whole and swapped in with one assignment, so a request sees one table or the next,
    never a tree being changed (Gin documents ``addRoute`` as not concurrency-safe; we
    rebuild instead)."""

    __slots__ = ("lookup", "miss", "router", "static")

    def __init__(self, router: Router[Chain], miss: dict[str, Chain]) -> None:
        self.router = router
        self.lookup = router.lookup
        self.miss = miss
        # Routes without parameters by method and exact path: most requests end here,
        # without the Match a lookup makes (0.2 us of the engine's 0.8 us per request).
        self.static: dict[str, dict[str, Chain]] = router.static_handlers()


class Engine(RouterGroup):
    """The application: router, middleware and settings (Gin's ``gin.Engine``).

    ``Engine()`` has no middleware (``gin.New``); :meth:`default` adds RequestID, Logger
    and Recovery (``gin.Default``, plus request ids); :meth:`gin` has Gin's defaults
    for every setting below. Settings (Gin's field in brackets):

    - ``redirect_trailing_slash`` (True) [``RedirectTrailingSlash``]: redirect ``/foo/``
      to ``/foo`` when only that matches, and the reverse;
    - ``redirect_fixed_path`` (False) [``RedirectFixedPath``]: on a miss, clean the path
      (``/../a//b`` -> ``/a/b``) and look it up ignoring case; redirect to the route's
      spelling when that finds one;
    - ``remove_extra_slash`` (False) [``RemoveExtraSlash``]: clean the path before
      routing, so ``//a//b`` is served by ``/a/b`` without a redirect;
    - ``use_raw_path`` (True; Gin: False) [``UseRawPath``]: route on the path as sent,
      percent-escapes kept, so ``%2F`` in a value cannot split a segment;
    - ``unescape_path_values`` (True) [``UnescapePathValues``]: percent-decode parameter
      values matched on the raw path;
    - ``handle_method_not_allowed`` (True; Gin: False) [``HandleMethodNotAllowed``]: 405
      with ``Allow`` instead of 404;
    - ``handle_options`` (True; Gin: none): answer ``OPTIONS`` with 204 and ``Allow``;
    - ``head_fallback`` (True; Gin: none): ``HEAD`` uses the ``GET`` route when it has none;
    - ``error_format`` (``"json"``; Gin: ``"text"``): the default 404/405 body,
      ``{"error": ...}`` or Gin's ``404 page not found``;
    - ``trusted_proxies`` [``SetTrustedProxies``]: addresses or networks
      (``"10.0.0.0/8"``) whose ``X-Forwarded-For`` :attr:`Context.client_ip` believes.
    """

    def __init__(
        self,
        *,
        redirect_trailing_slash: bool = True,
        redirect_fixed_path: bool = False,
        remove_extra_slash: bool = False,
        use_raw_path: bool = True,
        unescape_path_values: bool = True,
        handle_method_not_allowed: bool = True,
        handle_options: bool = True,
        head_fallback: bool = True,
        error_format: str = "json",
        trusted_proxies: Iterable[str] | None = None,
    ) -> None:
        super().__init__(None, "", None)
        self._engine = self
        if error_format not in ("json", "text"):
            raise ValueError(f"error_format must be 'json' or 'text', got {error_format!r}")
        self.redirect_trailing_slash = redirect_trailing_slash
        self.redirect_fixed_path = redirect_fixed_path
        self.remove_extra_slash = remove_extra_slash
        self.use_raw_path = use_raw_path
        self.unescape_path_values = unescape_path_values
        self.handle_method_not_allowed = handle_method_not_allowed
        self.handle_options = handle_options
        self.head_fallback = head_fallback
        self.error_format = error_format
        self.trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for net in trusted_proxies or ():
            try:
                self.trusted_proxies.append(ipaddress.ip_network(net, strict=False))
            except ValueError as e:
                raise ValueError(
                    f"trusted_proxies: {net!r} is not an address or network: {e}"
                ) from None
        # Registration state, changed under _lock only; requests read _table.
        self._router: Router[_Route] = Router()
        self._routes: list[tuple[str, _Route]] = []
        self._no_route: tuple[HandlerFunc, ...] = ()
        self._no_method: tuple[HandlerFunc, ...] = ()
        self._lock = threading.RLock()
        self._table: _Table | None = None
        self.operational_routes: set[str] = set(OPERATIONAL_ROUTES)
        """Route patterns of probes, metrics and debug pages: RateLimit exempts them."""

    @classmethod
    def default(cls, **settings: Any) -> Engine:
        """An engine with RequestID, Logger and Recovery (Gin's ``gin.Default``)."""
        from gmp.http.middleware import Logger, Recovery, RequestID

        engine = cls(**settings)
        engine.use(RequestID(), Logger(), Recovery())
        return engine

    @classmethod
    def gin(cls, **settings: Any) -> Engine:
        """An engine with Gin's defaults: no 405 (a 404 instead), no automatic
        ``OPTIONS`` or ``HEAD``, routing on the decoded path, text error bodies.
        ``settings`` override any of them."""
        merged: dict[str, Any] = {
            "handle_method_not_allowed": False,
            "handle_options": False,
            "head_fallback": False,
            "use_raw_path": False,
            "error_format": "text",
        }
        merged.update(settings)
        return cls(**merged)

    @property
    def logs_requests(self) -> bool:
        """Whether a :class:`~gmp.http.Logger` among the engine's middleware writes an
        access line for every request (misses included); the server then writes none
        of its own, so each request is logged once."""
        from gmp.http.middleware.logger import Logger

        return any(isinstance(mw, Logger) for mw in self.middleware)

    # -- registration ----------------------------------------------------------------

    def _changed(self) -> None:
        """Registration changed: once serving, build the next table and swap it in."""
        if self._table is not None:
            self._compile()

    def _add_routes(
        self, methods: list[str], path: str, group: RouterGroup, elements: tuple[HandlerFunc, ...]
    ) -> _Route:
        if not methods:
            raise ValueError(f"no HTTP method given for route {path!r}")
        for method in methods:
            _check_method(method, path)
        route = _Route(group, elements, path)
        with self._lock:
            added: list[str] = []
            try:
                for method in methods:
                    self._router.add(method, path, route)
                    added.append(method)
            except BaseException:
                if added:  # all or nothing: rebuild from the routes accepted before this one
                    self._rebuild()
                raise
            for method in added:
                self._routes.append((method, route))
            self._changed()
        return route

    def _rebuild(self) -> None:
        router: Router[_Route] = Router()
        for method, r in self._routes:
            router.add(method, r.pattern, r)
        self._router = router

    def no_route(self, *handlers: HandlerFunc) -> None:
        """Handlers for requests no route matches, after the global middleware (Gin's
        ``NoRoute``). They start with status 404; if they write nothing and leave the
        status alone, the default 404 body is written (Gin's ``serveError``)."""
        for h in handlers:
            _check_handler("a no_route handler", h)
        with self._lock:
            self._no_route = tuple(handlers)
            self._changed()

    def no_method(self, *handlers: HandlerFunc) -> None:
        """Handlers for a path that matches only for other methods (Gin's ``NoMethod``).
        They start with status 405 and the ``Allow`` header set; as for
        :meth:`no_route`, the default body is written only if they write nothing."""
        for h in handlers:
            _check_handler("a no_method handler", h)
        with self._lock:
            self._no_method = tuple(handlers)
            self._changed()

    def routes(self) -> list[tuple[str, str, str]]:
        """Every route as ``(method, path, handler name)`` (Gin's ``Routes``)."""
        from gmp.http.context import handler_name

        return [(m, r.pattern, handler_name(r.elements[-1])) for m, r in self._routes]

    def is_trusted(self, address: str) -> bool:
        """Whether ``address`` is one of the ``trusted_proxies``."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)

    def freeze(self) -> None:
        """Compile every chain now (the first request does it otherwise).

        Not a freeze any more: routes and middleware may still be added, and each
        change after this builds a new table that replaces the old one atomically."""
        if self._table is None:
            with self._lock:
                if self._table is None:  # another M may have compiled meanwhile
                    self._compile()

    def _compile(self) -> _Table:
        """Build the serving table from the registered routes (under ``_lock``)."""
        glob = list(self.middleware)
        router: Router[Chain] = Router()
        chains: dict[int, Chain] = {}
        for method, route in self._routes:
            chain = chains.get(id(route))
            if chain is None:
                elements = [*route.group._chain_middleware(), *route.elements]
                chain = chains[id(route)] = Chain(elements, route.pattern)
            router.add(method, route.pattern, chain)
        miss = {
            "404": Chain([*glob, *self._no_route, _default_404], ""),
            "405": Chain([*glob, *self._no_method, _default_405], ""),
            "options": Chain([*glob, _options], ""),
            "redirect": Chain([*glob, _redirect], ""),
        }
        table = _Table(router, miss)
        self._table = table
        return table

    def _serving_table(self) -> _Table:
        table = self._table
        if table is None:
            with self._lock:
                table = self._table
                if table is None:
                    table = self._compile()
        return table

    # -- serving -------------------------------------------------------------------

    def __call__(self, req: Request) -> Any:
        """Handle one request: a Response, or a coroutine when the chain is async.

        Gin's ``handleHTTPRequest``: pick the path to route on, look it up, run the
        chain; on a miss, a trailing-slash or fixed-path redirect, else 405, else 404."""
        table = self._table
        if table is None:
            table = self._serving_table()
        method = req.method
        path = req.path
        raw = None
        if self.use_raw_path:
            target = req.target
            if _PERCENT in target:
                raw = target.split(b"?", 1)[0].decode("latin-1")
        rpath = path if raw is None else raw
        if self.remove_extra_slash:
            rpath = clean_path(rpath)
        static = table.static.get(method)
        chain = static.get(rpath) if static is not None else None
        if chain is not None:
            params: dict[str, str] = {}
        else:
            match = table.lookup(method, rpath)
            if match is None:
                match = self._fallback(table, method, path, rpath, raw)
                if match is None:
                    return self._miss_response(table, req, method, rpath)
            elif raw is not None and match.params and self.unescape_path_values:
                match.params = {k: unquote(v) for k, v in match.params.items()}
            chain = match.handler
            params = match.params
        c = Context(req, params, chain, self)
        if chain.all_sync:
            c._run_sync()
            return c.response()
        return c._start_async()

    def _fallback(self, table: _Table, method: str, path: str, rpath: str, raw: str | None) -> Any:
        lookup = table.lookup
        match = None
        if raw is not None:
            decoded = clean_path(path) if self.remove_extra_slash else path
            match = lookup(method, decoded)  # a static route spelled decoded
        if match is None and method == "HEAD" and self.head_fallback:
            match = lookup("GET", rpath)
            if match is None and raw is not None:
                match = lookup("GET", path)
            if match is not None and raw is not None and match.params and self.unescape_path_values:
                match.params = {k: unquote(v) for k, v in match.params.items()}
        return match

    def _miss_kind(self, table: _Table, method: str, path: str) -> tuple[str, str | None]:
        """Which miss this is, and where to redirect (Gin's ``handleHTTPRequest`` order:
        trailing-slash redirect, fixed-path redirect, 405, 404)."""
        router = table.router
        if method != "CONNECT" and path != "/":
            tree = method
            if method == "HEAD" and self.head_fallback and router.lookup("HEAD", path) is None:
                tree = "GET"
            if self.redirect_trailing_slash:
                other = router.trailing_slash_redirect(tree, path)
                if other is not None:
                    return "redirect", other
            if self.redirect_fixed_path:
                fixed = router.fixed_path(tree, clean_path(path))
                if fixed is not None and fixed != path:
                    return "redirect", fixed
        allowed = self.allowed_methods(path, table)
        if allowed:
            if method == "OPTIONS" and self.handle_options:
                return "options", None
            if self.handle_method_not_allowed:
                return "405", None
        return "404", None

    def _miss_response(self, table: _Table, req: Request, method: str, path: str) -> Any:
        kind, _ = self._miss_kind(table, method, path)
        c = Context(req, {}, table.miss[kind], self)
        if kind == "404":
            c._status = 404
        elif kind == "405":
            c._status = 405
            c.header("Allow", ", ".join(self.allowed_methods(path, table)))
        if c._chain.all_sync:
            c._run_sync()
            if kind in ("404", "405"):
                _serve_error(c, kind)
            return c.response()
        if kind in ("404", "405"):
            return _serve_error_async(c, kind)
        return c._start_async()

    def allowed_methods(self, path: str, table: _Table | None = None) -> list[str]:
        """The methods with a route for ``path`` (``HEAD`` implied by ``GET`` and
        ``OPTIONS`` by any, when those fallbacks are on), for ``Allow``."""
        if table is None:
            table = self._serving_table()
        allowed = set(table.router.allowed(path))
        if allowed:
            if "GET" in allowed and self.head_fallback:
                allowed.add("HEAD")
            if self.handle_options:
                allowed.add("OPTIONS")
        return sorted(allowed)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> int:
        """Serve on ``host:port`` until SIGINT/SIGTERM (Gin's ``Run``); ``options`` go to
        :class:`gmp.http.ServerConfig` (``procs``, ``max_inflight``, ...).

        If the program has not configured structlog, it is configured as ``gmp serve``
        does, so the server's lines and the access lines share one format."""
        import structlog

        from gmp.http.server import Server

        if not structlog.is_configured():
            from gmp.http.cli import configure_logging

            configure_logging()
        return Server(self, host=host, port=port, **options).run()

    def __repr__(self) -> str:
        return f"<Engine: {len(self._routes)} routes, {len(self.middleware)} middleware>"


def _check_method(method: object, path: str) -> None:
    """Gin's ``Handle`` check: a method is upper-case letters only (``[A-Z]+``)."""
    if not isinstance(method, str):
        raise TypeError(f"HTTP method must be a str, got {method!r} (route {path!r})")
    if not method or not method.isascii() or not method.isalpha() or not method.isupper():
        hint = f"; did you mean {method.upper()!r}?" if method.isalpha() else ""
        raise ValueError(
            f"HTTP method must be upper-case letters such as 'GET', got {method!r} "
            f"(route {path!r}){hint}"
        )


def _miss_path(c: Context) -> str:
    engine = c.engine
    target = c.request.target
    if (engine is None or engine.use_raw_path) and _PERCENT in target:
        path = target.split(b"?", 1)[0].decode("latin-1")
    else:
        path = c.request.path
    if engine is not None and engine.remove_extra_slash:
        path = clean_path(path)
    return path


_TEXT_BODIES = {404: b"404 page not found", 405: b"405 method not allowed"}


def _default_body(c: Context, code: int) -> None:
    engine = c.engine
    if engine is not None and engine.error_format == "text":
        c.data(code, "text/plain", _TEXT_BODIES[code])
        return
    req = c.request
    if code == 404:
        detail = f"no route for {req.method} {req.path}"
    else:
        allowed = c.response_header("allow") or ""
        detail = f"method {req.method} is not allowed for {req.path}; allowed: {allowed}"
    c.json(code, {"error": detail})


def _default_404(c: Context) -> None:
    """The last element of the 404 chain: the default body, written only when nothing
    was written and the status is still 404 (Gin's ``serveError``). Being in the
    chain, the Logger sees its size; :func:`_serve_error` covers an aborted chain."""
    if not c.written and c._status == 404:
        _default_body(c, 404)


def _default_405(c: Context) -> None:
    """The last element of the 405 chain (see :func:`_default_404`)."""
    if not c.written and c._status == 405:
        _default_body(c, 405)


def _serve_error(c: Context, kind: str) -> None:
    """After a 404/405 chain that was aborted before its end: Gin's ``serveError``
    writes the default body if nothing was written and the status is unchanged."""
    code = 404 if kind == "404" else 405
    if not c.written and c._status == code:
        _default_body(c, code)


async def _serve_error_async(c: Context, kind: str) -> Any:
    c._in_async = True
    await c._run_async()
    _serve_error(c, kind)
    return c.response()


def _options(c: Context) -> None:
    engine = c.engine
    assert engine is not None
    c.status(204)
    c.header("allow", ", ".join(engine.allowed_methods(_miss_path(c))))


def _redirect(c: Context) -> None:
    """Gin's ``redirectTrailingSlash``/``redirectFixedPath`` and ``redirectRequest``:
    301 for GET, 307 for every other method (HEAD too), query string kept."""
    engine = c.engine
    assert engine is not None
    req = c.request
    _, other = engine._miss_kind(engine._serving_table(), req.method, _miss_path(c))
    if other is None or other.startswith("//"):  # "//host" would leave the site
        c.status(404)
        _default_body(c, 404)
        return
    location = other + ("?" + req.query if req.query else "")
    c.redirect(301 if req.method == "GET" else 307, location)
