"""Go's ``net`` package for Gs: listen, accept, dial, and connections whose waits park
the G on the runtime's network poller instead of holding a thread.

::

    async def echo(conn: gmp.net.Conn) -> None:
        with conn:
            while data := await conn.recv(65536):
                await conn.send_all(data)

    async def main() -> None:
        ln = gmp.net.listen("127.0.0.1", 9000)
        while True:
            conn = await ln.accept()
            gmp.go(echo, conn)

Ten thousand idle connections cost ten thousand parked Gs and one epoll registration
each, not ten thousand threads. See docs/net.md for the Go-to-gmp table.
"""

from gmp.errors import ConnClosed, DeadlineExceeded
from gmp.net.conn import Conn
from gmp.net.dial import dial, dial_unix
from gmp.net.listener import Listener, listen, listen_unix
from gmp.net.tls import tls_client, tls_server

__all__ = [
    "Conn",
    "ConnClosed",
    "DeadlineExceeded",
    "Listener",
    "dial",
    "dial_unix",
    "listen",
    "listen_unix",
    "tls_client",
    "tls_server",
]
