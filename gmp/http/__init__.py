"""gmp's HTTP/1.1 front end: a trio server where every request's handler runs as a G.

``Server(app).run()`` serves ``app``, a ``def`` or ``async def`` handler taking a
:class:`Request` and returning a :class:`Response`; :class:`WSGIAdapter` wraps a WSGI
application (Flask, Django) as such a handler. See ``gmp/http/server.py`` for the shape.

::

    import time
    from gmp.http import Request, Response, Server

    def app(req: Request) -> Response:          # a plain def: a blocking call is fine
        if req.path == "/slow":
            time.sleep(0.05)                    # costs a thread; the P moves on
        return Response.text("hello")

    Server(app, port=8000).run()                # or: gmp serve mymodule:app --port 8000
"""

from gmp.http.config import ServerConfig, ServerStats
from gmp.http.dispatch import ClientDisconnected, Handler
from gmp.http.parser import ParseError
from gmp.http.request import Headers, Request
from gmp.http.response import Response
from gmp.http.server import Server
from gmp.http.wsgi import WSGIAdapter

__all__ = [
    "ClientDisconnected",
    "Handler",
    "Headers",
    "ParseError",
    "Request",
    "Response",
    "Server",
    "ServerConfig",
    "ServerStats",
    "WSGIAdapter",
]
