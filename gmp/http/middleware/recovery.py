"""Recovery: an exception in a handler becomes a 500 JSON error, logged with its
traceback and request id (Gin's ``Recovery``, Go's ``recover()`` in ``conn.serve``).

The client gets ``{"error": "internal server error", "request_id": ...}`` and never
the exception's text (it may hold secrets); the log line (``gmp.http.recovery``) has the
traceback, method, path, route and request id. Three things are *not* server errors:

- :class:`gmp.http.ClientDisconnected`: the client went away; logged at info, no 500;
- ``gmp.Cancelled``: the request's G is being cancelled (shutdown, a timeout): it
  propagates so the cancel scope that asked for it can catch it;
- :class:`~gmp.http.errors.HTTPError`: already a response; ``c.next()`` handled it.
"""

from __future__ import annotations

from typing import Any

from gmp.http.context import Context, Middleware
from gmp.http.errors import ClientDisconnected
from gmp.observe.log import get_logger

__all__ = ["Recovery"]


class Recovery(Middleware):
    """Turn exceptions into 500 responses (see the module docstring).

    ``logger``: a structlog logger (default ``gmp.http.recovery``); ``handler``: an
    optional ``fn(c, exc)`` that writes the response instead of the default JSON.
    """

    __slots__ = ("_log", "handler")

    def __init__(self, logger: Any = None, *, handler: Any = None) -> None:
        self._log = logger if logger is not None else get_logger("gmp.http.recovery")
        self.handler = handler

    def __call__(self, c: Context) -> None:
        try:
            c.next()
        except ClientDisconnected:
            self._gone(c)
        except Exception as e:
            self._recover(c, e)

    async def call_async(self, c: Context) -> None:
        try:
            await c.next()
        except ClientDisconnected:
            self._gone(c)
        except Exception as e:
            self._recover(c, e)

    def _gone(self, c: Context) -> None:
        c.abort()
        c.writer.reset()
        c.status(499)  # nginx's "client closed request", for the access log only
        self._log.info(
            "client went away",
            method=c.request.method,
            path=c.request.path,
            request_id=c.get("request_id"),
        )

    def _recover(self, c: Context, exc: Exception) -> None:
        rid = c.get("request_id")
        c.errors.append(exc)
        self._log.error(
            "handler raised; answered 500",
            method=c.request.method,
            path=c.request.path,
            route=c.full_path,
            request_id=rid,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        c.abort()
        # Nothing has been sent (the response is buffered): what the handler wrote
        # before it raised is dropped, so the 500 is what the client gets (in Gin a
        # written status would stay).
        c.writer.reset()
        if self.handler is not None:
            self.handler(c, exc)
            return
        body: dict[str, Any] = {"error": "internal server error"}
        if rid is not None:
            body["request_id"] = rid
        c.json(500, body)
