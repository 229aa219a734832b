"""Request ids: one per request, from the client or made here, in logs and the response.

Like Gin's contrib ``requestid`` and Go's chi ``middleware.RequestID``: an incoming
``X-Request-ID`` is kept when it looks like an id (printable ASCII without spaces, at most
128 characters), so a caller's id ties its logs to ours; otherwise a new 96-bit random id
is made (from a per-thread generator, see :func:`new_request_id`). The id is stored as
``c.get("request_id")``, echoed in the response header, and bound into structlog's
contextvars, so every log line of the request's G, and of every G it starts (each copies
its parent's contextvars), carries ``request_id``. The binding lives in the request's
own G context, so it ends with the request.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

import structlog

from gmp.http.context import Context, Middleware
from gmp.observe.trace import random_hex

__all__ = ["RequestID"]

_VALID = re.compile(r"[!-~]{1,128}").fullmatch
_bind = structlog.contextvars.bind_contextvars


def _request_id_var() -> Any:
    """The ContextVar behind ``bind_contextvars(request_id=...)``, or None.

    Binding through structlog's function builds the variable's name and a token map on
    every call (0.41 us); setting the variable itself is what it does, for 0.11 us.
    structlog keeps its variables in a module dict by prefixed name; if a structlog
    release names or stores them otherwise, this finds nothing and the public function
    is used.
    """
    variables = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    prefix = getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", None)
    if not isinstance(variables, dict) or not isinstance(prefix, str):
        return None
    # Creates the variable, in a throwaway context so no caller's binding changes.
    contextvars.Context().run(_bind, request_id=None)
    return variables.get(prefix + "request_id")


def new_request_id() -> str:
    """A random 96-bit id as 24 hex digits, from a per-thread generator seeded from
    ``os.urandom``. Not ``os.urandom`` itself: a system call per request releases the GIL,
    and getting it back from the event loop's thread costs more than the id (measured in
    bench/http). Request ids identify; they are not secrets."""
    return random_hex(12)


class RequestID(Middleware):
    """Give each request an id (see the module docstring).

    ``header``: the field read and written (``X-Request-ID``); ``trust_incoming``: keep
    a valid id sent by the client (turn off at an edge facing untrusted clients);
    ``bind_log``: bind ``request_id`` into structlog's contextvars.
    """

    __slots__ = ("_key", "_var", "bind_log", "header_name", "trust_incoming")

    def __init__(
        self, header: str = "X-Request-ID", *, trust_incoming: bool = True, bind_log: bool = True
    ) -> None:
        self.header_name = header
        self._key = header.lower()
        self.trust_incoming = trust_incoming
        self.bind_log = bind_log
        self._var: Any = _request_id_var() if bind_log else None

    def before(self, c: Context) -> None:
        # Headers.get and new_request_id written out (a frame each; the request's header
        # names are lower-cased by the parser, as Headers.get compares them).
        rid = None
        if self.trust_incoming:
            key = self._key
            for name, value in c.request.headers._items:
                if name == key:
                    rid = value if _VALID(value) else None
                    break
        if rid is None:
            rid = random_hex(12)  # new_request_id()
        c.set("request_id", rid)
        c.header(self.header_name, rid)
        var = self._var
        if var is not None:
            var.set(rid)
        elif self.bind_log:
            _bind(request_id=rid)

    def __call__(self, c: Context) -> None:
        self.before(c)
        c.next()

    async def call_async(self, c: Context) -> None:
        self.before(c)
        await c.next()
