"""What sysmon does with a G that holds its P, by kind, at procs=1 and procs=2.

Under the GIL a second M helps only when the first has let go of the interpreter. So
(gmp._core.preempt):

1. a coroutine that computes but reaches traps is *preempted* at its next trap once its
   slice is over, not handed off: no thread beyond one M per P (one handoff in a run is
   tolerated, for a thread the OS keeps off the CPU), so nothing contends for the GIL
   that procs=1 would not have, and a G behind it still gets its turn within a few
   slices;
2. a coroutine that computes and never reaches a trap is handed off once its thread has
   computed ``PREEMPT_GRACE_CPU`` (2 ms of CPU, by its thread's clock) past a preemption
   request without answering it, and a G behind it waits no longer than the 60 ms bar;
3. a coroutine whose thread has hardly run for twice ``hog_after`` (blocked in a call
   made straight from the coroutine) is handed off then, not after one: a thread waiting
   for the GIL looks the same;
4. a G blocked in a call that waits (off the CPU: ``time.sleep``) is handed off at
   sysmon's next look: a G behind it waits well under the 15 ms bar.

A "G behind" is ``gmp.sleep(0.005)`` in the main G while the hogs hold every P: its
lateness is how long the wake-up waited for a P (``bench.hog``'s scenario, which prints
the figures these bound). Each bound is checked on the median of
several rounds (a round can lose a few ms to the OS or to the GIL's 5 ms switch
interval); what the bounds catch is a missing preemption or handoff, which costs the
whole 150 ms of the hog.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

import bench.hog as hog_bench
from bench.hog import lateness
from gmp._core.p import P, PStatus
from gmp._core.preempt import (
    MAX_DELAY,
    PREEMPT_GRACE_CPU,
    hog_after,
    stuck,
    sysmon_delay,
    sysmon_sleeps,
    watching,
)
from gmp.runtime.affinity import gil_enabled

pytestmark = [pytest.mark.threaded, pytest.mark.usefixtures("frozen_heap")]

# Nine, not five: on a VM whose host is busy a round's lateness moves in steps of the GIL's
# 5 ms switch interval, and the median of five crossed the trap-hog bound (53 ms against
# 50) in 4-6 runs of 20 where the median of nine did so in 1 of 20 (the same hour; a
# missing preemption costs the hog's whole 150 ms either way).
ROUNDS = 9

# The bound for two trapless hogs at procs=2 was set under the GIL, where the hogs take
# turns and the GIL's switch interval lets the new M in. On free-threaded CPython (3.13t)
# the two hogs compute in parallel and the OS schedules three threads on two cores:
# bench.hog measured a G behind them waiting 131 ms (50 ms with the GIL). Behind two trap
# hogs it waited 54.6 ms there until each M judged its own slice at its safe points
# (gmp._core.preempt.safe_point_look): 7.8-13.1 ms since, so that case has no mark.
_GIL_BOUND = pytest.mark.xfail(
    not gil_enabled(), reason="bound set under the GIL (3.13t: see above)", strict=False
)


def _lateness(kind: str, procs: int, hogs: int | None = None) -> tuple[float, Any]:
    """Median lateness over ROUNDS of bench.hog's scenario, and the runtime's stats."""
    late, st = lateness(kind, procs, ROUNDS, hogs)
    return statistics.median(late), st


@pytest.mark.parametrize("procs", [1, 2])
def test_a_computing_g_that_reaches_traps_is_preempted_never_handed_off(procs: int) -> None:
    late, st = _lateness("trap", procs)
    # At most one in the run: a thread the OS keeps off the CPU for twice hog_after (a
    # loaded CI machine) looks like one blocked in a call. Without the CPU rule every
    # round of procs=2 risked one (a G answering requests seen "stuck" by the wall clock).
    assert st.handoffs <= 1, "second Ms were started beside Gs that reach traps"
    assert st.threads <= procs + st.handoffs
    assert sum(p.preemptions for p in st.procs) >= 1
    assert late < 0.050, f"a G behind the hogs waited {late * 1000:.1f} ms (median)"


@pytest.mark.parametrize(
    ("procs", "hogs", "bound"),
    [(1, 1, 0.060), (2, 1, 0.060), pytest.param(2, 2, 0.200, marks=_GIL_BOUND)],
)
def test_a_computing_g_without_traps_is_handed_off(
    procs: int, hogs: int, bound: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 60 ms bar at procs=1, and at procs=2 with one hog (the other P serves). With
    a hog on every P of two, four threads take turns on the GIL (two hogs, sysmon, the
    new M), each turn up to the 5 ms switch interval: 40-80 ms at the median with the
    module alone, but 108-145 ms in three whole-suite runs on a 2-CPU KVM guest, as long
    as the 150 ms hog itself. So that case runs 400 ms hogs, and its bound, 200 ms, is
    half of what a missing handoff costs (the whole hog)."""
    if hogs == procs == 2:
        monkeypatch.setattr(hog_bench, "HOG_S", 0.4)
    late, st = _lateness("trapless", procs, hogs)
    if hogs == procs:
        assert st.handoffs >= 1
    assert late < bound, f"a G behind the hogs waited {late * 1000:.1f} ms (median)"


@pytest.mark.parametrize("procs", [1, 2])
def test_a_g_waiting_in_a_call_is_handed_off_within_the_15ms_bar(procs: int) -> None:
    late, st = _lateness("blocked", procs)
    assert st.handoffs >= ROUNDS
    assert late < 0.015, f"a G behind the calls waited {late * 1000:.1f} ms (median)"


def _running_p(when: float, cpu: float, preempt: bool) -> P:
    p = P(0)
    p.status = PStatus.RUNNING
    p.runtick = 1
    p.sysmon_runtick = 1
    p.sysmon_when = when
    p.sysmon_cpu = cpu
    p.preempt = preempt
    return p


HOG = hog_after(0.010, 0.010)


@pytest.mark.parametrize(
    ("preempt", "cpu_after_request", "expected"),
    [
        (False, 1.0, False),  # no request yet (the slice is not over)
        (True, PREEMPT_GRACE_CPU * 0.9, False),  # asked, still within the grace
        (True, PREEMPT_GRACE_CPU * 1.1, True),  # asked, computed past the grace: hand off
        (True, 0.0, False),  # asked, but the thread has not run since (GIL, OS)
    ],
)
def test_stuck_counts_the_cpu_a_coroutine_spends_ignoring_a_preemption_request(
    preempt: bool, cpu_after_request: float, expected: bool
) -> None:
    p = _running_p(100.0, 5.0, preempt)
    # The first look at the request notes the thread's CPU time and never hands off.
    assert not stuck(p, 100.001, 0.010, HOG, 5.001)
    assert stuck(p, 100.002, 0.010, HOG, 5.001 + cpu_after_request) is expected


def test_without_a_clock_a_coroutine_is_judged_by_hog_only() -> None:
    p = _running_p(100.0, 5.0, preempt=True)
    for now in (100.001, 100.002, 100.0 + HOG * 0.9):
        assert not stuck(p, now, 0.010, HOG, None)
    assert stuck(p, 100.0 + HOG, 0.010, HOG, None)


def test_a_computing_thread_that_answers_requests_is_never_stuck_by_the_wall_clock() -> None:
    p = _running_p(100.0, 5.0, preempt=False)
    # Computing a third of the time (three threads share the GIL) for twice hog: no
    # request was ignored, so no handoff.
    assert not stuck(p, 100.0 + 2 * HOG, 0.010, HOG, 5.0 + 2 * HOG / 3)


def test_a_coroutine_blocked_off_the_cpu_is_stuck_after_twice_hog() -> None:
    p = _running_p(100.0, 5.0, preempt=False)  # time.sleep inside an async def
    # After one hog it may as well be waiting for the GIL: no handoff yet.
    assert not stuck(p, 100.0 + HOG * 1.9, 0.010, HOG, 5.0)
    assert stuck(p, 100.0 + HOG * 2, 0.010, HOG, 5.0 + HOG * 0.01)


def test_a_new_step_forgets_the_request_it_saw() -> None:
    p = _running_p(100.0, 5.0, preempt=True)
    assert not stuck(p, 100.001, 0.010, HOG, 5.0)
    p.runtick += 1  # the G reached a trap: a new step
    assert not stuck(p, 100.002, 0.010, HOG, 6.0)
    assert p.sysmon_preempt_cpu is None
    assert not stuck(p, 100.003, 0.010, HOG, 6.0)  # a first look again


def test_sysmon_sleeps_only_after_backing_off() -> None:
    """sysmon parks until a P turns busy only when nothing is busy and its looks have
    backed off all the way: idle looks double the delay at once, so a runtime gone idle
    parks after a few looks, while a server whose P goes idle for moments between
    bursts keeps sysmon looking every few ms instead of waking it each time."""
    assert not sysmon_sleeps(1, MAX_DELAY)  # something busy: never
    assert not sysmon_sleeps(0, 0.0005)  # the first idle look: back off first
    assert sysmon_sleeps(0, MAX_DELAY)
    delay, quiet, looks = 0.0005, 0, 0
    while not sysmon_sleeps(0, delay):
        delay, quiet = sysmon_delay(delay, quiet, False, 0.0005, idle=True)
        looks += 1
    assert looks == 4  # idle looks double the delay at once: 1, 2, 4, then 5 ms
    # A busy look in between keeps the delay (a quiet look), an idle one goes on doubling.
    assert sysmon_delay(0.002, 3, False, 0.0005) == (0.002, 4)
    assert sysmon_delay(0.002, 3, False, 0.0005, idle=True) == (0.004, 4)


def test_a_blocking_call_is_watched_from_the_second_look() -> None:
    """A blocking call seen for the first time is not watched (Go retakes only a syscall
    that outlived a sysmon tick); the same call at the next look is."""
    p = P(0)
    p.status = PStatus.SYSCALL
    p.runtick = 7
    assert not watching(p)
    p.sysmon_runtick = 7  # what stuck() records at the first look
    assert watching(p)


def test_sysmon_backs_off_only_while_nothing_needs_watching() -> None:
    """Go's sysmon delay: the interval while watching; after 50 quiet looks the delay
    doubles up to 5 ms; one look with something to watch brings the interval back."""
    delay, quiet = 0.0005, 0
    seen = []
    for _ in range(60):
        delay, quiet = sysmon_delay(delay, quiet, False, 0.0005)
        seen.append(delay)
    assert seen[:50] == [0.0005] * 50
    assert seen[50:54] == [0.001, 0.002, 0.004, MAX_DELAY]
    assert max(seen) == MAX_DELAY
    assert sysmon_delay(delay, quiet, True, 0.0005) == (0.0005, 0)
    # An interval above the cap is never shortened.
    assert sysmon_delay(0.02, 100, False, 0.02) == (0.02, 101)
