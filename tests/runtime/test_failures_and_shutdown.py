"""Failures are never lost; shutdown waits, then cancels, and leaves no thread."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from structlog.testing import capture_logs

import gmp


def test_a_failure_nobody_joins_is_logged_with_the_g_id_and_traceback() -> None:
    async def doomed() -> None:
        raise RuntimeError("nobody listens")

    async def main() -> int:
        h = gmp.go(doomed)
        gid = h.id
        del h
        await gmp.sleep(0.01)
        return gid

    with capture_logs() as logs:
        gid = gmp.run(main, procs=1)
        gc.collect()
    errors = [e for e in logs if e["event"] == "G failed and nobody joined it"]
    assert len(errors) == 1, logs
    assert errors[0]["g"] == gid
    assert errors[0]["exc_info"][1].args == ("nobody listens",)


def test_a_joined_failure_is_not_reported_twice() -> None:
    async def doomed() -> None:
        raise RuntimeError("joined")

    async def main() -> None:
        h = gmp.go(doomed)
        await gmp.sleep(0.01)
        with pytest.raises(RuntimeError):
            await h.join()

    with capture_logs() as logs:
        gmp.run(main, procs=1)
        gc.collect()
    assert not [e for e in logs if e["event"] == "G failed and nobody joined it"]


def test_the_runtime_keeps_running_after_a_g_fails() -> None:
    async def bad() -> None:
        raise ValueError("x")

    async def good() -> str:
        return "ok"

    with gmp.Runtime(procs=2) as rt:
        with pytest.raises(ValueError):
            rt.go(bad).result(timeout=10)
        assert rt.go(good).result(timeout=10) == "ok"


def test_leaving_the_with_block_waits_for_running_gs() -> None:
    finished = threading.Event()

    async def work() -> None:
        await gmp.sleep(0.05)
        finished.set()

    with gmp.Runtime(procs=2) as rt:
        rt.go(work)
    assert finished.is_set()


def test_close_cancels_what_is_left_after_the_timeout() -> None:
    cleaned = threading.Event()

    async def forever() -> None:
        try:
            await gmp.sleep(3600)
        finally:
            cleaned.set()

    async def parked_on_join(h: gmp.G) -> None:
        await h.join()

    rt = gmp.Runtime(procs=2)
    h = rt.go(forever)
    j = rt.go(parked_on_join, h)
    t0 = time.monotonic()
    rt.close(timeout=0.05)
    assert time.monotonic() - t0 < 5
    assert cleaned.is_set()
    with pytest.raises(gmp.Cancelled):
        h.result(timeout=1)
    with pytest.raises(gmp.Cancelled):
        j.result(timeout=1)


def test_run_cancels_leftover_gs_when_main_returns() -> None:
    state: dict[str, object] = {}

    async def background() -> None:
        try:
            while True:
                await gmp.sleep(0.001)
        except gmp.Cancelled:
            state["cancelled"] = True
            raise

    async def main() -> str:
        gmp.go(background)
        await gmp.sleep(0.01)
        return "main done"

    with capture_logs() as logs:
        assert gmp.run(main, procs=2) == "main done"
        gc.collect()
    assert state == {"cancelled": True}
    # Unwinding through Cancelled at shutdown is not a failure to report.
    assert not [e for e in logs if e["event"] == "G failed and nobody joined it"]


def test_shutdown_joins_every_thread() -> None:
    async def blocker() -> None:
        await gmp.syscall(time.sleep, 0.05)

    async def main() -> None:
        hs = [gmp.go(blocker) for _ in range(8)]
        for h in hs:
            await h.join()

    rt = gmp.Runtime(procs=4)
    rt.go(main).result(timeout=30)
    assert rt.stats().threads >= 2
    rt.close()
    alive = [t.name for t in threading.enumerate() if t.name.startswith("gmp-") and t.is_alive()]
    assert alive == []


def test_result_of_an_unfinished_g_after_close_is_a_clear_error() -> None:
    gate = threading.Event()
    rt = gmp.Runtime(procs=1, cancel_grace=0.05)
    h = rt.go(gate.wait, 5)  # a plain callable stuck in a blocking call
    rt.close(timeout=0.05)
    with pytest.raises(gmp.RuntimeClosedError, match="closed before it completed"):
        h.result()
    gate.set()
    h.result(timeout=5) if h.done() else None
    time.sleep(0)
