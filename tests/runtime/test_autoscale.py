"""The autoscaler on real threads: it grows under backlog, shrinks when idle, and obeys
its bounds. Waits are on conditions the runtime reaches; nothing measures speed."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

import gmp
from gmp._core.autoscale import Autoscaler, Sample
from gmp.runtime.affinity import gil_enabled

pytestmark = pytest.mark.threaded

WAIT = 60.0

FAST = gmp.Autoscale(
    min_procs=1,
    max_procs=4,
    interval=0.01,
    grow_after=2,
    shrink_after=3,
    cooldown=0.01,
    min_gain=0.0,  # the gate below holds the rate at ~0: no growth could show a gain
)


def until(pred: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def test_autoscale_is_exported_and_validated() -> None:
    assert "Autoscale" in gmp.__all__
    with pytest.raises(TypeError, match=r"gmp\.Autoscale"):
        gmp.Runtime(autoscale={"max_procs": 4})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="autoscale bounds"):
        gmp.Runtime(procs=6, autoscale=gmp.Autoscale(max_procs=4))
    with pytest.raises(ValueError, match="max_threads"):
        gmp.Runtime(max_threads=2, autoscale=gmp.Autoscale(max_procs=4))


def test_procs_default_to_the_floor() -> None:
    with gmp.Runtime(autoscale=gmp.Autoscale(min_procs=2, max_procs=4)) as rt:
        assert rt.procs == 2
        assert rt.stats().autoscale


def test_grows_under_a_blocking_backlog_then_shrinks_back_when_idle() -> None:
    gate = threading.Event()
    n = 400
    runs = [0] * n
    lock = threading.Lock()

    def block(i: int) -> int:
        gate.wait(WAIT)
        with lock:
            runs[i] += 1
        return i

    async def work(i: int) -> int:
        return await gmp.syscall(block, i)

    # handoff_after is long, so the backlog drains slowly while the Ps stay busy.
    with capture_logs() as logs, gmp.Runtime(autoscale=FAST, handoff_after=0.05) as rt:
        hs = [rt.go(work, i) for i in range(n)]
        try:
            until(lambda: rt.procs == 4)
        finally:
            gate.set()
        assert sorted(h.result(timeout=WAIT) for h in hs) == list(range(n))
        until(lambda: rt.procs == 1)
        st = rt.stats()
    assert runs == [1] * n
    assert st.autoscale_changes >= 5  # 1 -> 2 -> 4, then back one P at a time
    assert st.procs_changes == st.autoscale_changes
    changes = [e for e in logs if e["event"] == "autoscale changed procs"]
    assert len(changes) == st.autoscale_changes
    ups = [(e["old"], e["new"]) for e in changes if e["new"] > e["old"]]
    assert ups[:2] == [(1, 2), (2, 4)]  # growth doubles


def test_a_cpu_hog_alone_does_not_grow() -> None:
    # One G computing with nothing queued behind it: more Ps would have nothing to run.
    stop = threading.Event()

    async def hog() -> None:
        while not stop.wait(0.0005):
            pass

    asc = gmp.Autoscale(max_procs=4, interval=0.01, grow_after=1, cooldown=0.0)
    with gmp.Runtime(autoscale=asc) as rt:
        h = rt.go(hog)
        scaler = rt._sched.autoscaler
        assert scaler is not None
        until(lambda: scaler.samples >= 30)  # sysmon sampled while the hog ran
        procs = rt.procs
        stop.set()
        h.result(timeout=WAIT)
    assert procs == 1
    assert scaler.changes == 0


def test_autoscale_can_be_turned_on_changed_and_off_at_run_time() -> None:
    with gmp.Runtime(procs=3) as rt:
        assert rt.autoscale(gmp.Autoscale(min_procs=1, max_procs=2, interval=0.01)) is None
        until(lambda: rt.procs == 2)  # brought within the new bounds at the next sample
        old = rt.autoscale(None)
        assert old is not None and old.max_procs == 2
        assert not rt.stats().autoscale
        rt.set_procs(3)
        assert rt.procs == 3
        with pytest.raises(TypeError):
            rt.autoscale(3)  # type: ignore[arg-type]
    assert rt.stats().autoscale_changes == 1


def test_an_idle_runtime_above_the_floor_shrinks_without_any_g() -> None:
    asc = gmp.Autoscale(min_procs=1, max_procs=4, interval=0.01, shrink_after=2, cooldown=0)
    with gmp.Runtime(autoscale=asc) as rt:
        # At the floor and idle, sysmon sleeps with no timeout; a resize must wake it.
        until(lambda: rt._sched.sysmon.sleeping)
        rt.set_procs(4)
        until(lambda: rt.procs == 1)
        assert rt.stats().autoscale_changes == 3


def test_sysmon_counts_late_wakeups_and_the_ms_cpu() -> None:
    """Laws: a wake-up counts as late at half the switch interval or more (never below
    1 ms, timer slack); the first CPU reading only starts the clocks; an M whose thread
    cannot be read drops out of the sum instead of making it negative."""
    from types import SimpleNamespace

    from gmp.runtime.sysmon import Sysmon

    rt = SimpleNamespace(ms=[])
    mon = Sysmon(rt)  # type: ignore[arg-type]
    half = max(sys.getswitchinterval() / 2, 0.001)
    for late in (0.0, 0.0002, half * 0.99, half, half * 3):
        mon._wakeup(late)
    assert (mon._wakeups, mon._late) == (5, 2)
    assert mon._cpu_per_second(0.05) == 0.0  # no M


def test_samples_carry_the_interpreter_share_under_pure_python() -> None:
    """With one P running pure-Python Gs, sysmon's wake-ups wait for the GIL (CPython
    forces a switch only after the switch interval) and the Ms' CPU is measured, so the
    samples tell the policy that more Ps cannot pay; without the GIL they wake on time
    and say that more Ps can. Asserts what the samples carry over many samples, not what
    the policy decided (that is the pure tests' job)."""
    seen: list[Sample] = []
    stop = threading.Event()

    async def compute() -> None:
        while not stop.is_set():
            s = 0
            for i in range(4000):
                s += i * i
            await gmp.sleep(0)

    class Recording(Autoscaler):
        __slots__ = ()

        def observe(self, s: Sample) -> int:
            seen.append(s)
            return super().observe(s)

    asc = gmp.Autoscale(max_procs=2, interval=0.02, grow_after=2, cooldown=0.0)
    with gmp.Runtime(autoscale=asc) as rt:
        rt._sched.autoscaler = Recording(asc)  # sysmon reads it afresh at every tick
        hs = [rt.go(compute) for _ in range(8)]
        try:
            until(lambda: len(seen) >= 20)
        finally:
            stop.set()
        for h in hs:
            h.result(timeout=WAIT)
    samples = list(seen)
    assert all(0.0 <= s.gil <= 1.0 and s.cpu >= 0.0 for s in samples)
    if gil_enabled():
        assert max(s.gil for s in samples) > 0.5
    else:
        # No interpreter lock to wait for: sysmon wakes on time and the samples say more
        # Ps can pay (20 of 20 shares were 0 on 3.13t; they were high only while its
        # sleep spun on sched_yield, tests/runtime/test_sysmon_sleep.py).
        assert sum(1 for s in samples if s.gil <= 0.5) > len(samples) // 2, [
            round(s.gil, 2) for s in samples
        ]
    assert sum(1 for s in samples if s.cpu > 0.0) >= len(samples) // 2
