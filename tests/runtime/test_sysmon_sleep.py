"""sysmon's sleep between looks (Sysmon._sleep): one timed acquire of a lock stop() releases.

Laws:
- a sleep lasts its timeout and reports no stop; stop() ends a sleep in progress at once
  and every later sleep returns at once, reporting the stop; stop() twice is harmless;
- on a free-threaded build with more runnable threads than CPUs, sysmon still looks
  every few milliseconds, so a pair of Gs computing between sparse safe points loses
  its P after about one slice: PingPongHog's service ratio, median of three, stays at
  most 3 (1.0-2.4 seen; the GIL build under the same load gives 1.3-2.0). With
  ``Event.wait`` as the sleep, 3.13t spun 40 ``sched_yield`` calls per wait and each
  gave the CPU away: sysmon looked every 57 ms and the ratios were 7.0-8.1.

Every wait has a deadline; the contention case pins this process and two busy child
processes to one CPU and restores the affinity after.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

import pytest

import gmp
from gmp.runtime.affinity import gil_enabled
from gmp.runtime.sysmon import Sysmon
from sims.token_pass import ping_pong_hog

pytestmark = pytest.mark.threaded

WAIT = 10.0


def test_a_sleep_lasts_its_timeout_and_stop_ends_one_in_progress() -> None:
    with gmp.Runtime(procs=1) as rt:
        sm = Sysmon(rt._sched)  # not started: only its sleep is exercised
        t0 = time.monotonic()
        assert sm._sleep(0.02) is False
        assert time.monotonic() - t0 >= 0.019

        result: list[bool] = []
        asleep = threading.Event()

        def long_nap() -> None:
            asleep.set()
            result.append(sm._sleep(WAIT * 10))

        t = threading.Thread(target=long_nap)
        t.start()
        assert asleep.wait(WAIT)
        sm.stop()
        t.join(WAIT)
        assert not t.is_alive() and result == [True]
        sm.stop()  # twice: harmless
        t0 = time.monotonic()
        assert sm._sleep(WAIT) is True and sm._sleep(WAIT) is True
        assert time.monotonic() - t0 < WAIT


@pytest.mark.skipif(gil_enabled(), reason="free-threaded CPython only (the GIL is on)")
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_sysmon_keeps_looking_when_threads_outnumber_cpus() -> None:
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        for proc in busy:
            os.sched_setaffinity(proc.pid, {cpu})
        os.sched_setaffinity(0, {cpu})  # this thread; the runtime's threads inherit it
        ratios = [ping_pong_hog() for _ in range(3)]
    finally:
        os.sched_setaffinity(0, before)
        for proc in busy:
            proc.kill()
            proc.wait(WAIT)
    assert statistics.median(ratios) <= 3.0, [round(r, 2) for r in ratios]
