"""The access log: one structlog line per request, after the chain (Gin's ``Logger``).

Fields, every one on every line (null when unknown), so a log pipeline (Loki's
``| json``) sees stable keys: ``method``, ``path``, ``route`` (the matched pattern,
``/users/:id``; empty for a miss, so metrics and log queries group by route rather than
by id), ``status``, ``ms`` (latency through the rest of the chain), ``bytes`` (body
size, when known), ``client`` (:attr:`Context.client_ip`), ``request_id`` (when
:class:`RequestID` ran first), ``trace_id`` and ``span_id`` (the request's span, when
:class:`Tracing` ran first: the same ids an OpenTelemetry backend receives, so a line
leads to its trace); ``error`` is added when an exception passed through. With
``gmp serve --log-format json`` each line is one JSON object (docs/observability.md
lists the keys). The level follows the status: 5xx ``error``, 4xx ``warning`` (but 499,
a client that went away, ``info``), otherwise ``info``. An
exception passing through (no Recovery inside) is logged as a 500 and re-raised; the
server then answers 500.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from gmp.errors import Cancelled
from gmp.http.context import Context, Middleware
from gmp.observe.log import bound_context, event_writer, get_logger
from gmp.observe.trace import _current as _current_span

__all__ = ["Logger"]

_clock = time.perf_counter
_NO_NAME: Any = object()  # Logger._name when the fields do not begin with the context


class Logger(Middleware):
    """Log every request (see the module docstring).

    ``logger``: a structlog logger (default: ``gmp.http.access``); ``skip_paths``: paths
    not logged (health probes); ``extra``: a function of the Context returning more
    fields to log.
    """

    __slots__ = ("_error", "_info", "_log", "_name", "_warning", "extra", "skip_paths")

    def __init__(
        self,
        logger: Any = None,
        *,
        skip_paths: Iterable[str] = (),
        extra: Any = None,
    ) -> None:
        self._log = logger if logger is not None else get_logger("gmp.http.access")
        self.skip_paths = frozenset(skip_paths)
        self.extra = extra
        self._info: Any = None  # the logger's methods, looked up at the first request
        self._warning: Any = None
        self._error: Any = None
        self._name: Any = _NO_NAME  # the logger's bound name when it is its whole context

    def _methods(self) -> None:
        # Built at the first request, after the application configured structlog:
        # each writes through the logger's own processors and sink, without the bound
        # logger's per-call machinery (gmp.observe.log.event_writer: 5.4 -> 2.9 us).
        # When the logger's whole bound context is its name (gmp's loggers), the fields
        # are built with it in front: the writers then take them as the event dict
        # rather than copy them behind it (event_writer's context_first, 0.3 us).
        log = self._log
        context = bound_context(log)
        first = list(context) == ["logger"]
        self._name = context["logger"] if first else _NO_NAME
        self._warning = event_writer(log, "warning", "request", context_first=first)
        self._error = event_writer(log, "error", "request", context_first=first)
        self._info = event_writer(log, "info", "request", context_first=first)

    def __call__(self, c: Context) -> None:
        start = _clock()
        try:
            c.next()
        except BaseException as e:
            self._emit(c, start, e)
            raise
        self._emit(c, start, None)

    async def call_async(self, c: Context) -> None:
        start = _clock()
        try:
            await c.next()
        except BaseException as e:
            self._emit(c, start, e)
            raise
        self._emit(c, start, None)

    def _emit(self, c: Context, start: float, exc: BaseException | None) -> None:
        # One line a request (Logger alone in engine_bench: +4.2 -> +3.2 us per request
        # with event_writer's context_first).
        req = c.request
        if self.skip_paths and req.path in self.skip_paths:
            return
        # Milliseconds to the microsecond: round(x, 3) formats through decimal digits
        # (1.1 us, a fifth of the access line); the division of the whole microseconds
        # gives the same double but at an exact tie (half-up here, half-even there).
        # The floor stays a float: int() cost 1.4k instructions, // 1 costs 0.9k
        # (callgrind), and an integral float below 2**53 divides as exactly as an int.
        ms = ((_clock() - start) * 1e6 + 0.5) // 1 / 1000
        # The body's size: a returned dict is encoded now (once; the response reuses
        # it); a stream's size is known only once sent, and an error's by Recovery.
        # Read from the Context itself (Context._body_len, what ResponseWriter.size and
        # .streaming report), without a writer view per property.
        if exc is None:
            if c._res is None:  # written: _body_len() without its frames
                body = c._body
                size = 0 if body is None else len(body) if type(body) is bytes else None
            else:
                n = c._body_len()  # materializes a returned value: status is final after it
                size = None if n is None else max(n, 0)
            status = c._status
        else:
            status = 500 if not isinstance(exc, Cancelled) else c.status_code
            size = None
        # Context.client_ip without its frame when no proxy is trusted (the common case).
        engine = c.engine
        if engine is not None and engine.trusted_proxies:
            client = c.client_ip
        else:
            peer = req.client
            client = peer[0] if peer else None
        keys = c.keys
        span = _current_span.get()  # current_span() without the call
        fields: dict[str, Any] = {
            "logger": self._name,
            "method": req.method,
            "path": req.path,
            "route": c.full_path,
            "status": status,
            "ms": ms,
            "bytes": size,
            "client": client,
            "request_id": None if keys is None else keys.get("request_id"),
            "trace_id": None,
            "span_id": None,
        }
        if self._info is None:
            self._methods()
            fields["logger"] = self._name
        if self._name is _NO_NAME:
            del fields["logger"]  # the writers put the logger's own context in front
        if span is not None:
            ctx = span.context
            fields["trace_id"] = ctx.trace_id
            fields["span_id"] = ctx.span_id
        if exc is not None:
            fields["error"] = repr(exc)
        if self.extra is not None:
            fields.update(self.extra(c))
        if status >= 500:
            self._error(fields)
        elif status >= 400 and status != 499:  # 499: the client left; not a problem here
            self._warning(fields)
        else:
            self._info(fields)
