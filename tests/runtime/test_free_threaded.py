"""What gmp does only on free-threaded CPython (3.13t); skipped where the GIL is on.

Law: a failed G nobody joins is reported promptly (Scheduler.finish asks sysmon for a
collection: biased reference counting would otherwise leave its report to a parked M),
and a burst of such failures costs at most one collection per ``_COLLECT_GAP`` (every
collection there is a full one). The first half is held by
tests/runtime/test_deadlock.py's ``unjoined_errors="raise"`` test, which failed at
procs=2 on 3.13t before.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

import gmp
from gmp.runtime.affinity import gil_enabled
from gmp.runtime.sysmon import _COLLECT_GAP

pytestmark = [
    pytest.mark.threaded,
    pytest.mark.skipif(
        gil_enabled(),
        reason="free-threaded CPython only (the GIL is on)",
    ),
]


def test_a_burst_of_unjoined_failures_collects_at_most_once_per_gap() -> None:
    starts: list[float] = []

    def count(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            starts.append(time.monotonic())

    async def bad() -> None:
        raise ValueError("nobody joins me")

    async def main() -> float:
        t0 = time.monotonic()
        for _ in range(200):
            gmp.go(bad)
            await gmp.sleep(0.001)
        return time.monotonic() - t0

    gc.callbacks.append(count)
    try:
        elapsed = gmp.run(main, procs=2)
    finally:
        gc.callbacks.remove(count)
    # Automatic collections (allocation-triggered) may add a few.
    assert 1 <= len(starts) <= elapsed / _COLLECT_GAP + 5, (len(starts), elapsed)
