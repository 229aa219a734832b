"""gmp's HTTP/1.1 front end: a server on gmp's network poller where every connection is a
G that runs its requests' handlers, and a Gin-like framework on top (:class:`Engine`,
:class:`Context`, middleware).

The framework (see ``gmp/http/engine.py`` and ``docs/http.md``)::

    from gmp.http import Context, Engine

    app = Engine.default()

    @app.get("/users/:id")
    def user(c: Context) -> None:
        c.json(200, {"id": c.param("id", int)})

    app.run(port=8000)

The bare server underneath takes any handler of a :class:`Request`:

``Server(app).run()`` serves ``app``, a ``def`` or ``async def`` handler taking a
:class:`Request` and returning a :class:`Response`; :class:`WSGIAdapter` wraps a WSGI
application (Flask, Django) as such a handler. See ``gmp/http/server.py`` and
``gmp/http/conn.py`` for the shape; a trio program serves the same apps with
:class:`TrioServer` (``gmp/http/trio_server.py``).

::

    import time
    from gmp.http import Request, Response, Server

    def app(req: Request) -> Response:          # a plain def: a blocking call is fine
        if req.path == "/slow":
            time.sleep(0.05)                    # costs a thread; the P moves on
        return Response.text("hello")

    Server(app, port=8000).run()                # or: gmp serve mymodule:app --port 8000
"""

from gmp.http.binding import BindError
from gmp.http.config import ServerConfig, ServerStats
from gmp.http.context import Context, HandlerFunc, Middleware
from gmp.http.debug import mount_debug
from gmp.http.engine import Engine, RouterGroup
from gmp.http.errors import (
    BadRequest,
    ClientDisconnected,
    Conflict,
    Forbidden,
    GatewayTimeout,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from gmp.http.health import Health, mount_health
from gmp.http.middleware import (
    Breaker,
    FaultInjection,
    Logger,
    Metrics,
    RateLimit,
    Recovery,
    RequestID,
    Timeout,
    Tracing,
    mount_metrics,
)
from gmp.http.parser import ParseError
from gmp.http.request import Handler, Headers, Request
from gmp.http.response import Response
from gmp.http.server import Server, current_server
from gmp.http.trio_server import TrioServer
from gmp.http.wsgi import WSGIAdapter

__all__ = [
    "BadRequest",
    "BindError",
    "Breaker",
    "ClientDisconnected",
    "Conflict",
    "Context",
    "Engine",
    "FaultInjection",
    "Forbidden",
    "GatewayTimeout",
    "HTTPError",
    "Handler",
    "HandlerFunc",
    "Headers",
    "Health",
    "Logger",
    "MethodNotAllowed",
    "Metrics",
    "Middleware",
    "NotFound",
    "ParseError",
    "PayloadTooLarge",
    "RateLimit",
    "Recovery",
    "Request",
    "RequestID",
    "Response",
    "RouterGroup",
    "Server",
    "ServerConfig",
    "ServerStats",
    "ServiceUnavailable",
    "Timeout",
    "TooManyRequests",
    "Tracing",
    "TrioServer",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "WSGIAdapter",
    "current_server",
    "mount_debug",
    "mount_health",
    "mount_metrics",
]
