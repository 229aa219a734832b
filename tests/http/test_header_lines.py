"""The encoded-header cache of gmp.http.response.encode_head: a field checked and
encoded once is reused, and the cache changes nothing a response says.

Laws: the same response encodes to the same bytes the first time and every time after;
a handler's own Date is sent once and suppresses the server's, on every response (it is
never cached, so a later response cannot lose that effect); a bad field is refused every
time; the cache stays bounded however many distinct values go through it; a field whose
values never repeat stops being kept, so it cannot push out the fields that do repeat,
and is then encoded without a look in the cache (its bad values still refused).
"""

from __future__ import annotations

import pytest

from gmp.http import response as response_mod
from gmp.http.response import HeaderError, Response, encode_head


def _head(resp: Response) -> bytes:
    head, _, _ = encode_head(resp, content_length=len(resp.body), chunked=False, keep_alive=True)
    assert isinstance(resp.body, bytes)
    return head


def _without_date(head: bytes) -> bytes:
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"date:"))


def test_a_cached_field_encodes_as_the_first_time() -> None:
    resp = Response(200, [("content-type", "application/json"), ("x-a", "1")], b"{}")
    first = _without_date(_head(resp))
    assert ("x-a", "1") in response_mod._lines
    for _ in range(3):
        assert _without_date(_head(resp)) == first
    assert first.count(b"x-a: 1\r\n") == 1


def test_the_handlers_date_is_never_doubled() -> None:
    resp = Response(200, [("Date", "Tue, 01 Dec 2026 00:00:00 GMT")], b"")
    for _ in range(3):
        head = _head(resp)
        assert head.lower().count(b"date:") == 1
        assert b"Date: Tue, 01 Dec 2026 00:00:00 GMT\r\n" in head


@pytest.mark.parametrize(
    ("name", "value"),
    [("bad name", "v"), ("x-ok", "a\r\nb"), ("x-ok", "a\rb"), ("x-ok", "a\nb"), ("x-ok", "a\0b")],
)
def test_a_bad_field_is_refused_every_time(name: str, value: str) -> None:
    for _ in range(2):
        with pytest.raises(HeaderError):
            _head(Response(200, [(name, value)], b""))


def test_the_cache_stays_bounded() -> None:
    for i in range(3 * response_mod._LINES_MAX):
        _head(Response(200, [("x-request-id", str(i))], b""))
    assert len(response_mod._lines) <= response_mod._LINES_MAX


def test_values_that_never_repeat_do_not_push_out_those_that_do() -> None:
    response_mod._lines.clear()
    response_mod._misses.clear()
    response_mod._volatile.clear()
    steady = ("content-type", "application/json")
    for i in range(4 * response_mod._LINES_MAX):
        head = _head(Response(200, [steady, ("x-request-id", f"{i:024x}")], b"{}"))
        assert f"x-request-id: {i:024x}\r\n".encode() in head  # still sent, every time
    assert steady in response_mod._lines  # never cleared out by the ids
    kept = sum(1 for name, _ in response_mod._lines if name == "x-request-id")
    assert kept == response_mod._VOLATILE_AFTER
    assert "x-request-id" in response_mod._volatile  # encoded without the cache's look
    assert "content-type" not in response_mod._volatile
    # A bad value under a name already checked is still refused.
    with pytest.raises(HeaderError):
        _head(Response(200, [("x-request-id", "a\nb")], b""))
