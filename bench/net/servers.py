"""The Python echo servers of ``python -m bench.net``: ``python -m bench.net.servers KIND PORT``.

Each serves echo on 127.0.0.1:PORT, one task (or G) per connection, reading up to
64 KiB and writing back what it read, until it is killed:

- ``gmp``: ``gmp.run(main, procs=1)``, ``gmp.net.listen`` and a G per accepted
  connection (``recv`` / ``send_all``);
- ``asyncio``: ``asyncio.start_server`` streams (``reader.read`` / ``writer.write`` +
  ``drain``) on the default event loop;
- ``uvloop``: the same code on uvloop's event loop;
- ``trio``: ``trio.serve_tcp`` with a ``SocketStream`` per connection.

Every one sets TCP_NODELAY on accepted connections (gmp.net, asyncio, uvloop and trio all
do it by default) and listens with a backlog of at least 1024.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from typing import Any

HOST = "127.0.0.1"
BUF = 65536
BACKLOG = 1024


def serve_gmp(port: int) -> None:
    import gmp
    from gmp import net

    async def echo(conn: net.Conn) -> None:
        with conn:
            try:
                while data := await conn.recv(BUF):
                    await conn.send_all(data)
            except (ConnectionError, gmp.ConnClosed):
                pass

    async def main() -> None:
        ln = net.listen(HOST, port, backlog=BACKLOG)
        while True:
            try:
                conn = await ln.accept()
            except gmp.ConnClosed:
                return
            except OSError:  # EMFILE and the like: back off as Go's Server.Serve does
                await gmp.sleep(0.005)
                continue
            gmp.go(echo, conn)

    gmp.run(main, procs=1)


def _asyncio_main(port: int) -> Callable[[], Coroutine[Any, Any, None]]:
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(BUF):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, HOST, port, backlog=BACKLOG)
        async with server:
            await server.serve_forever()

    return main


def serve_asyncio(port: int) -> None:
    import asyncio

    asyncio.run(_asyncio_main(port)())


def serve_uvloop(port: int) -> None:
    import asyncio

    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_asyncio_main(port)())


def serve_trio(port: int) -> None:
    import trio

    async def echo(stream: trio.SocketStream) -> None:
        try:
            async for data in stream:
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async def main() -> None:
        await trio.serve_tcp(echo, port, host=HOST, backlog=BACKLOG)

    trio.run(main)


SERVERS: dict[str, Callable[[int], None]] = {
    "gmp": serve_gmp,
    "asyncio": serve_asyncio,
    "uvloop": serve_uvloop,
    "trio": serve_trio,
}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in SERVERS:
        print(f"usage: python -m bench.net.servers {{{','.join(SERVERS)}}} PORT", file=sys.stderr)
        return 2
    SERVERS[sys.argv[1]](int(sys.argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
