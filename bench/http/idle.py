"""Memory and threads of an HTTP server holding idle keep-alive connections.

``python -m bench.http.idle PORT PID N`` opens N connections to 127.0.0.1:PORT, sends one
``GET /ping`` (keep-alive) on each and reads its answer, then leaves them all idle and
reads the server process PID's ``VmRSS`` and ``Threads`` from ``/proc/PID/status``
before the first connection (after one warm-up request on a connection of its own) and
once all N are idle. It prints one JSON object: the connections still open at the
measurement (a server that closed idle ones would look cheaper than it is), the RSS
before and after in KiB, KiB per connection, threads before and after, and the server's
open file descriptors (it must hold the N sockets itself, not a child process).

Plain non-blocking sockets on ``selectors``, a bounded number of connects in flight (so
the server's accept queue does not overflow and SYNs are not retried a second later):
speed does not matter here, only that every connection is answered and stays open.
The soft ``RLIMIT_NOFILE`` is raised to the hard one first; ``bench.http`` raises its own
before starting servers, which inherit it.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import selectors
import socket
import sys
import time
from typing import Any, cast

REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench.http.idle\r\n\r\n"
IN_FLIGHT = 256
SETTLE_S = 1.0


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def status(pid: int) -> dict[str, int]:
    """VmRSS (KiB), Threads and the count of open file descriptors of a process."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_kib"] = int(value.split()[0])
            elif key == "Threads":
                out["threads"] = int(value)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def _answered(buf: bytes) -> bool:
    """A whole response: headers and a Content-Length body (or a chunked end)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return len(body) >= int(value.strip())
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return body.endswith(b"0\r\n\r\n")
    return True


def open_idle(port: int, n: int, timeout: float) -> tuple[list[socket.socket], int, str]:
    """N connections, each answered once; returns the open ones, errors, the first error."""
    addr = ("127.0.0.1", port)
    sel = selectors.DefaultSelector()
    idle: list[socket.socket] = []
    errors, first = 0, ""
    started = 0
    deadline = time.monotonic() + timeout

    def fail(s: socket.socket, err: object) -> None:
        nonlocal errors, first
        errors += 1
        first = first or str(err)
        sel.unregister(s)
        s.close()

    while len(idle) + errors < n and time.monotonic() < deadline:
        while started < n and len(sel.get_map()) < IN_FLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(addr)
            started += 1
            if err not in (0, errno.EINPROGRESS):
                errors += 1
                first = first or os.strerror(err)
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, bytearray())
        for key, ev in sel.select(0.5):
            s = cast(socket.socket, key.fileobj)
            buf: bytearray = key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.sendall(REQUEST)  # small: fits the empty send buffer at once
                    sel.modify(s, selectors.EVENT_READ, buf)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before answering")
                buf += chunk
                if _answered(bytes(buf)):
                    if not buf.startswith(b"HTTP/1.1 200"):
                        raise ConnectionError(f"answered {bytes(buf[:20])!r}")
                    sel.unregister(s)
                    idle.append(s)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(s, e)
    for key in list(sel.get_map().values()):
        errors += 1
        first = first or "no answer in time"
        key.fileobj.close()  # type: ignore[union-attr]
    sel.close()
    return idle, errors, first


def still_open(socks: list[socket.socket]) -> int:
    """How many connections the server has not closed (a peek finds nothing to read)."""
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            n += 1
        except OSError:
            pass
        else:
            n += 1 if data else 0
    return n


def measure(port: int, pid: int, n: int, timeout: float = 180.0) -> dict[str, Any]:
    limit = raise_nofile()
    if limit < n + 64:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too low for {n} connections")
    warm, errs, first = open_idle(port, 1, 30)  # the server's first request: lazy setup
    if errs:
        raise SystemExit(f"warm-up request failed: {first}")
    warm[0].close()
    time.sleep(0.5)
    before = status(pid)
    t0 = time.monotonic()
    socks, errors, first = open_idle(port, n, timeout)
    opened_s = time.monotonic() - t0
    time.sleep(SETTLE_S)
    after = status(pid)
    open_now = still_open(socks)
    result: dict[str, Any] = {
        "requested": n,
        "answered": len(socks),
        "open": open_now,
        "errors": errors,
        "first_error": first,
        "open_seconds": round(opened_s, 2),
        "rss_before_kib": before["rss_kib"],
        "rss_after_kib": after["rss_kib"],
        "kib_per_conn": (after["rss_kib"] - before["rss_kib"]) / max(open_now, 1),
        "threads_before": before["threads"],
        "threads_after": after["threads"],
        "fds_before": before["fds"],
        "fds_after": after["fds"],
    }
    for s in socks:
        s.close()
    return result


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: python -m bench.http.idle PORT PID N", file=sys.stderr)
        return 2
    port, pid, n = (int(a) for a in sys.argv[1:])
    print(json.dumps(measure(port, pid, n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
