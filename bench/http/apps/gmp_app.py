"""The gmp side: /ping and /json answer at once; /block blocks its thread 50 ms.

Plain ``def`` handlers: each request is a plain-callable G (a "syscall" G), the natural
shape for blocking code; sysmon hands the P of a blocked one to another thread.
"""

from __future__ import annotations

import time

from gmp.http import Request, Response

_PONG = Response(200, [("content-type", "text/plain")], b"pong")
_NOT_FOUND = Response(404, [("content-type", "text/plain")], b"not found")


def ping(req: Request) -> Response:
    return Response(200, [("content-type", "text/plain")], b"pong")


def json_(req: Request) -> Response:
    return Response.json({"message": "Hello, World!"})


def block(req: Request) -> Response:
    time.sleep(0.05)
    return Response(200, [("content-type", "text/plain")], b"blocked")


ROUTES = {"/ping": ping, "/json": json_, "/block": block}


def app(req: Request) -> Response:
    handler = ROUTES.get(req.path)
    return handler(req) if handler is not None else _NOT_FOUND


async def _aping(req: Request) -> Response:
    return Response(200, [("content-type", "text/plain")], b"pong")


async def async_app(req: Request) -> Response:
    """The same /ping as an ``async def`` handler (a coroutine G), for comparison."""
    return await _aping(req)
