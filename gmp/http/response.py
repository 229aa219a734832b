"""What a handler returns, and how the server puts it on the wire.

A :class:`Response` is ``status``, ``headers`` and ``body``. The body is either bytes (sent
with ``Content-Length``) or an iterable / async iterable of byte chunks, which is a
streaming body: the handler's G produces the chunks and the connection sends each as it
comes, with ``Transfer-Encoding: chunked`` (or raw when the handler set
``Content-Length``, or close-delimited for an HTTP/1.0 client). That is Go's
``ResponseWriter`` (``Write`` + ``Flush``) and Starlette's ``StreamingResponse`` in one
shape. A handler may also return ``bytes`` or ``str`` (200, ``text/plain``) or ``None``
(204).

The server owns the framing headers: it computes ``Content-Length`` for byte bodies,
chooses chunked encoding, and writes ``Connection`` and ``Date``; a handler's
``Connection: close`` is honoured (the connection closes after this response). Header
names and values are checked for CR, LF and NUL so user data cannot split a response
(what Go's ``textproto`` and h11 refuse too).
"""

from __future__ import annotations

import json as _json
import re
import time
from collections.abc import AsyncIterable, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from gmp.http.request import Headers

__all__ = ["Body", "HeadersLike", "Response", "as_response", "json_bytes"]

Body = bytes | Iterable[bytes] | AsyncIterable[bytes]
"""A response body: bytes, or chunks from a (sync or async) iterable."""

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | Headers
"""Anything a handler may pass as headers."""


class Response:
    """An HTTP response: ``status``, ``headers`` (ordered pairs, names as given), ``body``.

    ``Response(200, {"content-type": "text/plain"}, b"pong")``, or the helpers
    :meth:`text`, :meth:`json` and :meth:`stream`.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        headers: HeadersLike | None = None,
        body: Body | str = b"",
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"status must be an int from 100 to 999, got {status!r}")
        self.status = status
        if headers is None:
            self.headers: list[tuple[str, str]] = []
        elif isinstance(headers, Headers):
            self.headers = headers.items()
        elif isinstance(headers, Mapping):
            self.headers = list(headers.items())
        else:
            self.headers = list(headers)
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif isinstance(body, bytearray | memoryview):
            body = bytes(body)
        self.body: Body = body

    @classmethod
    def text(cls, text: str, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A ``text/plain; charset=utf-8`` response."""
        resp = cls(status, headers, text.encode("utf-8"))
        resp.headers.append(("content-type", "text/plain; charset=utf-8"))
        return resp

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """An ``application/json`` response (compact separators, UTF-8)."""
        resp = cls(status, headers, json_bytes(data))
        resp.headers.append(("content-type", "application/json"))
        return resp

    @classmethod
    def stream(
        cls,
        chunks: Iterable[bytes] | AsyncIterable[bytes],
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str = "application/octet-stream",
    ) -> Response:
        """A streaming response: each chunk is sent as the handler's G produces it."""
        resp = cls(status, headers, chunks)
        resp.headers.append(("content-type", content_type))
        return resp

    @property
    def streaming(self) -> bool:
        """True when the body is an iterable of chunks rather than bytes."""
        return not isinstance(self.body, bytes)

    def __repr__(self) -> str:
        kind = "streaming" if self.streaming else f"{len(self.body)} bytes"  # type: ignore[arg-type]
        return f"<Response {self.status} {kind}>"


def json_bytes(data: Any) -> bytes:
    """``data`` as compact UTF-8 JSON; a ``TypeError`` naming the problem if it is not
    serializable (a handler's bug, answered 500 by Recovery)."""
    try:
        return _json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise TypeError(f"response is not JSON serializable: {e}") from None


def as_response(value: object) -> Response:
    """Normalize what a handler returned: Response, bytes/str (200) or None (204)."""
    if type(value) is Response:
        return value
    if isinstance(value, Response):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return Response(200, [("content-type", "application/octet-stream")], bytes(value))
    if isinstance(value, str):
        return Response.text(value)
    if value is None:
        return Response(204)
    raise TypeError(
        f"a handler must return a gmp.http.Response, bytes, str or None, got {type(value).__name__}"
    )


# -- serialization (runs on the connection's side) ----------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "date"))
_STATUS_LINES: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``, cached per status."""
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")
        if len(_STATUS_LINES) < 1000:
            _STATUS_LINES[status] = line
    return line


class _DateCache:
    """The ``Date`` header, formatted once per second (uvicorn and Go cache it too)."""

    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = -1
        self.line = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self.line


_date = _DateCache()


_lines: dict[tuple[str, str], bytes] = {}
"""Header fields already checked and encoded, by (name, value): most responses repeat
the same few (``content-type: application/json``), and the checks (two regular
expressions, a lower-case, a format) cost 0.4 us per response. Only fields that are not
framing ones (``content-length``, ``connection``, ``date``, ``transfer-encoding``) are
kept, so a hit needs no further look. Bounded by :data:`_LINES_MAX`; cleared when full.
Entries are immutable and a dict's get and set are atomic, so threads share it without a
lock: a race costs a second check of the same field."""

_LINES_MAX = 512

_names: dict[str, str] = {}
"""Header names already checked, to their lower-case form: a field whose value changes
with every response (a request id, ``RateLimit-Remaining``) misses :data:`_lines` every
time, but its name is one of a few. Bounded by :data:`_LINES_MAX` (not added past it)."""

_misses: dict[str, int] = {}
"""Per header name, the values encoded and kept in :data:`_lines` since it was last
cleared. Past :data:`_VOLATILE_AFTER` the name's values are no longer kept: they do not
repeat, and kept they filled the cache in 256 responses, which cleared the fields that
do repeat with them (the production stack sets two such fields; a response's head then
took 2.4 us to encode instead of 0.8 with its four extra fields kept). Counts race
between threads without harm: one more or less only moves the cut-off."""

_VOLATILE_AFTER = 64

_volatile: set[str] = set()
"""Names past :data:`_VOLATILE_AFTER`: their lines are encoded without the look in
:data:`_lines`, a tuple to build and hash with a new string's hash in it. The production
stack sends two such fields a response; its five-field head took 35.0k -> 31.5k
instructions with the Response built and the id made (callgrind). Only a name that
passed the checks below reaches it (a token, not a framing field). Bounded by
:data:`_LINES_MAX`; one atomic set operation each, so shared without a lock."""


class HeaderError(ValueError):
    """A handler produced a header that cannot be sent (bad name, CR/LF in a value)."""


def body_allowed(status: int) -> bool:
    """RFC 9110: 1xx, 204 and 304 responses never carry content."""
    return not (status < 200 or status == 204 or status == 304)


def encode_head(
    resp: Response,
    *,
    content_length: int | None,
    chunked: bool,
    keep_alive: bool,
    http10_keep_alive: bool = False,
) -> tuple[bytes, bool, int | None]:
    """The status line and header block of ``resp``.

    Returns ``(head, keep_alive, user_length)``: ``keep_alive`` is False if the handler
    asked for ``Connection: close``; ``user_length`` is the handler's own
    ``Content-Length`` (used for streaming bodies and HEAD). ``content_length`` is the
    length to announce (None: none); ``chunked`` adds ``Transfer-Encoding: chunked``.
    """
    status = resp.status
    parts = [status_line(status)]
    append = parts.append
    has_date = False
    user_length: int | None = None
    lines = _lines
    volatile = _volatile
    for name, value in resp.headers:
        if name in volatile:
            # A valid, non-framing name whose values do not repeat: no cache to look in.
            if "\r" in value or "\n" in value or "\0" in value:
                raise HeaderError(f"header {name!r} has CR, LF or NUL in its value")
            append(f"{name}: {value}\r\n".encode("latin-1"))
            continue
        line = lines.get((name, value))
        if line is not None:
            append(line)
            continue
        lname = _names.get(name)
        if lname is None:
            if not _TOKEN(name):
                raise HeaderError(f"invalid header name {name!r}")
            lname = name.lower()
            if len(_names) < _LINES_MAX:
                _names[name] = lname
        # Three substring tests, not a regex search: 1.0k instructions against 2.3k
        # (callgrind), on every header value that changes from request to request.
        if "\r" in value or "\n" in value or "\0" in value:
            raise HeaderError(f"header {name!r} has CR, LF or NUL in its value")
        if lname in _FRAMING:
            if lname == "connection":
                if "close" in value.lower():
                    keep_alive = False
                continue
            if lname == "content-length":
                try:
                    user_length = int(value)
                except ValueError:
                    raise HeaderError(f"invalid Content-Length {value!r}") from None
                if user_length < 0:
                    raise HeaderError(f"invalid Content-Length {value!r}")
                continue
            if lname != "date":  # transfer-encoding: the server frames the body itself
                continue
            has_date = True  # the handler's own Date, sent as given and never cached
            append(f"{name}: {value}\r\n".encode("latin-1"))
            continue
        line = f"{name}: {value}\r\n".encode("latin-1")
        kept = _misses.get(name, 0)
        if kept < _VOLATILE_AFTER:
            if len(lines) >= _LINES_MAX:
                lines.clear()  # values that never repeat (ids, cookies): start over
                _misses.clear()
            _misses[name] = kept + 1
            lines[(name, value)] = line
        elif len(volatile) < _LINES_MAX:
            volatile.add(name)
        append(line)
    if content_length is not None and status != 204 and status >= 200:
        append(b"content-length: %d\r\n" % content_length)
    if chunked:
        append(b"transfer-encoding: chunked\r\n")
    if not has_date:
        append(_date.get())
    if not keep_alive:
        append(b"connection: close\r\n")
    elif http10_keep_alive:
        append(b"connection: keep-alive\r\n")
    append(b"\r\n")
    return b"".join(parts), keep_alive, user_length


def simple_response(
    status: int, text: str, *, keep_alive: bool, extra: list[tuple[str, str]] | None = None
) -> bytes:
    """A complete small text response (errors, 503), with ``Content-Length``."""
    body = text.encode("utf-8")
    headers = [("content-type", "text/plain; charset=utf-8")]
    if extra:
        headers.extend(extra)
    head, _, _ = encode_head(
        Response(status, headers, body),
        content_length=len(body),
        chunked=False,
        keep_alive=keep_alive,
    )
    return head + body


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNK_END = b"0\r\n\r\n"


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (the caller never passes an empty one)."""
    return b"%x\r\n%b\r\n" % (len(data), data)
