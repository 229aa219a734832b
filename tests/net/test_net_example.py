"""examples/echo_server.py as a user runs it: it says where it listens, echoes, drops a
silent client after its idle timeout, and stops cleanly at Ctrl-C (exit status 0, no
traceback, its clients see the end of stream)."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "echo_server.py"
WAIT = 30.0  # seconds any one step may take before the test fails


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The example on a free port, with an idle timeout of half a second."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0", "--idle-timeout", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("the example never said where it listens") from None
        m = re.fullmatch(r"echo server on 127\.0\.0\.1:(\d+) \(Ctrl-C stops it\)\n", first)
        assert m, first
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)


def recv_until_eof(s: socket.socket) -> bytes:
    buf = b""
    while data := s.recv(65536):
        buf += data
    return buf


def test_echo_server_example_echoes_and_stops_at_ctrl_c(
    server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = server
    # a client silent past --idle-timeout is disconnected (the server's read deadline)
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as quiet:
        assert quiet.recv(1) == b""

    # half-close: everything sent comes back, then the end of stream
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as b:
        b.sendall(b"x" * 100_000)
        b.shutdown(socket.SHUT_WR)
        assert recv_until_eof(b) == b"x" * 100_000

    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as a:
        a.sendall(b"hello\n")
        got = b""
        while len(got) < 6:
            got += a.recv(64)
        assert got == b"hello\n"

        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert err.strip().endswith("echo server stopped")
        assert recv_until_eof(a) == b""  # closed as its G unwound (or went idle)


def test_echo_server_example_help() -> None:
    r = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=ROOT,
    )
    assert r.returncode == 0
    for option in ("--host", "--port", "--procs", "--idle-timeout", "--self-test"):
        assert option in r.stdout
