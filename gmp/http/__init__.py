"""gmp's HTTP/1.1 front end: a trio server where every request's handler runs as a G.

``Server(app).run()`` serves ``app``, a ``def`` or ``async def`` handler taking a
:class:`Request` and returning a :class:`Response`; :class:`WSGIAdapter` wraps a WSGI
application (Flask, Django) as such a handler. See ``gmp/http/server.py`` for the shape.
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
