"""The P: a logical processor with a local run queue (Go's ``p``, runtime2.go).

An M must hold a P to run Gs. The P owns the local queue (bounded ring plus the
``runnext`` slot), a timer heap, the scheduling ticks that fairness and sysmon read, and
its own counters for ``rt.stats()``.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any

from gmp._core.g import G
from gmp._core.timers import TimerHeap


class PStatus(enum.IntEnum):
    """Go's ``_Pidle``, ``_Prunning``, ``_Psyscall``, ``_Pdead``."""

    IDLE = 0
    """On the idle list, or handed to an M that has not started running it yet."""
    RUNNING = 1
    """Owned by an M that is scheduling or stepping a coroutine G."""
    SYSCALL = 2
    """Owned by an M that is inside a blocking call; sysmon may retake it."""
    DEAD = 3
    """Retired by a shrinking procresize; no M may acquire it until a resize revives it."""


SAFE_POINT_LOOK = 128
"""Safe points a G passes without reaching its M between two looks of that M at the P's
time slice (:func:`gmp._core.preempt.safe_point_look`): one clock read per 128 channel
operations, selects with a default, lock acquisitions or joins that did not park. A G
that passes one every 30 us (``bench.hog``'s trap hog) has its slice judged to within
4 ms."""


class SliceLook:
    """What one watcher saw of a P's time slice: its ``schedtick`` and when it first saw
    that tick (Go's ``sysmontick.schedtick``/``schedwhen``). sysmon and the P's own M
    each keep one (gmp._core.preempt); neither writes the other's."""

    __slots__ = ("schedtick", "when")

    def __init__(self) -> None:
        self.schedtick = -1
        self.when = 0.0


class P:
    """State of one logical processor. Mutated only under the driver's scheduler lock."""

    __slots__ = (
        "handoffs",
        "id",
        "m",
        "own_slice",
        "preempt",
        "preemptions",
        "runnext",
        "runq",
        "runs",
        "runtick",
        "safe_points",
        "schedtick",
        "status",
        "steals",
        "stolen",
        "sysmon_cpu",
        "sysmon_preempt_cpu",
        "sysmon_runtick",
        "sysmon_slice",
        "sysmon_when",
        "timers",
    )

    def __init__(self, pid: int) -> None:
        self.id = pid
        self.status = PStatus.IDLE
        self.runq: deque[G] = deque()
        self.runnext: G | None = None
        self.timers = TimerHeap()
        # Go's schedtick: bumped per schedule that does not inherit a time slice.
        self.schedtick = 0
        # Bumped on every G switch, inherited or not: sysmon's sign of life.
        self.runtick = 0
        # Set by sysmon when the time slice ran out; consumed by find_runnable.
        self.preempt = False
        # Owner (the driver's M), or None when idle.
        self.m: Any = None
        # Counters reported by rt.stats().
        self.runs = 0
        self.steals = 0
        self.stolen = 0
        self.handoffs = 0
        self.preemptions = 0
        # Go's p.sysmontick: what sysmon saw last time and when.
        self.sysmon_runtick = -1
        self.sysmon_when = 0.0
        # The M's thread CPU time at sysmon_when (None: not sampled), for stuck().
        self.sysmon_cpu: float | None = None
        # The thread CPU time at sysmon's first look at a pending preemption request in
        # this step (None: none seen yet), for stuck().
        self.sysmon_preempt_cpu: float | None = None
        # Go's pd.schedtick/schedwhen: the slice sysmon saw and when it first saw it.
        self.sysmon_slice = SliceLook()
        # The same look by the P's own M at its safe points (gmp._core.preempt.
        # safe_point_look), and the safe points left before it looks again.
        self.own_slice = SliceLook()
        self.safe_points = SAFE_POINT_LOOK

    def runqsize(self) -> int:
        return len(self.runq) + (self.runnext is not None)

    def __repr__(self) -> str:
        return f"<P {self.id} {self.status.name} runq={self.runqsize()}>"
