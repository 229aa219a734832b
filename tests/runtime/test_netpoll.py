"""The threaded runtime's network poller: Gs parked on sockets hold no thread, the last
idle M blocks in epoll and still wakes for timers and new work, an idle runtime with
parked network Gs burns (almost) no CPU, and deadlines and cancellation wake parked Gs.
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from typing import Any

import pytest

import gmp

TIMEOUT = 20.0


def _raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"needs {need} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def _wait(cond: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_thousands_of_gs_parked_on_sockets_hold_no_threads(procs: int) -> None:
    n = 2000
    _raise_nofile(2 * n + 200)
    before = threading.active_count()
    pairs = [socket.socketpair() for _ in range(n)]
    try:
        rt = gmp.Runtime(procs=procs)
        try:

            async def reader(sock: socket.socket) -> bytes:
                sock.setblocking(False)
                conn = gmp.net.Conn(sock, rt._sched.netpoller())
                data = await conn.recv(16)
                conn.close()
                return data

            handles = [rt.go(reader, a) for a, _ in pairs]
            sched = rt._sched
            _wait(lambda: sched.core.npollwait == n, f"{n} Gs parked on sockets")
            threads = threading.active_count() - before
            # Ms for the Ps, sysmon, and maybe one M blocked in the poller.
            assert threads <= procs + 4, f"{threads} threads for {n} parked Gs"
            for i, (_, b) in enumerate(pairs):
                b.send(b"%d" % i)
            got = [h.result(TIMEOUT) for h in handles]
            assert got == [b"%d" % i for i in range(n)]
            assert sched.core.npollwait == 0
        finally:
            rt.close()
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_last_idle_m_blocks_in_poller_and_wakes_for_timers_and_new_work() -> None:
    rt = gmp.Runtime(procs=2)
    a, b = socket.socketpair()
    try:
        sched = rt._sched

        async def parked() -> bytes:
            conn = gmp.net.Conn(a, sched.netpoller())
            return await conn.recv(16)

        h = rt.go(parked)
        _wait(lambda: sched.core.npollwait == 1 and sched.core.polling, "an M in the poller")

        # A timer: a G sleeping while the only other waiter is in epoll must still wake.
        async def sleeper() -> float:
            t0 = time.monotonic()
            await gmp.sleep(0.05)
            return time.monotonic() - t0

        assert rt.go(sleeper).result(TIMEOUT) >= 0.05
        _wait(lambda: sched.core.polling, "the M back in the poller")

        # New work from outside the runtime breaks the poll (Go's netpollBreak).
        assert rt.go(lambda: 42).result(TIMEOUT) == 42
        assert not h.done()
        b.send(b"ready")
        assert h.result(TIMEOUT) == b"ready"
    finally:
        rt.close()
        a.close()
        b.close()


def test_idle_runtime_with_parked_network_gs_uses_almost_no_cpu() -> None:
    rt = gmp.Runtime(procs=2)
    try:
        sched = rt._sched

        async def server() -> None:
            ln = gmp.net.listen("127.0.0.1", 0)
            with ln:
                await ln.accept()

        hs = [rt.go(server) for _ in range(20)]
        _wait(lambda: sched.core.npollwait == 20 and sched.core.polling, "idle listeners")
        t0 = time.process_time()
        time.sleep(0.5)
        used = time.process_time() - t0
        # A busy-polling M would burn ~0.5 s of CPU here; sysmon sleeps while no P is busy.
        assert used < 0.05, f"an idle runtime used {used * 1000:.0f} ms of CPU in 500 ms"
        assert not any(h.done() for h in hs)
    finally:
        rt.close(timeout=0)


def test_deadline_and_cancel_wake_a_parked_reader() -> None:
    async def main() -> tuple[str, str, bool]:
        a, b = socket.socketpair()
        conn = gmp.net.Conn(a, gmp.current_runtime()._sched.netpoller())
        conn.set_read_deadline(time.monotonic() + 0.02)
        try:
            await conn.recv(1)
            first = "no timeout"
        except gmp.DeadlineExceeded as err:
            first = type(err).__name__
        conn.set_read_deadline(None)
        with gmp.move_on_after(0.02) as scope:
            await conn.recv(1)
        second = "cancelled" if scope.cancelled_caught else "not cancelled"
        b.send(b"x")  # readiness after the cancel must not be lost for the next read
        third = await conn.recv(1) == b"x"
        conn.close()
        b.close()
        return first, second, third

    assert gmp.run(main, procs=1) == ("DeadlineExceeded", "cancelled", True)


def test_close_wakes_reader_and_writer_with_conn_closed() -> None:
    async def main() -> list[str]:
        a, b = socket.socketpair()
        conn = gmp.net.Conn(a, gmp.current_runtime()._sched.netpoller())
        out: list[str] = []

        async def read() -> None:
            try:
                await conn.recv(1)
            except gmp.ConnClosed:
                out.append("reader closed")

        async def write() -> None:
            try:
                await conn.send_all(b"x" * (64 << 20))  # b never reads: the writer parks
            except gmp.ConnClosed:
                out.append("writer closed")

        async with gmp.TaskGroup() as tg:
            tg.go(read)
            tg.go(write)
            while gmp.current_runtime()._sched.core.npollwait < 2:
                await gmp.sleep(0.001)
            conn.close()
        b.close()
        return sorted(out)

    assert gmp.run(main, procs=2) == ["reader closed", "writer closed"]


def test_wait_reason_names_the_io_wait() -> None:
    async def main() -> str:
        a, b = socket.socketpair()
        conn = gmp.net.Conn(a, gmp.current_runtime()._sched.netpoller())
        h = gmp.go(conn.recv, 1)
        while not h.wait_reason:
            await gmp.sleep(0.001)
        reason = h.wait_reason
        b.send(b"x")
        await h.join()
        conn.close()
        b.close()
        return reason

    assert gmp.run(main, procs=1) == "IO wait (read)"
