"""The autoscaler's policy: from samples of backlog and P utilisation to a P count.

Pure, like the rest of the core: the driver measures (the threaded runtime does it in
sysmon's loop), builds a :class:`Sample` and asks :meth:`Autoscaler.observe` for the
target; time arrives only as ``Sample.now``. Go has no autoscaler (GOMAXPROCS is set by
the program or, since Go 1.25, follows the CPU quota); this is gmp's addition.

Policy, with hysteresis so a noisy load does not make the P count flap:

- a sample is **high** when Ps were busy at least ``high_utilisation`` of the interval
  *and* at least ``backlog_per_proc`` runnable Gs per P were queued (busy Ps with nothing
  waiting gain nothing from more Ps);
- a sample is **low** when utilisation was at most ``low_utilisation`` and the queues were
  empty;
- grow after ``grow_after`` consecutive high samples, to ``procs * grow_factor`` (at
  least ``grow_step`` more); shrink by ``shrink_step`` after ``shrink_after`` consecutive
  low ones. Growth is multiplicative and shrinking additive and slower: a backlog costs
  latency now, while an idle P costs almost nothing;
- **check that a growth paid** (``min_gain``): under the GIL, more Ps for pure-Python
  work only add threads taking turns on one interpreter, and busy Ps with a backlog look
  the same whether Ps or the interpreter are the bottleneck. So the policy compares the
  scheduling rate (``Sample.rate``, G resumptions per second) over the ``grow_after``
  high samples after a growth with the ``grow_after`` before it. If it rose by less than
  ``min_gain`` of the proportional gain (growing 2 -> 4 Ps should double it; with the
  default 0.25 it must rise by 25%), the growth is undone and the P count is capped
  there for ``backoff`` seconds before it tries again;
- **do not try a growth that cannot pay** (the headroom rule, also under ``min_gain``):
  a sample may carry the CPU the Ms wanted and how often sysmon's wake-ups found the
  interpreter held. If it was held a share ``h`` of the interval, the rate can rise at
  most ``1/h`` times with any number of Ps (the GIL serialises that work); if the Ms
  wanted ``cpu`` of ``cpus`` CPUs, at most ``cpus/cpu`` times. Growth is capped to the
  largest count whose required gain (``min_gain`` of the proportional gain) fits in
  that headroom, and none happens when not even one more P would. Why: the trial is
  what cost pure-Python work under the autoscaler. In ``bench.autoscale``'s cpu load
  (a 0.35 s run) it made one trial, 100 ms at 2 Ps, where the rate fell from 6,300 to
  3,600-4,500 resumptions/s, then reverted (the rate back to 6,100-6,300): 0.90x of a
  fixed procs=1 (median of 3 runs of 5). With the rule no trial starts: 1.00x. What
  the numbers do not rule out is still left to the trial;
- never change twice within ``cooldown`` seconds, and start counting afresh after each
  change (the samples before it describe a different configuration);
- the target always lies in ``[min_procs, max_procs]``; a P count found outside (set by
  hand) is brought back at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gmp._core.procresize import MAX_PROCS


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _number(name: str, value: object, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if v != v or v < lo or v > hi or (open_lo and v == lo):
        bound = f"({lo}, {hi}]" if open_lo else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be in {bound}, got {value!r}")
    return v


@dataclass(frozen=True, slots=True)
class Autoscale:
    """Bounds and hysteresis of the autoscaler: ``Runtime(autoscale=Autoscale(...))``.

    ``interval`` is how often the runtime samples (seconds); ``cooldown`` the least time
    between two changes (seconds). See the module docstring for the policy.
    """

    min_procs: int = 1
    max_procs: int = 8
    interval: float = 0.05
    grow_after: int = 2
    shrink_after: int = 20
    cooldown: float = 0.1
    high_utilisation: float = 0.75
    low_utilisation: float = 0.25
    backlog_per_proc: float = 1.0
    grow_step: int = 1
    shrink_step: int = 1
    grow_factor: float = 2.0
    min_gain: float = 0.25
    backoff: float = 5.0

    def __post_init__(self) -> None:
        _positive_int("min_procs", self.min_procs)
        _positive_int("max_procs", self.max_procs)
        if self.max_procs > MAX_PROCS:
            raise ValueError(f"max_procs must be at most {MAX_PROCS}, got {self.max_procs}")
        if self.min_procs > self.max_procs:
            raise ValueError(
                f"min_procs ({self.min_procs}) must not exceed max_procs ({self.max_procs})"
            )
        _number("interval", self.interval, 0.0, 3600.0, open_lo=True)
        _number("cooldown", self.cooldown, 0.0, 3600.0)
        for name in ("grow_after", "shrink_after", "grow_step", "shrink_step"):
            _positive_int(name, getattr(self, name))
        low = _number("low_utilisation", self.low_utilisation, 0.0, 1.0)
        high = _number("high_utilisation", self.high_utilisation, 0.0, 1.0)
        if low >= high:
            raise ValueError(
                f"low_utilisation ({low}) must be below high_utilisation ({high}): "
                "the band between them is the hysteresis"
            )
        _number("backlog_per_proc", self.backlog_per_proc, 0.0, 1e9)
        _number("grow_factor", self.grow_factor, 1.0, 1024.0)
        _number("min_gain", self.min_gain, 0.0, 1.0)
        _number("backoff", self.backoff, 0.0, 86400.0)

    def clamp(self, procs: int) -> int:
        return min(max(procs, self.min_procs), self.max_procs)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement over the last interval."""

    now: float
    """The driver's clock at the end of the interval (seconds)."""
    procs: int
    """Live Ps at the end of the interval."""
    utilisation: float
    """Share of the interval the Ps were busy, 0..1 (a P in a blocking call is busy)."""
    runnable: int
    """Runnable Gs queued: the global queue plus every local queue and runnext."""
    rate: float = 0.0
    """G resumptions per second over the interval (0: unknown, no gain check)."""
    cpu: float = 0.0
    """CPU-seconds per second of the interval the Ms ran or waited to run (0: unknown)."""
    cpus: int = 0
    """CPUs the process may run on (0: unknown, no CPU bound on the headroom)."""
    gil: float = 0.0
    """Share of the interval the interpreter was seen held by a computing thread, 0..1:
    the share of sysmon's wake-ups that waited for it (0: unknown or free)."""


class _Trial:
    """A growth on probation: the rates before it, and those seen since."""

    __slots__ = ("after", "before", "new", "old")

    def __init__(self, old: int, new: int, before: float) -> None:
        self.old = old
        self.new = new
        self.before = before
        self.after: list[float] = []


class Autoscaler:
    """The policy's state: streaks of high and low samples and the last change."""

    __slots__ = (
        "ceiling",
        "ceiling_until",
        "changes",
        "config",
        "high_streak",
        "last_change",
        "low_streak",
        "refusals",
        "reverts",
        "samples",
        "streak",
        "trial",
    )

    def __init__(self, config: Autoscale) -> None:
        self.config = config
        self.high_streak = 0
        self.low_streak = 0
        self.last_change: float | None = None
        self.changes = 0
        self.samples = 0
        self.reverts = 0
        # High samples whose growth the headroom rule refused (see headroom).
        self.refusals = 0
        # The current high streak's last grow_after samples: their rates are the "before"
        # of a trial, their CPU and GIL readings bound the headroom.
        self.streak: deque[Sample] = deque(maxlen=config.grow_after)
        self.trial: _Trial | None = None
        # After a growth that did not pay: no growth past `ceiling` until `ceiling_until`.
        self.ceiling: int | None = None
        self.ceiling_until = 0.0

    def classify(self, s: Sample) -> int:
        """+1 for a high sample, -1 for a low one, 0 inside the hysteresis band."""
        c = self.config
        if s.utilisation >= c.high_utilisation and s.runnable >= c.backlog_per_proc * s.procs:
            return 1
        if s.utilisation <= c.low_utilisation and s.runnable == 0:
            return -1
        return 0

    def headroom(self, streak: Sequence[Sample]) -> float:
        """How much the scheduling rate could rise, at most, with any number of Ps: a
        relative gain (1.0 = double), ``inf`` when the samples do not bound it.

        Why: busy Ps with a backlog look the same whether Ps or the interpreter are the
        bottleneck, and finding out by a trial costs the trial (gmp's own rule; Go has
        no GIL and no autoscaler). Two Amdahl bounds, each from numbers the driver
        measured:

        - the interpreter: held a share ``h`` of the wall time, it can serve at most
          ``1/h`` times the work. ``h`` is the lower of two estimates that err in
          opposite ways: ``gil`` (sysmon's late wake-ups; a machine so loaded that
          sysmon waits for a CPU inflates it) and ``cpu`` (the CPU the Ms ran on or
          waited for, which counts computation that released the GIL). A blocking
          load on a loaded machine has a high ``gil`` but a low ``cpu``; hashing with
          the GIL released a high ``cpu`` but a low ``gil``: neither is GIL-bound;
        - the CPUs: the Ms used ``cpu`` of ``cpus`` CPUs, so at most ``cpus/cpu``
          times the work (2 Ps hashing on 2 CPUs gained nothing at 4, measured).

        Both are averaged over ``streak`` (the high samples that ask for the growth):
        one sample is noisy on a loaded machine (pure Python at one P with two other
        CPU hogs read a held share of 1.0, then 0.75, which alone would let a trial of
        2 Ps through). Samples that do not know the Ms' CPU (0) bound nothing.
        """
        known = [s for s in streak if s.cpu > 0.0]
        if not known:
            return math.inf
        cpu = sum(s.cpu for s in known) / len(known)
        held = sum(min(s.gil, s.cpu) for s in known) / len(known)
        room = 1.0 / held - 1.0 if held > 0.0 else math.inf
        cpus = known[-1].cpus
        if cpus > 0:
            room = min(room, cpus / cpu - 1.0)
        return max(room, 0.0)

    def observe(self, s: Sample) -> int:
        """Fold in one sample; return the P count the runtime should have now."""
        c = self.config
        self.samples += 1
        clamped = c.clamp(s.procs)
        if clamped != s.procs:
            return self._changed(s.now, clamped)
        kind = self.classify(s)
        if kind > 0:
            self.high_streak += 1
            self.low_streak = 0
            self.streak.append(s)
        elif kind < 0:
            self.low_streak += 1
            self.high_streak = 0
            self.streak.clear()
        else:
            self.high_streak = self.low_streak = 0
            self.streak.clear()
        trial = self.trial
        if trial is not None:
            if s.procs != trial.new or kind < 0:
                self.trial = trial = None  # the backlog is gone (or someone resized): keep it
            elif kind > 0:
                trial.after.append(s.rate)
            # A sample in the band adds no rate to the trial and does not end it: the
            # first one after a growth often is in the band, while the new P's M starts
            # (utilisation 0.5 at 2 Ps on a loaded machine), and ending the trial there
            # kept an unjudged growth that went on to 4 Ps for pure Python. A trial
            # whose high samples all came during the cool-down is judged at the first
            # sample after it, whatever that sample's kind.
        if self.last_change is not None and s.now - self.last_change < c.cooldown:
            return s.procs
        if trial is not None and len(trial.after) >= c.grow_after:
            self.trial = None
            if trial.before > 0:
                gain = sum(trial.after) / len(trial.after) / trial.before - 1.0
                if gain < c.min_gain * (trial.new / trial.old - 1.0):
                    self.ceiling = trial.old
                    self.ceiling_until = s.now + c.backoff
                    self.reverts += 1
                    return self._changed(s.now, trial.old)
        cap = c.max_procs
        if self.ceiling is not None:
            if s.now < self.ceiling_until:
                cap = min(cap, self.ceiling)
            else:
                self.ceiling = None
        if self.high_streak >= c.grow_after and s.procs < cap:
            target = max(s.procs + c.grow_step, math.ceil(s.procs * c.grow_factor))
            target = min(target, cap, s.procs + max(s.runnable, 1))
            if c.min_gain > 0:
                # Growing p -> t must raise the rate by min_gain * (t/p - 1): the
                # largest t whose requirement fits in the headroom.
                room = self.headroom(self.streak)
                # Compared before the floor: a CPU reading near zero makes the bound
                # overflow to inf, which has no floor (hypothesis found cpu=1e-308).
                fits = s.procs * (1.0 + room / c.min_gain) + 1e-9
                if fits < target:
                    target = math.floor(fits)
                if target <= s.procs:
                    self.refusals += 1
                    return s.procs
            streak = self.streak
            before = sum(x.rate for x in streak) / len(streak) if streak else 0.0
            new = self._changed(s.now, target)
            if c.min_gain > 0 and before > 0:
                self.trial = _Trial(s.procs, new, before)
            return new
        if self.low_streak >= c.shrink_after and s.procs > c.min_procs:
            return self._changed(s.now, max(s.procs - c.shrink_step, c.min_procs))
        return s.procs

    def _changed(self, now: float, target: int) -> int:
        self.high_streak = self.low_streak = 0
        self.streak.clear()
        self.trial = None
        self.last_change = now
        self.changes += 1
        return target


__all__ = ["Autoscale", "Autoscaler", "Sample"]
