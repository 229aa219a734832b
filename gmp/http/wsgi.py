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

What the adapter adds to a request is kept small, since a Flask view is most of the
time and gunicorn pays the rest too: status lines and header names' environ keys are
parsed once and cached, the last ``Host`` is split once, the response is built without
``Response.__init__``'s checks (the adapter has made them) and without the app's
``Content-Length`` when the server would announce the same. Measured at procs=1 with
the old and new adapter alternating (wrk -c64 /ping, server and wrk on their own CPUs,
4 rounds, medians): a one-line WSGI app 20.3 k -> 22.1 k req/s, about 4 us less per
request; on Flask's /ping (about 135 us a request, 70 us of it in Flask) that is 3%,
inside the run-to-run noise.
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


_STATUS_CODES: dict[str, int] = {}
"""Status lines already parsed, to their code: an app repeats the same few (``200 OK``).
Bounded by :data:`_CACHE_MAX`; a dict's get and set are atomic, so threads share it."""

_CGI_KEYS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
"""The two headers that lose the ``HTTP_`` prefix (PEP 3333, after CGI)."""

_ENV_KEYS: dict[str, str] = dict(_CGI_KEYS)
"""A (lower-case) header name's environ key, ``""`` for a name with ``_`` (dropped), so
a request's headers cost a lookup each rather than an ``upper`` and a ``replace``.
Bounded by :data:`_CACHE_MAX` (cleared when full: names that never repeat start it
over), shared as :data:`_STATUS_CODES` is."""

_LAST_WINS = frozenset(("CONTENT_TYPE", "CONTENT_LENGTH"))
"""Keys a repeated header replaces rather than joins with a comma."""

_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}

_CACHE_MAX = 1024


def _status_code(status: str) -> int:
    """The code of a WSGI status line; a ``ValueError`` unless it starts with one from
    100 to 999 (what :class:`Response` accepts)."""
    code = _STATUS_CODES.get(status)
    if code is not None:
        return code
    try:
        code = int(status.split(" ", 1)[0])
    except ValueError:
        raise ValueError(f"WSGI status must start with a 3-digit code, got {status!r}") from None
    if not 100 <= code <= 999:
        raise ValueError(f"status must be an int from 100 to 999, got {code!r}")
    if len(_STATUS_CODES) >= _CACHE_MAX:
        _STATUS_CODES.clear()
    _STATUS_CODES[status] = code
    return code


def _env_key(name: str) -> str:
    """The environ key of header ``name`` (``""``: dropped), cached in :data:`_ENV_KEYS`."""
    key = _CGI_KEYS.get(name)
    if key is None:
        key = "" if "_" in name else "HTTP_" + name.upper().replace("-", "_")
    if len(_ENV_KEYS) >= _CACHE_MAX:
        _ENV_KEYS.clear()
    _ENV_KEYS[name] = key
    return key


_new_response = Response.__new__


def _response(status: int, headers: list[tuple[str, str]], body: Any) -> Response:
    """``Response(status, headers, body)`` without its checks, which the adapter has
    made already (``status`` comes from :func:`_status_code`, ``headers`` is a fresh
    list, ``body`` bytes or a :class:`_Body`): ``Response.__init__`` tests the headers
    against ``Headers`` and ``Mapping`` (an ABC check) and the body against four types."""
    resp = _new_response(Response)
    resp.status = status
    resp.headers = headers
    resp.body = body
    return resp


class _StartResponse:
    """The ``start_response`` callable of one request (PEP 3333)."""

    __slots__ = ("headers", "sent", "status", "written")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.written: list[bytes] | None = None  # the legacy write()'s data, if any
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
        self.status = _status_code(status)
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: buffered ahead of the returned iterable."""
        if self.written is None:
            self.written = []
        self.written.append(bytes(data))


class WSGIAdapter:
    """A gmp handler serving the WSGI application ``app``.

    ``Server(WSGIAdapter(flask_app))``, or ``gmp serve --wsgi module:app``.
    ``multiprocess`` sets ``wsgi.multiprocess`` (True under ``--workers N``);
    ``url_scheme`` is ``wsgi.url_scheme`` (``https`` under ``--certfile``).
    """

    __slots__ = ("_host", "app", "base_environ")

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
        # The last Host value and the SERVER_NAME, SERVER_PORT it gives (one tuple, so
        # threads swap it atomically): clients repeat the same Host.
        self._host: tuple[str, str, str | None] = ("", "", None)

    def environ(self, req: Request) -> dict[str, Any]:
        """The PEP 3333 environ for ``req``."""
        env = self.base_environ.copy()
        target = req.target
        raw_path = target.partition(b"?")[0]
        if raw_path[:1] != b"/":
            raw_path = req.path.encode("utf-8")
        env["REQUEST_METHOD"] = req.method
        if b"%" in raw_path:
            raw_path = unquote_to_bytes(raw_path)
        env["PATH_INFO"] = raw_path.decode("latin-1")
        env["QUERY_STRING"] = req.query
        env["RAW_URI"] = target.decode("latin-1")
        version = req.http_version
        env["SERVER_PROTOCOL"] = _PROTOCOLS.get(version) or f"HTTP/{version}"
        body = req.body
        env["wsgi.input"] = io.BytesIO(body)
        client = req.client
        if client is not None:
            env["REMOTE_ADDR"] = client[0]
            env["REMOTE_PORT"] = str(client[1])
        keys = _ENV_KEYS
        for name, value in req.headers:
            key = keys.get(name)
            if key is None:
                key = _env_key(name)
            if not key:
                continue
            old = env.get(key)
            if old is None or key in _LAST_WINS:
                env[key] = value
            else:
                env[key] = f"{old},{value}"
        host = env.get("HTTP_HOST")
        if host is not None:
            cached = self._host
            if cached[0] != host:
                name, _, port = host.rpartition(":")
                cached = (host, name, port) if name and port.isdigit() else (host, host, None)
                self._host = cached
            env["SERVER_NAME"] = cached[1]
            if cached[2] is not None:
                env["SERVER_PORT"] = cached[2]
        if body and "CONTENT_LENGTH" not in env:
            env["CONTENT_LENGTH"] = str(len(body))  # a chunked body, read whole
        return env

    def __call__(self, req: Request) -> Response:
        start = _StartResponse()
        result = self.app(self.environ(req), start)
        try:
            if isinstance(result, _SEQUENCES):
                resp = _fixed(start, b"".join(result), req.method)
                if type(result) is not list and type(result) is not tuple:
                    _close(result)  # a subclass may have a close() (PEP 3333)
                return resp
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
            return _fixed(start, b"", req.method)
        if _small_length(start.headers):
            # A body of announced small length (Werkzeug/Flask announce it for every
            # non-streamed response) is collected here and sent with its length, as
            # gunicorn writes it directly: the streaming path costs a wake-up per chunk.
            try:
                body = b"".join((first, *it))
            finally:
                _close(result)
            return _fixed(start, body, req.method)
        if start.status is None:
            _close(result)
            raise _no_start()
        return _response(start.status, start.headers, _Body(start.written, first, it, result))


_SEQUENCES = (list, tuple)


def _fixed(start: _StartResponse, body: bytes, method: str) -> Response:
    """The response of a body collected whole, after the legacy ``write()`` data.

    The app's own ``Content-Length`` is dropped when it is the body's length and the
    request is not HEAD: the server announces ``len(body)`` for a bytes body anyway and
    would only check and skip the app's (what Werkzeug sends with every response), 0.5 us
    of ``encode_head`` per response (1.2 -> 0.7 us for Flask's two headers). The wire is
    the same; a HEAD answer keeps it, as the server sends the app's length there.
    """
    status = start.status
    if status is None:
        raise _no_start()
    if start.written:
        body = b"".join([*start.written, body])
    headers = start.headers
    if method != "HEAD":
        for i, (name, value) in enumerate(headers):
            if len(name) == 14 and name.lower() == "content-length":
                if value == str(len(body)):
                    del headers[i]
                break
    return _response(status, headers, body)


def _no_start() -> RuntimeError:
    return RuntimeError("the WSGI application returned without calling start_response")


class _Body:
    """The rest of a streamed WSGI result, ``close()``-d when done (PEP 3333)."""

    __slots__ = ("first", "it", "result", "written")

    def __init__(
        self,
        written: list[bytes] | None,
        first: bytes,
        it: Iterator[bytes],
        result: Iterable[bytes],
    ) -> None:
        self.written = written
        self.first = first
        self.it = it
        self.result = result

    def __iter__(self) -> Iterator[bytes]:
        if self.written:
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
