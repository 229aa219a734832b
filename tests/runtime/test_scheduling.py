"""Work stealing, handoff, gosched fairness and wake-ups, observed on real threads."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

import gmp

BUF = b"x" * (1 << 20)


def test_work_spawned_on_one_p_spreads_to_the_others() -> None:
    async def chunk() -> bytes:
        # hashlib releases the GIL on large buffers: real parallel work for two Ms.
        return hashlib.sha256(BUF).digest()

    async def main() -> int:
        hs = [gmp.go(chunk) for _ in range(300)]
        return len({await h.join() for h in hs})

    with gmp.Runtime(procs=2, handoff_after=60) as rt:
        assert rt.go(main).result(timeout=60) == 1
        st = rt.stats()
    assert st.steals >= 1, st
    assert all(p.runs > 0 for p in st.procs), st


def _tickers_keep_running(blocker_kind: str) -> list[int]:
    """Run 50 tickers at procs=1 while one G blocks; count ticks inside the block window."""
    window: dict[str, float] = {}
    blocking = threading.Event()

    def block() -> None:
        window["start"] = time.monotonic()
        blocking.set()
        time.sleep(0.5)
        window["end"] = time.monotonic()

    async def via_syscall() -> None:
        await gmp.syscall(block)

    async def spin() -> None:
        window["start"] = time.monotonic()
        blocking.set()
        while time.monotonic() - window["start"] < 0.5:
            pass
        window["end"] = time.monotonic()

    async def ticker(ticks: list[float]) -> None:
        while "end" not in window:
            await gmp.sleep(0.001)
            ticks.append(time.monotonic())

    async def main() -> list[list[float]]:
        all_ticks: list[list[float]] = [[] for _ in range(50)]
        hs = [gmp.go(ticker, t) for t in all_ticks]
        await gmp.sleep(0.02)
        if blocker_kind == "callable":
            b = gmp.go(block)
        elif blocker_kind == "syscall":
            b = gmp.go(via_syscall)
        else:
            b = gmp.go(spin)
        await b.join()
        for h in hs:
            await h.join()
        return all_ticks

    with gmp.Runtime(procs=1) as rt:
        all_ticks = rt.go(main).result(timeout=60)
        assert rt.stats().handoffs >= 1
    lo, hi = window["start"] + 0.1, window["end"] - 0.1
    return [sum(1 for t in ticks if lo <= t <= hi) for ticks in all_ticks]


@pytest.mark.parametrize("kind", ["callable", "syscall", "spin"])
def test_a_blocked_or_spinning_g_does_not_stop_the_other_gs_of_its_p(kind: str) -> None:
    counts = _tickers_keep_running(kind)
    # Without handoff every ticker would tick 0 times inside the 300 ms window; with it,
    # each ticks on the order of a hundred times. 5 is a floor that only a stall breaks.
    assert min(counts) >= 5, counts


def test_gosched_turn_counts_on_one_p_differ_by_at_most_one() -> None:
    """Gosched goes through the global FIFO queue, so Gs take strict turns (the 61st-tick
    global check queues behind the local batch instead of overtaking it)."""
    order: list[int] = []

    async def player(i: int) -> None:
        for _ in range(200):
            order.append(i)
            await gmp.gosched()

    async def main() -> None:
        hs = [gmp.go(player, i) for i in range(5)]
        for h in hs:
            await h.join()

    gmp.run(main, procs=1, handoff_after=60)
    turns = [0] * 5
    for i in order:
        turns[i] += 1
        assert max(turns) - min(turns) <= 1, turns


def test_sleepers_wake_in_deadline_order() -> None:
    woke: list[int] = []

    async def sleeper(i: int) -> None:
        await gmp.sleep(0.01 * i)
        woke.append(i)

    async def main() -> None:
        hs = [gmp.go(sleeper, i) for i in (5, 1, 4, 2, 3)]
        for h in hs:
            await h.join()

    gmp.run(main, procs=1, handoff_after=60)
    assert woke == [1, 2, 3, 4, 5]


def test_a_new_g_is_stolen_by_an_idle_p_while_its_own_p_is_busy() -> None:
    """No lost wake-up: the spawn wakes an idle P, which steals the G (handoff is off)."""
    ran = threading.Event()

    async def other() -> None:
        ran.set()

    async def hog() -> bool:
        gmp.go(other)
        # Busy without yielding; only another P can run `other`.
        return ran.wait(timeout=10)

    with gmp.Runtime(procs=2, handoff_after=60) as rt:
        assert rt.go(hog).result(timeout=20) is True


def test_external_spawns_after_idle_periods_are_never_lost() -> None:
    async def echo(i: int) -> int:
        return i

    with gmp.Runtime(procs=4) as rt:
        for i in range(500):
            assert rt.go(echo, i).result(timeout=10) == i
            if i % 100 == 0:
                time.sleep(0.01)  # let every M park


def test_ping_pong_through_join_across_ps() -> None:
    async def leaf(i: int) -> int:
        await gmp.gosched()
        return i

    async def node(depth: int) -> int:
        if depth == 0:
            return await gmp.go(leaf, 1).join()
        a = gmp.go(node, depth - 1)
        b = gmp.go(node, depth - 1)
        return await a.join() + await b.join()

    assert gmp.run(node, 10, procs=4) == 1024


def test_thread_limit_is_enforced_with_a_clear_log() -> None:
    from structlog.testing import capture_logs

    async def ticker() -> None:
        for _ in range(20):
            await gmp.sleep(0.001)

    async def main() -> None:
        hs = [gmp.go(ticker) for _ in range(3)]
        await gmp.syscall(time.sleep, 0.1)
        for h in hs:
            await h.join()

    with capture_logs() as logs, gmp.Runtime(procs=1, max_threads=1) as rt:
        rt.go(main).result(timeout=30)
        st = rt.stats()
    assert st.threads == 1
    assert st.thread_limit_hits >= 1
    assert any("thread limit" in e["event"] and e.get("max_threads") == 1 for e in logs)


def test_schedtrace_lines_show_queues_steals_and_handoffs() -> None:
    from structlog.testing import capture_logs

    async def main() -> None:
        hs = [gmp.go(gmp.sleep, 0.001) for _ in range(100)]
        await gmp.sleep(0.05)
        for h in hs:
            await h.join()

    with capture_logs() as logs:
        gmp.run(main, procs=2, schedtrace_ms=10)
    lines = [e["event"] for e in logs if str(e["event"]).startswith("SCHED ")]
    assert lines, logs
    assert "gomaxprocs=2" in lines[0] and "steals=[" in lines[0] and "handoffs=[" in lines[0]


def test_gmp_debug_schedtrace_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMP_DEBUG", "schedtrace=25")
    with gmp.Runtime(procs=1) as rt:
        assert rt.schedtrace_ms == 25
    monkeypatch.setenv("GMP_DEBUG", "schedtrace")
    with pytest.raises(ValueError, match="GMP_DEBUG"):
        gmp.Runtime(procs=1)


def test_an_idle_runtime_parks_its_threads_instead_of_spinning() -> None:
    """Idle Ms sleep on their semaphores and sysmon sleeps too: an idle runtime with
    four Ps uses (almost) no CPU. Spinning under the GIL would burn a core."""

    async def warm(i: int) -> int:
        return i

    with gmp.Runtime(procs=4) as rt:
        for h in [rt.go(warm, i) for i in range(200)]:
            h.result(timeout=10)
        time.sleep(0.05)
        c0 = time.process_time()
        time.sleep(0.5)
        used = time.process_time() - c0
        assert rt.stats().idle_procs == 4
    assert used < 0.1, f"idle runtime used {used:.3f} s of CPU in 0.5 s"


def test_stats_snapshot_converts_to_plain_dicts() -> None:
    with gmp.Runtime(procs=2) as rt:
        d = rt.stats().as_dict()
    assert [p["id"] for p in d["procs"]] == [0, 1]
    assert {"gs_alive", "threads", "handoffs", "steals", "global_queue"} <= d.keys()
