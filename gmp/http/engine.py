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

    app.run(port=8080)                     # or: gmp serve mymodule:app

An Engine is a server handler (``engine(request) -> Response``), so ``gmp.http.Server``
and ``gmp serve`` run it like any other. Per request it looks the path up in the
radix-tree router (:mod:`gmp.http.router`), builds a :class:`~gmp.http.Context` and runs
the route's chain in the request's G (see :mod:`gmp.http.context` for plain and
``async def`` chains).

Misses go through the engine's global middleware too, so they are logged like any
request (Gin's ``allNoRoute``): a path that matches for another method is a 405 with
``Allow`` (Gin's ``HandleMethodNotAllowed``, on by default here); ``OPTIONS`` on such a
path is a 204 with ``Allow`` (httprouter's ``HandleOPTIONS``); a path that would match
with its trailing slash added or removed is redirected, 301 for GET and HEAD and 307
otherwise, query string kept (Gin's ``RedirectTrailingSlash``); anything else is a 404.
``HEAD`` falls back to the ``GET`` route when it has none of its own (Go 1.22's
``ServeMux`` does this; the server drops the body).

Routes take Gin's positional form, ``app.get("/p", mw, handler)``, or the decorator form,
``@app.get("/p")``; ``@app.get("/p", mw)`` also works and reads as it looks: ``mw`` is route
middleware and the decorated function the handler (``middleware=[mw]`` says the same).

Where this differs from Gin, on purpose: middleware added with ``use()`` applies to every
route of its group, also those registered before the call (Gin copies the chain at
registration, so order of calls matters there); chains are compiled once, when the first
request arrives, after which adding routes or middleware raises, because lookups run on
many threads without a lock (Gin documents the same rule without enforcing it).

Paths are matched on the raw request path when it contains percent-escapes, so ``%2F``
in a parameter cannot split a segment; parameter values are then unescaped (Gin's
``UseRawPath`` with ``UnescapePathValues``). A static route that only matches the
decoded path is still found (the decoded path is tried second).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, overload
from urllib.parse import unquote

from gmp.http.context import Chain, Context, HandlerFunc
from gmp.http.errors import MethodNotAllowed, NotFound
from gmp.http.request import Request
from gmp.http.router import Router

__all__ = ["ANY_METHODS", "Engine", "RouterGroup"]

F = TypeVar("F", bound=Callable[..., Any])

ANY_METHODS = ("GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE")
"""The methods ``any()`` registers (Gin's ``anyMethods``)."""


def join_paths(prefix: str, relative: str) -> str:
    """``prefix`` + ``relative`` with one '/' between, keeping ``relative``'s trailing
    slash (Gin's ``joinPaths``)."""
    if not relative:
        return prefix
    if not prefix or prefix == "/":
        joined = relative if relative.startswith("/") else "/" + relative
        return joined
    joined = prefix.rstrip("/") + "/" + relative.lstrip("/")
    if relative == "/" and not prefix.endswith("/"):
        return prefix + "/"
    return joined


def _check_handler(what: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be callable (def or async def taking a Context), got {fn!r}")


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
        self._engine._check_open(f"add a handler to route {self._route.pattern!r}")
        _check_handler("the decorated handler", fn)
        self._route.elements = (*self._route.elements, fn)
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
        """Add middleware to every route of this group (and of its subgroups)."""
        self.engine._check_open("add middleware")
        for mw in middleware:
            _check_handler("middleware", mw)
        self.middleware.extend(middleware)
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


class Engine(RouterGroup):
    """The application: router, middleware and settings (Gin's ``gin.Engine``).

    ``Engine()`` has no middleware (``gin.New``); :meth:`default` adds RequestID, Logger
    and Recovery (``gin.Default``, plus request ids). Settings:

    - ``redirect_trailing_slash`` (True): redirect ``/foo/`` to ``/foo`` when only that
      matches, and the reverse;
    - ``handle_method_not_allowed`` (True): 405 with ``Allow`` instead of 404;
    - ``handle_options`` (True): answer ``OPTIONS`` with 204 and ``Allow``;
    - ``head_fallback`` (True): ``HEAD`` uses the ``GET`` route when it has none;
    - ``trusted_proxies``: addresses or networks (``"10.0.0.0/8"``) whose
      ``X-Forwarded-For`` :attr:`Context.client_ip` believes; none by default.
    """

    def __init__(
        self,
        *,
        redirect_trailing_slash: bool = True,
        handle_method_not_allowed: bool = True,
        handle_options: bool = True,
        head_fallback: bool = True,
        trusted_proxies: Iterable[str] | None = None,
    ) -> None:
        super().__init__(None, "", None)
        self._engine = self
        self.redirect_trailing_slash = redirect_trailing_slash
        self.handle_method_not_allowed = handle_method_not_allowed
        self.handle_options = handle_options
        self.head_fallback = head_fallback
        self.trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for net in trusted_proxies or ():
            try:
                self.trusted_proxies.append(ipaddress.ip_network(net, strict=False))
            except ValueError as e:
                raise ValueError(
                    f"trusted_proxies: {net!r} is not an address or network: {e}"
                ) from None
        self._router: Router[_Route] = Router()
        self._routes: list[tuple[str, _Route]] = []
        self._no_route: tuple[HandlerFunc, ...] = ()
        self._no_method: tuple[HandlerFunc, ...] = ()
        self._frozen = False
        self._freeze_lock = threading.Lock()
        self._miss: dict[str, Chain] = {}
        self._lookup = self._router.lookup

    @classmethod
    def default(cls, **settings: Any) -> Engine:
        """An engine with RequestID, Logger and Recovery (Gin's ``gin.Default``)."""
        from gmp.http.middleware import Logger, Recovery, RequestID

        engine = cls(**settings)
        engine.use(RequestID(), Logger(), Recovery())
        return engine

    # -- registration ----------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._frozen:
            raise RuntimeError(
                f"cannot {what} after the engine started serving: register every route "
                f"and middleware before the first request (lookups run on many threads)"
            )

    def _add_routes(
        self, methods: list[str], path: str, group: RouterGroup, elements: tuple[HandlerFunc, ...]
    ) -> _Route:
        self._check_open(f"add route {path!r}")
        if not methods:
            raise ValueError(f"no HTTP method given for route {path!r}")
        route = _Route(group, elements, path)
        added: list[str] = []
        try:
            for method in methods:
                if not isinstance(method, str):
                    raise TypeError(f"HTTP method must be a str, got {method!r}")
                self._router.add(method.upper(), path, route)
                added.append(method.upper())
        except BaseException:
            if added:  # all or nothing: rebuild from the routes accepted before this one
                self._rebuild()
            raise
        for method in added:
            self._routes.append((method, route))
        return route

    def _rebuild(self) -> None:
        router: Router[_Route] = Router()
        for method, r in self._routes:
            router.add(method, r.pattern, r)
        self._router = router
        self._lookup = router.lookup

    def no_route(self, *handlers: HandlerFunc) -> None:
        """Handlers for requests no route matches, after the global middleware (Gin's
        ``NoRoute``). Without them, a 404 JSON error."""
        self._check_open("set no_route handlers")
        for h in handlers:
            _check_handler("a no_route handler", h)
        self._no_route = tuple(handlers)

    def no_method(self, *handlers: HandlerFunc) -> None:
        """Handlers for a path that matches only for other methods (Gin's ``NoMethod``).
        Without them, a 405 JSON error with ``Allow``."""
        self._check_open("set no_method handlers")
        for h in handlers:
            _check_handler("a no_method handler", h)
        self._no_method = tuple(handlers)

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

        The first requests may arrive on several Ms at once: one compiles under the
        lock while the others wait, and ``_frozen`` is set only once every chain is in
        place, so a request that sees it set finds them all."""
        if self._frozen:
            return
        with self._freeze_lock:
            if not self._is_frozen():  # another M may have compiled meanwhile
                self._compile()

    def _is_frozen(self) -> bool:
        return self._frozen

    def _compile(self) -> None:
        glob = list(self.middleware)
        for _, route in self._routes:
            if route.chain is None:
                elements = [*route.group._chain_middleware(), *route.elements]
                route.chain = Chain(elements, route.pattern)
        self._miss = {
            "404": Chain([*glob, *(self._no_route or (_not_found,))], ""),
            "405": Chain([*glob, *(self._no_method or (_method_not_allowed,))], ""),
            "options": Chain([*glob, _options], ""),
            "redirect": Chain([*glob, _redirect], ""),
        }
        self._frozen = True

    # -- serving -------------------------------------------------------------------

    def __call__(self, req: Request) -> Any:
        """Handle one request: a Response, or a coroutine when the chain is async."""
        if not self._frozen:
            self.freeze()
        method = req.method
        path = req.path
        raw = None
        target = req.target
        if b"%" in target:
            raw = target.split(b"?", 1)[0].decode("latin-1")
            match = self._lookup(method, raw)
        else:
            match = self._lookup(method, path)
        if match is None:
            match = self._fallback(method, path, raw)
            if match is None:
                return self._miss_response(req, method, raw or path)
        elif raw is not None and match.params:
            match.params = {k: unquote(v) for k, v in match.params.items()}
        route = match.handler
        chain = route.chain
        assert chain is not None
        c = Context(req, match.params, chain, self)
        if chain.all_sync:
            c._run_sync()
            return c.response()
        return c._start_async()

    def _fallback(self, method: str, path: str, raw: str | None) -> Any:
        lookup = self._lookup
        match = None
        if raw is not None:
            match = lookup(method, path)  # a static route spelled decoded
        if match is None and method == "HEAD" and self.head_fallback:
            match = lookup("GET", raw if raw is not None else path)
            if match is None and raw is not None:
                match = lookup("GET", path)
            if match is not None and raw is not None and match.params:
                match.params = {k: unquote(v) for k, v in match.params.items()}
        return match

    def _miss_response(self, req: Request, method: str, path: str) -> Any:
        router = self._router
        kind = "404"
        if self.redirect_trailing_slash and method != "CONNECT":
            lookup_method = method
            if method == "HEAD" and self.head_fallback and router.lookup("HEAD", path) is None:
                lookup_method = "GET"
            if router.trailing_slash_redirect(lookup_method, path) is not None:
                kind = "redirect"
        if kind == "404":
            allowed = self.allowed_methods(path)
            if allowed:
                if method == "OPTIONS" and self.handle_options:
                    kind = "options"
                elif self.handle_method_not_allowed:
                    kind = "405"
        c = Context(req, {}, self._miss[kind], self)
        if c._chain.all_sync:
            c._run_sync()
            return c.response()
        return c._start_async()

    def allowed_methods(self, path: str) -> list[str]:
        """The methods with a route for ``path`` (``HEAD`` implied by ``GET`` and
        ``OPTIONS`` by any, when those fallbacks are on), for ``Allow``."""
        allowed = set(self._router.allowed(path))
        if allowed:
            if "GET" in allowed and self.head_fallback:
                allowed.add("HEAD")
            if self.handle_options:
                allowed.add("OPTIONS")
        return sorted(allowed)

    def run(self, host: str = "127.0.0.1", port: int = 8080, **options: Any) -> int:
        """Serve on ``host:port`` until SIGINT/SIGTERM (Gin's ``Run``); ``options`` go to
        :class:`gmp.http.ServerConfig` (``procs``, ``max_inflight``, ...)."""
        from gmp.http.server import Server

        return Server(self, host=host, port=port, **options).run()

    def __repr__(self) -> str:
        return f"<Engine: {len(self._routes)} routes, {len(self.middleware)} middleware>"


def _miss_path(c: Context) -> str:
    target = c.request.target
    if b"%" in target:
        return target.split(b"?", 1)[0].decode("latin-1")
    return c.request.path


def _not_found(c: Context) -> None:
    raise NotFound(f"no route for {c.request.method} {c.request.path}")


def _method_not_allowed(c: Context) -> None:
    engine = c.engine
    assert engine is not None
    allowed = engine.allowed_methods(_miss_path(c))
    raise MethodNotAllowed(
        f"method {c.request.method} is not allowed for {c.request.path}; allowed: "
        + ", ".join(allowed),
        headers={"allow": ", ".join(allowed)},
    )


def _options(c: Context) -> None:
    engine = c.engine
    assert engine is not None
    c.status(204)
    c.header("allow", ", ".join(engine.allowed_methods(_miss_path(c))))


def _redirect(c: Context) -> None:
    engine = c.engine
    assert engine is not None
    req = c.request
    path = _miss_path(c)
    method = req.method
    if method == "HEAD" and engine.head_fallback and engine._router.lookup("HEAD", path) is None:
        method = "GET"
    other = engine._router.trailing_slash_redirect(method, path)
    if other is None or other.startswith("//"):  # "//host" would leave the site
        raise NotFound(f"no route for {req.method} {req.path}")
    location = other + ("?" + req.query if req.query else "")
    c.redirect(301 if req.method in ("GET", "HEAD") else 307, location)
