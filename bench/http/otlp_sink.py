"""``python -m bench.http.otlp_sink PORT``: an OTLP/HTTP trace receiver that accepts and
drops every export, for the ``gmp-prod+otel`` row of ``make bench-http``.

It answers ``POST /v1/traces`` with 200 and an empty body, as a collector that accepted
everything does, and on SIGTERM prints how many export requests and bytes it received
(so the bench can tell that spans were really exported). It runs on the client's CPU,
beside wrk: a few hundred kilobytes a second at most.
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

_lock = threading.Lock()
_received = {"requests": 0, "bytes": 0}


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with _lock:
            _received["requests"] += 1
            _received["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Sink)

    def stop(_sig: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    with _lock:
        print(f"{_received['requests']} {_received['bytes']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
