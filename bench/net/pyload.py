"""The load generator of ``python -m bench.net`` when no Go toolchain is present.

``python -m bench.net.pyload MODE HOST:PORT SECONDS [N] [--procs P]`` speaks the Go
generator's command line and prints the same JSON object (count, errors, elapsed, p50_us,
p99_us): ``rtt`` is one blocking connection in one process; ``msgs`` and ``conns`` spread
their N connections or dialers over P processes (default 4), each driving its share with
non-blocking sockets on ``selectors``. Pure Python: on the fastest servers it can be the
bottleneck, which ``bench.net`` flags from the client's CPU use.
"""

from __future__ import annotations

import argparse
import array
import errno
import json
import multiprocessing as mp
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, cast

MSG = b"x" * 64


@dataclass
class Tally:
    count: int = 0
    errors: int = 0
    first_error: str = ""
    lat: array.array[float] = field(default_factory=lambda: array.array("d"))

    def fail(self, err: BaseException | str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = str(err)


def _connect(addr: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(addr, timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rtt(addr: tuple[str, int], seconds: float, tally: Tally) -> None:
    s = _connect(addr)
    with s:
        until = time.perf_counter() + seconds
        while (t0 := time.perf_counter()) < until:
            s.sendall(MSG)
            got = 0
            while got < len(MSG):
                chunk = s.recv(65536)
                if not chunk:
                    tally.fail("connection closed by the server")
                    return
                got += len(chunk)
            tally.lat.append(time.perf_counter() - t0)
            tally.count += 1


def msgs(addr: tuple[str, int], seconds: float, n: int, barrier: Any, tally: Tally) -> None:
    socks = [_connect(addr) for _ in range(n)]
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, list[float]] = {}  # [bytes still due, start of this trip]
    barrier.wait()
    until = time.perf_counter() + seconds
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [len(MSG), time.perf_counter()]
        s.send(MSG)
    while (now := time.perf_counter()) < until:
        for key, _ in sel.select(until - now):
            s = cast(socket.socket, key.fileobj)
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                tally.fail(e)
                sel.unregister(s)
                continue
            if not chunk:
                tally.fail("connection closed by the server")
                sel.unregister(s)
                continue
            st = state[s]
            st[0] -= len(chunk)
            if st[0] <= 0:
                t = time.perf_counter()
                tally.lat.append(t - st[1])
                tally.count += 1
                st[0], st[1] = len(MSG), t
                s.send(MSG)
    sel.close()
    for s in socks:
        s.close()


def conns(addr: tuple[str, int], seconds: float, n: int, barrier: Any, tally: Tally) -> None:
    sel = selectors.DefaultSelector()
    barrier.wait()
    until = time.perf_counter() + seconds

    def start() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            tally.fail(OSError(err, "connect"))
            s.close()
            return
        sel.register(s, selectors.EVENT_WRITE, time.perf_counter())

    for _ in range(n):
        start()
    while (now := time.perf_counter()) < until and sel.get_map():
        for key, ev in sel.select(until - now):
            s = cast(socket.socket, key.fileobj)
            t0: float = key.data
            done = False
            try:
                if ev & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect")
                    s.send(b"x")
                    sel.modify(s, selectors.EVENT_READ, t0)
                    continue
                chunk = s.recv(1)
                if not chunk:
                    raise ConnectionError("connection closed by the server")
                tally.lat.append(time.perf_counter() - t0)
                tally.count += 1
                done = True
            except BlockingIOError:
                continue
            except OSError as e:
                tally.fail(e)
                done = True
            if done:
                sel.unregister(s)
                s.close()
                if time.perf_counter() < until:
                    start()
    for key in list(sel.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()


def _worker(mode: str, addr: tuple[str, int], seconds: float, n: int, barrier: Any, q: Any) -> None:
    tally = Tally()
    try:
        (msgs if mode == "msgs" else conns)(addr, seconds, n, barrier, tally)
    except OSError as e:
        tally.fail(e)
    q.put((tally.count, tally.errors, tally.first_error, tally.lat.tobytes()))


def run(mode: str, addr: tuple[str, int], seconds: float, n: int, procs: int) -> dict[str, Any]:
    total = Tally()
    t0 = time.perf_counter()
    if mode == "rtt":
        try:
            rtt(addr, seconds, total)
        except OSError as e:
            total.fail(e)
    else:
        ctx = mp.get_context("fork")
        shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        shares = [k for k in shares if k]
        barrier = ctx.Barrier(len(shares) + 1)
        q = ctx.Queue()
        workers = [
            ctx.Process(target=_worker, args=(mode, addr, seconds, k, barrier, q)) for k in shares
        ]
        for w in workers:
            w.start()
        barrier.wait(timeout=60)
        t0 = time.perf_counter()
        for _ in workers:
            count, errors, first, lat = q.get(timeout=seconds + 60)
            total.count += count
            total.errors += errors
            if not total.first_error:
                total.first_error = first
            total.lat.frombytes(lat)
        for w in workers:
            w.join()
    elapsed = time.perf_counter() - t0
    lat = sorted(total.lat)

    def pct(p: float) -> float:
        return lat[int(p * (len(lat) - 1))] * 1e6 if lat else -1.0

    out: dict[str, Any] = {
        "mode": mode,
        "count": total.count,
        "errors": total.errors,
        "elapsed": elapsed,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    }
    if total.first_error:
        out["first_error"] = total.first_error
    return out


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.net.pyload", description=__doc__)
    ap.add_argument("mode", choices=["rtt", "msgs", "conns"])
    ap.add_argument("addr", help="HOST:PORT")
    ap.add_argument("seconds", type=float)
    ap.add_argument("n", type=int, nargs="?", default=1, help="connections or dialers")
    ap.add_argument("--procs", type=int, default=4, help="processes for msgs and conns (4)")
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    result = run(args.mode, (host, int(port)), args.seconds, args.n, max(1, args.procs))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
