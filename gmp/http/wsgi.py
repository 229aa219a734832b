"""Run an existing WSGI application (Flask, Django), each connection's requests in its G.

:class:`WSGIAdapter` turns a WSGI app into a plain ``def`` handler, so the server runs it
through ``gmp.syscall`` in the connection's G: a view that blocks (a database driver,
``requests``, ``time.sleep``) costs one thread while sysmon hands its P to another, and
the other requests keep being served, which is the isolation gunicorn's ``gthread``
worker buys with a fixed thread pool, here with work stealing and no pool size to tune.

It follows PEP 3333 as gunicorn's and Werkzeug's servers do: ``environ`` is built from
the request (``PATH_INFO`` is the decoded path as latin-1 text, ``HTTP_*`` for headers,
names with ``_`` dropped so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``);
``start_response`` may be called until the first non-empty body item; the legacy
``write()`` callable is supported; the result's ``close()`` is always called. A list
result, or any result whose ``Content-Length`` is announced and at most 1 MiB, becomes a
fixed body; any other iterable is streamed from the G as it is produced.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import unquote_to_bytes

from gmp.http.request import Request
from gmp.http.response import Response

__all__ = ["WSGIAdapter", "WSGIApp"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class _StartResponse:
    """The ``start_response`` callable of one request (PEP 3333)."""

    __slots__ = ("headers", "sent", "status", "written")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] = []
        self.sent = False  # the head left (a body item was produced): no more changes

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info (PEP 3333)")
        try:
            code = int(status.split(" ", 1)[0])
        except ValueError:
            raise ValueError(
                f"WSGI status must start with a 3-digit code, got {status!r}"
            ) from None
        self.status = code
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: buffered ahead of the returned iterable."""
        self.written.append(bytes(data))


class WSGIAdapter:
    """A gmp handler serving the WSGI application ``app``.

    ``Server(WSGIAdapter(flask_app))``, or ``gmp serve --wsgi module:app``.
    ``multiprocess`` sets ``wsgi.multiprocess`` (True under ``--workers N``);
    ``url_scheme`` is ``wsgi.url_scheme`` (``https`` under ``--certfile``).
    """

    __slots__ = ("app", "base_environ")

    def __init__(
        self,
        app: WSGIApp,
        *,
        server_name: str = "localhost",
        server_port: int = 80,
        multiprocess: bool = False,
        url_scheme: str = "http",
    ) -> None:
        self.app = app
        self.base_environ: dict[str, Any] = {
            "SCRIPT_NAME": "",
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url_scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
        }

    def environ(self, req: Request) -> dict[str, Any]:
        """The PEP 3333 environ for ``req``."""
        env = dict(self.base_environ)
        raw_path = req.target.partition(b"?")[0]
        if raw_path[:1] != b"/":
            raw_path = req.path.encode("utf-8")
        env["REQUEST_METHOD"] = req.method
        env["PATH_INFO"] = unquote_to_bytes(raw_path).decode("latin-1")
        env["QUERY_STRING"] = req.query
        env["RAW_URI"] = req.target.decode("latin-1")
        env["SERVER_PROTOCOL"] = f"HTTP/{req.http_version}"
        env["wsgi.input"] = io.BytesIO(req.body)
        if req.client is not None:
            env["REMOTE_ADDR"] = req.client[0]
            env["REMOTE_PORT"] = str(req.client[1])
        for name, value in req.headers:
            if name == "content-type":
                env["CONTENT_TYPE"] = value
            elif name == "content-length":
                env["CONTENT_LENGTH"] = value
            elif "_" in name:
                continue
            else:
                key = "HTTP_" + name.upper().replace("-", "_")
                if key in env:
                    env[key] = f"{env[key]},{value}"
                else:
                    env[key] = value
        if "HTTP_HOST" in env:
            host, _, port = env["HTTP_HOST"].rpartition(":")
            if host and port.isdigit():
                env["SERVER_NAME"], env["SERVER_PORT"] = host, port
            else:
                env["SERVER_NAME"] = env["HTTP_HOST"]
        if req.body and "CONTENT_LENGTH" not in env:
            env["CONTENT_LENGTH"] = str(len(req.body))  # a chunked body, read whole
        return env

    def __call__(self, req: Request) -> Response:
        start = _StartResponse()
        result = self.app(self.environ(req), start)
        try:
            if isinstance(result, list | tuple):
                body = b"".join([*start.written, *result])
                return self._response(start, body)
            it = iter(result)
            first = b""
            for item in it:  # start_response may wait until the first non-empty item
                if item:
                    first = item
                    break
        except BaseException:
            _close(result)
            raise
        start.sent = True
        if not first:  # the iterable was empty
            _close(result)
            return self._response(start, b"".join(start.written))
        if _small_length(start.headers):
            # A body of announced small length (Werkzeug/Flask announce it for every
            # non-streamed response) is collected here and sent with its length, as
            # gunicorn writes it directly: the streaming path costs a wake-up per chunk.
            try:
                body = b"".join([*start.written, first, *it])
            finally:
                _close(result)
            return self._response(start, body)
        return self._response(start, _Body(start.written, first, it, result))

    @staticmethod
    def _response(start: _StartResponse, body: bytes | Iterable[bytes]) -> Response:
        if start.status is None:
            raise RuntimeError("the WSGI application returned without calling start_response")
        return Response(start.status, start.headers, body)


class _Body:
    """The rest of a streamed WSGI result, ``close()``-d when done (PEP 3333)."""

    __slots__ = ("first", "it", "result", "written")

    def __init__(
        self, written: list[bytes], first: bytes, it: Iterator[bytes], result: Iterable[bytes]
    ) -> None:
        self.written = written
        self.first = first
        self.it = it
        self.result = result

    def __iter__(self) -> Iterator[bytes]:
        yield from self.written
        yield self.first
        yield from self.it

    def close(self) -> None:
        _close(self.result)


_BUFFER_LIMIT = 1 << 20
"""Largest announced Content-Length collected in memory rather than streamed."""


def _small_length(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "content-length":
            return value.isdigit() and int(value) <= _BUFFER_LIMIT
    return False


def _close(result: object) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
