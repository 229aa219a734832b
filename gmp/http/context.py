"""The per-request :class:`Context` and the middleware chain it runs (Gin's ``gin.Context``).

A request matched to a route gets a Context holding the request, the route's path
parameters, a response under construction and the route's *chain*: the engine's
middleware, its groups' middleware, the route's own middleware, then the handler. Each
element is called with the Context. Gin's rules:

- ``c.next()`` runs the rest of the chain, then returns to the caller, which can work
  after it (a Logger measures latency around it). An element that does not call it lets
  the chain continue after it returns (Gin's ``Next`` loop).
- ``c.abort()`` stops the chain after the current element; the current one finishes.
  ``abort_with_status_json(code, obj)`` also writes the response.
- An :class:`~gmp.http.errors.HTTPError` raised by an element becomes its response and
  aborts the chain, caught by the ``next()`` that called the element, so outer
  middleware sees the status, as if the element had written it.

Two ways to run a chain
-----------------------
Elements may be plain ``def`` or ``async def``. A chain of plain functions runs as one
blocking call of the connection's G (``gmp.syscall``): one function call per element, and
a handler that blocks (a database driver, ``time.sleep``) costs its thread, not its P,
because sysmon hands the P of a blocked call on. A chain with any ``async def`` element
is awaited in the G and ``c.next()`` returns an awaitable (``await c.next()``). In such a
chain a plain-``def`` handler at the end runs through :func:`gmp.syscall`, so it may
still block.

Mixed chains work in any order. A plain middleware followed by ``async def`` elements
runs as a blocking call too, and its ``c.next()`` (not awaited: it is a plain function)
runs the rest of the chain as a coroutine G and waits for it, so the thread is taken
while the rest runs and the P is handed on. It is correct, and costs a thread per
request: write such middleware as ``async def`` (``await c.next()``), or subclass
:class:`Middleware`, which has both forms, and the engine picks the one the chain
needs (the built-ins do this).

Writing the response
--------------------
``c.json(200, obj)``, ``c.string(200, text)``, ``c.data(200, type, bytes)``,
``c.redirect(302, url)``, ``c.stream(chunks)``, plus ``c.status(code)``,
``c.header(name, value)`` and ``c.set_cookie(...)``. A handler may instead *return*
the response: a :class:`~gmp.http.Response`, ``str`` (text), ``bytes``, a ``dict`` or
``list`` (JSON), or ``None`` (whatever the Context holds; 200 with an empty body if
nothing was written). A returned ``str``, ``bytes``, ``dict`` or ``list`` has the status
set with ``c.status`` (200 by default); a returned Response keeps its own. Headers set
with ``c.header`` are added to what is returned (a Response's own fields win; the
returned object itself is not modified, so a shared constant is safe to return).

Writes follow Gin's ``responseWriter``: the first status written stays (a later
``c.status`` or ``c.json(500, ...)`` logs a warning and keeps it), each write appends to
the body, and ``Content-Type`` is set by the first write unless a handler set one. The
response is buffered until the chain ends, so headers may still be added after
``c.next()``, and an :class:`~gmp.http.HTTPError` (or Recovery's 500) replaces what was
written: the client has seen nothing yet. :attr:`Context.writer` is the public view
(``status``, ``size``, ``written``, ``reset()``; Gin's ``c.Writer``).

Concurrency
-----------
A Context belongs to its request's G. To hand request data to a G that outlives the
handler (``gmp.go(audit, c.copy())``), pass :meth:`Context.copy`: a snapshot of the
request, params and keys that refuses to write a response (Gin's ``Context.Copy``).
Contextvars (structlog's bound ``request_id``, a user's own) are the G's and follow it
into every G it starts, because each G starts with a copy of its parent's.
"""

from __future__ import annotations

import ipaddress
import threading
import types
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar, overload

from gmp.http.binding import bind, decode_json
from gmp.http.errors import BadRequest, HTTPError
from gmp.http.request import Request
from gmp.http.response import Response, as_response
from gmp.http.response import json_bytes as _json_bytes
from gmp.observe.log import get_logger
from gmp.runtime.api import go, syscall

if TYPE_CHECKING:
    from gmp.http.engine import Engine

__all__ = ["ABORT_INDEX", "Context", "HandlerFunc", "Middleware", "ResponseWriter"]

_log = get_logger("gmp.http.context")

T = TypeVar("T")

HandlerFunc = Callable[["Context"], Any]
"""A chain element: ``def h(c: Context) -> ...`` or ``async def``."""

ABORT_INDEX = 1 << 30  # Gin's abortIndex: past any chain's end
_MISSING: Any = object()

_RESULT_TYPES = (Response, dict, str, bytes, list, bytearray, memoryview)

_TRUE = frozenset(("1", "true", "yes", "on", "t", "y"))
_FALSE = frozenset(("0", "false", "no", "off", "f", "n", ""))


class Middleware:
    """Middleware usable in any chain: ``__call__`` for plain chains, ``call_async`` for
    chains with ``async def`` elements (see the module docstring).

    Subclasses override both, or only :meth:`before` and :meth:`after`, which the
    default forms call around ``c.next()``. ``after`` runs on success and on error
    (``exc`` is the exception that is propagating, or None).
    """

    def before(self, c: Context) -> None:
        """Runs before the rest of the chain."""

    def after(self, c: Context, exc: BaseException | None) -> None:
        """Runs after the rest of the chain (also when it raised)."""

    def __call__(self, c: Context) -> None:
        self.before(c)
        try:
            c.next()
        except BaseException as e:
            self.after(c, e)
            raise
        self.after(c, None)

    async def call_async(self, c: Context) -> None:
        self.before(c)
        try:
            await c.next()
        except BaseException as e:
            self.after(c, e)
            raise
        self.after(c, None)


_NOT_CONTENT_TYPE: set[str] = set()
"""Response header names seen that are not ``Content-Type`` in any case (bounded by
:data:`_NAMES_MAX`; names, not values, so a few per application)."""

_NAMES_MAX = 256


def handler_name(fn: object) -> str:
    """``module.qualname`` of a handler (Gin's ``HandlerName``), for errors and logs."""
    if isinstance(fn, types.MethodType) and fn.__name__ == "__call__":
        fn = fn.__self__  # a callable object as the chain holds it (_direct)
    if _python_call(fn) is not None:  # a callable object: Middleware, or any class
        return type(fn).__module__ + "." + type(fn).__qualname__
    mod = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{mod}.{name}"


def _direct(h: HandlerFunc) -> HandlerFunc:
    """What the chain calls for ``h``: for an object whose class defines ``__call__`` in
    Python (gmp's middleware classes), that method bound to it.

    The same call: ``h(c)`` looks ``__call__`` up on the type, as the bound method was
    taken (once, when the route's chain is compiled: a ``__call__`` assigned to the
    class after the Engine froze is not seen, as a handler replaced then is not). But
    CPython 3.11 specializes no call of an instance: ``h(c)`` goes through
    ``slot_tp_call``, which packs the arguments into a tuple, looks the method up again,
    and runs it in a nested evaluation loop, where the bound method's call is inlined
    into the caller's loop like a function's. Each of gmp's six production middleware
    costs about 600 instructions less a request for it (``python -m
    bench.mw_instructions``: all six +79.7k -> +76.4k; ``gmp serve`` with them,
    238.6k -> 236.1k a request, callgrind). tests/http/test_chain_callables.py holds
    the call the same.
    """
    call = _python_call(h)
    return h if call is None else types.MethodType(call, h)


def _python_call(obj: object) -> types.FunctionType | None:
    """The function ``obj(...)`` runs when ``obj``'s class defines ``__call__`` in Python
    (looked up on the class, as a call does); None for functions, methods, classes and
    objects of C types."""
    if isinstance(obj, types.FunctionType | types.MethodType | types.BuiltinFunctionType | type):
        return None
    for klass in type(obj).__mro__:
        call = klass.__dict__.get("__call__")
        if call is not None:
            return call if isinstance(call, types.FunctionType) else None
    return None


class Chain:
    """A route's compiled chain: the elements in order, which are coroutine functions,
    and from which index on every element is plain (``sync_from``)."""

    __slots__ = (
        "all_sync",
        "handlers",
        "kinds",
        "last_plain",
        "name",
        "route",
        "size",
        "sync_from",
    )

    def __init__(self, handlers: list[HandlerFunc], route: str) -> None:
        from gmp.http.server import is_async_handler

        duals = [isinstance(h, Middleware) for h in handlers]
        kinds = [is_async_handler(h) and not d for h, d in zip(handlers, duals, strict=True)]
        all_sync = not any(kinds)
        elements: list[HandlerFunc] = []
        for h, dual in zip(handlers, duals, strict=True):
            if dual and not all_sync:
                elements.append(h.call_async)  # type: ignore[attr-defined]
            else:
                elements.append(_direct(h))
        if not all_sync:
            kinds = [k or d for k, d in zip(kinds, duals, strict=True)]
        sync_from = len(kinds)
        while sync_from > 0 and not kinds[sync_from - 1]:
            sync_from -= 1
        self.handlers = tuple(elements)
        self.size = len(elements)
        self.kinds = tuple(kinds)
        self.all_sync = all_sync
        self.sync_from = sync_from
        self.last_plain = bool(kinds) and not kinds[-1]
        self.route = route
        self.name = handler_name(handlers[-1]) if handlers else ""


class Context:
    """One request's state along its chain (Gin's ``gin.Context``); see the module docs.

    Request side: :attr:`request`, :attr:`params`, :attr:`full_path` (the route pattern),
    :meth:`param`, :meth:`query`, :meth:`get_header`, :meth:`cookie`, :attr:`body`,
    :meth:`bind_json`, :attr:`client_ip`. Chain: :meth:`next`, :meth:`abort`,
    :meth:`set`/:meth:`get`. Response: :meth:`json`, :meth:`string`, :meth:`data`,
    :meth:`status`, :meth:`header`, :meth:`redirect`, :meth:`stream`.
    """

    __slots__ = (
        "_body",
        "_chain",
        "_copied",
        "_headers",
        "_in_async",
        "_index",
        "_res",
        "_status",
        "engine",
        "errors",
        "full_path",
        "keys",
        "params",
        "request",
    )

    def __init__(
        self,
        request: Request,
        params: dict[str, str],
        chain: Chain,
        engine: Engine | None = None,
    ) -> None:
        self.request = request
        self.params = params
        self.full_path = chain.route
        self.engine = engine
        self.keys: dict[str, Any] | None = None
        self.errors: list[BaseException] = []
        self._chain = chain
        self._index = -1
        self._in_async = False
        self._status = 200
        self._headers: list[tuple[str, str]] | None = None
        self._body: Any = None
        self._res: Any = None  # a value a handler returned, converted lazily
        self._copied = False

    # -- the chain -----------------------------------------------------------------

    def next(self) -> Any:
        """Run the rest of the chain and return (Gin's ``Next``).

        In a chain of plain functions this runs it and returns None; in a chain with
        ``async def`` elements it returns an awaitable: ``await c.next()``.
        """
        chain = self._chain
        if chain.all_sync and not self._copied:
            # _run_sync's loop, inline: every plain middleware calls this once, and a
            # frame less per element is 0.9k of the 2.7k instructions a layer costs
            # (a middleware that only calls c.next(); callgrind, bench/README.md).
            # _index is left at the last element run (not one past it, as _run_sync
            # leaves it): a later call computes the same next element either way.
            handlers = chain.handlers
            n = chain.size
            i = self._index + 1
            while i < n:
                self._index = i
                h = handlers[i]
                try:
                    result = h(self)
                except HTTPError as e:
                    self._apply_error(e)
                    return None
                if result is not None:
                    self._take_result(result, h)
                i = self._index + 1
            return None
        if self._copied:
            raise RuntimeError("a copied Context has no chain: c.next() works only on the original")
        if self._in_async:
            return self._run_async()
        # A plain element of a mixed chain.
        if self._index + 1 < chain.sync_from:
            self._next_in_g()
        else:
            self._run_sync()
        return None

    def _next_in_g(self) -> None:
        """``c.next()`` from a plain element followed by ``async def`` ones.

        A plain function cannot await, so the rest of the chain runs as a coroutine G
        of its own and this thread waits for it. The plain element runs as a blocking
        call (``gmp.syscall``, Go's entersyscall), so while it waits its P runs the
        rest. Exceptions of the rest come out of this ``next()``, as in a plain chain.
        """
        done = threading.Event()
        failed: list[BaseException] = []

        async def rest() -> None:
            self._in_async = True
            try:
                await self._run_async()
            except BaseException as e:
                failed.append(e)
            finally:
                self._in_async = False
                done.set()

        go(rest)
        done.wait()
        if failed:
            raise failed[0]

    def _run_sync(self) -> None:
        handlers = self._chain.handlers
        n = len(handlers)
        self._index += 1
        while self._index < n:
            h = handlers[self._index]
            try:
                result = h(self)
            except HTTPError as e:
                self._apply_error(e)
                return
            if result is not None:
                self._take_result(result, h)
            self._index += 1

    async def _run_async(self) -> None:
        chain = self._chain
        handlers = chain.handlers
        kinds = chain.kinds
        n = len(handlers)
        self._index += 1
        while self._index < n:
            i = self._index
            outer = self._in_async
            try:
                if kinds[i]:
                    self._in_async = True
                    result = await handlers[i](self)
                else:
                    self._in_async = False
                    if i == n - 1 or i < chain.sync_from:
                        # A plain handler may block, and a plain middleware followed by
                        # async elements waits for them in c.next(): run it as a
                        # blocking call, so sysmon hands our P on (Go's entersyscall).
                        result = await syscall(handlers[i], self)
                    else:
                        result = handlers[i](self)
            except HTTPError as e:
                self._in_async = outer
                self._apply_error(e)
                return
            self._in_async = outer
            if result is not None:
                if isinstance(result, Awaitable):
                    result = await result
                if result is not None:
                    self._take_result(result, handlers[i])
            self._index += 1

    async def _start_async(self) -> Response:
        self._in_async = True
        await self._run_async()
        return self.response()

    def _take_result(self, result: Any, fn: HandlerFunc) -> None:
        # Checked here, inside the chain, so Recovery and the Logger see a bad return
        # value as the handler's error (converting it after the chain would be too late).
        if isinstance(result, _RESULT_TYPES):
            if self._body is None and self._res is None:
                self._res = result
            else:  # written before: the returned body is one more write (Gin's Write)
                self._materialize()
                resp = result if isinstance(result, Response) else _to_response(result)
                if not isinstance(resp.body, bytes):
                    raise TypeError(
                        f"{handler_name(fn)} returned a streaming Response after the "
                        f"response was written (route {self._chain.route!r})"
                    )
                code = resp.status if isinstance(result, Response) else self._status
                self._write(code, resp.body, None)
            return
        if isinstance(result, Awaitable):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError(
                f"{handler_name(fn)} returned an awaitable but "
                f"is not an 'async def' function, so the chain runs without awaiting; "
                f"define it with 'async def' (route {self._chain.route!r})"
            )
        raise TypeError(
            f"{handler_name(fn)} returned "
            f"{type(result).__name__}; a handler must return a gmp.http.Response, str, bytes, "
            f"dict, list or None (route {self._chain.route!r})"
        )

    def _apply_error(self, e: HTTPError) -> None:
        # The error replaces what was buffered: nothing has reached the client yet, so
        # its status is the truth (Gin's AbortWithError cannot change a written status).
        self.errors.append(e)
        self._index = ABORT_INDEX
        self._res = None
        self._status = e.status
        self._body = _json_bytes(e.body())
        self._set_content_type("application/json")
        for name, value in e.headers:
            self.header(name, value)

    def abort(self) -> None:
        """Stop the chain after the current element (Gin's ``Abort``)."""
        self._index = ABORT_INDEX

    def is_aborted(self) -> bool:
        """Whether :meth:`abort` (or an HTTPError) stopped the chain."""
        return self._index >= ABORT_INDEX

    def abort_with_status(self, code: int) -> None:
        """Abort and answer ``code`` with an empty body (Gin's ``AbortWithStatus``,
        which writes the header at once: later writes keep this status)."""
        self.abort()
        self.status(code)
        if self._body is None and self._res is None:
            self._body = b""

    def abort_with_status_json(self, code: int, obj: Any) -> None:
        """Abort and answer ``code`` with ``obj`` as JSON (Gin's ``AbortWithStatusJSON``)."""
        self.abort()
        self.json(code, obj)

    def abort_with_error(self, error: HTTPError) -> None:
        """Abort with an :class:`HTTPError`'s status, headers and JSON body."""
        self._apply_error(error)

    def fail(self, status: int, detail: str | None = None) -> NoReturn:
        """Raise an :class:`HTTPError` (``c.fail(404, "no such user")``)."""
        raise HTTPError(status, detail)

    @property
    def handler_name(self) -> str:
        """The route's handler, as ``module.qualname`` (Gin's ``HandlerName``)."""
        return self._chain.name

    # -- values along the chain -----------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Store a value for later elements of this request (Gin's ``Set``)."""
        keys = self.keys
        if keys is None:
            keys = self.keys = {}
        keys[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        """A value stored with :meth:`set`, or ``default`` (Gin's ``Get``)."""
        keys = self.keys
        if keys is None:
            return default
        return keys.get(key, default)

    def must_get(self, key: str) -> Any:
        """A value stored with :meth:`set`; ``KeyError`` if none (Gin's ``MustGet``)."""
        keys = self.keys
        if keys is None or key not in keys:
            raise KeyError(f"no value set for key {key!r} in this request's Context")
        return keys[key]

    def copy(self) -> Context:
        """A snapshot safe to pass to another G (Gin's ``Copy``): the request, params,
        keys and route, without the chain; writing a response through it raises."""
        c = Context(self.request, dict(self.params), self._chain, self.engine)
        c.keys = dict(self.keys) if self.keys else None
        c._index = ABORT_INDEX
        c._copied = True
        return c

    # -- the request ---------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.path

    @overload
    def param(self, name: str) -> str: ...

    @overload
    def param(self, name: str, type: Callable[[str], T]) -> T: ...

    def param(self, name: str, type: Callable[[str], Any] | None = None) -> Any:
        """The path parameter ``name`` (``:id`` or ``*path`` in the route; Gin's ``Param``).

        A name the route does not have gives ``""``, as in Gin. ``type`` converts the
        value (``c.param("id", int)`` is typed ``int``); a value it rejects is a 400
        naming the parameter, and converting a parameter the route does not have is a
        ``LookupError`` naming the route (a bug in the handler, not the request).
        """
        value = self.params.get(name)
        if value is None:
            if type is None:
                return ""
            have = ", ".join(sorted(self.params)) or "none"
            raise LookupError(
                f"route {self.full_path!r} has no path parameter {name!r} (it has: {have})"
            )
        if type is None:
            return value
        return _convert("path parameter", name, value, type)

    @overload
    def query(self, name: str) -> str | None: ...

    @overload
    def query(self, name: str, default: T) -> str | T: ...

    @overload
    def query(self, name: str, default: None, type: Callable[[str], T]) -> T | None: ...

    @overload
    def query(self, name: str, default: T, type: Callable[[str], T]) -> T: ...

    def query(self, name: str, default: Any = None, type: Any = None) -> Any:
        """The first value of query parameter ``name``, or ``default`` when absent
        (Gin's ``Query`` and ``DefaultQuery``). ``type`` converts a present value
        (``c.query("page", 1, int)``); one it rejects is a 400 naming the parameter."""
        values = self.request.query_params.get(name)
        if not values:
            return default
        if type is None:
            return values[0]
        return _convert("query parameter", name, values[0], type)

    @overload
    def query_list(self, name: str) -> list[str]: ...

    @overload
    def query_list(self, name: str, type: Callable[[str], T]) -> list[T]: ...

    def query_list(self, name: str, type: Callable[[str], Any] | None = None) -> list[Any]:
        """Every value of query parameter ``name`` (``?tag=a&tag=b``; Gin's ``QueryArray``)."""
        values = self.request.query_params.get(name, [])
        if type is None:
            return list(values)
        return [_convert("query parameter", name, v, type) for v in values]

    @property
    def query_params(self) -> dict[str, list[str]]:
        """Every query parameter with all its values."""
        return self.request.query_params

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """A request header (any case), or ``default`` (Gin's ``GetHeader``)."""
        return self.request.headers.get(name, default)  # type: ignore[arg-type]

    @property
    def content_type(self) -> str:
        """The request's media type, without parameters (Gin's ``ContentType``)."""
        value = self.request.headers.get("content-type", "")
        return value.split(";", 1)[0].strip().lower()

    def cookie(self, name: str, default: str | None = None) -> str | None:
        """The value of request cookie ``name``, or ``default`` (Gin's ``Cookie``)."""
        for header in self.request.headers.get_all("cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue
            morsel = jar.get(name)
            if morsel is not None:
                return morsel.value
        return default

    @property
    def body(self) -> bytes:
        """The raw request body (read whole by the server, up to its ``max_body``)."""
        return self.request.body

    def json_body(self) -> Any:
        """The body parsed as JSON; malformed JSON is a 400 saying where."""
        return decode_json(self.request.body)

    def bind_json(self, cls: type[T], *, strict: bool = False) -> T:
        """The JSON body structured into ``cls`` (a dataclass, attrs class, pydantic
        model, or a type such as ``list[int]``; Gin's ``ShouldBindJSON``).

        Malformed JSON, a wrong type or a missing field raises
        :class:`~gmp.http.binding.BindError`, a 400 whose body lists every problem with
        its location (``$.address.city: required field missing``). ``strict``: unknown
        fields are an error too.
        """
        return bind(decode_json(self.request.body), cls, strict=strict)

    @property
    def remote_addr(self) -> str | None:
        """The peer's address (the connection's, never a header)."""
        client = self.request.client
        return client[0] if client else None

    @property
    def client_ip(self) -> str | None:
        """The client's address (Gin's ``ClientIP``): the peer's, unless the peer is one
        of the engine's ``trusted_proxies``, then the nearest untrusted address in
        ``X-Forwarded-For`` (read right to left, as Gin does; the first one when every
        hop is trusted). An entry that is not an address stops the search and the peer's
        address is used, as Gin does: what lies left of it is not vouched for."""
        client = self.request.client  # remote_addr, read without its property
        peer = client[0] if client else None
        engine = self.engine
        if peer is None or engine is None or not engine.trusted_proxies:
            return peer
        if not engine.is_trusted(peer):
            return peer
        forwarded = self.request.headers.get_all("x-forwarded-for")
        hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer
            if not engine.is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    # -- the response --------------------------------------------------------------

    def _writable(self) -> None:
        if self._copied:
            raise RuntimeError(
                "a copied Context cannot write the response: only the request's own "
                "handler chain answers it (Gin's Context.Copy is read-only the same way)"
            )

    def status(self, code: int) -> None:
        """Set the response status (Gin's ``Status``)."""
        self._writable()
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
            raise ValueError(f"status must be an int from 100 to 999, got {code!r}")
        if code != self._status and (self._body is not None or self._res is not None):
            # Gin's responseWriter.WriteHeader: the first status written stays.
            _log.warning(
                "response already written; status not changed",
                status=self.status_code,
                wanted=code,
                route=self._chain.route,
            )
            return
        self._status = code

    @property
    def writer(self) -> ResponseWriter:
        """The response as middleware sees it: ``status``, ``size``, ``written``,
        ``header(name)`` and ``reset()`` (Gin's ``c.Writer``)."""
        return ResponseWriter(self)

    @property
    def status_code(self) -> int:
        """The status the response will have so far (Gin's ``Writer.Status``)."""
        result = self._res
        if isinstance(result, Response):
            return result.status
        return self._status

    def header(self, name: str, value: str | None) -> None:
        """Set a response header, replacing earlier values; ``None`` removes it (Gin's
        ``Header``). Use :meth:`add_header` to repeat a field."""
        if self._copied:
            self._writable()
        headers = self._headers
        if headers is None:
            if value is not None:
                self._headers = [(name, value if type(value) is str else str(value))]
            return
        key = name.lower()
        for k, _ in headers:
            if k.lower() == key:  # rare: rebuild only when the name is already there
                headers[:] = [(k2, v2) for k2, v2 in headers if k2.lower() != key]
                break
        if value is not None:
            headers.append((name, value if type(value) is str else str(value)))

    def _header_fields(self, fields: list[tuple[str, str]], lowered: frozenset[str]) -> None:
        """:meth:`header` for several fields at once, with one pass over the fields set
        so far (``lowered``: the fields' names in lower case; values are str). For
        built-in middleware that sets a group of fields on every request (RateLimit's
        three ``RateLimit-*``)."""
        if self._copied:
            self._writable()
        headers = self._headers
        if headers is None:
            self._headers = fields
            return
        for k, _ in headers:
            if k.lower() in lowered:  # rare: a second limiter on the same route
                headers[:] = [(k2, v2) for k2, v2 in headers if k2.lower() not in lowered]
                break
        headers.extend(fields)

    def add_header(self, name: str, value: str) -> None:
        """Append a response header field (``Set-Cookie``, ``Vary``)."""
        self._writable()
        if self._headers is None:
            self._headers = []
        self._headers.append((name, str(value)))

    def response_header(self, name: str) -> str | None:
        """A response header set so far (any case), or None."""
        key = name.lower()
        for k, v in self._headers or ():
            if k.lower() == key:
                return v
        result = self._res
        if isinstance(result, Response):
            for k, v in result.headers:
                if k.lower() == key:
                    return v
        return None

    def _set_content_type(self, value: str) -> None:
        headers = self._headers
        if headers is None:
            self._headers = [("content-type", value)]
            return
        for k, _ in headers:
            if k.lower() == "content-type":
                headers[:] = [(k2, v2) for k2, v2 in headers if k2.lower() != "content-type"]
                break
        headers.append(("content-type", value))

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        http_only: bool = True,
        same_site: Literal["Lax", "Strict", "None"] | None = "Lax",
    ) -> None:
        """Add a ``Set-Cookie`` header (Gin's ``SetCookie``; values are quoted as needed)."""
        jar: SimpleCookie = SimpleCookie()
        try:
            jar[name] = value
        except CookieError as e:
            raise ValueError(f"invalid cookie name {name!r}: {e}") from None
        morsel = jar[name]
        morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = str(int(max_age))
        if domain:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if http_only:
            morsel["httponly"] = True
        if same_site:
            morsel["samesite"] = same_site
        self.add_header("set-cookie", morsel.OutputString())

    def json(self, code: int, obj: Any) -> None:
        """Answer ``code`` with ``obj`` as JSON (Gin's ``JSON``)."""
        self._write(code, _json_bytes(obj), "application/json")

    def string(self, code: int, text: str) -> None:
        """Answer ``code`` with ``text`` as ``text/plain`` UTF-8 (Gin's ``String``)."""
        self._write(code, text.encode("utf-8"), "text/plain; charset=utf-8")

    def html(self, code: int, html: str) -> None:
        """Answer ``code`` with an HTML document (UTF-8)."""
        self._write(code, html.encode("utf-8"), "text/html; charset=utf-8")

    def data(self, code: int, content_type: str, data: bytes) -> None:
        """Answer ``code`` with raw bytes of ``content_type`` (Gin's ``Data``)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"c.data() needs bytes, got {type(data).__name__}")
        self._write(code, bytes(data), content_type)

    def redirect(self, code: int, location: str) -> None:
        """Redirect with a 3xx ``code`` to ``location`` (Gin's ``Redirect``)."""
        if (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not (300 <= code <= 308 or code == 201)
        ):
            raise ValueError(f"redirect status must be 201 or 300-308, got {code!r}")
        self.header("location", location)
        self._write(code, b"", None)

    def stream(
        self,
        chunks: Iterable[bytes | str] | AsyncIterable[bytes | str],
        *,
        content_type: str = "text/plain; charset=utf-8",
        code: int | None = None,
    ) -> None:
        """Answer with a streaming body: each chunk is sent as it is produced (Gin's
        ``Stream``; chunked encoding). The iterable is consumed in this request's G
        after the chain returns, with flow control: a slow client makes it wait."""
        if code is not None:
            self.status(code)
        else:
            self._writable()
        if isinstance(chunks, bytes | str) or not (
            hasattr(chunks, "__iter__") or hasattr(chunks, "__aiter__")
        ):
            raise TypeError(
                f"c.stream() needs an iterable of bytes or str chunks, got {type(chunks).__name__}"
            )
        self._materialize()
        before = self._body
        if before is not None and not isinstance(before, bytes):
            raise RuntimeError("c.stream() was already called for this response")
        if before:
            chunks = _after(before, chunks)
        if before is None:
            self._set_default_content_type(content_type)
        self._body = chunks

    def _write(self, code: int, data: bytes, content_type: str | None) -> None:
        """Gin's ``Render``: set the status (kept if something was written before),
        set ``Content-Type`` unless one is set, append ``data`` to the body."""
        if self._body is None and self._res is None:
            if self._copied:
                self._writable()
            if code != self._status:
                if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
                    raise ValueError(f"status must be an int from 100 to 999, got {code!r}")
                self._status = code
            self._body = data
            if content_type is not None:
                headers = self._headers
                if headers is None:
                    self._headers = [("content-type", content_type)]
                else:
                    self._set_default_content_type(content_type)
            return
        self._materialize()
        self.status(code)  # a different status is refused with a warning
        body = self._body
        if not isinstance(body, bytes):
            raise RuntimeError(
                f"cannot write to a streaming response (route {self._chain.route!r}): "
                f"c.stream() takes the rest of the body"
            )
        self._body = body + data if body else data

    def _set_default_content_type(self, value: str) -> None:
        # Gin's writeContentType: only when the handler set none. A name seen before
        # that is not Content-Type in any case is skipped without lower-casing it: the
        # production stack's responses carry four other fields when a handler writes
        # (python -m bench.mw_instructions, all six: 89.1k -> 87.9k instructions a
        # request). tests/http/test_default_content_type.py holds the rule.
        other = _NOT_CONTENT_TYPE
        for k, _ in self._headers or ():
            if k in other:
                continue
            if k.lower() == "content-type":
                return
            if len(other) < _NAMES_MAX:
                other.add(k)  # one atomic set operation; a race only repeats a lower()
        if self._headers is None:
            self._headers = []
        self._headers.append(("content-type", value))

    def _materialize(self) -> None:
        """Turn a returned value into status, headers and body bytes, so further
        writes append to it and the writer can report its size."""
        if self._res is None:
            return
        resp = self.response()
        self._res = None
        self._status = resp.status
        self._headers = list(resp.headers)
        self._body = resp.body

    def _body_len(self) -> int | None:
        """The body's length so far: ``-1`` if none was written, None for a stream
        (what ResponseWriter's ``size`` and ``streaming`` report, and the access log's
        ``bytes``, read here without a writer view)."""
        self._materialize()
        body = self._body
        if body is None:
            return -1
        return len(body) if type(body) is bytes else None

    def _reset(self) -> None:
        """Discard what was written or returned (status back to 200); headers stay."""
        self._res = None
        self._body = None
        self._status = 200

    # Compatibility for middleware that predates ResponseWriter: assigning None to
    # ``c._result`` discards what the chain wrote, as ``c.writer.reset()`` does.
    @property
    def _result(self) -> Any:
        return self._res

    @_result.setter
    def _result(self, value: Any) -> None:
        if value is None:
            self._reset()
        else:
            self._res = value

    @property
    def written(self) -> bool:
        """Whether a body has been set or returned (Gin's ``Writer.Written``)."""
        return self._body is not None or self._res is not None

    def response(self) -> Response:
        """The response as it stands: a returned value, or what was written."""
        result = self._res
        if result is not None:
            extra = self._headers
            if isinstance(result, Response):
                if not extra:
                    return result
                # A new Response: the returned one may be shared (a module constant).
                names = {k.lower() for k, _ in result.headers}
                resp = Response.__new__(Response)
                resp.status = result.status
                resp.headers = [(k, v) for k, v in extra if k.lower() not in names]
                resp.headers += result.headers
                resp.body = result.body
                return resp
            resp = _to_response(result)
            resp.status = self._status
            if extra:
                names = {k.lower() for k, _ in resp.headers}
                resp.headers[:0] = [(k, v) for k, v in extra if k.lower() not in names]
            return resp
        body = self._body
        headers = self._headers
        resp = Response.__new__(Response)
        resp.status = self._status
        resp.headers = headers if headers is not None else []
        resp.body = body if body is not None else b""
        return resp


class ResponseWriter:
    """A view of a Context's response for middleware (Gin's ``ResponseWriter``).

    The response is buffered until the chain ends, so unlike Go's writer nothing has
    reached the client yet; the rules for writing are Gin's all the same: the first
    status written stays, and later writes append to the body.
    """

    __slots__ = ("_c",)

    def __init__(self, c: Context) -> None:
        self._c = c

    @property
    def status(self) -> int:
        """The status so far (Gin's ``Status``)."""
        return self._c.status_code

    @property
    def written(self) -> bool:
        """Whether a status and body were written or returned (Gin's ``Written``)."""
        return self._c.written

    @property
    def size(self) -> int:
        """Body bytes written, ``-1`` if nothing was (Gin's ``Size``); a streaming body
        counts what was written before ``c.stream`` (the server counts the rest)."""
        n = self._c._body_len()
        return 0 if n is None else n

    @property
    def streaming(self) -> bool:
        """Whether the body is a stream of chunks (``c.stream``)."""
        return self._c._body_len() is None

    def header(self, name: str) -> str | None:
        """A response header set so far (any case), or None."""
        return self._c.response_header(name)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """A copy of the response headers so far (the whole response's, content type
        included: it builds the response)."""
        return list(self._c.response().headers)

    @property
    def header_fields(self) -> list[tuple[str, str]]:
        """A copy of the fields set with ``c.header``/``c.add_header`` so far, without
        building the response: what a middleware that answers in the handler's stead
        (Timeout) carries over, such as ``X-Request-ID``."""
        return list(self._c._headers or ())

    def reset(self) -> None:
        """Discard the status and body written so far (headers stay), so the chain
        can answer afresh: what Recovery and Timeout do before answering an error.
        Possible because nothing has been sent; Gin has no equivalent."""
        self._c._reset()

    def __repr__(self) -> str:
        return f"<ResponseWriter status={self.status} size={self.size}>"


def _after(first: bytes, chunks: Any) -> Any:
    """The chunks of a stream, after bytes written before ``c.stream``."""
    if hasattr(chunks, "__aiter__"):

        async def agen() -> Any:
            yield first
            async for chunk in chunks:
                yield chunk

        return agen()

    def gen() -> Any:
        yield first
        yield from chunks

    return gen()


def _to_response(value: Any) -> Response:
    # A str, bytes, dict or list a handler returned (_take_result checked the type).
    if isinstance(value, dict | list):
        return Response(200, [("content-type", "application/json")], _json_bytes(value))
    return as_response(value)


def _convert(kind: str, name: str, value: str, type_: Callable[[str], T]) -> T:
    if type_ is bool:
        low = value.strip().lower()
        if low in _TRUE:
            return True  # type: ignore[return-value]
        if low in _FALSE:
            return False  # type: ignore[return-value]
        raise BadRequest(f"{kind} {name!r} must be a boolean (true/false), got {value!r}")
    try:
        return type_(value)
    except (TypeError, ValueError):
        tname = getattr(type_, "__name__", str(type_))
        article = "an" if tname[:1] in "aeiou" else "a"
        raise BadRequest(f"{kind} {name!r} must be {article} {tname}, got {value!r}") from None
