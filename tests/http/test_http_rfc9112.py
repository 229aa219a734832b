"""Request hardening to RFC 9112 (gmp/http/parser.py), in the parser and on real sockets.

Every rule is tested both ways (what it accepts, what it refuses) in the sans-IO parser,
including with the bytes split at every offset, then once more through a running server:
the status sent, that the connection is closed after it, and for HTTP/1.0 with
``Transfer-Encoding`` that a request smuggled in the body is never answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import gmp_threads
from http_server_helpers import Reader, connect, running, wait_for
from http_server_helpers import Response as WireResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from gmp.http import Request, Response, Server, TrioServer
from gmp.http.parser import MAX_CHUNK_EXT_BYTES, RequestParser, valid_host

pytestmark = [pytest.mark.timeout(120), pytest.mark.shared_server]


def parse(*pieces: bytes, **limits: Any) -> RequestParser:
    parser = RequestParser(**limits)
    for piece in pieces:
        parser.feed(piece)
    return parser


def outcome(parser: RequestParser) -> tuple[int | None, list[tuple[str, bytes, bytes]]]:
    """The error status (None when there is none) and the requests completed before it."""
    status = parser.error.status if parser.error is not None else None
    return status, [(r.method, r.target, r.body) for r in parser.ready]


def every_split(data: bytes, **limits: int) -> set[tuple[int | None, int]]:
    """The (status, requests completed) seen when ``data`` arrives in two reads cut at
    every offset, and in reads of 1 to 5 bytes."""
    seen = set()
    for cut in range(len(data) + 1):
        status, ready = outcome(parse(data[:cut], data[cut:], **limits))
        seen.add((status, len(ready)))
    for size in range(1, 6):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        status, ready = outcome(parse(*pieces, **limits))
        seen.add((status, len(ready)))
    return seen


def error_of(data: bytes, **limits: int) -> tuple[int, str]:
    parser = parse(data, **limits)
    assert parser.error is not None, f"accepted: {data!r}"
    assert not parser.ready
    return parser.error.status, parser.error.reason


def accepted(data: bytes, **limits: int) -> Request:
    parser = parse(data, **limits)
    assert parser.error is None, parser.error
    (req,) = parser.ready
    return req


# -- rule 1: HTTP/1.0 and HTTP/1.1 only (RFC 9112 §2.3, RFC 9110 §15.6.6) -----------------


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_http_1_0_and_1_1_are_served(version: str) -> None:
    req = accepted(f"GET /v HTTP/{version}\r\nHost: t\r\n\r\n".encode())
    assert (req.path, req.http_version) == ("/v", version)


@pytest.mark.parametrize(
    ("version", "named"),
    [
        (b"HTTP/2.0", "HTTP/2.0"),
        (b"HTTP/0.9", "HTTP/0.9"),
        (b"HTTP/1.2", "HTTP/1.2"),
        (b"HTTP/3", "HTTP/3"),
        (b"HTTP/3.0", "HTTP/3.0"),
        (b"HTTP/2", "HTTP/2"),
        (b"HTTP/9.9", "HTTP/9.9"),
    ],
)
def test_another_http_version_gets_505(version: bytes, named: str) -> None:
    data = b"GET / " + version + b"\r\nHost: t\r\n\r\n"
    status, reason = error_of(data)
    assert status == 505 and named in reason and "HTTP/1.1" in reason
    assert every_split(data) == {(505, 0)}


def test_the_http2_connection_preface_gets_505() -> None:
    status, reason = error_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert status == 505 and "HTTP/2" in reason


@pytest.mark.parametrize(
    "line",
    [
        b"GET /",  # no version: llhttp reads it as an HTTP/0.9 request
        b"GET / ",
        b"GET / http/1.1",
        b"GET / HTTP/1",
        b"GET / HTTP/11.1",
        b"GET / HTTP/1.1x",
        b"GET / HTTP/1.1 ",
        b"GET / HTTP/",
        b"GET / HTTP/a.b",
        b"GET / RTSP/1.0",  # llhttp takes RTSP and ICE for version 1.0
        b"SOURCE / ICE/1.0",
    ],
)
def test_a_missing_or_malformed_version_gets_400(line: bytes) -> None:
    data = line + b"\r\nHost: t\r\n\r\n"
    status, reason = error_of(data)
    assert status == 400, reason
    assert every_split(data) == {(400, 0)}


def test_a_missing_version_and_http_0_9_are_told_apart_even_without_headers() -> None:
    assert error_of(b"GET /\r\n\r\n") == (400, "request line without an HTTP version")
    assert error_of(b"GET / HTTP/0.9\r\n\r\n")[0] == 505
    # earlier requests with the same method and target do not confuse the two
    ok = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    assert outcome(parse(ok + b"GET /\r\n\r\n"))[0] == 400
    assert outcome(parse(ok + b"GET / HTTP/0.9\r\n\r\n"))[0] == 505


def test_an_rtsp_request_line_is_refused_after_the_http_requests_before_it() -> None:
    p = parse(
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /b RTSP/1.0\r\nHost: t\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    assert outcome(p) == (400, [("GET", b"/a", b"")])


def test_an_http_1_0_body_that_mentions_rtsp_is_just_a_body() -> None:
    body = b"\r\nGET /x RTSP/1.0\r\n"
    req = accepted(b"POST /x HTTP/1.0\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
    assert req.body == body


# -- rule 2: Host (RFC 9112 §3.2, RFC 3986 §3.2.2) ----------------------------------------


VALID_HOSTS = [
    "example.com",
    "example.com:8080",
    "EXAMPLE.com:0",
    "127.0.0.1",
    "127.0.0.1:65535",
    "[::1]",
    "[::1]:8080",
    "[2001:db8::7]",
    "[::ffff:192.0.2.1]:443",
    "[v1.fe80::a+en1]",
    "xn--bcher-kva.example",
    "a-b.c_d~e",
    "%41bc.example",
    "sub!$&'()*+,;=delims",
    "",  # RFC 9112 §3.2: the value a client sends for a URI without authority
    "example.com:",  # RFC 3986: port = *DIGIT
]

INVALID_HOSTS = [
    "a b",
    "example.com/",
    "example.com/path",
    "user@example.com",
    "user:pw@example.com",
    "a\tb",
    "[::1",
    "::1",
    "[::1]x",
    "[zz::1]",
    "[127.0.0.1]",
    "example.com:http",
    "example.com:-1",
    "example.com:65536",
    "example.com:123456",
    "example.com:80:80",
    "h%zz.example",
    "h%4",
    "caf\xe9.example",
    "a\x01b",
    "a?b",
    "a#b",
    "<a>",
]


@pytest.mark.parametrize("host", VALID_HOSTS)
def test_a_valid_host_is_accepted(host: str) -> None:
    assert valid_host(host)
    data = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1")
    assert accepted(data).headers.get("host") == host


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_an_invalid_host_gets_400(host: str) -> None:
    assert not valid_host(host)
    for version in ("1.1", "1.0"):
        data = f"GET / HTTP/{version}\r\nHost: {host}\r\n\r\n".encode("latin-1")
        assert error_of(data)[0] == 400


def test_whitespace_around_the_host_value_is_not_part_of_it() -> None:
    assert accepted(b"GET / HTTP/1.1\r\nHost:  example.com \t\r\n\r\n").path == "/"


def test_http_1_1_without_host_gets_400_http_1_0_may_omit_it() -> None:
    assert error_of(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n") == (
        400,
        "HTTP/1.1 request without a Host header",
    )
    assert every_split(b"GET / HTTP/1.1\r\n\r\n") == {(400, 0)}
    assert accepted(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n").http_version == "1.0"


@pytest.mark.parametrize("version", ["1.1", "1.0"])
@pytest.mark.parametrize("second", ["t", "other"])
def test_two_host_fields_get_400_whatever_their_values(version: str, second: str) -> None:
    data = f"GET / HTTP/{version}\r\nHost: t\r\nX: 1\r\nhost: {second}\r\n\r\n".encode()
    assert error_of(data) == (400, "more than one Host header field")


def test_each_request_on_a_connection_has_its_host_checked() -> None:
    p = parse(
        b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /2 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: t/x\r\n\r\n"
        b"GET /4 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    assert outcome(p) == (400, [("GET", b"/1", b""), ("GET", b"/2", b"")])


# -- rule 3: the asterisk-form target (RFC 9112 §3.2.4) ------------------------------------


def test_options_star_is_accepted() -> None:
    req = accepted(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert (req.method, req.target) == ("OPTIONS", b"*")


@pytest.mark.parametrize(
    "line", [b"GET *", b"HEAD *", b"POST *", b"DELETE *", b"OPTIONS *x", b"OPTIONS *?a=1"]
)
def test_any_other_use_of_the_asterisk_gets_400(line: bytes) -> None:
    data = line + b" HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    status, reason = error_of(data)
    assert status == 400 and "OPTIONS" in reason
    assert every_split(data) == {(400, 0)}


# -- rule 4: chunk extensions and trailers (RFC 9112 §7.1.1, §7.1.2) ----------------------


def chunked(
    chunks: list[tuple[bytes, bytes]], last_ext: bytes = b"", trailer: bytes = b""
) -> bytes:
    """A chunked request whose chunks are (data, extension) pairs."""
    body = b"".join(b"%x%b\r\n%b\r\n" % (len(d), ext, d) for d, ext in chunks)
    return (
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
        + b"0"
        + last_ext
        + b"\r\n"
        + trailer
        + b"\r\n"
    )


def ext_of(length: int) -> bytes:
    """A chunk extension of exactly ``length`` bytes (";" name "=" value)."""
    assert length >= 4
    return b";n=" + b"v" * (length - 3)


def test_chunk_extensions_up_to_the_limit_are_accepted() -> None:
    assert MAX_CHUNK_EXT_BYTES == 4096
    per = MAX_CHUNK_EXT_BYTES // 4
    data = chunked([(b"ab", ext_of(per)), (b"c", ext_of(per)), (b"d", ext_of(per))], ext_of(per))
    req = accepted(data)
    assert req.body == b"abcd"


def test_chunk_extensions_over_the_limit_get_400() -> None:
    per = MAX_CHUNK_EXT_BYTES // 4
    data = chunked(
        [(b"ab", ext_of(per)), (b"c", ext_of(per)), (b"d", ext_of(per))], ext_of(per + 1)
    )
    status, reason = error_of(data)
    assert status == 400 and str(MAX_CHUNK_EXT_BYTES) in reason


def test_the_chunk_extension_limit_holds_however_the_bytes_arrive() -> None:
    at_limit = chunked([(b"hello", b";a=b"), (b";\r\n\r\n", b';q="x;y"')], b";zz")
    over = chunked([(b"hello", b";a=b"), (b";\r\n\r\n", b';q="x;y"')], b";zzz")
    assert every_split(at_limit, max_chunk_ext=15) == {(None, 1)}
    assert every_split(over, max_chunk_ext=15) == {(400, 0)}


def test_a_long_extension_is_refused_while_it_arrives() -> None:
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;n=")
    fed = 0
    while p.error is None:
        p.feed(b"v" * 1000)
        fed += 1000
        assert fed < 2 * MAX_CHUNK_EXT_BYTES, "the extension was never cut off"
    assert p.error.status == 400 and fed <= MAX_CHUNK_EXT_BYTES + 1000


def test_leading_zeros_in_a_chunk_size_are_not_extensions() -> None:
    zeros = b"\r\n\r\n" + b"0" * 10_000 + b"3\r\n"
    data = chunked([(b"abc", b"")]).replace(b"\r\n\r\n3\r\n", zeros)
    assert accepted(data, max_chunk_ext=1).body == b"abc"
    for size in (1, 7, 1000):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        assert outcome(parse(*pieces, max_chunk_ext=1)) == (None, [("POST", b"/up", b"abc")])


def test_an_over_long_trailer_section_gets_431() -> None:
    small = chunked([(b"abc", b"")], trailer=b"X-Sum: 1\r\n")
    assert accepted(small, max_header_bytes=200).body == b"abc"
    big = chunked([(b"abc", b"")], trailer=b"X-Sum: " + b"1" * 300 + b"\r\n")
    assert error_of(big, max_header_bytes=200)[0] == 431
    assert every_split(big, max_header_bytes=200) == {(431, 0)}


def test_requests_before_one_over_the_extension_limit_are_still_answered() -> None:
    first = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n;x\r\n\r\n0\r\n"
    second = chunked([(b"\r\n\r\n", b";a"), (b"0\r\n\r\n", b"")])
    third = chunked([(b"x", ext_of(8))])
    fourth = b"GET /d HTTP/1.1\r\nHost: t\r\n\r\n"
    p = parse(first + second + third + fourth, max_chunk_ext=7)
    assert outcome(p) == (
        400,
        [("POST", b"/a", b";x\r\n\r\n0\r\n"), ("POST", b"/up", b"\r\n\r\n0\r\n\r\n")],
    )


def test_extensions_are_found_after_bodies_and_trailers_split_across_reads() -> None:
    body = b"\r\n\r\n0;x\r\n\r\n" + b"a" * 100  # looks like a head's end and a last chunk
    first = b"PUT /l HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    second = chunked([(b"a", b";e")], trailer=b"T: 1\r\n")
    third = chunked([(b"b", ext_of(8))])
    assert every_split(first + second + third, max_chunk_ext=7) == {(400, 2)}
    assert every_split(first + second + second, max_chunk_ext=7) == {(None, 3)}
    # the blank line ending a trailer section over three reads, the last one a short read
    end = second.index(b"T: 1\r") + 5
    assert outcome(parse(second[:end], b"\n\r", b"\n" + third, max_chunk_ext=7))[0] == 400


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[bytes, list[bytes], int | None]:
    """Requests with Content-Length and chunked bodies whose bytes look like framing,
    with extensions of random sizes, some after empty lines; what the parser should
    answer with an extension limit of 12."""
    wire = b""
    bodies: list[bytes] = []
    junk = st.lists(
        st.sampled_from([b"a", b"0", b";", b"\n", b"\r\n", b"\r\n\r\n", b"0\r\n\r\n"]), max_size=6
    ).map(b"".join)
    for _ in range(draw(st.integers(1, 4))):
        wire += draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n"]))  # empty lines: RFC 9112 §2.2
        if draw(st.booleans()):
            body = draw(junk)
            wire += b"PUT /l HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%b" % (
                len(body),
                body,
            )
            bodies.append(body)
            continue
        chunks = [
            (draw(junk.filter(bool)), draw(st.sampled_from([b"", b";a", b";abcdef", b';q="x;y"'])))
            for _ in range(draw(st.integers(0, 3)))
        ]
        last_ext = draw(st.sampled_from([b"", b";e", b";ee=ff"]))
        trailer = draw(st.sampled_from([b"", b"T: 1\r\n"]))
        if sum(len(ext) for _, ext in chunks) + len(last_ext) > 12:
            return wire + chunked(chunks, last_ext, trailer), bodies, 400
        wire += chunked(chunks, last_ext, trailer)
        bodies.append(b"".join(d for d, _ in chunks))
    return wire, bodies, None


@settings(max_examples=300, deadline=None)
@given(pipelines(), st.lists(st.integers(min_value=0, max_value=400), max_size=40))
def test_extensions_are_counted_exactly_wherever_the_reads_split(
    case: tuple[bytes, list[bytes], int | None], cuts: list[int]
) -> None:
    wire, bodies, status = case
    points = sorted({c % (len(wire) + 1) for c in cuts})
    pieces = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    p = parse(*pieces, max_chunk_ext=12)
    got_status, got = outcome(p)
    assert got_status == status
    assert [body for _, _, body in got] == bodies


# -- rule 5: Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1) --------------------------------

SMUGGLER = (
    b"POST /upload HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n"
    b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
)


def test_transfer_encoding_in_http_1_0_gets_400_and_nothing_after_it_is_parsed() -> None:
    assert error_of(SMUGGLER) == (400, "Transfer-Encoding in an HTTP/1.0 request")
    assert every_split(SMUGGLER) == {(400, 0)}
    before = b"GET /first HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    assert outcome(parse(before + SMUGGLER)) == (400, [("GET", b"/first", b"")])


@pytest.mark.parametrize("coding", [b"chunked", b"gzip, chunked", b"gzip", b"identity"])
def test_any_transfer_coding_in_http_1_0_is_refused(coding: bytes) -> None:
    data = b"POST / HTTP/1.0\r\nTransfer-Encoding: " + coding + b"\r\n\r\n0\r\n\r\n"
    assert error_of(data)[0] == 400


def test_http_1_1_chunked_requests_are_still_served() -> None:
    req = accepted(chunked([(b"hello", b"")]))
    assert (req.http_version, req.body) == ("1.1", b"hello")


# -- on real sockets -------------------------------------------------------------------------

_seen: list[str] = []
_seen_lock = threading.Lock()


def record(req: Request) -> Response:
    with _seen_lock:
        _seen.append(req.path)
    return Response(200, body=f"{req.method} {req.path} {len(req.body)}".encode())


@pytest.fixture(scope="module", params=[Server, TrioServer], ids=["netpoll", "trio"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Each test runs against both servers, which promise the same framing."""
    before = gmp_threads()
    with running(record, server_class=request.param, linger_timeout=1.0) as srv:
        yield srv
    wait_for(lambda: not gmp_threads() - before, what="the server's gmp threads to end")


def seen() -> list[str]:
    with _seen_lock:
        return list(_seen)


def answered_then_closed(server: Server, data: bytes, *, answers: int = 1) -> list[WireResponse]:
    """Send ``data`` on a new connection; read ``answers`` responses, then require the
    server to close the connection (recv returns b"") with no other byte sent."""
    sock = connect(server)
    try:
        sock.sendall(data)
        reader = Reader(sock)
        responses = [reader.read() for _ in range(answers)]
        sock.settimeout(5.0)
        try:
            while reader.buf == b"":
                chunk = sock.recv(65536)
                if not chunk:  # the server closed the connection
                    break
                reader.buf += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail("the server kept the connection open after the answers")
        assert reader.buf == b"", f"more bytes after the answers: {reader.buf[:200]!r}"
        assert responses[-1].header("connection") == "close"
        return responses
    finally:
        sock.close()


REFUSED = [
    pytest.param(b"GET /r1 HTTP/2.0\r\nHost: t\r\n\r\n", 505, id="HTTP/2.0"),
    pytest.param(b"GET /r2 HTTP/3\r\nHost: t\r\n\r\n", 505, id="HTTP/3"),
    pytest.param(b"GET /r3 HTTP/0.9\r\nHost: t\r\n\r\n", 505, id="HTTP/0.9"),
    pytest.param(b"GET /r4 HTTP/1.2\r\nHost: t\r\n\r\n", 505, id="HTTP/1.2"),
    pytest.param(b"GET /r5\r\nHost: t\r\n\r\n", 400, id="no-version"),
    pytest.param(b"GET /r6 HTTP/1.1\r\n\r\n", 400, id="no-host"),
    pytest.param(b"GET /r7 HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET /r8 HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, id="bad-host"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400, id="asterisk-GET"),
    pytest.param(
        chunked([(b"abc", ext_of(MAX_CHUNK_EXT_BYTES + 1))]).replace(b"/up", b"/r9"),
        400,
        id="chunk-ext",
    ),
    pytest.param(SMUGGLER, 400, id="http1.0-transfer-encoding"),
]


@pytest.mark.parametrize(("data", "status"), REFUSED)
def test_the_server_answers_a_refused_request_then_closes(
    server: Server, data: bytes, status: int
) -> None:
    handled = len(seen())
    (resp,) = answered_then_closed(server, data)
    assert resp.status == status
    if status == 505:
        assert resp.raw.startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
    assert seen()[handled:] == [], "the handler ran for a refused request"


def test_a_refused_request_after_a_good_one_on_the_same_connection(server: Server) -> None:
    good = b"GET /good1 HTTP/1.1\r\nHost: t\r\n\r\n"
    ok, refused = answered_then_closed(server, good + b"GET /bad1 HTTP/1.1\r\n\r\n", answers=2)
    assert (ok.status, ok.body) == (200, b"GET /good1 0")
    assert refused.status == 400
    assert "/good1" in seen() and "/bad1" not in seen()


def test_the_smuggled_request_is_never_answered(server: Server) -> None:
    first = b"GET /before HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    ok, refused = answered_then_closed(server, first + SMUGGLER, answers=2)
    assert ok.status == 200 and refused.status == 400
    assert b"Transfer-Encoding" in refused.body
    assert "/before" in seen()
    assert "/upload" not in seen() and "/smuggled" not in seen()


@pytest.mark.parametrize(
    "data",
    [
        b"GET /ok1 HTTP/1.0\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET /ok3 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        chunked([(b"abc", ext_of(100))]).replace(b"Host: t", b"Host: t\r\nConnection: close"),
    ],
    ids=["http1.0-without-host", "OPTIONS-*", "ipv6-host", "chunk-ext-under-limit"],
)
def test_the_server_serves_what_the_rules_accept(server: Server, data: bytes) -> None:
    (resp,) = answered_then_closed(server, data)
    assert resp.status == 200


def test_a_keep_alive_connection_survives_accepted_requests(server: Server) -> None:
    sock = connect(server)
    try:
        reader = Reader(sock)
        for i in range(3):
            sock.sendall(f"GET /ka{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            assert reader.read().body == f"GET /ka{i} 0".encode()
        sock.sendall(b"GET /ka-bad HTTP/1.1\r\nHost: t t\r\n\r\n")
        assert reader.read().status == 400
        assert reader.at_eof()
    finally:
        sock.close()
