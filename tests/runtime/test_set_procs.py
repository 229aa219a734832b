"""Runtime.set_procs: GOMAXPROCS at run time, while Gs run, losing and repeating none."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import gmp
from gmp.observe.schedtrace import schedtrace_line
from gmp.runtime.traps import tls

pytestmark = pytest.mark.threaded

WAIT = 60.0  # generous: the machine is small and shared; nothing here measures speed


def until(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for a condition the runtime will reach (polled: it has no event to offer)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def p_id() -> int | None:
    """The id of the P the calling G runs on (None: its M has none right now)."""
    m = tls.m
    assert m is not None
    return None if m.p is None else m.p.id


def test_set_procs_returns_the_previous_count_and_stats_follow() -> None:
    with gmp.Runtime(procs=2) as rt:
        assert rt.set_procs(4) == 2
        assert rt.procs == 4
        st = rt.stats()
        assert [p.id for p in st.procs] == [0, 1, 2, 3]
        assert "gomaxprocs=4 " in schedtrace_line(st)
        assert rt.set_procs(4) == 4  # no change, not counted
        assert rt.set_procs(1) == 4
        st = rt.stats()
        assert rt.procs == 1 and len(st.procs) == 1
        assert st.idle_procs <= 1
        assert st.procs_changes == 2
        assert st.autoscale_changes == 0
        assert rt.go(lambda: 42).result(timeout=WAIT) == 42


@pytest.mark.parametrize("bad", ["2", 2.0, True, None])
def test_set_procs_rejects_non_ints(bad: object) -> None:
    with gmp.Runtime(procs=1) as rt, pytest.raises(TypeError, match="procs must be an int"):
        rt.set_procs(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1])
def test_set_procs_rejects_counts_below_one(bad: int) -> None:
    with gmp.Runtime(procs=1) as rt, pytest.raises(ValueError, match="at least 1"):
        rt.set_procs(bad)


def test_set_procs_is_bounded_by_max_threads_and_go_s_cap() -> None:
    with gmp.Runtime(procs=1, max_threads=3) as rt:
        assert rt.procs_limit() == 3
        with pytest.raises(ValueError, match="at most 3"):
            rt.set_procs(4)
        assert rt.set_procs(3) == 1
    with gmp.Runtime(procs=1) as rt, pytest.raises(ValueError, match="at most 1024"):
        rt.set_procs(1025)


def test_set_procs_after_close_raises() -> None:
    rt = gmp.Runtime(procs=2)
    rt.close()
    with pytest.raises(gmp.RuntimeClosedError):
        rt.set_procs(3)


def test_growing_runs_queued_work_while_the_only_p_is_blocked() -> None:
    # The blocker holds P0 in a blocking call; sysmon will not hand it off (handoff_after
    # is huge), so the queued Gs can only run if the new P does.
    gate = threading.Event()
    started = threading.Event()

    def blocker() -> str:
        started.set()
        gate.wait(WAIT)
        return "blocked"

    async def quick(i: int) -> int:
        await gmp.sleep(0)
        return i

    with gmp.Runtime(procs=1, handoff_after=3600, timeslice=3600) as rt:
        b = rt.go(blocker)
        assert started.wait(WAIT)
        hs = [rt.go(quick, i) for i in range(100)]
        assert rt.set_procs(2) == 1
        try:
            assert [h.result(timeout=WAIT) for h in hs] == list(range(100))
        finally:
            gate.set()
        assert b.result(timeout=WAIT) == "blocked"
        assert rt.stats().procs[1].runs > 0


def test_a_g_running_on_a_retired_p_finishes_and_its_m_finds_it_a_place() -> None:
    # Two hogs compute without awaiting, one on each P (no sysmon handoff: the slices are
    # huge). Retiring P1 detaches the hog there; it keeps running, then sleeps (its timer
    # must go on a live P), spawns a child and returns.
    release = threading.Event()
    running: list[int | None] = []
    lock = threading.Lock()
    both = threading.Event()

    async def child() -> str:
        await gmp.sleep(0.001)
        return "child"

    async def hog() -> tuple[int | None, str]:
        with lock:
            running.append(p_id())
            if len(running) == 2:
                both.set()
        while not release.wait(0.001):
            pass  # a coroutine step that never yields
        after = p_id()
        await gmp.sleep(0.01)
        h = gmp.go(child)
        return after, await h.join()

    with gmp.Runtime(procs=2, handoff_after=3600, timeslice=3600) as rt:
        hs = [rt.go(hog) for _ in range(2)]
        assert both.wait(WAIT), running
        assert sorted(p for p in running if p is not None) == [0, 1]
        assert rt.set_procs(1) == 2
        release.set()
        outs = [h.result(timeout=WAIT) for h in hs]
        assert [o[1] for o in outs] == ["child", "child"]
        # The hog on P1 lost its P at once (as after a sysmon retake); the other kept P0.
        assert {o[0] for o in outs} == {0, None}
        assert rt.procs == 1


def _spread_sleepers(rt: gmp.Runtime, n: int, seconds: float) -> tuple[list[gmp.G], set[int]]:
    """Park ``n`` sleepers; return them and the ids of the Ps holding their timers."""

    async def sleeper(i: int) -> int:
        await gmp.sleep(seconds)
        return i

    async def spawner(lo: int, hi: int) -> list[gmp.G]:
        return [gmp.go(sleeper, i) for i in range(lo, hi)]

    per = n // 4
    spawners = [rt.go(spawner, k * per, (k + 1) * per) for k in range(4)]
    hs = [h for s in spawners for h in s.result(timeout=WAIT)]
    until(lambda: sum(p.timers for p in rt.stats().procs) == len(hs))
    holders = {p.id for p in rt.stats().procs if p.timers}
    return hs, holders


def test_sleepers_on_a_retired_p_still_wake() -> None:
    with gmp.Runtime(procs=4) as rt:
        for _attempt in range(50):
            hs, holders = _spread_sleepers(rt, 400, 0.3)
            if holders - {0}:
                break
            for h in hs:
                h.result(timeout=WAIT)
        else:
            pytest.fail("sleepers never parked on a P other than P0")
        assert rt.set_procs(1) == 4
        st = rt.stats()
        assert st.procs[0].timers == len(hs), st
        assert sorted(h.result(timeout=WAIT) for h in hs) == list(range(len(hs)))


def test_gs_in_blocking_calls_come_back_after_their_p_is_retired() -> None:
    gate = threading.Event()
    cond = threading.Condition()
    where: list[int | None] = []

    def block() -> int:
        gate.wait(WAIT)
        return 1

    async def caller() -> int:
        with cond:
            where.append(p_id())
            cond.notify_all()
        got = await gmp.syscall(block)
        await gmp.sleep(0)  # a trap after the call: the G still has a place to run
        return got

    with gmp.Runtime(procs=4, handoff_after=0.002) as rt:
        for _attempt in range(50):
            where.clear()
            gate.clear()
            hs = [rt.go(caller) for _ in range(16)]
            with cond:
                assert cond.wait_for(lambda: len(where) == 16, WAIT)
            if any(p not in (None, 0) for p in where):
                break
            gate.set()
            for h in hs:
                h.result(timeout=WAIT)
        else:
            pytest.fail("no G ever entered its call on a P other than P0")
        assert rt.set_procs(1) == 4
        gate.set()
        assert [h.result(timeout=WAIT) for h in hs] == [1] * len(hs)
        assert rt.procs == 1


def test_flipping_procs_while_20k_gs_run_loses_and_repeats_none() -> None:
    n_outer = 10_000
    runs = [0] * (2 * n_outer)
    runs_lock = threading.Lock()
    stop = threading.Event()
    flips = [0]

    def count(i: int) -> None:
        with runs_lock:
            runs[i] += 1

    async def leaf(i: int) -> int:
        count(i)
        return i

    async def work(i: int) -> int:
        # Every kind of trap, so Gs are caught mid-way on Ps being retired.
        kind = i % 5
        if kind == 0:
            await gmp.gosched()
        elif kind == 1:
            await gmp.sleep(0)
        elif kind == 2:
            await gmp.sleep(0.0005)
        elif kind == 3:
            await gmp.syscall(time.sleep, 0)
        count(i)
        child = gmp.go(leaf, n_outer + i)
        return i + await child.join()

    def flipper(rt: gmp.Runtime) -> None:
        n = 1
        while not stop.is_set():
            n = 4 if n == 1 else 1
            try:
                rt.set_procs(n)
            except gmp.RuntimeClosedError:
                return
            flips[0] += 1
            stop.wait(0.0005)

    with gmp.Runtime(procs=1, seed=1) as rt:
        t = threading.Thread(target=flipper, args=(rt,), name="flipper")
        t.start()
        try:
            hs = [rt.go(work, i) for i in range(n_outer)]
            results = [h.result(timeout=120) for h in hs]
        finally:
            stop.set()
            t.join()
        st = rt.stats()
    assert results == [2 * i + n_outer for i in range(n_outer)]
    assert runs == [1] * (2 * n_outer)
    assert flips[0] >= 2
    assert st.gs_alive == 0
    assert st.procs_changes == flips[0]


def test_a_g_may_resize_its_own_runtime_even_retiring_its_own_p() -> None:
    async def child(i: int) -> int:
        await gmp.sleep(0.001)
        return i

    async def resizer() -> list[int]:
        rt = gmp.current_runtime()
        out = []
        for n in (4, 1, 3, 1):
            rt.set_procs(n)
            await gmp.sleep(0.001)
            hs = [gmp.go(child, i) for i in range(50)]
            out.append(sum([await h.join() for h in hs]))
        return out

    with gmp.Runtime(procs=2) as rt:
        assert rt.go(resizer).result(timeout=WAIT) == [sum(range(50))] * 4
        assert rt.procs == 1
