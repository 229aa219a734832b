"""Sysmon tells a blocking call that waits from one that computes (gmp._core.preempt.stuck).

Laws:

1. a call off the CPU (``time.sleep``, a socket, a C call that released the GIL) has its P
   handed off at sysmon's next look even when ``handoff_after`` is far away: the thread
   holds no GIL, so a second M runs the P's other Gs at full speed (Go's retake hands a
   syscall P off at its next tick);
2. a call computing in Python keeps its P until ``handoff_after``: a second M beside it
   would mostly wait for the interpreter;
3. with ``off_cpu_handoff=False`` only ``handoff_after`` counts (the rule before thread
   clocks, and what the simulator models with the same flag off).

Each case queues a second G behind the call on a single P, so the P has work to hand off.
Every wait is on a G's result with a timeout, never on a length of time.
"""

from __future__ import annotations

import time

import pytest

import gmp
from gmp._core.p import P, PStatus
from gmp._core.preempt import OFF_CPU_AFTER, stuck

pytestmark = pytest.mark.threaded


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _handoffs(call: object, seconds: float, *, off_cpu: bool = True) -> int:
    async def main() -> None:
        behind = gmp.go(lambda: None)  # queued on the same P behind the call
        await gmp.syscall(call, seconds)  # type: ignore[arg-type]
        await behind.join()

    with gmp.Runtime(procs=1, handoff_after=1.0, off_cpu_handoff=off_cpu) as rt:
        rt.go(main).result(timeout=30)
        return rt.stats().handoffs


def test_a_call_that_waits_is_handed_off_at_the_next_look() -> None:
    assert _handoffs(time.sleep, 0.05) == 1


def test_a_call_that_computes_keeps_its_p_until_handoff_after() -> None:
    assert _handoffs(_spin, 0.05) == 0


def test_without_thread_clocks_only_handoff_after_counts() -> None:
    assert _handoffs(time.sleep, 0.05, off_cpu=False) == 0


# -- the rule itself, on the core's P (pure) ---------------------------------------------------


def _syscall_p() -> P:
    p = P(0)
    p.status = PStatus.SYSCALL
    p.runtick = 1
    return p


@pytest.mark.parametrize(
    ("cpu_used", "elapsed", "expected"),
    [
        (0.0, OFF_CPU_AFTER, True),  # off the CPU for the whole look-to-look time
        (0.0, OFF_CPU_AFTER / 2, False),  # too soon to tell
        (0.9e-3, 1e-3, False),  # computing
        (0.2e-3, 1e-3, True),  # mostly waiting (a quarter is the line)
        (0.3e-3, 1e-3, False),
    ],
)
def test_stuck_reads_the_thread_clock(cpu_used: float, elapsed: float, expected: bool) -> None:
    p = _syscall_p()
    assert not stuck(p, 10.0, 1.0, 1.0, cpu=5.0)  # first look: records
    assert stuck(p, 10.0 + elapsed, 1.0, 1.0, cpu=5.0 + cpu_used) is expected


def test_stuck_without_a_clock_waits_for_syscall_after() -> None:
    p = _syscall_p()
    assert not stuck(p, 10.0, 0.003, 1.0)
    assert not stuck(p, 10.002, 0.003, 1.0)
    assert stuck(p, 10.0031, 0.003, 1.0)


def test_a_coroutine_off_the_cpu_is_judged_by_twice_hog() -> None:
    """A coroutine's thread off the CPU may be waiting for the GIL rather than blocked,
    so it gets twice hog (the coroutine rules are tests/runtime/test_hog_policy.py's)."""
    p = _syscall_p()
    p.status = PStatus.RUNNING
    assert not stuck(p, 10.0, 0.003, 0.030, cpu=0.0)
    assert not stuck(p, 10.010, 0.003, 0.030, cpu=0.0)
    assert not stuck(p, 10.031, 0.003, 0.030, cpu=0.0)
    assert stuck(p, 10.061, 0.003, 0.030, cpu=0.0)
