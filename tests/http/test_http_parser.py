"""The sans-IO request parser (gmp/http/parser.py): split anywhere, limits, errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp.http.parser import RequestParser

PIPELINE = (
    b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n"
    b"POST /b%20c HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
    b"PUT /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    b"GET /d HTTP/1.0\r\n\r\n"
)


def parse_all(pieces: list[bytes], **limits: int) -> RequestParser:
    p = RequestParser(**limits)
    for piece in pieces:
        p.feed(piece)
    return p


def test_a_pipeline_parses_into_requests_in_order():
    p = parse_all([PIPELINE])
    assert p.error is None and not p.in_message
    reqs = list(p.ready)
    assert [(r.method, r.path, r.query, r.body) for r in reqs] == [
        ("GET", "/a", "x=1", b""),
        ("POST", "/b c", "", b"hello"),
        ("PUT", "/c", "", b"abcde"),
        ("GET", "/d", "", b""),
    ]
    assert reqs[0].headers.get("x-a") == "1" and reqs[0].target == b"/a?x=1"
    assert [r.keep_alive for r in reqs] == [True, True, True, False]
    assert reqs[3].http_version == "1.0"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE)), max_size=12))
def test_splitting_the_bytes_anywhere_gives_the_same_requests(cuts):
    cuts = sorted(set(cuts))
    pieces = [PIPELINE[a:b] for a, b in zip([0, *cuts], [*cuts, len(PIPELINE)], strict=True)]
    whole = [(r.method, r.target, r.body) for r in parse_all([PIPELINE]).ready]
    split = [(r.method, r.target, r.body) for r in parse_all(pieces).ready]
    assert split == whole


def test_absolute_form_target_is_split_into_path_and_query():
    p = parse_all([b"GET http://example.com/p/q?z=9 HTTP/1.1\r\nHost: example.com\r\n\r\n"])
    (req,) = p.ready
    assert (req.path, req.query) == ("/p/q", "z=9")


def test_limits_map_to_their_status_codes():
    assert (
        parse_all([b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n"], max_request_line=50).error.status
        == 414
    )
    assert (
        parse_all(
            [b"GET / HTTP/1.1\r\nX: " + b"v" * 100 + b"\r\n\r\n"], max_header_bytes=50
        ).error.status
        == 431
    )
    assert (
        parse_all(
            [b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"], max_body=10
        ).error.status
        == 413
    )
    assert parse_all([b"GET / HTTP/1.1\r\nHost: t\r\nExpect: x\r\n\r\n"]).error.status == 417
    assert parse_all([b"BAD\r\n\r\n"]).error.status == 400


def test_an_endless_header_is_cut_off_while_it_arrives():
    p = RequestParser(max_header_bytes=1000)
    p.feed(b"GET / HTTP/1.1\r\nX-Endless: ")
    for _ in range(20):
        p.feed(b"v" * 100)
        if p.error:
            break
    assert p.error is not None and p.error.status == 431


def test_expect_continue_is_reported_until_body_bytes_arrive():
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert p.awaiting_continue
    p.feed(b"a")
    assert not p.awaiting_continue
    p.feed(b"bc")
    (req,) = p.ready
    assert req.body == b"abc" and req.expect_continue


def test_upgrade_stops_parsing_after_the_request():
    p = parse_all(
        [b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nxx"]
    )
    assert p.upgraded and len(p.ready) == 1 and p.error is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_out_of_the_parser(data):
    p = RequestParser(max_request_line=100, max_header_bytes=200, max_body=100)
    p.feed(data)
    p.feed(data)
    assert p.error is None or p.error.status in (400, 413, 414, 417, 431, 505)
