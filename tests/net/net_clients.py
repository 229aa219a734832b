"""Many plain clients in a process of their own, for tests/net/test_net_many.py.

    python net_clients.py PORT N

Opens N connections to 127.0.0.1:PORT and says ``connected N``; on an ``echo`` line
from stdin, sends each its number (8 digits), reads it back and then the end of stream,
and says ``echoed N``. Every socket operation has a timeout, so a lost wake-up on the
server fails here with a message instead of hanging. The clients live in their own
process so that the test's process holds only the server's ends of the connections
(a file descriptor each), within a usual open-files limit.
"""

from __future__ import annotations

import resource
import socket
import sys

TIMEOUT = 20.0


def recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"end of stream after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def main() -> int:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(n)]
    print(f"connected {len(socks)}", flush=True)
    if sys.stdin.readline().strip() != "echo":
        return 1
    for i, s in enumerate(socks):
        s.sendall(b"%08d" % i)
    for i, s in enumerate(socks):
        got = recv_exactly(s, 8)
        if got != b"%08d" % i:
            print(f"connection {i} got {got!r}", flush=True)
            return 1
        if s.recv(1) != b"":  # the server closes after its one echo
            print(f"connection {i} not closed by the server", flush=True)
            return 1
        s.close()
    print(f"echoed {n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
