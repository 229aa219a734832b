"""A TCP echo server on gmp.net: one G per connection, as a Go server has one goroutine.

    python examples/echo_server.py                # serve on 127.0.0.1:9000 until Ctrl-C
    python examples/echo_server.py --port 0       # on a free port (it prints which)
    python examples/echo_server.py --self-test    # serve, talk to it, stop

Try it with ``nc 127.0.0.1 9000``. A G waiting for its client's next line is parked on
the runtime's network poller, not holding a thread: a thousand idle clients cost a
thousand parked Gs. Each read has a deadline (``--idle-timeout``), Go's
``SetReadDeadline``: a client silent for that long is disconnected.
"""

from __future__ import annotations

import argparse
import sys
import time

import gmp
from gmp import net


async def echo(conn: net.Conn, idle_timeout: float) -> int:
    """Send back what the client sends until it closes, resets or goes quiet; the
    number of bytes echoed."""
    echoed = 0
    with conn:
        while True:
            conn.set_read_deadline(time.monotonic() + idle_timeout)
            try:
                data = await conn.recv(65536)
            except (gmp.DeadlineExceeded, ConnectionResetError):
                return echoed
            if not data:
                return echoed  # the client closed (or half-closed) its side
            await conn.send_all(data)
            echoed += len(data)


async def serve(ln: net.Listener, idle_timeout: float) -> None:
    """Accept until the listener closes (Go's ``for { conn, err := ln.Accept() ... }``)."""
    backoff = 0.005
    while True:
        try:
            conn = await ln.accept()
        except gmp.ConnClosed:
            return
        except OSError as e:  # out of descriptors, say: back off as Go's Server does
            print(f"accept: {e}; retrying in {backoff * 1000:.0f} ms", file=sys.stderr)
            await gmp.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
            continue
        backoff = 0.005
        gmp.go(echo, conn, idle_timeout)


async def main(host: str, port: int, idle_timeout: float) -> None:
    with net.listen(host, port) as ln:
        print(f"echo server on {host}:{ln.port} (Ctrl-C stops it)", flush=True)
        await serve(ln, idle_timeout)


async def self_test() -> list[str]:
    """Serve on a free port; three clients at once each send three lines and read them
    back; then one client half-closes and still reads its echo."""
    ln = net.listen("127.0.0.1", 0)
    server = gmp.go(serve, ln, 5.0)

    async def client(i: int) -> list[str]:
        got = []
        conn = await net.dial("127.0.0.1", ln.port, timeout=5)
        with conn:
            for j in range(3):
                line = f"client {i} line {j}\n".encode()
                await conn.send_all(line)
                buf = b""
                while len(buf) < len(line):
                    buf += await conn.recv(len(line) - len(buf))
                got.append(buf.decode().rstrip("\n"))
        return got

    lines = []
    for h in [gmp.go(client, i) for i in range(3)]:
        lines += await h.join()

    conn = await net.dial("127.0.0.1", ln.port, timeout=5)
    with conn:
        await conn.send_all(b"last words")
        conn.close_write()  # the server reads end of stream, echoes, and closes
        buf = b""
        while data := await conn.recv(65536):
            buf += data
    lines.append(buf.decode())
    ln.close()
    await server.join()
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A TCP echo server on gmp.net: one G per connection."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9000, help="port to listen on (0: a free one)")
    parser.add_argument("--procs", type=int, default=2, help="Ps of the runtime (GOMAXPROCS)")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="seconds a client may stay silent before it is disconnected",
    )
    parser.add_argument(
        "--self-test", action="store_true", help="serve on a free port, talk to it, stop"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.self_test:
        for line in gmp.run(self_test, procs=args.procs):
            print(line)
        sys.exit(0)
    try:
        gmp.run(main, args.host, args.port, args.idle_timeout, procs=args.procs)
    except KeyboardInterrupt:
        # gmp.run cancelled every G (the listener and connections closed as their
        # `with` blocks unwound) before it raised this.
        print("echo server stopped", file=sys.stderr)
