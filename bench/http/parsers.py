"""httptools vs h11 on the same keep-alive requests: the measurement behind gmp/http/parser.py.

``python -m bench.http.parsers`` prints requests parsed per second by each (best of 5).
h11's figure includes the minimal response it requires before parsing the next request,
since its state machine will not advance otherwise; that is part of its cost per request.
"""

from __future__ import annotations

import time

import h11
import httptools

REQ = (
    b"GET /ping?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\n"
    b"Accept: */*\r\nConnection: keep-alive\r\n\r\n"
)
BATCH = 100
N = 20_000


class _Sink:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def on_url(self, url: bytes) -> None:
        pass

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_message_complete(self) -> None:
        self.n += 1


def httptools_rate() -> float:
    sink = _Sink()
    parser = httptools.HttpRequestParser(sink)
    data = REQ * BATCH
    t = time.perf_counter()
    for _ in range(N // BATCH):
        parser.feed_data(data)
    return sink.n / (time.perf_counter() - t)


def h11_rate() -> float:
    conn = h11.Connection(h11.SERVER)
    data = REQ * BATCH
    done = 0
    t = time.perf_counter()
    for _ in range(N // BATCH):
        conn.receive_data(data)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                break
            if event is h11.PAUSED or type(event) is h11.EndOfMessage:
                if type(event) is h11.EndOfMessage:
                    done += 1
                conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
    return done / (time.perf_counter() - t)


def main() -> None:
    best = {"httptools": 0.0, "h11": 0.0}
    for _ in range(5):
        best["httptools"] = max(best["httptools"], httptools_rate())
        best["h11"] = max(best["h11"], h11_rate())
    for name, rate in best.items():
        print(f"{name:10s} {rate:12,.0f} requests parsed/s")
    print(f"httptools / h11: {best['httptools'] / best['h11']:.1f}x")


if __name__ == "__main__":
    main()
