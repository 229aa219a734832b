"""Helpers for the HTTP server tests: a server in a thread, a raw-socket HTTP client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gmp.http import Server

# The server class ``running`` starts when none is given: the netpoller's Server, or
# TrioServer for a module whose tests run against both (see test_http_server.py).
SERVER_CLASS: Any = Server


@contextmanager
def running(app: Any, *, server_class: Any = None, **options: Any) -> Iterator[Any]:
    """Serve ``app`` on 127.0.0.1 (ephemeral port) in a thread for the ``with`` block."""
    options.setdefault("procs", 1)
    options.setdefault("access_log", False)
    options.setdefault("shutdown_timeout", 5.0)
    cls = server_class if server_class is not None else SERVER_CLASS
    server = cls(app, port=0, **options)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(handle_signals=False)
        except BaseException as e:  # reported by the test, not lost in the thread
            errors.append(e)

    thread = threading.Thread(target=target, name="test-http-server", daemon=True)
    thread.start()
    if not server.wait_started(10):
        raise RuntimeError(f"server did not start: {errors!r}")
    try:
        yield server
    finally:
        server.shutdown_threadsafe()
        thread.join(20)
        assert not thread.is_alive(), "server thread did not stop"
        if errors:
            raise errors[0]


def wait_for(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``cond`` until it holds; fail after ``timeout`` s (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)


def connect(server: Server, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, raw: bytes):
        self.status = status
        self.headers = headers
        self.body = body
        self.raw = raw

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None


class Reader:
    """Reads HTTP/1.1 responses off a raw socket, one at a time, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed; buffered {self.buf[:200]!r}")
        head, _, self.buf = self.buf.partition(sep)
        return head

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed inside a body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read(self, *, head_only: bool = False) -> Response:
        start = len(self.buf)
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip().lower(), v.strip()))
        resp = Response(status, headers, b"", head)
        if head_only or status < 200 or status in (204, 304):
            return resp
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if te == "chunked":
            parts = []
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._until(b"\r\n")
                    break
                parts.append(self._exactly(size))
                assert self._exactly(2) == b"\r\n"
            resp.body = b"".join(parts)
        elif cl is not None:
            resp.body = self._exactly(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        del start
        return resp

    def at_eof(self, timeout: float = 5.0) -> bool:
        """True if the server closes the connection (after any buffered bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def get(path: str, extra: str = "", host: str = "t") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode("latin-1")
