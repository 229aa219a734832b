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

On top of llhttp it applies the request rules of RFC 9112 that llhttp leaves to its user.
Each failure is a :class:`ParseError`, so it is answered and the connection closed:

- only HTTP/1.0 and HTTP/1.1 are served: another version gets 505 (RFC 9110 §15.6.6), a
  request line whose version is missing or malformed gets 400 (RFC 9112 §2.3, §3);
- exactly one ``Host`` field holding a valid RFC 3986 authority, and HTTP/1.1 must send
  it (§3.2), else 400;
- the asterisk-form target ``*`` only with ``OPTIONS`` (§3.2.4), else 400;
- at most :data:`MAX_CHUNK_EXT_BYTES` bytes of chunk extensions per request (§7.1.1),
  else 400, and a trailer section no larger than the header limit (§7.1.2), else 431;
- ``Transfer-Encoding`` in an HTTP/1.0 request gets 400 (§6.1): an HTTP/1.0 recipient
  may not understand chunked framing, so the message's end is ambiguous, the classic
  request-smuggling vector; nothing after its header section is parsed.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from urllib.parse import unquote

import httptools

from gmp.http.request import Headers, Request

__all__ = ["MAX_CHUNK_EXT_BYTES", "ParseError", "RequestParser", "valid_host"]

MAX_CHUNK_EXT_BYTES = 4096
"""Chunk-extension bytes allowed in one request, all its chunk-size lines together.

RFC 9112 §7.1.1 lets a server limit them. llhttp skips extensions without a bound and
httptools reports none of them, so the parser counts them itself (:class:`_ChunkScan`).
Clients in common use send no extensions; the limit only stops a body whose size lines
carry megabytes of them."""


class ParseError(Exception):
    """The bytes on the connection are not an acceptable request.

    ``status`` is the response to send before closing the connection (400, 413, 414, 417,
    431, 505); ``reason`` says what was wrong, for the response body and the log.
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


# -- Host (RFC 9112 §3.2, RFC 3986 §3.2.2-3.2.3) -----------------------------------------

_UNRESERVED_SUB_DELIMS = r"A-Za-z0-9\-._~!$&'()*+,;="
_HOST_FIELD = re.compile(
    r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]"  # IP-literal holding an IPv6address
    rf"|\[[vV][0-9A-Fa-f]+\.[{_UNRESERVED_SUB_DELIMS}:]+\]"  # IP-literal: IPvFuture
    rf"|(?:[{_UNRESERVED_SUB_DELIMS}]|%[0-9A-Fa-f]{{2}})*)"  # reg-name (IPv4address too)
    r"(?::(?P<port>[0-9]*))?"
).fullmatch


def valid_host(value: str) -> bool:
    """Whether ``value`` is a valid ``Host`` field value: ``uri-host [ ":" port ]``.

    RFC 9112 §3.2 requires a 400 for an invalid one. ``uri-host`` is RFC 3986's: a
    reg-name (unreserved characters, sub-delims and %-escapes, which covers IPv4
    addresses), or an IPv6 address or IPvFuture in brackets; no userinfo (``@``), path
    (``/``), whitespace or control characters. The port is digits; RFC 3986 allows it
    empty (``example.com:``), and a port above 65535 cannot be one. An empty value is
    valid: §3.2 has a client send it when the target URI has no authority.
    """
    m = _HOST_FIELD(value)
    if m is None:
        return False
    port = m.group("port")
    if port and (len(port) > 5 or int(port) > 65535):
        return False
    ip6 = m.group("ip6")
    if ip6 is not None:
        try:
            ipaddress.IPv6Address(ip6)
        except ValueError:
            return False
    return True


# -- HTTP version (RFC 9112 §2.3, RFC 9110 §15.6.6) ---------------------------------------


def _head_error(error: httptools.HttpParserError, version: str) -> ParseError:
    """The answer to a request head llhttp refused: 505 when it names an HTTP version
    other than 1.0/1.1 (``HTTP/1.2``, ``HTTP/3.0``; ``HTTP/2``, ``HTTP/3`` without a
    minor digit; the HTTP/2 preface ``PRI * HTTP/2.0``), 400 for anything malformed."""
    message = str(error)
    if message == "Invalid HTTP version" or (
        message == "Expected dot" and not version.startswith("1.")
    ):
        shown = version if message == "Invalid HTTP version" else version.partition(".")[0]
        return ParseError(505, f"HTTP/{shown} is not supported (only HTTP/1.0 and HTTP/1.1)")
    if message.startswith("Pause on PRI"):
        return ParseError(505, "HTTP/2 is not supported (only HTTP/1.0 and HTTP/1.1)")
    if "version" in message or message in ("Expected dot", "Expected HTTP/, RTSP/ or ICE/"):
        return ParseError(400, f"malformed HTTP version in the request line: {message}")
    return ParseError(400, f"malformed request: {message}")


# -- chunked framing (RFC 9112 §7.1) ---------------------------------------------------------

_SIZE = 0  # in a chunk-size line: chunk-size [ chunk-ext ] CRLF
_DATA = 1  # in chunk-data and its CRLF
_TRAILER = 2  # in the trailer section, up to its empty line
_LOST = -2  # scan(): the bytes are not the chunked body llhttp accepted (never expected)

_HEXDIGITS = b"0123456789abcdefABCDEF"


def _blank_line_end(tail: bytes, data: bytes, pos: int) -> int:
    """The offset just past the first ``CRLF CRLF`` in ``tail + data[pos:]``, as an
    offset into ``data``, or -1. ``tail`` (at most 3 bytes) is what came just before
    ``pos``, so a blank line split across two reads is found."""
    if tail:
        j = (tail + data[pos : pos + 3]).find(b"\r\n\r\n")
        if j >= 0:
            return pos + j + 4 - len(tail)
    i = data.find(b"\r\n\r\n", pos)
    return i + 4 if i >= 0 else -1


class _ChunkScan:
    """Follows one chunked body through bytes llhttp has accepted, to count what llhttp
    passes over without a word: chunk-extension bytes (RFC 9112 §7.1.1) and trailer bytes
    (§7.1.2).

    llhttp has validated the framing (strict CRLFs, hex sizes), so this only locates:
    chunk data is skipped by its size, never copied. A size line split across reads is
    kept (bounded by the extension limit); ``tail`` keeps the last bytes of the trailer
    section so its ending blank line may straddle reads.
    """

    __slots__ = ("ext", "left", "line", "phase", "tail", "trailer")

    def __init__(self) -> None:
        self.phase = _SIZE
        self.left = 0
        self.line = b""
        self.ext = 0
        self.trailer = 0
        self.tail = b""

    def scan(self, data: bytes, pos: int, max_ext: int, max_trailer: int) -> int:
        """Advance over ``data[pos:]``; the offset just past the body's end, -1 when the
        body goes on in a later read (or :data:`_LOST`). Raises :class:`ParseError` over
        a limit."""
        n = len(data)
        phase = self.phase
        ext = self.ext
        while pos < n:
            if phase == _DATA:
                pos += self.left
                if pos > n:
                    self.left = pos - n
                    break
                phase = _SIZE
            elif phase == _SIZE:
                # chunk-size [ chunk-ext ] CRLF; llhttp allows nothing but ";" after the
                # digits, so the extensions are the bytes from the first ";" to the CR.
                if self.line:  # the rest of a line that began in an earlier read
                    nl = data.find(b"\n", pos)
                    if nl < 0:
                        self.line += data[pos:]
                        self._check_partial_line(ext, max_ext)
                        break
                    line = (self.line + data[pos:nl])[:-1]  # without its CRLF
                    self.line = b""
                    pos = nl + 1
                    semi = line.find(b";")
                    if semi >= 0:
                        ext += len(line) - semi
                        line = line[:semi]
                else:
                    nl = data.find(b"\r\n", pos)
                    if nl < 0:  # the line goes on in the next read
                        self.line = data[pos:]
                        self._check_partial_line(ext, max_ext)
                        break
                    semi = data.find(b";", pos, nl)
                    if semi >= 0:
                        ext += nl - semi
                        line = data[pos:semi]
                    else:
                        line = data[pos:nl]
                    pos = nl + 2
                if ext > max_ext:
                    raise _ext_error(max_ext)
                try:
                    size = int(line, 16)
                except ValueError:
                    return _LOST
                if size:
                    phase = _DATA
                    self.left = size + 2  # chunk-data CRLF
                elif data.startswith(b"\r\n", pos):  # last-chunk, no trailer fields
                    return pos + 2
                else:  # last-chunk: the trailer section follows (its CRLF counts as tail)
                    phase = _TRAILER
                    self.tail = b"\r\n"
            else:
                end = _blank_line_end(self.tail, data, pos)
                self.trailer += (n if end < 0 else end) - pos
                if self.trailer > max_trailer + 2:
                    raise _trailer_error(max_trailer)
                if end >= 0:
                    return end
                self.tail = (self.tail + data[max(pos, n - 3) :])[-3:]
                break
        self.phase = phase
        self.ext = ext
        return -1

    def _check_partial_line(self, ext: int, max_ext: int) -> None:
        """A size line still arriving: its extension bytes so far count already, and a
        flood of leading zeros in the size is folded so the kept line stays short."""
        line = self.line
        digits = len(line) - len(line.lstrip(_HEXDIGITS))
        if ext + len(line) - digits - line.endswith(b"\r") > max_ext:
            raise _ext_error(max_ext)
        if digits > 64:
            size = line[:digits].lstrip(b"0")
            if len(size) > 16:  # llhttp refuses sizes over 64 bits too
                raise ParseError(400, "chunk size larger than 64 bits")
            self.line = (size or b"0") + line[digits:]


def _ext_error(limit: int) -> ParseError:
    return ParseError(400, f"chunk extensions longer than {limit} bytes in one request")


def _trailer_error(limit: int) -> ParseError:
    return ParseError(431, f"request trailer section larger than {limit} bytes")


_IDLE = 0  # between messages (nothing of the next request seen)
_HEAD = 1  # request line / headers being received
_BODY = 2  # headers complete, body being received

_FOLLOW_CHUNKED = 1  # a chunked body to follow (RequestParser._follow_chunked)
_CHECK_PROTOCOL = 2  # a "version 1.0" request line to check (RequestParser._check_protocol)

_SPECIAL_FIELDS = frozenset(("host", "content-length", "transfer-encoding", "expect"))


class RequestParser:
    """Turns a connection's bytes into :class:`Request` objects (one per connection).

    httptools calls back into this object (``on_url``, ``on_header``, ...); the callbacks
    only collect pieces, :meth:`on_headers_complete` checks the head and
    :meth:`on_message_complete` assembles the :class:`Request`.
    """

    __slots__ = (
        "_body",
        "_body_len",
        "_followup",
        "_head_buf",
        "_head_cap",
        "_head_tail",
        "_headers",
        "_host_ok",
        "_scan",
        "_target",
        "_url",
        "_url_len",
        "_version",
        "client",
        "content_length",
        "error",
        "expect_continue",
        "head_bytes",
        "keep_alive",
        "max_body",
        "max_chunk_ext",
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
        max_chunk_ext: int = MAX_CHUNK_EXT_BYTES,
        client: tuple[str, int] | None = None,
    ) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_body = max_body
        self.max_chunk_ext = max_chunk_ext
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
        self._target = b""
        self._version = "1.1"
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_len = 0
        # The last Host value found valid: a keep-alive connection repeats it, so the
        # check costs one string comparison after the first request.
        self._host_ok: str | None = None
        # Checks that need a read's bytes after llhttp's pass over them (httptools gives
        # callbacks no byte positions): _FOLLOW_CHUNKED (:meth:`_follow_chunked`) and
        # _CHECK_PROTOCOL (:meth:`_check_protocol`) bits, rarely set, so a read pays one
        # test. _scan is where a chunked body stands when it goes on into the next read.
        self._followup = 0
        self._scan: _ChunkScan | None = None
        # A head still arriving across reads: the read it began in (plus what follows, up
        # to _head_cap bytes) for the request line, and its last 3 bytes.
        self._head_buf = b""
        self._head_cap = 0
        self._head_tail = b""

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
        state0 = self.state
        if state0 != _BODY:
            self.head_bytes += len(data)
            left0 = 0
        else:  # what is left of a Content-Length body, for _follow_chunked
            left0 = self.content_length - self._body_len
        n0 = len(self.ready)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            cause = e.__context__
            if not isinstance(cause, _LimitExceeded):
                raise  # a bug in a callback below: report it as ours, not the client's
            error = cause.error
            if error is _HTTP09:
                error = self._http09_error(data, state0)
            self.error = error
            done = len(self.ready) - n0
        except httptools.HttpParserUpgrade:
            self.upgraded = True
            done = len(self.ready) - n0 - 1  # the Upgrade request's own body is never read
        except httptools.HttpParserError as e:
            if self.state == _HEAD:
                self.error = _head_error(e, self.parser.get_http_version())
            else:
                self.error = ParseError(400, f"malformed request: {e}")
            done = len(self.ready) - n0
        else:
            done = -1
        if self._followup:  # checks that need this read's bytes (rare: see _followup)
            if self._followup & _FOLLOW_CHUNKED:
                self._follow_chunked(data, state0, n0, left0, done)
            if self._followup & _CHECK_PROTOCOL:
                self._followup &= ~_CHECK_PROTOCOL
                self._check_protocol(data, state0, n0)
        if done >= 0 or self.error is not None:
            return
        if self.state == _HEAD:
            if self.head_bytes > self.max_header_bytes:
                self.error = ParseError(
                    431, f"request header section larger than {self.max_header_bytes} bytes"
                )
            else:
                self._keep_head(data, state0 == _HEAD)
        elif state0 == _HEAD:
            self._head_buf = self._head_tail = b""

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
        """Check the head before any body byte is read: size, version, Host, framing,
        target. One pass over the fields finds the ones acted on and sums the head's exact
        size (the per-feed count in :meth:`feed` only sees heads still incomplete after a
        read)."""
        self.state = _BODY
        self.head_bytes = 0
        url_parts = self._url
        url = url_parts[0] if len(url_parts) == 1 else b"".join(url_parts)
        self._target = url
        size = self._url_len
        hosts = 0
        host = length = bad_expect = None
        chunked = expect_continue = False
        for name, value in self._headers:
            size += len(name) + len(value) + 4
            if name in _SPECIAL_FIELDS:
                if name == "host":
                    hosts += 1
                    host = value
                elif name == "content-length":
                    length = value  # llhttp has validated the digits and refused a second
                elif name == "transfer-encoding":
                    chunked = True  # llhttp refuses any other final coding in a request
                elif value.strip().lower() == "100-continue":
                    expect_continue = True
                elif bad_expect is None:
                    bad_expect = value
        if size > self.max_header_bytes:
            raise _LimitExceeded(
                ParseError(431, f"request header section larger than {self.max_header_bytes} bytes")
            )
        parser = self.parser
        version = parser.get_http_version()
        self._version = version
        if version != "1.1" and version != "1.0":
            # llhttp lets HTTP/0.9 and HTTP/2.0 through (RFC 9110 §15.6.6: 505)
            raise _LimitExceeded(_HTTP09 if version == "0.9" else _unsupported(version))
        if version == "1.0":  # or RTSP/1.0, ICE/1.0: llhttp reports those as 1.0 too
            self._followup |= _CHECK_PROTOCOL
        if hosts != 1:  # RFC 9112 §3.2
            if hosts:
                raise _LimitExceeded(ParseError(400, "more than one Host header field"))
            if version == "1.1":
                raise _LimitExceeded(ParseError(400, "HTTP/1.1 request without a Host header"))
        elif host is not None and host != self._host_ok:
            if not valid_host(host.rstrip(" \t")):  # llhttp keeps trailing whitespace
                raise _LimitExceeded(ParseError(400, f"invalid Host header: {host!r}"))
            self._host_ok = host
        if length is not None:
            # Checked before any body byte arrives, so a 413 never waits for (or buffers)
            # the body.
            content_length = int(length)
            if content_length > self.max_body:
                raise _LimitExceeded(
                    ParseError(413, f"request body larger than {self.max_body} bytes")
                )
            self.content_length = content_length
        if bad_expect is not None:
            raise _LimitExceeded(ParseError(417, f"unsupported Expect: {bad_expect!r}"))
        if expect_continue:
            self.expect_continue = version == "1.1"
        if chunked:
            if version == "1.0":  # RFC 9112 §6.1: the framing is ambiguous; never read on
                raise _LimitExceeded(ParseError(400, "Transfer-Encoding in an HTTP/1.0 request"))
            self._followup |= _FOLLOW_CHUNKED
        if url[:1] == b"*" and (url != b"*" or parser.get_method() != b"OPTIONS"):
            raise _LimitExceeded(  # RFC 9112 §3.2.4
                ParseError(400, "the asterisk-form target '*' is only for OPTIONS")
            )
        self.keep_alive = parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.max_body:
            raise _LimitExceeded(ParseError(413, f"request body larger than {self.max_body} bytes"))
        self._body.append(body)

    def on_message_complete(self) -> None:
        url = self._target
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
            Request._parsed(
                self.parser.get_method().decode("ascii"),
                path,
                raw_query.decode("latin-1"),
                Headers.from_lowercase(self._headers),
                body[0] if len(body) == 1 else b"".join(body),
                self._version,
                url,
                self.client,
                self.keep_alive,
                self.expect_continue,
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

    # -- the rarer paths --------------------------------------------------------------

    def _keep_head(self, data: bytes, continued: bool) -> None:
        """Remember a head that goes on into the next read: its last 3 bytes (where its
        end is, for :meth:`_follow_chunked`) and the start of its request line (for
        :meth:`_http09_error`), at most a request line's worth past the read it began in.
        """
        if continued:
            self._head_tail = (self._head_tail + data[-3:])[-3:]
            room = self._head_cap - len(self._head_buf)
            if room > 0:
                self._head_buf += data[:room]
        else:
            self._head_tail = data[-3:]
            self._head_buf = data
            self._head_cap = len(data) + self.max_request_line + 64

    def _http09_error(self, data: bytes, state0: int) -> ParseError:
        """llhttp reports HTTP/0.9 both for ``GET / HTTP/0.9`` (505: a version we do not
        serve) and for a request line with no version at all (400: malformed, RFC 9112
        §3); only the bytes tell them apart. The first line with this request's method
        and target, ending right after the target or after `` HTTP/0.9``, is taken as its
        request line (the earlier requests in these bytes all named HTTP/1.x)."""
        buf = self._head_buf + data if state0 == _HEAD else data
        line = re.compile(
            rb"(?:^|\n)"
            + re.escape(self.parser.get_method())
            + rb" +"
            + re.escape(self._target)
            + rb"( HTTP/0\.9)?\r\n"
        ).search(buf)
        if line is not None and line.group(1) is None:
            return ParseError(400, "request line without an HTTP version")
        return _unsupported("0.9")

    def _check_protocol(self, data: bytes, state0: int, n0: int) -> None:
        """Refuse the RTSP/1.0 and ICE/1.0 request lines llhttp accepts as version 1.0.

        Only HTTP-version (``"HTTP/" DIGIT "." DIGIT``, RFC 9112 §2.3) is HTTP; another
        protocol name is a malformed request line (400). Each HTTP/1.0 request whose head
        is in these bytes is looked for as a line with its method and target followed by
        ``RTSP/`` or ``ICE/``; the request found, and all after it, are dropped.
        """
        buf = self._head_buf + data if state0 == _HEAD else data
        if b"RTSP/" not in buf and b"ICE/" not in buf:
            return
        ready = self.ready
        heads = [
            (n0 + i, r.method.encode("ascii"), r.target)
            for i, r in enumerate(list(ready)[n0:])
            if r.http_version == "1.0"
        ]
        if self.error is None and self.state == _BODY and self._version == "1.0":
            heads.append((len(ready), self.parser.get_method(), self._target))
        for index, method, target in heads:
            line = (
                rb"(?:^|\n)" + re.escape(method) + rb" +" + re.escape(target) + rb" (?:RTSP|ICE)/"
            )
            if re.search(line, buf) is not None:
                while len(ready) > index:
                    ready.pop()
                self.error = ParseError(400, "not an HTTP request line (RTSP or ICE protocol)")
                return

    def _follow_chunked(self, data: bytes, state0: int, n0: int, left0: int, done: int) -> None:
        """Find the chunked bodies in ``data`` (which llhttp has just parsed) and count
        their extension and trailer bytes (RFC 9112 §7.1.1-7.1.2).

        httptools reports no byte positions, so the messages in ``data`` are walked again
        from what is known: the state the read began in, and for each request completed
        in it (``ready[n0:]``, the first ``done`` of them; -1 means all, plus the one
        still arriving) its framing. A head ends at its first blank line (llhttp demands
        CRLFs), a ``Content-Length`` body after ``len(body)`` bytes, a chunked body where
        :class:`_ChunkScan` says. A request over a limit is dropped from ``ready`` with
        every request parsed after it, and its error replaces any later one.
        """
        ready = self.ready
        current = done < 0
        if current:
            done = len(ready) - n0
        n = len(data)
        scan = self._scan
        if current and done == 1 and state0 == _IDLE and self.state == _IDLE:
            # The common case of a chunked request whole in one read, alone: no ";" after
            # its head means no extensions, and its trailers cannot be over the limit.
            head_end = data.find(b"\r\n\r\n")
            if data.find(b";", head_end) < 0 and n - head_end <= self.max_header_bytes:
                self._followup &= ~_FOLLOW_CHUNKED
                return
        if current and not done and state0 == _BODY and scan is not None:
            # the common case of a body in many reads: the same chunked body goes on
            try:
                end = scan.scan(data, 0, self.max_chunk_ext, self.max_header_bytes)
            except ParseError as err:
                self.error = err
                end = _LOST
            if end != -1:  # over a limit, or not where llhttp is: stop following it
                self._scan = None
                self._followup &= ~_FOLLOW_CHUNKED
            return
        pos = 0
        cont = state0
        idx = 0
        try:
            while idx < done or (current and idx == done and self.state != _IDLE):
                req = ready[n0 + idx] if idx < done else None
                if cont != _BODY:
                    if cont == _HEAD:
                        pos = _blank_line_end(self._head_tail, data, 0)
                    else:
                        while pos < n and data[pos] in b"\r\n":
                            pos += 1  # empty lines before a request (RFC 9112 §2.2)
                        pos = _blank_line_end(b"", data, pos)
                    if pos < 0:
                        break  # the head goes on in the next read
                    if (
                        req.headers.get("transfer-encoding") is not None
                        if req is not None
                        else self.content_length < 0
                    ):
                        if (
                            idx == done - 1
                            and (not current or self.state == _IDLE)
                            and data.find(b";", pos) < 0
                            and n - pos <= self.max_header_bytes
                        ):
                            # The read's last request, complete: with no ";" after its
                            # head it has no extensions, and its trailers fit the limit.
                            idx += 1
                            break
                        self._scan = _ChunkScan()
                    elif req is None:
                        break  # a Content-Length body still arriving: nothing to count
                    else:
                        pos += len(req.body)
                        self._scan = None
                elif self._scan is None:  # a Content-Length body begun in an earlier read
                    if req is None:
                        break
                    pos += left0
                scan = self._scan
                if scan is not None:
                    pos = scan.scan(data, pos, self.max_chunk_ext, self.max_header_bytes)
                    if pos < 0:
                        if pos == _LOST:
                            self._scan = None
                        break  # the body goes on in the next read
                    self._scan = None
                cont = _IDLE
                idx += 1
        except ParseError as err:
            while len(ready) > n0 + idx:
                ready.pop()
            self.error = err
            self._scan = None
        if idx < done:  # llhttp completed a request the walk could not place: stop counting
            self._scan = None
        if self._scan is None:
            self._followup &= ~_FOLLOW_CHUNKED


_HTTP09 = ParseError(505, "HTTP/0.9 is not supported (only HTTP/1.0 and HTTP/1.1)")
"""Raised for llhttp's HTTP/0.9; :meth:`RequestParser._http09_error` makes it exact."""


def _unsupported(version: str) -> ParseError:
    return ParseError(505, f"HTTP/{version} is not supported (only HTTP/1.0 and HTTP/1.1)")
