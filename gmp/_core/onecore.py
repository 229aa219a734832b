"""One core for Ms that take turns on the GIL: when to pin them, and when to try again.

Pure, like the rest of the core: the driver (sysmon, in the threaded runtime) reads the
process CPU clock and counts the busy Ps at each look, asks :meth:`OneCore.observe`, and
applies the answer with ``sched_setaffinity`` (:mod:`gmp.runtime.affinity`). Go has no
counterpart: its Ms compute in parallel, and the OS placing them on different cores is
what makes them fast. Under the GIL it is what makes them slow.

Why: with two or more Ps busy running Python, their Ms take turns on one interpreter.
Left to the OS they run on different cores, so every object one M makes and another uses
crosses between caches, and every hand-over of the GIL or the scheduler lock wakes a
thread on the other core. Measured with the spawn benchmark at procs=2 (100,000 trivial
Gs spawned by one G and joined; an AMD EPYC KVM guest with 2 CPUs, Python 3.11, medians
of 5): 100-116k/s as the OS places the Ms, 142-209k/s with the process on one CPU, while
the Ms used 1.06-1.25 CPU-seconds per second unpinned. A runtime whose Gs release the GIL
(hashing, compression, blocking calls that compute in C) uses more than one CPU and must
not be pinned: its second core is its speed-up.

The rule tells the two by measuring rather than guessing, and keeps measuring:

- **pin** after :data:`CONFIRM` windows in a row of :data:`WINDOW` seconds each in which
  the looks saw on average at least :data:`BUSY_MIN` busy Ps and the process used at most
  :data:`GIL_BOUND` CPU-seconds per second. Ms that took turns on the interpreter had no
  second CPU's worth of work to lose. An average, not every look: Ps that run short Gs
  go idle and busy again between looks (the spawn benchmark at procs=2: 175 looks saw
  two busy Ps, 15 one and 27 none);
- **try again**: a pin holds for ``hold`` seconds, then the Ms are unpinned for new
  windows (the trial). If they are still GIL-bound they are pinned again and the hold
  doubles, up to :data:`HOLD_MAX`; if not, they stay unpinned and the hold starts again
  from :data:`HOLD_MIN`. A load that changes from pure Python to work that releases the
  GIL runs on one core for at most one hold (1.6 s), and the steady state costs two
  unpinned windows in every hold (about 3% at the longest hold);
- a window with fewer busy Ps ends without a pin and starts the next: one busy P runs on
  one core anyway (a computing G handed off at procs=1 has its own pairing,
  :func:`gmp._core.preempt.shares_core`). It leaves the hold as it was: a load with idle
  moments (Ps between short Gs) would otherwise pay the shortest hold after each;
- **latency first**: while a G computes past its time slice on its P (preemption
  requested and not yet honoured, the P not yet handed to another M), nothing is pinned,
  and a pin in force ends at once. The Gs behind that P wait for sysmon to hand it on;
  on one core sysmon and the M that takes the P also wait for the CPU, which the OS
  shares out in slices of its own: ``bench.hog``'s trapless case at procs=2 (a hog on
  each P) kept the G behind them waiting 147.7 ms at the median with pins, against
  69.7 ms without. A hog whose P has been handed on does not count: its P's Gs run on
  another M, and what is left to gain is throughput. Counting those too took all of
  the spawn benchmark's gain (its spawner is such a hog for the 0.4 s it spends
  spawning: 131.6k against 119.6k/s, no pin at all); counting only them left the hog
  case at 101-106 ms against 64-72. As written but with one window instead of
  :data:`CONFIRM`, interleaved (32 lateness samples and 9 spawn runs each way): the hog
  case 74.7 ms against 70.1 ms unpinned (no pin was made), spawn 146.9k against
  114.4k/s; with two windows, spawn 111.8k against 100.6k/s (13 runs each way);
- a look that comes more than :data:`WINDOW` after the one before starts the window
  again: sysmon was kept from looking, most often by one thread holding the GIL for that
  long (a full garbage collection of a large heap: 160 ms with the whole test suite
  loaded), and a window over that pause measures the pause, not the load. Two Gs
  hashing at procs=2 were pinned twice in 0.6 s that way. Under contention that is
  worth pinning, sysmon waits at most a switch interval (5 ms) for the interpreter.

A signal instead of the trial was tried and not kept: release the pin when the pinned Ms
queue for the CPU (schedstat). Ms taking turns on the GIL on one core queue for 0.45-1.5 s
per second anyway (each hand-over wakes a thread that then waits for the one running), so
that rule released within a sample and gained nothing (120k vs 116k/s).

The simulator has no cores or caches, so it has nothing to pin and does not drive this.
"""

from __future__ import annotations

from collections.abc import Sequence

from gmp._core.p import P, PStatus

WINDOW = 0.02
"""Seconds of unpinned measurement before a decision: a few sysmon looks (every 1-5 ms
while Ps are busy), and short, since the trials are spent on the slow placement. 50 ms
windows gave the spawn benchmark at procs=2 less (147k/s against 163k/s, one run of 7
each)."""

GIL_BOUND = 1.25
"""CPU-seconds per second at or below which busy Ms count as taking turns on the GIL.
Pure-Python Ms that yield measured 0.99-1.05 a window (the surplus is the hand-overs);
Gs hashing 1 MiB buffers at procs=2 1.77-2.00. The spawn benchmark at procs=2 measured
1.11-1.25 in the windows with two busy Ps (its second M parks and is woken between
short Gs: futex calls and wake-ups, not Python), so at the first bound, 1.15, it was
pinned in none of 3 runs and ran at 0.98x asyncio; at 1.25, pinned in every run, 1.17x
(``python -m bench --only spawn``, medians of 5, same hour). The price is a load that
computes in C in parallel for a small share of its time: two Gs each hashing 80 KiB
between 3,000 Python additions used 1.25-1.36 CPU-s/s unpinned, were pinned in some
windows and lost 0-7% of their operations; at 64 KiB (1.17-1.21) pinning lost nothing
measurable. 1.35 was also tried: spawn 1.23x, but the 80 KiB load pinned in every run
and lost 7%."""

CONFIRM = 2
"""GIL-bound windows in a row before a pin. Threads that have just started (or been
unpinned) often share a CPU until the OS's load balancer moves one, and one window then
measures their placement, not their work: Gs hashing at procs=2 were pinned in the first
20 ms of 2 runs in 30 (1.05-1.07 CPU-s/s over the window; the hashing test failed 5
runs in 50), none in 60 with two windows."""

BUSY_MIN = 1.5
"""The mean number of busy Ps over a window from which Ms count as contending."""

HOLD_MIN = 0.1
"""Seconds the first pin holds before a trial."""

HOLD_MAX = 1.6
"""The longest hold: how long a load that stopped being GIL-bound may stay on one core."""


def slice_hogs(ps: Sequence[P]) -> int:
    """The ``hogs`` of :meth:`OneCore.observe`: Ps whose G computes past its time slice,
    a preemption request pending (``p.preempt``, gmp._core.preempt.slice_expired) and
    not yet honoured, the P not yet handed on (why only those: the module docstring).
    sysmon calls it without the lock, as it reads Ps in its retake: each field a single
    load, and a stale count delays a pin or an unpin by one look."""
    return sum(1 for p in ps if p.preempt and p.status is PStatus.RUNNING)


class OneCore:
    """The pin decision for one runtime (see the module docstring). Not thread-safe:
    one driver (sysmon) owns it."""

    __slots__ = (
        "_busy",
        "_cpu0",
        "_last",
        "_looks",
        "_qualified",
        "_start",
        "_until",
        "hold",
        "pinned",
        "pins",
        "trials",
    )

    def __init__(self) -> None:
        self.pinned = False
        self.hold = HOLD_MIN
        self.pins = 0
        """Times the Ms were pinned (a confirmed trial counts again)."""
        self.trials = 0
        """Windows that ended in a decision (pin or stay unpinned)."""
        self._start: float | None = None  # the open window's start, None: no window
        self._cpu0 = 0.0
        self._busy = 0  # busy Ps summed over the window's looks
        self._looks = 0
        self._last = 0.0  # the previous look
        self._until = 0.0  # when the pin's hold ends
        self._qualified = 0  # GIL-bound windows in a row

    def _open(self, now: float, cpu: float) -> None:
        self._start, self._cpu0 = now, cpu
        self._busy = self._looks = 0

    def abandon(self) -> None:
        """The driver had no CPU to pin to after :meth:`observe` said pin: that pin did
        not happen, and the next look opens a new window."""
        if self.pinned:
            self.pinned = False
            self.pins -= 1
        self._start = None

    def observe(self, now: float, cpu: float, busy: int, hogs: int = 0) -> bool | None:
        """One look: ``now`` (seconds), ``cpu`` (the process CPU clock, seconds), how
        many Ps are ``busy`` and how many Gs compute past their time slice on their P
        (``hogs``, see the module docstring). Returns True to pin the Ms to one core,
        False to unpin them, None to leave them as they are."""
        last, self._last = self._last, now
        if hogs:
            self._start = None
            self._qualified = 0
            if self.pinned:
                self.pinned = False
                return False
            return None
        if self.pinned:
            if now < self._until:
                return None
            self.pinned = False
            self._open(now, cpu)  # the trial's first window
            return False
        start = self._start
        if start is None or now - last > WINDOW:
            if start is not None:
                self._qualified = 0  # a pause: the windows before it are not in a row
            self._open(now, cpu)
            return None
        self._busy += busy
        self._looks += 1
        elapsed = now - start
        if elapsed < WINDOW:
            return None
        self.trials += 1
        contended = self._busy >= BUSY_MIN * self._looks
        if contended and (cpu - self._cpu0) / elapsed <= GIL_BOUND:
            self._qualified += 1
            if self._qualified < CONFIRM:
                self._open(now, cpu)
                return None
            self._qualified = 0
            self.pinned = True
            self.pins += 1
            self._start = None
            self._until = now + self.hold
            self.hold = min(self.hold * 2, HOLD_MAX)
            return True
        self._qualified = 0
        if contended:  # a load that wants more than one CPU: pin again only after
            self.hold = HOLD_MIN  # a short hold, in case it was a passing phase
        self._open(now, cpu)
        return None
