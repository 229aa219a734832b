"""The discrete-event simulator: virtual time, simulated Ms, and gmp's core deciding.

The simulator is a third driver of :mod:`gmp._core`, beside the threaded runtime. Ps are
the core's :class:`~gmp._core.p.P` objects inside a core :class:`~gmp._core.sched.Sched`
whose RNG is the run's; Ms are :class:`~sims.m.SimM` records; time is a float that
jumps from event to event (a binary heap of ``(time, seq, kind, payload)``; ``seq``
breaks ties in insertion order, so a run is a pure function of its seed).

The M life cycle mirrors :mod:`gmp.runtime.m` and :mod:`gmp.runtime.runtime`:

- *schedule* (Go's schedule): the policy picks a G for the M's P (``find_runnable``
  for gmp); none found: the P goes idle (pidleput) and the M parks (stopm).
- *wakep*: queuing work while a P is idle and no M spins hands an idle P (pidleget) to a
  parked or new M, marked spinning, which runs after the wake latency; a spinning M
  that finds work wakes the next one if work remains (resetspinning).
- *entersyscall / sysmon retake / exitsyscall*: a G that blocks keeps its M; sysmon,
  ticking every ``sysmon_interval``, hands the P to another M once
  gmp._core.preempt.stuck says so (the call has lasted ``handoff_after``, or been seen
  off the CPU for a tick) and the P has work (handoffp); when the call returns the M takes its
  P back, else any idle P, else queues the G and parks.
- *timers*: a sleeping G sits on its P's core timer heap; ``find_runnable`` fires due
  timers (its own, or a victim's in the last steal round), and an event at the due
  time wakes an idle P if nobody would look (the runtime's timed park).
- *the network poller* (:mod:`sims.netpoll`, once a G reads a connection): a read with
  nothing buffered parks on the descriptor (netpoll.block); a message puts its
  descriptor on the ready list; find_runnable polls before stealing, the last M to park
  blocks in the poller instead (netpoll.block_in_poll) and returns a wake latency after
  readiness or a wakep (Go's netpollBreak), and sysmon polls when nobody has for 10 ms
  (netpoll.sysmon_poll_due); readied Gs are placed by place.inject, as in
  :mod:`gmp.runtime.m` and :mod:`gmp.runtime.netpoll`.

Randomness: one ``random.Random(seed)`` is the root. It seeds two streams, one for the
workload and one injected into the core's Sched (stealing order, rival placements), so
that every policy sees the *same* arrivals and service times for a seed (common random
numbers: differences between policies are not sampling noise).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

import attrs

from gmp._core import netpoll as core_np
from gmp._core.g import DEAD, RUNNABLE, RUNNING, SYSCALL, WAITING
from gmp._core.idle import deferred_wake_due, needs_wakep, spinning_started, spinning_stopped
from gmp._core.netpoll import READ, SYSMON_POLL_AFTER
from gmp._core.p import P, PStatus
from gmp._core.place import inject, preempt_due
from gmp._core.preempt import (
    safe_point_look,
    slice_expired,
    slice_observe,
    stuck,
    sysmon_delay,
    watching,
)
from gmp._core.runq import runqput
from gmp._core.sched import Sched, entersyscall, pidleget, pidleput
from sims.cost import CostModel
from sims.g import (
    BLOCK,
    CALL,
    GOSCHED,
    JOIN,
    NOTE,
    PASS,
    RECV,
    RECV_AGAIN,
    RELEASE,
    REPLY,
    RUN,
    SLEEP,
    SPAWN,
    YIELD,
    Baton,
    SimG,
)
from sims.m import SimM
from sims.metrics import Metrics, Recorder
from sims.netpoll import EOF, MAX_EVENTS, NetpollStats, SimConn
from sims.policies import Policy, make_policy

EV_WAKE: Final = 0
EV_RUN_END: Final = 1
EV_UNBLOCK: Final = 2
EV_SYSMON: Final = 3
EV_TIMER: Final = 4
EV_IO: Final = 5
EV_POLL_RETURN: Final = 6
EV_SYSMON_POLL: Final = 7
EV_DEFERRED_WAKE: Final = 8

_P_IDLE = PStatus.IDLE
_P_RUNNING = PStatus.RUNNING
_P_SYSCALL = PStatus.SYSCALL
_INF = math.inf
_CHECK_EVERY = 4096
_NOT_TRAPS: Final = (RUN, SPAWN, NOTE, RECV_AGAIN)
"""Program operations that are not awaits in the runtime (``gmp.go`` does not yield; a
read readied by the poller retries inside ``Conn.recv``, past its safe point)."""


class SimulationError(RuntimeError):
    """The simulation cannot go on (a G can never finish, or a limit was exceeded)."""


class Workload(Protocol):
    """What the simulator needs from a workload (see :mod:`sims.workloads`)."""

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        """Gs arriving from outside, in nondecreasing time order."""
        ...

    def expected_gs(self, procs: int) -> int | None:
        """How many Gs the run will finish in all, if known (for progress bars)."""
        ...


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attr.name} must be positive, got {value!r}")


@attrs.frozen
class SimConfig:
    """Machine and runtime knobs of a simulation (times in seconds)."""

    procs: int = attrs.field(default=4)
    """Ps (GOMAXPROCS)."""
    seed: int = 0
    handoff: bool = True
    """Whether sysmon hands the P of a blocked M to another M (False: the P waits)."""
    handoff_after: float = attrs.field(default=3e-3, validator=_positive)
    """How long a call blocks before sysmon retakes its P (the runtime's default)."""
    off_cpu_handoff: bool = True
    """Whether sysmon reads the blocked M's thread CPU clock, as the runtime does on
    Linux: a call seen off the CPU is retaken a tick earlier than ``handoff_after``
    (gmp._core.preempt.stuck). A simulated blocking call waits, so it is off the CPU."""
    sysmon_interval: float = attrs.field(default=1e-3, validator=_positive)
    """sysmon's tick: retakes happen on this grid."""
    timeslice: float = attrs.field(default=0.010, validator=_positive)
    """Go's forcePreemptNS: a G that has held its P's slice this long is preempted at its
    next trap (an operation boundary of a program G; plain Gs have none)."""
    preempt: bool = True
    """Whether sysmon preempts at the end of a time slice (False: slices never end)."""
    max_threads: int = attrs.field(default=10_000)
    """Bound on Ms (Go's debug.SetMaxThreads); past it handoffs are skipped."""
    util_bin: float = attrs.field(default=1e-3, validator=_positive)
    """Resolution of the utilisation-over-time series."""
    cost: CostModel = attrs.field(factory=CostModel)
    skip_futile_search: bool = True
    """Skip a P's search when no G is runnable anywhere (the result is certainly None).

    A search is skipped when no G is runnable or asleep anywhere, or when every such G
    sleeps on a timer not yet due and no queue holds a G (an O(P) check). Decisions and
    virtual time are unchanged (the failed search's cost is charged); only the RNG draws
    of the skipped search's steal order are not made. A futile find_runnable on 64 Ps
    probes 4 x 63 victims: it was 80% of the run time of a Poisson run, and 90% of a
    skewed one while its spawner slept."""
    max_events: int = 500_000_000
    """Safety limit: a run that processes more events than this raises."""

    @procs.validator
    def _check_procs(self, _attr: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"procs must be a positive int, got {value!r}")

    @max_threads.validator
    def _check_threads(self, _attr: attrs.Attribute[int], value: int) -> None:
        if value < self.procs:
            raise ValueError(f"max_threads ({value}) must be at least procs ({self.procs})")


@attrs.frozen
class SimResult:
    """A finished run: the summary and the raw per-G samples (for CDFs and plots)."""

    metrics: Metrics
    latency: array[float]
    """Per-G latency in finishing order."""
    wait: array[float]
    """Per-G wait (first run minus arrival) in finishing order."""
    netpoll: NetpollStats | None = None
    """The network poller's counters and per-message latencies, when Gs read connections."""


class Simulator:
    """One simulation run of ``workload`` under ``policy`` on ``config.procs`` Ps.

    Construct, then call :meth:`run` once. The simulator is single-threaded and touches
    no clock but its own; two runs with equal arguments give equal results. A plain
    slotted class rather than attrs: its fields are the run's working state, not data.
    """

    __slots__ = (
        "_look",
        "_preempt",
        "_ran",
        "_skip",
        "config",
        "cost",
        "events",
        "gs_alive",
        "handoffs",
        "heap",
        "idle_ms",
        "io_ready",
        "io_streams",
        "ms",
        "net",
        "next_gid",
        "now",
        "policy",
        "poller_m",
        "rec",
        "runnable",
        "sched",
        "seq",
        "sleeping",
        "sysmon_poll_at",
        "thread_limit_hits",
        "wl_rng",
        "workload",
    )

    def __init__(
        self,
        workload: Workload,
        config: SimConfig | None = None,
        policy: Policy | str = "gmp",
    ) -> None:
        self.config = cfg = config if config is not None else SimConfig()
        self.workload = workload
        root = random.Random(cfg.seed)
        self.wl_rng = random.Random(root.getrandbits(64))
        self.sched = Sched(cfg.procs, random.Random(root.getrandbits(64)))
        self.policy = make_policy(policy) if isinstance(policy, str) else policy
        self.policy.bind(self.sched, cfg.cost)
        self.cost = cfg.cost
        self.rec = Recorder(cfg.procs, cfg.util_bin)
        self.now = 0.0
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.ms: list[SimM] = []
        self.idle_ms: list[SimM] = []
        self.gs_alive = 0
        # Gs queued somewhere, or asleep on a policy-kept timer: what a find could return.
        self.runnable = 0
        # Of those, the ones that went to sleep on a policy-kept timer and have not run since.
        self.sleeping = 0
        self._skip = cfg.skip_futile_search
        self._preempt = cfg.preempt and self.policy.slices
        # sysmon looks at time slices once per tick, plus the wait for the interpreter
        # while an M computes (CostModel.gil_switch; 0 for a native runtime).
        self._look = cfg.sysmon_interval + cfg.cost.gil_switch
        self.next_gid = 0
        self.handoffs = 0
        self.thread_limit_hits = 0
        self.events = 0
        self._ran = False
        # The network poller: made when a G first reads a connection (the runtime makes
        # its poller when the first socket is registered).
        self.net: NetpollStats | None = None
        self.io_ready: deque[SimConn] = deque()  # epoll's ready list
        self.io_streams = 0  # connections whose message stream has not ended
        self.poller_m: SimM | None = None  # the M blocked in the poller (Sched.polling)
        self.sysmon_poll_at = -1.0  # sysmon's next look at the poller, if armed

    # -- the event loop ------------------------------------------------------------

    def run(
        self,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 20_000,
    ) -> SimResult:
        """Run to completion: every arrival has come and every G has finished.

        ``progress(n)`` is called with the number of Gs finished since the last call,
        every ``progress_every`` finishes and once at the end.
        """
        if self._ran:
            raise RuntimeError("a Simulator runs once; create a new one for another run")
        self._ran = True
        cfg = self.config
        wall0 = time.perf_counter()
        arrivals = iter(self.workload.arrivals(self.wl_rng, cfg.procs))
        heap = self.heap
        heappop = heapq.heappop
        rec = self.rec
        # The hot path (a plain G arriving, and finishing) is inlined below: a benchmark
        # run processes millions of these events. Everything else calls a method.
        lat_append = rec.latency.append
        wait_append = rec.wait.append
        ideal_append = rec.ideal.append
        busy = rec.busy
        bins = rec.bins
        width = rec.util_bin
        busy_slow = rec.busy_interval
        policy = self.policy
        inject = policy.inject
        targeted = policy.targeted
        schedule = self._schedule
        max_events = cfg.max_events
        end = (_INF, None)
        events = 0
        reported = 0
        last_finish = 0.0
        countdown = _CHECK_EVERY
        next_t, next_g = next(arrivals, end)
        while True:
            if heap and heap[0][0] < next_t:
                now, _, kind, obj = heappop(heap)
                self.now = now
                events += 1
                if kind == EV_RUN_END:
                    m = obj
                    g = m.curg
                    if g.prog is None:
                        # _on_run_end + _finish for a plain G.
                        p = m.p
                        t0 = m.seg_start
                        d = now - t0
                        if d > 0.0:
                            b = int(t0 / width)
                            if b == int(now / width) and b < len(bins):
                                busy[p.id] += d
                                bins[b] += d
                            else:
                                busy_slow(p.id, t0, now)
                        g.status = DEAD
                        arr = g.arrive
                        lat_append(now - arr)
                        wait_append(g.start - arr)
                        ideal_append(g.ideal)
                        last_finish = now
                        self.gs_alive -= 1
                        m.curg = None
                        if g.parent is not None:
                            self._child_done(m, g)
                        schedule(m)
                    else:
                        self._on_run_end(m)
                elif kind == EV_WAKE:
                    self._on_wake(obj)
                elif kind == EV_UNBLOCK:
                    self._on_unblock(obj)
                elif kind == EV_SYSMON:
                    self._on_sysmon(obj[0], obj[1])
                elif kind == EV_TIMER:
                    self._on_timer(obj)
                elif kind == EV_IO:
                    self._on_io(obj)
                elif kind == EV_POLL_RETURN:
                    self._on_poll_return(obj)
                elif kind == EV_DEFERRED_WAKE:
                    if deferred_wake_due(self.sched, obj[0], obj[1]):
                        self._wakep()
                else:
                    self._on_sysmon_poll()
            elif next_g is not None:
                # _arrive, inlined.
                self.now = now = next_t
                events += 1
                g = next_g
                self.next_gid += 1
                g.id = self.next_gid
                g.arrive = now
                self.gs_alive += 1
                self.runnable += 1
                target = inject(g)
                if targeted:
                    self._notify(target)
                elif needs_wakep(self.sched):
                    self._wakep()
                next_t, next_g = next(arrivals, end)
                if next_t < now:
                    raise SimulationError(
                        f"workload arrivals go back in time ({next_t} after {now}); "
                        "a workload must yield arrivals in nondecreasing time order"
                    )
            else:
                break
            countdown -= 1
            if countdown == 0:
                countdown = _CHECK_EVERY
                if progress is not None and len(rec.latency) - reported >= progress_every:
                    done = len(rec.latency)
                    progress(done - reported)
                    reported = done
                if events > max_events:
                    raise SimulationError(
                        f"more than max_events={max_events} events; raise "
                        "SimConfig.max_events or check the workload for a G that never ends"
                    )
        rec.last_finish = max(rec.last_finish, last_finish)
        self.events = events
        if progress is not None and len(rec.latency) > reported:
            progress(len(rec.latency) - reported)
        if self.gs_alive:
            raise SimulationError(
                f"{self.gs_alive} G(s) never finished under policy {self.policy.name!r}: "
                "they are queued where no P looks, or wait for something that never comes"
            )
        wall = time.perf_counter() - wall0
        metrics = rec.summarise(
            policy=self.policy.name,
            seed=cfg.seed,
            events=events,
            steals=self.policy.steals(),
            handoffs=self.handoffs,
            threads=len(self.ms),
            wall_seconds=wall,
        )
        return SimResult(metrics, rec.latency, rec.wait, self.net)

    def _push(self, when: float, kind: int, obj: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, kind, obj))

    # -- Gs entering and leaving ---------------------------------------------------

    def _arrive(self, g: SimG) -> None:
        """A G from outside (``rt.go`` from a foreign thread): the policy places it."""
        self.next_gid += 1
        g.id = self.next_gid
        g.arrive = self.now
        self.gs_alive += 1
        self.runnable += 1
        self._notify(self.policy.inject(g))

    def _finish(self, m: SimM, g: SimG) -> None:
        """Record a finished G and wake its joiner if it was the last child (finish)."""
        now = self.now
        g.status = DEAD
        g.prog = None
        m.curg = None
        rec = self.rec
        rec.latency.append(now - g.arrive)
        rec.wait.append(g.start - g.arrive)
        rec.ideal.append(g.ideal)
        rec.last_finish = now
        self.gs_alive -= 1
        if g.parent is not None:
            self._child_done(m, g)

    def _child_done(self, m: SimM, g: SimG) -> None:
        """A child finished on ``m``'s P: its joiner wakes at that P's local tail."""
        parent = g.parent
        assert parent is not None
        g.parent = None
        parent.pending -= 1
        if parent.pending == 0 and parent.joining:
            parent.joining = False
            self.runnable += 1
            self._notify(self.policy.ready(parent, m.p))

    # -- waking Ms (Go's wakep, startm, handoffp) ------------------------------------

    def _notify(self, target: P | None) -> None:
        """Work was queued: wake a P for it if one is needed (Go's wakep condition)."""
        if self.policy.targeted:
            if target is not None and target.m is None:
                self.sched.idle.remove(target)
                self._startm(target, False)
        elif needs_wakep(self.sched):
            self._wakep()

    def _wakep(self) -> None:
        """Hand an idle P to a spinning M (Go's wakep)."""
        p = pidleget(self.sched)
        if p is not None and not self._startm(p, True):
            pidleput(self.sched, p)

    def _startm(self, p: P, spinning: bool) -> bool:
        """Give ``p`` to a parked M, or a new one, which starts after the wake latency."""
        delay = self.cost.wake
        wake = True
        if self.idle_ms:
            m = self.idle_ms.pop()
            m.parked = False
            if m.in_poll:
                # Go's netpollBreak: the blocked poll returns. If readiness already has its
                # return on the way (sooner than this wake-up), that return is the wake-up.
                wake = not m.poll_wakeup
                m.poll_wakeup = True
        else:
            if len(self.ms) >= self.config.max_threads:
                self.thread_limit_hits += 1
                return False
            m = SimM(len(self.ms))
            self.ms.append(m)
            delay += self.cost.thread_start
        m.nextp = p
        p.m = m
        if spinning:
            m.spinning = True
            spinning_started(self.sched)
        if wake:
            self._push(self.now + delay, EV_WAKE, m)
        return True

    def _on_wake(self, m: SimM) -> None:
        """The woken M takes its P (Go's acquirep) and schedules."""
        if m.in_poll:
            self._poll_returned(m)
        p = m.nextp
        assert p is not None
        m.nextp = None
        m.p = p
        p.status = _P_RUNNING
        self._schedule(m)

    def _resetspinning(self, m: SimM) -> None:
        """A spinning M found work: stop spinning; wake another if work remains."""
        m.spinning = False
        # The core's resetspinning, with the policy's queues in place of gmp's own.
        spinning_stopped(self.sched)
        if needs_wakep(self.sched) and self.runnable and self.policy.runnable_work():
            self._wakep()

    # -- scheduling and running ------------------------------------------------------

    def _schedule(self, m: SimM) -> None:
        """Go's schedule(): find a G for the M's P and run it, or give the P up and park.

        A loop, not recursion: Gs that park or yield at once hand the M straight back.
        """
        policy = self.policy
        find = policy.find
        rec = self.rec
        switch = self.cost.switch
        skip = self._skip
        while True:
            p = m.p
            assert p is not None
            now = self.now
            # A search certain to find nothing is skipped (its cost is still charged; see
            # SimConfig.skip_futile_search): when no G is runnable or asleep anywhere, or
            # when the only ones are asleep on timers not yet due and no queue holds a G.
            runnable = self.runnable
            if not skip or self.io_ready:
                # (Readiness on the ready list: find_runnable's poll may ready a G.)
                g = find(p, now)
            elif runnable == 0 or (runnable <= self.sleeping and self._nothing_due(now)):
                g = None
                policy.last_cost = policy.fail_cost
                if self.net is not None and core_np.poll_before_steal(self.sched):
                    # The skipped find would have polled, finding nothing.
                    self.sched.lastpoll = now
                    policy.last_cost += self.cost.poll
            else:
                g = find(p, now)
            if g is None:
                rec.overhead += policy.last_cost
                self._stopm(m, p)
                return
            self.runnable -= 1
            if g.asleep:
                g.asleep = False
                self.sleeping -= 1
            if m.spinning:
                self._resetspinning(m)
            overhead = policy.last_cost + switch
            rec.overhead += overhead
            t = now + overhead
            m.curg = g
            g.lastp = p
            rec.runs[p.id] += 1
            if g.start < 0.0:
                g.start = t
            if g.prog is None:
                m.seg_start = t
                self.seq += 1
                heapq.heappush(self.heap, (t + g.service, self.seq, EV_RUN_END, m))
                return
            if self._preempt:
                # sysmon's first look at this slice (a no-op if it was inherited).
                slice_observe(p, self._look_ceil(t))
            if not self._step(m, g, t, False):
                return

    def _nothing_due(self, now: float) -> bool:
        """No G in any queue and no timer due on any P: find_runnable must fail (O(P))."""
        if self.policy.runnable_work():
            return False
        for q in self.sched.ps:
            h = q.timers.heap
            if h and h[0][0] <= now:
                return False
        return True

    def _stopm(self, m: SimM, p: P) -> None:
        """Nothing to run: the P goes idle and the M parks (Go's stopm)."""
        if m.spinning:
            m.spinning = False
            spinning_stopped(self.sched)
        m.p = None
        pidleput(self.sched, p)
        self._park(m)

    def _park(self, m: SimM) -> None:
        """An M without a P sleeps: on its semaphore, or, as the last idle M while Gs wait
        on the network or timers are pending, in the poller (the runtime's M._park)."""
        m.parked = True
        self.idle_ms.append(m)
        if self.net is not None and core_np.block_in_poll(self.sched, self._timers_pending()):
            self._enter_poll(m)

    def _on_run_end(self, m: SimM) -> None:
        """A compute segment ended: account it, then finish the G or go on with it."""
        g = m.curg
        p = m.p
        assert g is not None and p is not None
        self.rec.busy_interval(p.id, m.seg_start, self.now)
        if g.prog is None:
            self._finish(m, g)
            self._schedule(m)
        elif self._step(m, g, self.now, True):
            self._schedule(m)

    def _step(self, m: SimM, g: SimG, t: float, at_trap: bool) -> bool:
        """Run ``g``'s program from its next operation, at virtual time ``t``.

        Instantaneous operations (spawn, a join with nothing to wait for) are applied at
        once; the first one that takes time schedules the event that ends it. Returns
        whether the M is free to schedule another G (``g`` finished, parked or yielded).

        Every operation that is an await in the runtime (all but run, spawn and note) is
        a trap, and so is the boundary between two compute segments (``at_trap``: the G
        arrives from one, or from a blocking call). At a trap a G whose slice ran out is
        preempted before the operation, which it redoes when it runs again.
        """
        p = m.p
        assert p is not None
        policy = self.policy
        prog = g.prog
        assert prog is not None
        redo = g.redo
        if redo is not None:
            # The operation a preemption interrupted comes first (one level of chain:
            # g.prog itself is never wrapped, so repeated preemptions cost nothing).
            g.redo = None
            prog = itertools.chain((redo,), prog)
        for kind, arg in prog:
            if (
                self._preempt
                and (at_trap if kind == RUN else kind not in _NOT_TRAPS)
                and self._preempted(m, g, p, t)
            ):
                # The operation runs again when the G does; but a sleep(0) reached with
                # the slice spent is done by the preemption, as in the runtime, where
                # yield_local sends it to the global tail (gopreempt) and it goes on.
                g.redo = (kind, arg) if kind != YIELD else None
                return True
            if kind == NOTE:
                arg(t)  # type: ignore[operator]
                continue
            at_trap = False
            if kind == RUN:
                d = float(arg)  # type: ignore[arg-type]
                g.cpu += d
                g.ideal += d
                m.seg_start = t
                self._push(t + d, EV_RUN_END, m)
                return False
            if kind == SPAWN:
                spawn_cost = self.cost.spawn
                for c in arg:  # type: ignore[attr-defined]
                    t += spawn_cost
                    self.next_gid += 1
                    c.id = self.next_gid
                    c.arrive = self.now
                    c.parent = g
                    g.pending += 1
                    self.gs_alive += 1
                    self.runnable += 1
                    self._notify(policy.spawn(c, p))
                self.rec.overhead += spawn_cost * len(arg)  # type: ignore[arg-type]
                continue
            if kind == JOIN:
                if g.pending == 0:
                    continue
                g.status = WAITING
                g.joining = True
                m.curg = None
                return True
            if kind in (BLOCK, CALL):
                d = float(arg)  # type: ignore[arg-type]
                g.ideal += d
                m.call_ends_g = kind == CALL
                self._entersyscall(m, g, p, t, d)
                return False
            if kind == SLEEP:
                d = float(arg)  # type: ignore[arg-type]
                g.ideal += d
                g.status = WAITING
                m.curg = None
                when = t + d
                if policy.sleep(g, p, when):
                    # The policy's own timer will make it runnable inside find().
                    g.asleep = True
                    self.sleeping += 1
                    self.runnable += 1
                    self._push(when, EV_TIMER, None)
                else:
                    self._push(when, EV_TIMER, g)
                return True
            if kind in (GOSCHED, YIELD):
                m.curg = None
                self.runnable += 1
                self._notify(policy.gosched(g, p) if kind == GOSCHED else policy.yield_local(g, p))
                return True
            if kind in (PASS, RELEASE):
                baton: Baton = arg  # type: ignore[assignment]
                w = baton.waiting
                if w is not None:
                    baton.waiting = None
                    w.status = RUNNABLE
                    self.runnable += 1
                    target = policy.goready(w, p)
                    if policy.deferred_wake:
                        # No M woken for it now (gmp._core.place.goready): sysmon's look
                        # one interval later wakes one if the waker is still running.
                        policy.deferred_wake = False
                        self._push(
                            t + self.config.sysmon_interval, EV_DEFERRED_WAKE, (p, p.runtick)
                        )
                    else:
                        self._notify(target)
                if kind == RELEASE:
                    continue
                if baton.waiting is not None:
                    raise SimulationError(f"G {g.id}: a third G passes a token two Gs hold")
                baton.waiting = g
                g.status = WAITING
                m.curg = None
                return True
            if kind in (RECV, RECV_AGAIN):
                conn: SimConn = arg  # type: ignore[assignment]
                if self._recv(m, g, conn, kind == RECV):
                    continue
                return True
            if kind == REPLY:
                conn = arg  # type: ignore[assignment]
                net = self.net
                if net is None or conn.got is None or conn.got is EOF:
                    raise SimulationError(f"G {g.id}: a reply on {conn!r} with no message read")
                net.replies += 1
                net.latency.append(t - conn.got_at)
                net.last_reply = t
                continue
            raise SimulationError(f"G {g.id}: unknown program operation {kind!r}")
        self._finish(m, g)
        return True

    # -- blocking calls and handoff (entersyscall, sysmon retake, exitsyscall) ---------

    def _preempted(self, m: SimM, g: SimG, p: P, t: float) -> bool:
        """A trap at ``t``: count it down as the runtime's safe points do, with the M's
        own look when the count is spent (gmp._core.preempt.safe_point_look), bring
        sysmon's looks up to ``t`` (the last one at or before it) and, if the slice is
        over, send the G to the policy's preemption queue. sysmon is never late here,
        so the own look matters only with looks farther apart than a slice."""
        p.safe_points = n = p.safe_points - 1
        if n <= 0 and not p.preempt:
            safe_point_look(p, t, self.config.timeslice)
        slice_expired(p, self._look_floor(t), self.config.timeslice)
        if not preempt_due(p):
            return False
        m.curg = None
        self.runnable += 1
        self._notify(self.policy.preempt(g, p))
        return True

    def _look_ceil(self, t: float) -> float:
        """sysmon's first look at or after ``t`` (looks are ``_look`` apart)."""
        iv = self._look
        return math.ceil(t / iv - 1e-9) * iv

    def _look_floor(self, t: float) -> float:
        """sysmon's last look at or before ``t``."""
        iv = self._look
        return math.floor(t / iv + 1e-9) * iv

    def _entersyscall(self, m: SimM, g: SimG, p: P, t: float, d: float) -> None:
        entersyscall(p, g)
        m.block_id += 1
        self._push(t + d, EV_UNBLOCK, m)
        if self.config.handoff:
            # sysmon's first look at the call (it records the P's runtick and the
            # thread's CPU time); stuck() decides at each later look.
            self._push(self._sysmon_tick(t), EV_SYSMON, (m, m.block_id))

    def _sysmon_tick(self, t: float) -> float:
        """The first sysmon tick at or after ``t`` (sysmon samples on a fixed grid)."""
        iv = self.config.sysmon_interval
        return math.ceil(t / iv - 1e-9) * iv

    def _on_sysmon(self, m: SimM, block_id: int) -> None:
        """sysmon's retake for one blocked M: hand its P on if the P has work (handoffp)."""
        if m.block_id != block_id or m.curg is None or m.curg.status != SYSCALL:
            return
        p = m.p
        if p is None:
            return
        cfg = self.config
        # The blocked thread uses no CPU: its clock reads the same at every look.
        cpu = 0.0 if cfg.off_cpu_handoff else None
        if stuck(p, self.now, cfg.handoff_after, math.inf, cpu) and self.policy.has_work(p):
            p.status = _P_IDLE
            if self._startm(p, False):
                m.p = None
                p.handoffs += 1
                self.handoffs += 1
                return
            p.status = _P_SYSCALL
        # The next look: a P in a blocking call is watched, so sysmon looks again after
        # its interval (the runtime's backoff applies only while nothing is watched,
        # and this simulator's sysmon looks only at blocked calls).
        iv = cfg.sysmon_interval
        delay, _ = sysmon_delay(iv, 0, watching(p), iv)
        self._push(self.now + delay, EV_SYSMON, (m, block_id))

    def _on_unblock(self, m: SimM) -> None:
        """The blocking call returned (Go's exitsyscall; the runtime's _run_callable)."""
        g = m.curg
        assert g is not None
        g.status = RUNNING
        p = m.p
        if p is None:
            p = pidleget(self.sched)
            if p is not None:
                m.p = p
                p.m = m
        if m.call_ends_g:
            # A plain callable returned: the G is done, P or no P.
            m.call_ends_g = False
            self._finish(m, g)
            if p is None:
                self._park(m)
                return
            p.status = _P_RUNNING
            p.runtick += 1
            self._schedule(m)
            return
        if p is None:
            # exitsyscall0: no P anywhere; queue the G and park the M.
            m.curg = None
            self.runnable += 1
            self._notify(self.policy.inject(g))
            self._park(m)
            return
        p.status = _P_RUNNING
        p.runtick += 1
        if self._step(m, g, self.now, True):
            self._schedule(m)

    # -- timers -------------------------------------------------------------------------

    def _on_timer(self, g: SimG | None) -> None:
        """A sleep ends. A core timer fires in find_runnable: wake an idle P to look."""
        if g is not None:
            g.status = RUNNING
            self.runnable += 1
            self._notify(self.policy.inject(g))
            return
        if needs_wakep(self.sched):
            self._wakep()

    # -- the network poller (gmp.runtime.netpoll and M._pollwait, on gmp._core.netpoll) ----

    def _register(self, conn: SimConn) -> None:
        """The first read of ``conn`` (Go's netpollopen): start delivering its stream."""
        if self.net is None:
            if not self.policy.netpoll:
                raise SimulationError(
                    f"policy {self.policy.name!r} does not model the network poller; "
                    "workloads that read connections run under 'gmp'"
                )
            self.net = NetpollStats()
            self.policy.poll_fn = self._poll
            self.sched.lastpoll = self.now
        conn.registered = True
        self.io_streams += 1
        self._next_io(conn)

    def _next_io(self, conn: SimConn) -> None:
        """Schedule the next event of ``conn``'s stream, or note that it has ended."""
        nxt = next(conn.events, None)
        if nxt is None:
            self.io_streams -= 1
            return
        t = nxt[0]
        if t < conn.last:
            raise SimulationError(
                f"{conn!r}: its events go back in time ({t} after {conn.last}); a "
                "connection's stream must be in nondecreasing time order"
            )
        conn.last = t
        conn.pending = nxt
        # A message due before the connection was registered is in the buffer already.
        self._push(max(t, self.now), EV_IO, conn)

    def _on_io(self, conn: SimConn) -> None:
        """A message (or end of stream) reaches ``conn``'s buffer: edge-triggered readiness."""
        ev = conn.pending
        assert ev is not None and self.net is not None
        conn.pending = None
        conn.buf.append(ev)
        if ev[1] is not EOF:
            net = self.net
            net.messages += 1
            if ev[0] < net.first_arrival:
                net.first_arrival = ev[0]
        if not conn.edge:
            conn.edge = True
            self.io_ready.append(conn)
            m = self.poller_m
            if m is not None and not m.poll_wakeup:
                # epoll_wait returns in the blocked M after the wake-up latency.
                m.poll_wakeup = True
                self._push(self.now + self.cost.wake, EV_POLL_RETURN, m)
        self._next_io(conn)

    def _recv(self, m: SimM, g: SimG, conn: SimConn, entry: bool) -> bool:
        """``Conn.recv``: take a buffered message, else wait on the descriptor. True: a
        message (or end of stream) was read; False: the G parked (the read is retried
        when the poller readies it)."""
        if not conn.registered:
            self._register(conn)
        net = self.net
        assert net is not None
        buf = conn.buf
        while True:
            if buf:
                t, payload = buf[0]
                if payload is not EOF:
                    buf.popleft()  # end of stream stays: every later read sees it too
                    if entry:
                        net.immediate += 1
                conn.got = payload
                conn.got_at = t
                return True
            if core_np.block(self.sched, conn.pd, READ, g):
                g.status = WAITING
                g.redo = (RECV_AGAIN, conn)
                m.curg = None
                net.parks += 1
                if not entry:
                    net.stale_wakes += 1
                self._arm_sysmon_poll()
                return False
            # Readiness was pending but the buffer is empty: it reported a message this G
            # had already read. The runtime's recv retries, finds EAGAIN, waits again.
            net.spurious += 1

    def _drain(self) -> list[SimG]:
        """One epoll_wait's worth of the ready list, each turned into netpoll.ready."""
        rl = self.io_ready
        sched = self.sched
        gs: list[SimG] = []
        for _ in range(min(len(rl), MAX_EVENTS)):
            conn = rl.popleft()
            conn.edge = False
            g = core_np.ready(sched, conn.pd, READ)
            if g is not None:
                gs.append(g)  # type: ignore[arg-type]  # every G in a simulation is a SimG
        self.runnable += len(gs)
        return gs

    def _poll(self, p: P, now: float) -> SimG | None:
        """find_runnable's poll (Poller.poll_nonblocking): ready what is ready, place all
        but one with place.inject (an M started per idle P given one), return that one."""
        self.sched.lastpoll = now
        if not self.io_ready:
            return None
        gs = self._drain()
        if not gs:
            return None
        net = self.net
        assert net is not None
        net.poll_found += 1
        net.poll_readied += len(gs)
        if len(gs) > 1:
            for _ in range(inject(self.sched, p, gs[1:])):  # type: ignore[arg-type]
                self._wakep()
        return gs[0]

    def _timers_pending(self) -> bool:
        return any(q.timers.next_when() is not None for q in self.sched.ps)

    def _enter_poll(self, m: SimM) -> None:
        """The last idle M blocks in the poller (M._pollwait); it returns at once if
        readiness is already on the ready list."""
        assert self.net is not None
        self.sched.polling = True
        m.in_poll = True
        self.poller_m = m
        self.net.poller_blocks += 1
        if self.io_ready:
            m.poll_wakeup = True
            self._push(self.now + self.cost.poll, EV_POLL_RETURN, m)

    def _poll_returned(self, m: SimM) -> P | None:
        """The blocked poll returned (readiness, or a wakep's break): the first readied G
        goes to the runnext of the M's P (the one a wakep gave it, else an idle one), the
        rest are injected, an M started per idle P that got one (M._pollwait). Returns
        the P the M now has in hand (``m.nextp``), if any."""
        sched = self.sched
        sched.polling = False
        sched.lastpoll = self.now
        m.in_poll = False
        m.poll_wakeup = False
        self.poller_m = None
        gs = self._drain()
        self._arm_sysmon_poll()
        if not gs:
            return m.nextp
        net = self.net
        assert net is not None
        net.block_found += 1
        net.block_readied += len(gs)
        p = m.nextp
        if p is None:
            p = pidleget(sched)
            if p is not None:
                m.nextp = p
                p.m = m
        if p is not None:
            runqput(sched, p, gs[0], True)
            gs = gs[1:]
        for _ in range(inject(sched, None, gs)):  # type: ignore[arg-type]
            self._wakep()
        return p

    def _on_poll_return(self, m: SimM) -> None:
        """The blocked poll returns by itself (readiness): the M leaves the idle list and
        schedules on the P it got, else on any idle P, else parks again (the M loop's
        acquirep after _pollwait)."""
        if not m.in_poll:
            return
        if m.nextp is not None:
            # A wakep chose this M meanwhile: this return is its wake-up.
            self._on_wake(m)
            return
        m.parked = False
        self.idle_ms.remove(m)
        p = self._poll_returned(m)
        if p is not None:
            m.nextp = None
        else:
            p = pidleget(self.sched)
            if p is None:
                self._park(m)
                return
            p.m = m
        m.p = p
        p.status = _P_RUNNING
        self._schedule(m)

    def _arm_sysmon_poll(self) -> None:
        """Arm sysmon's look at the poller: its first look after ``lastpoll`` + 10 ms,
        while Gs wait on the network and no M is blocked in the poller."""
        sched = self.sched
        if self.sysmon_poll_at >= 0.0 or sched.polling or sched.npollwait == 0:
            return
        when = self._look_ceil(max(sched.lastpoll + SYSMON_POLL_AFTER, self.now))
        if when - sched.lastpoll <= SYSMON_POLL_AFTER:
            when += self._look
        self.sysmon_poll_at = when
        self._push(when, EV_SYSMON_POLL, None)

    def _on_sysmon_poll(self) -> None:
        """sysmon's look: poll if nobody has for 10 ms (Poller.poll_from_sysmon), every
        readied G to the global queue and an M started per idle P that got one."""
        self.sysmon_poll_at = -1.0
        sched = self.sched
        if core_np.sysmon_poll_due(sched, self.now):
            sched.lastpoll = self.now
            gs = self._drain()
            if gs:
                net = self.net
                assert net is not None
                net.sysmon_found += 1
                net.sysmon_readied += len(gs)
                for _ in range(inject(sched, None, gs)):  # type: ignore[arg-type]
                    self._wakep()
        if self.io_streams or self.io_ready:
            self._arm_sysmon_poll()


def simulate(
    workload: Workload,
    policy: Policy | str = "gmp",
    config: SimConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimResult:
    """Run ``workload`` under ``policy``; a shorthand for ``Simulator(...).run()``."""
    return Simulator(workload, config, policy).run(progress)
