"""The app of ``python -m bench.soak``: one fast route, one blocking, one streaming.

Served with ``python -m gmp.http serve bench.soak_app:app``. A plain ``def`` handler, so
every request is a plain-callable G:

- ``/ping``: ``pong`` at once (the fast path);
- ``/block``: ``time.sleep(0.05)``, then ``blocked`` (a blocking library call: sysmon hands
  its P on);
- ``/stream``: :data:`STREAM_CHUNKS` chunks with :data:`STREAM_PAUSE` seconds between
  them, sent as the G produces them (chunked encoding).

Anything else is a 404. The soak's client checks every body against the constants here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from gmp.http import Request, Response

PONG = b"pong"
BLOCKED = b"blocked"
BLOCK_SECONDS = 0.05
STREAM_CHUNKS = 6
STREAM_PAUSE = 0.01
CHUNKS = [b"chunk %d " % i + b"." * 400 + b"\n" for i in range(STREAM_CHUNKS)]
STREAM_BODY = b"".join(CHUNKS)

_TEXT = [("content-type", "text/plain")]


def _chunks() -> Iterator[bytes]:
    for i, chunk in enumerate(CHUNKS):
        if i:
            time.sleep(STREAM_PAUSE)
        yield chunk


def app(req: Request) -> Response:
    path = req.path
    if path == "/ping":
        return Response(200, _TEXT, PONG)
    if path == "/block":
        time.sleep(BLOCK_SECONDS)
        return Response(200, _TEXT, BLOCKED)
    if path == "/stream":
        return Response.stream(_chunks(), content_type="text/plain")
    return Response(404, _TEXT, b"not found")
