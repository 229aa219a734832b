"""Ten thousand idle connections cost ten thousand parked Gs, not ten thousand threads.

The server's side lives in the test's process: one G per accepted connection, each
parked in ``recv``. The clients are plain sockets in a child process
(tests/net/net_clients.py), so each process needs only about ten thousand descriptors.
While the connections are held, the runtime has at most procs + 4 threads more than
before it started; then every connection echoes once and is closed by the server.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_helpers import poll_waiters, recv_exactly, run

import gmp
from gmp import net

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]

N = 10_000
CLIENTS = Path(__file__).with_name("net_clients.py")


@pytest.fixture
def open_files_limit() -> Iterator[None]:
    """Raise the soft limit on open files to the hard one for the test (and back)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = N + 500  # the server's ends, plus what pytest and the runtime hold
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(
            f"the hard limit on open files is {hard}; {N} connections need {need} "
            "(raise it with `ulimit -Hn` or in /etc/security/limits.conf)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("procs", [1, 2])
def test_ten_thousand_idle_connections_on_a_few_threads(procs: int, open_files_limit: None) -> None:
    before = threading.active_count()

    async def handler(conn: net.Conn, done: gmp.WaitGroup) -> None:
        try:
            with conn:
                await conn.send_all(await recv_exactly(conn, 8))
        finally:
            done.done()

    async def main() -> tuple[int, int, int]:
        ln = net.listen("127.0.0.1", 0, backlog=4096)
        done = gmp.WaitGroup()

        async def acceptor() -> None:
            for _ in range(N):
                conn = await ln.accept()
                done.add(1)
                gmp.go(handler, conn, done)

        acc = gmp.go(acceptor)
        proc = subprocess.Popen(
            [sys.executable, str(CLIENTS), str(ln.port), str(N)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = await gmp.syscall(proc.stdout.readline)
            assert line == f"connected {N}\n", line
            await acc.join()
            while poll_waiters() < N:  # every handler parked in recv
                await gmp.sleep(0.005)
            held = threading.active_count() - before
            waiters = poll_waiters()

            proc.stdin.write("echo\n")
            proc.stdin.flush()
            line = await gmp.syscall(proc.stdout.readline)
            assert line == f"echoed {N}\n", line
            await done.wait()
            after = threading.active_count() - before
            assert await gmp.syscall(proc.wait, 30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                await gmp.syscall(proc.wait)
            proc.stdin.close()
            proc.stdout.close()
            ln.close()
        return held, after, waiters

    held, after, waiters = run(main, procs, limit=90)
    assert waiters == N
    assert held <= procs + 4, f"{held} threads for {N} idle connections at procs={procs}"
    assert after <= procs + 4, f"{after} threads after {N} echoes at procs={procs}"
