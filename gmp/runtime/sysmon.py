"""sysmon: the monitor thread that keeps Ps moving (Go's sysmon and retake, proc.go).

Every ``interval`` it looks at each busy P. If the P's ``runtick`` has not moved for
``handoff_after`` seconds, its M is stuck in one step: a blocking call (a plain-callable G,
``gmp.syscall``) or a coroutine that computes without awaiting. If that P has other work,
sysmon hands it to another M (Go's handoffp), so the stuck G costs one thread, never the
P's other Gs. If ``schedtick`` has not moved for a time slice while ``runtick`` has, runnext
Gs are passing the slice between them; sysmon sets ``preempt`` so the queue's head gets a
turn (Go's preemptone). It also fires timers nobody is waiting for and prints schedtrace.
When every P is idle it sleeps until an M takes a P again.

With an autoscaler on, sysmon also measures P utilisation (busy Ps per tick, weighted by
the time to the next tick), run-queue backlog, the scheduling rate (G resumptions per
second, the sum of the Ps' ``runs``), the Ms' CPU per second (their thread CPU clocks)
and how often its own wake-ups waited for the interpreter (the GIL held by a computing
thread), and every autoscale ``interval`` asks
the pure policy (:mod:`gmp._core.autoscale`) for a P count, applying changes through the
runtime's resize. Idle, it still wakes once per interval while Ps remain above the floor,
so a runtime left idle shrinks back to ``min_procs``.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import TYPE_CHECKING

from gmp._core.autoscale import Sample
from gmp._core.idle import deferred_wake_due, needs_wakep
from gmp._core.netpoll import sysmon_poll_due
from gmp._core.onecore import slice_hogs
from gmp._core.p import PStatus
from gmp._core.preempt import (
    core_to_share,
    hog_after,
    shares_core,
    slice_expired,
    stuck,
    sysmon_delay,
    sysmon_sleeps,
    watching,
)
from gmp._core.sched import has_work
from gmp.observe.log import get_logger
from gmp.observe.schedtrace import schedtrace_line
from gmp.runtime import affinity
from gmp.runtime.signals import leave_signals_to_main

if TYPE_CHECKING:
    from gmp.runtime.m import M
    from gmp.runtime.scheduler import Scheduler

_log = get_logger("gmp.sysmon")
_IDLE = PStatus.IDLE
_SYSCALL = PStatus.SYSCALL
# A wake-up later than this counts as having waited for the interpreter (see
# Sysmon._wakeup): above timer slack and an uncontended wake (0.16 ms mean with the Ms
# hashing or blocking), below a forced GIL switch (5.4 ms with one M in pure Python).
_LATE_FLOOR = 0.001


def _share_cpu(rt: Scheduler, m: M) -> int | None:
    """Pin a computing G's thread to the CPU its new partner M will share
    (gmp._core.preempt.core_to_share; gmp.runtime.affinity); the CPU, or None where
    pinning cannot help. Scheduler lock held: pairs are made and undone under it."""
    tid = m.native_id
    if not affinity.ENABLED or tid is None:
        return None
    taken = {x.share_cpu for x in rt.ms if x.partner is not None and x.share_cpu is not None}
    cpu = core_to_share(affinity.current_cpu(tid), affinity.ALLOWED, taken)
    if cpu is None or not affinity.pin(tid, {cpu}):
        return None
    m.share_cpu = cpu
    return cpu


def _busy_cpu(rt: Scheduler) -> int | None:
    """The CPU the M of the first busy P last ran on: where sysmon keeps the Ms
    (Sysmon._one_core). Read without the lock, like _retake (single loads, and a stale
    M is only a worse choice of CPU), so the /proc reads stay outside it."""
    for p in rt.core.ps:
        m = p.m
        if p.status is not _IDLE and m is not None and m.native_id is not None:
            cpu = affinity.current_cpu(m.native_id)
            if cpu is not None and cpu in affinity.ALLOWED:
                return cpu
    return None


def _thread_time(m: M) -> float | None:
    """Seconds ``m``'s thread has run or waited to run (schedstat), else its thread CPU
    clock; None if neither can be read (no clock here, or the thread has exited). For
    the autoscaler's headroom (see Sysmon._cpu_per_second; gmp's own, Go has none)."""
    tid = m.native_id
    if tid is not None and _SCHEDSTAT:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                run_ns, wait_ns = f.read().split()[:2]
            return (int(run_ns) + int(wait_ns)) / 1e9
        except (OSError, ValueError):
            return None
    return _cpu_time(m)


def _cpu_time(m: M) -> float | None:
    """``m``'s thread CPU clock in seconds; None without a clock or once the thread has
    exited (its clock then raises). ``cpuclock`` is a field the M sets once: a single
    load, safe without the scheduler lock."""
    clock = m.cpuclock
    if clock is None:
        return None
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def _has_schedstat() -> bool:
    """Whether this kernel gives per-thread schedstat (Linux with CONFIG_SCHED_INFO),
    read once at import: without it every sample would pay a failing open per M."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat", "rb") as f:
            return len(f.read().split()) >= 2
    except OSError:
        return False


_SCHEDSTAT = _has_schedstat()

_COLLECT_GAP = 0.1
"""Seconds between two of sysmon's collections for failed Gs (Sysmon._collect)."""


class Sysmon:
    __slots__ = (
        "_busy_time",
        "_collect_after",
        "_last_busy",
        "_last_cpu",
        "_last_runs",
        "_last_tick",
        "_late",
        "_nap",
        "_next_trace",
        "_stopped",
        "_wakeups",
        "_watch",
        "_window_start",
        "rt",
        "sleeping",
        "stop_event",
        "thread",
        "wake_event",
    )

    def __init__(self, rt: Scheduler) -> None:
        self.rt = rt
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        # sysmon's timed sleeps between looks (_nap): a lock held from here until stop()
        # releases it, so a sleep is one timed acquire that stop() cuts short.
        self._nap = threading.Lock()
        self._nap.acquire()
        self._stopped = threading.Lock()  # taken by the first stop(), never released
        self.sleeping = False
        self._next_trace = 0.0
        # Set by _retake when a P needs a close look soon (see _main's delay).
        self._watch = False
        # Autoscale sampling: busy P-seconds since the window started, and the busy count
        # seen at the previous tick (it applies until this one: a sleeping sysmon saw 0).
        self._busy_time = 0.0
        self._last_busy = 0
        self._last_runs = 0
        self._last_tick = 0.0
        self._window_start = 0.0
        # Wake-ups from a timed sleep this window, how many came late (see _wakeup), and
        # each M's thread CPU clock at the last sample.
        self._wakeups = 0
        self._late = 0
        self._last_cpu: dict[M, float] = {}
        # No collection for failed Gs' reports before this time (_collect).
        self._collect_after = 0.0
        self.thread = threading.Thread(target=self._main, name="gmp-sysmon", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._stopped.acquire(blocking=False):  # the first stop() releases the nap
            self._nap.release()
        self.wake_event.set()

    def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` between looks; True if stop() ended the sleep.

        One timed acquire of a lock held since ``__init__``, not ``Event.wait``: on a
        free-threaded 3.13 every ``Event.wait`` parks on a new lock, and the first wait
        on a lock spins 40 ``sched_yield`` calls before it parks, without looking at its
        timeout. On a machine with more runnable threads than cores each yield gives the
        CPU away for a scheduler slice: sysmon's 5 ms sleeps took 57-173 ms (3.13.5, a
        Python loop and two busy processes on one CPU), and a G computing between
        sparse safe points kept its P for 50-110 ms instead of 10 (PingPongHog's hog
        pair; its service ratio went from 1.1 to 7-8). A lock that has parked a waiter
        once keeps its parked bit while nobody releases it, so later acquires park at
        once: 5.1 ms for a 5 ms sleep in the same setting. With the GIL the two are the
        same sleep."""
        if self._nap.acquire(timeout=seconds):
            self._nap.release()  # stop() released it: leave it free for later sleeps
            return True
        return self.stop_event.is_set()

    def _main(self) -> None:
        leave_signals_to_main()
        rt = self.rt
        interval = rt.sysmon_interval
        trace_s = rt.schedtrace_ms / 1000.0 if rt.schedtrace_ms else 0.0
        self._next_trace = time.monotonic() + trace_s
        self._last_tick = self._window_start = time.monotonic()
        # Go's sysmon delay (gmp._core.preempt.sysmon_delay): every ``interval`` while
        # something needs watching, backing off to 5 ms while nothing does.
        delay = interval
        quiet = 0
        while not self.stop_event.is_set():
            if self.sleeping:
                timeout: float | None = None
                if trace_s:
                    timeout = max(self._next_trace - time.monotonic(), 0.0)
                asc = rt.autoscaler
                if asc is not None and rt.core.procs > asc.config.min_procs:
                    due = self._window_start + asc.config.interval - time.monotonic()
                    timeout = max(due, 0.0) if timeout is None else min(timeout, max(due, 0.0))
                if rt.collect_due:  # a collection held back by _COLLECT_GAP
                    due = max(self._collect_after - time.monotonic(), 0.0)
                    timeout = due if timeout is None else min(timeout, due)
                self.wake_event.wait(timeout)
                self.wake_event.clear()
            else:
                slept = time.monotonic()
                self._sleep(delay)
                if rt.autoscaler is not None:
                    self._wakeup(time.monotonic() - slept - delay)
            if self.stop_event.is_set():
                break
            now = time.monotonic()
            if rt.collect_due and now >= self._collect_after:
                self._collect()
                now = time.monotonic()
            nbusy = self._retake(now)
            if rt.one_core is not None:
                self._one_core(now, nbusy)
            # Nothing busy is a quiet look; once the delay has backed off all the way,
            # sysmon sleeps until a P turns busy, then looks closely again.
            delay, quiet = sysmon_delay(delay, quiet, self._watch, interval, not nbusy)
            busy = not sysmon_sleeps(nbusy, delay)
            poller = rt.poller
            if poller is not None and sysmon_poll_due(rt.core, now):
                # Go's sysmon netpoll: Ps busy with local work for 10 ms never reach
                # find_runnable's poll. Read without the lock like _retake: three single
                # loads, a stale one costs one tick (1 ms) of delay or one empty poll.
                poller.poll_from_sysmon()
            if rt.autoscaler is not None:
                try:
                    self._autoscale(now, nbusy)
                except Exception:
                    # sysmon must survive: without it no P is ever handed off again.
                    _log.exception("autoscaler failed; turning it off")
                    rt.autoscaler = None
            line = None
            if trace_s and now >= self._next_trace:
                self._next_trace = now + trace_s
                with rt.lock:
                    line = schedtrace_line(rt.stats_locked(now))
            if busy:
                self.sleeping = False
            else:
                delay, quiet = interval, 0
                self.sleeping = True
                # Publish, then look again: an M that took a P after the scan above but
                # before this store saw sleeping False and did not wake us, and sysmon
                # slept while that P ran a blocking call with work queued behind it (no
                # handoff ever: a server at procs=1 never saw its shutdown signal, 3 runs
                # in 28 under load). Either this scan sees the busy P or on_p_busy sees
                # the flag.
                if any(p.status is not _IDLE and p.m is not None for p in rt.core.ps):
                    self.sleeping = False
            if line is not None:
                _log.info(line)

    def _one_core(self, now: float, nbusy: int) -> None:
        """Keep the Ms on one CPU while they take turns on the GIL, and try again from
        time to time (the decision: gmp._core.onecore; gmp's own, Go has no GIL).

        ``time.process_time`` counts every thread of the process, so work outside this
        runtime that runs beside it makes a pin less likely, never more."""
        rt = self.rt
        one = rt.one_core
        assert one is not None
        decision = one.observe(now, time.process_time(), nbusy, slice_hogs(rt.core.ps))
        if decision is None:
            return
        cpus = affinity.ALLOWED
        if decision:
            cpu = _busy_cpu(rt)
            if cpu is None:
                one.abandon()
                return
            cpus = frozenset((cpu,))
        with rt.lock:
            rt.cpus = cpus
            for m in rt.ms:
                # An M paired beside a computing G keeps its CPU; its pair ends on rt.cpus.
                if m.native_id is not None and m.share_cpu is None:
                    affinity.pin(m.native_id, cpus)
            # sysmon too: each look takes the GIL, a hand-over from the Ms' core otherwise.
            affinity.pin(0, cpus)

    def _collect(self) -> None:
        """Collect once for failed Gs' reports on a free-threaded build
        (Scheduler.finish). There an object whose last reference another thread dropped
        is freed only when the thread that made it next runs Python, and that M may be
        parked: a collection frees it now, so an unjoined failure is logged, or ends the
        run under ``unjoined_errors="raise"``, as promptly as with the GIL. It waits one
        interval first so the M that finished the G has dropped its own reference, and
        collects at most once per :data:`_COLLECT_GAP`: on 3.13t every collection is a
        full one, and a burst of failures must not cost one per sysmon look."""
        self.rt.collect_due = False
        if self._sleep(self.rt.sysmon_interval):
            return
        gc.collect()
        self._collect_after = time.monotonic() + _COLLECT_GAP

    def _wakeup(self, late: float) -> None:
        """Count a wake-up from a timed sleep, and whether it came ``late``.

        Why: sysmon is a second thread asking for the interpreter on every tick, so its
        lateness says whether the Ms hold it: waking needs the GIL, and a thread that
        computes in Python keeps it until CPython forces a switch (``sys.
        getswitchinterval()``, 5 ms). The share of late wake-ups estimates the share of
        time the interpreter was held, which bounds what more Ps can gain (gmp's own
        measure for its autoscaler; Go has no GIL). Measured with one P over each load of
        ``bench.autoscale``: pure Python, 96% of wake-ups later than 2 ms (mean 5.4 ms);
        hashing (GIL released) and blocking calls, 1% (mean 0.16 ms). The bar is half
        the switch interval, at least ``_LATE_FLOOR``: a shorter switch interval makes
        shorter waits, and below the floor timer slack would count.
        """
        self._wakeups += 1
        if late >= max(sys.getswitchinterval() / 2, _LATE_FLOOR):
            self._late += 1

    def _cpu_per_second(self, elapsed: float) -> float:
        """CPU-seconds the Ms ran or waited to run since the last sample, per second of
        ``elapsed``.

        Why: the autoscaler's headroom (gmp._core.autoscale.Autoscaler.headroom) bounds
        what more Ps can gain by the CPU the Ms wanted (gmp's own; Go has none). Where
        Linux gives it (``/proc/self/task/<tid>/schedstat``) that is time on a CPU plus
        time runnable in the queue for one: a thread holds the GIL while the OS keeps it
        off the CPU, so the CPU clock alone under-counts the interpreter's use on a
        loaded machine (pure Python at one P read 0.5 CPU-s/s with another process
        keeping 1.1 of 2 CPUs busy, and the autoscaler tried 2 Ps again: 0.95x of a
        fixed procs=1). Elsewhere, the thread CPU clock. Per M, so an M that exits
        drops out instead of taking its whole history off the sum; the first sample
        only starts the clocks. 0.0 where no M can be read.
        """
        total = 0.0
        seen: dict[M, float] = {}
        last = self._last_cpu
        for m in list(self.rt.ms):
            used = _thread_time(m)
            if used is None:
                continue
            seen[m] = used
            total += used - last.get(m, used if not last else 0.0)
        self._last_cpu = seen
        return max(total, 0.0) / elapsed

    def _autoscale(self, now: float, nbusy: int) -> None:
        """Accumulate utilisation; at the end of each interval, sample and decide."""
        rt = self.rt
        asc = rt.autoscaler
        if asc is None:
            return
        self._busy_time += self._last_busy * (now - self._last_tick)
        self._last_tick = now
        self._last_busy = nbusy
        elapsed = now - self._window_start
        if elapsed < asc.config.interval:
            return
        core = rt.core
        ps = core.ps  # a list never mutated in place (see procresize): safe unlocked
        procs = len(ps)
        # Lock-free reads of queue lengths, as _retake reads ticks: a hint, one tick stale.
        runnable = len(core.runq) + sum(len(p.runq) + (p.runnext is not None) for p in ps)
        utilisation = min(self._busy_time / (elapsed * procs), 1.0)
        # Scheduling rate, for the policy's check that a growth paid. allp, like ps, is
        # replaced rather than grown in place, and retired Ps keep their counters.
        runs = sum(p.runs for p in core.allp)
        rate = (runs - self._last_runs) / elapsed
        self._last_runs = runs
        self._busy_time = 0.0
        self._window_start = now
        gil = self._late / self._wakeups if self._wakeups else 0.0
        self._wakeups = self._late = 0
        sample = Sample(
            now=now,
            procs=procs,
            utilisation=utilisation,
            runnable=runnable,
            rate=rate,
            cpu=self._cpu_per_second(elapsed),
            cpus=len(affinity.ALLOWED),
            gil=gil,
        )
        target = asc.observe(sample)
        if target != procs:
            rt.autoscale_to(target, sample)

    def _retake(self, now: float) -> int:
        """Go's retake. Returns how many Ps are busy (none: sysmon may sleep).

        The scan reads P fields without the scheduler lock, as Go's sysmon does: each
        read is a single attribute load (atomic with or without the GIL) and the
        ``sysmon_*`` fields have no other writer. Only a decision to act takes the lock,
        and it re-checks what it saw, so a stale read costs at most one tick. Taking the
        lock on every tick would make sysmon a third contender for it on a busy runtime.
        """
        rt = self.rt
        core = rt.core
        threshold = rt.handoff_after
        timeslice = rt.timeslice
        hog = hog_after(threshold, timeslice)
        off_cpu = rt.off_cpu_handoff
        busy = 0
        watch = False
        for p in core.ps:
            m = p.m
            if p.status is _IDLE or m is None:
                p.sysmon_runtick = -1
                continue
            busy += 1
            # The M's thread CPU clock: a blocking call that waits is handed off at the
            # next tick, one that computes after threshold; a coroutine seen computing
            # past a preemption request after PREEMPT_GRACE_CPU of CPU, otherwise after
            # hog (see stuck).
            cpu = _cpu_time(m) if off_cpu else None
            if watching(p):
                watch = True
            seen = p.sysmon_runtick  # the previous look's (stuck() notes this one's)
            if stuck(p, now, threshold, hog, cpu) and m.curg is not None:
                runtick = p.runtick
                with rt.lock:
                    if (
                        p.m is m
                        and p.runtick == runtick
                        and m.curg is not None
                        and has_work(core, p)
                    ):
                        share = _share_cpu(rt, m) if shares_core(p, core.ps) else None
                        if not rt.handoff(p, share) and share is not None:
                            m.share_cpu = None
                            affinity.pin(m.native_id or 0, rt.cpus)
                        p.sysmon_runtick = -1
                        continue
            if deferred_wake_due(core, p, seen):
                # A G readied into this P's runnext waits while its waker keeps running
                # (gmp._core.place.goready woke no M for it): wake one now.
                with rt.lock:
                    if deferred_wake_due(core, p, seen):
                        rt.wakep()
            # A G in a blocking call cannot reach a trap; its slice is moot. slice_expired
            # sets p.preempt, a hint for the next trap.
            if p.status is not _SYSCALL and slice_expired(p, now, timeslice):
                watch = True
        # Timers due on idle Ps with no M waiting for them: start one (Go's sysmon
        # "start an M to run timers" backstop).
        if needs_wakep(core) and any(p.timers.heap for p in list(core.idle)):
            with rt.lock:
                for p in core.idle:
                    when = p.timers.next_when()
                    if when is not None and when <= now and needs_wakep(core):
                        rt.wakep()
                        busy = max(busy, 1)
                        break
        self._watch = watch
        return busy
