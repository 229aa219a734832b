"""Apps served by the HTTP tests (also by a real `python -m gmp.http serve` subprocess)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import gmp
from gmp.http import Request, Response


async def _ping(req: Request) -> Response:
    return Response(200, [("content-type", "text/plain")], b"pong")


def _slow(req: Request) -> Response:
    """Blocks its thread until the file named by ?release= exists (signals start first)."""
    started = req.query_params.get("started", [""])[0]
    release = req.query_params.get("release", [""])[0]
    if started:
        Path(started).write_text(str(os.getpid()))
    deadline = time.monotonic() + 20
    while release and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.005)
    return Response(200, [("content-type", "text/plain")], b"slow done")


async def _sleep(req: Request) -> Response:
    await gmp.sleep(float(req.query_params.get("s", ["0.01"])[0]))
    return Response.text("slept")


def app(req: Request) -> object:
    """A sync router: returns a coroutine for async handlers (the G continues as one)."""
    if req.path == "/ping":
        return _ping(req)
    if req.path == "/slow":
        return _slow(req)
    if req.path == "/sleep":
        return _sleep(req)
    if req.path == "/pid":
        return Response.text(str(os.getpid()))
    if req.path == "/echo":
        return Response(200, [("content-type", "application/octet-stream")], req.body)
    return Response(404, body=b"not found\n")
