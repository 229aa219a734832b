"""The HTTP/1.1 request parser: the one module that knows which parsing library gmp uses.

gmp parses with **httptools** (Python bindings to llhttp, Node.js's parser). Measured on
this machine (``python -m bench.http.parsers``): httptools parses a typical keep-alive
``GET`` at about 1.3 M requests/s, h11 at about 18 k/s, 75x fewer (h11 builds its events
and drives a full state machine in Python; its sans-IO design is the model for this
module, but its speed alone would eat the whole per-request budget of a 20 k req/s
server). Everything else in ``gmp.http`` sees only
:class:`RequestParser`, :class:`ParseError` and :class:`~gmp.http.request.Request`, so the
library can be swapped behind this module.

Like h11, the parser does no I/O: the connection feeds it bytes and takes complete
requests from :attr:`RequestParser.ready`. It enforces the server's limits as bytes arrive
(Go's ``MaxHeaderBytes``, ``http.MaxBytesReader``): an over-long request line (414), an
over-large header section (431), a body over ``max_body`` (413, decided from
``Content-Length`` before any body byte is read), an unsupported ``Expect`` (417) and
anything llhttp rejects (400). After an error the parser is spent; the requests it
completed before the error stay in ``ready`` so they are still answered in order.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import unquote

import httptools

from gmp.http.request import Headers, Request

__all__ = ["ParseError", "RequestParser"]


class ParseError(Exception):
    """The bytes on the connection are not an acceptable request.

    ``status`` is the response to send before closing the connection (400, 413, 414, 417,
    431); ``reason`` says what was wrong, for the response body and the log.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class _LimitExceeded(Exception):
    """Raised inside an httptools callback; httptools wraps it, :meth:`feed` unwraps it."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(error.reason)
        self.error = error


_IDLE = 0  # between messages (nothing of the next request seen)
_HEAD = 1  # request line / headers being received
_BODY = 2  # headers complete, body being received


class RequestParser:
    """Turns a connection's bytes into :class:`Request` objects (one per connection).

    httptools calls back into this object (``on_url``, ``on_header``, ...); the callbacks
    only collect pieces, :meth:`on_message_complete` assembles the :class:`Request`.
    """

    __slots__ = (
        "_body",
        "_body_len",
        "_headers",
        "_url",
        "_url_len",
        "client",
        "content_length",
        "error",
        "expect_continue",
        "head_bytes",
        "keep_alive",
        "max_body",
        "max_header_bytes",
        "max_request_line",
        "parser",
        "ready",
        "state",
        "upgraded",
    )

    def __init__(
        self,
        *,
        max_request_line: int = 8 * 1024,
        max_header_bytes: int = 64 * 1024,
        max_body: int = 16 * 1024 * 1024,
        client: tuple[str, int] | None = None,
    ) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_body = max_body
        self.client = client
        self.parser = httptools.HttpRequestParser(self)
        self.ready: deque[Request] = deque()
        self.error: ParseError | None = None
        # True once the parser stopped at an Upgrade/CONNECT request: the requests before
        # it are answered, then the connection closes (no protocol switch in this server).
        self.upgraded = False
        self.state = _IDLE
        self.head_bytes = 0
        self.expect_continue = False
        self.keep_alive = True
        self.content_length = -1
        self._url: list[bytes] = []
        self._url_len = 0
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_len = 0

    # -- what the connection asks -------------------------------------------------------

    @property
    def in_message(self) -> bool:
        """True while a request has started arriving but is not complete yet."""
        return self.state != _IDLE

    @property
    def awaiting_continue(self) -> bool:
        """The current request sent ``Expect: 100-continue`` and none of its body yet:
        the server should send ``100 Continue`` before waiting for the body."""
        return self.state == _BODY and self.expect_continue and self._body_len == 0

    def feed(self, data: bytes) -> None:
        """Parse ``data``; complete requests go to :attr:`ready`, a failure to :attr:`error`.

        The header section is bounded by counting every byte fed while headers are
        incomplete (llhttp buffers partial header values internally, without callbacks),
        so memory per connection stays below ``max_header_bytes`` plus one read.
        """
        if self.error is not None or self.upgraded:
            return
        if self.state != _BODY:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if isinstance(cause, _LimitExceeded):
                self.error = cause.error
            else:  # a bug in a callback below: report it as ours, not the client's
                raise
        except httptools.HttpParserUpgrade:
            self.upgraded = True
            return
        except httptools.HttpParserError as e:
            self.error = ParseError(400, f"malformed request: {e}")
            return
        if self.state == _HEAD and self.head_bytes > self.max_header_bytes:
            self.error = ParseError(
                431, f"request header section larger than {self.max_header_bytes} bytes"
            )

    # -- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        self.state = _HEAD
        self.expect_continue = False
        self.content_length = -1

    def on_url(self, url: bytes) -> None:
        self._url_len += len(url)
        if self._url_len > self.max_request_line:
            raise _LimitExceeded(
                ParseError(414, f"request target longer than {self.max_request_line} bytes")
            )
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.state == _BODY:
            return  # a chunked body's trailer fields: accepted and dropped
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.state = _BODY
        self.head_bytes = 0
        # The exact size of a head that arrived within one read (the per-feed count in
        # feed() only sees heads still incomplete after a read).
        size = self._url_len + sum(len(n) + len(v) + 4 for n, v in self._headers)
        if size > self.max_header_bytes:
            raise _LimitExceeded(
                ParseError(431, f"request header section larger than {self.max_header_bytes} bytes")
            )
        self.keep_alive = self.parser.should_keep_alive()
        for name, value in self._headers:
            if name == "content-length":
                # llhttp has validated the digits; the limit is checked before any body
                # byte arrives, so a 413 never waits for (or buffers) the body.
                length = int(value)
                if length > self.max_body:
                    raise _LimitExceeded(
                        ParseError(413, f"request body larger than {self.max_body} bytes")
                    )
                self.content_length = length
            elif name == "expect":
                if value.strip().lower() != "100-continue":
                    raise _LimitExceeded(ParseError(417, f"unsupported Expect: {value!r}"))
                self.expect_continue = self.parser.get_http_version() == "1.1"

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.max_body:
            raise _LimitExceeded(ParseError(413, f"request body larger than {self.max_body} bytes"))
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self.parser
        url = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        if url[:1] == b"/":
            raw_path, _, raw_query = url.partition(b"?")
        else:
            # absolute-form ("http://host/p?q", proxies) or asterisk-form ("*")
            try:
                parsed = httptools.parse_url(url)
                raw_path = parsed.path or b"/"
                raw_query = parsed.query or b""
            except httptools.HttpParserInvalidURLError:
                raw_path, raw_query = url, b""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(raw_path.decode("ascii", "replace"), "utf-8", "replace")
        body = self._body
        self.ready.append(
            Request(
                parser.get_method().decode("ascii"),
                path,
                raw_query.decode("latin-1"),
                Headers.from_lowercase(self._headers),
                body[0] if len(body) == 1 else b"".join(body),
                http_version=parser.get_http_version(),
                target=url,
                client=self.client,
                keep_alive=self.keep_alive,
                expect_continue=self.expect_continue,
            )
        )
        self.state = _IDLE
        self.head_bytes = 0
        self._url = []
        self._url_len = 0
        self._headers = []
        self._body = []
        self._body_len = 0
        self.expect_continue = False
