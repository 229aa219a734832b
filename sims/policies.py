"""Scheduling policies the simulator can run: gmp's own core and its rivals.

Every policy answers the same questions, asked by the simulator at the same moments the
threaded runtime asks the core (see :class:`Policy`): where does a new, spawned, woken or
yielding G go, and what should a P run next. :class:`GmpPolicy` answers by calling the
pure core (:mod:`gmp._core`) unchanged, so what is simulated is what runs. The rivals are
small policies of their own, there to be compared with it on the same workloads and
cost model:

========== =====================================================================
``gmp``    the core: runnext + 256-ring + global queue, steal half (Go's proc.go)
``global`` one global FIFO queue (a ThreadPoolExecutor, or M/M/c)
``perp``   per-P FIFO queues, no stealing; outside work placed round-robin
``random`` every G placed on a uniformly random P's queue, no stealing
``p2c``    power of two choices: the shorter of two random Ps' queues, no stealing
``tokio``  tokio's multi-thread scheduler: LIFO slot, 256-ring, inject queue,
           steal half in one pass (tokio/src/runtime/scheduler/multi_thread/worker.rs)
========== =====================================================================

A policy that keeps work visible to every P (``targeted = False``) lets the simulator wake
any idle P, at most one spinning M at a time (Go's wakep); a policy whose queues belong to
one P (``targeted = True``) returns that P, and the simulator wakes exactly it.
"""

from __future__ import annotations

import abc
import random
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from gmp._core import (
    LOCAL_QUEUE_CAP,
    Sched,
    find_runnable,
    gopreempt,
    goready,
    gosched,
    has_work,
    needs_wakep,
    newproc,
    requeue,
    runnable_work,
    wake_joiners,
    yield_local,
)
from gmp._core.g import RUNNABLE, RUNNING
from gmp._core.p import P
from sims.cost import CostModel
from sims.g import SimG


class Policy(abc.ABC):
    """What the simulator asks a scheduling policy. One instance per simulation run.

    Enqueue methods return the P whose queue received the G (or None when it went to a
    queue every P reads); :meth:`find` leaves the virtual cost of its decision in
    :attr:`last_cost`, so the hot path allocates no result objects.
    """

    name: ClassVar[str]
    targeted: ClassVar[bool] = False
    """Whether new work belongs to one P that must be woken for it (no stealing)."""
    slices: ClassVar[bool] = False
    """Whether the policy keeps Go's time slices (``schedtick``, runnext inheritance), so
    that sysmon preempts a G at a trap when its slice runs out. The rivals do not: they
    run a G until it yields, as a FIFO pool does (tokio's coop budget is not modelled)."""
    netpoll: ClassVar[bool] = False
    """Whether the policy polls the network in :meth:`find` (Go's findRunnable does, before
    stealing). Only such a policy can run Gs that read connections (:mod:`sims.netpoll`)."""

    sched: Sched
    rng: random.Random
    cost: CostModel
    last_cost: float
    fail_cost: float
    """What :meth:`find` charges when it finds nothing (the simulator charges the same
    for a search it skips as certain to fail)."""

    def bind(self, sched: Sched, cost: CostModel) -> None:
        """Attach to the run's Sched (its Ps, idle list and injected RNG) and cost model."""
        self.sched = sched
        self.rng = sched.rng
        self.cost = cost
        self.last_cost = 0.0
        self.fail_cost = cost.runq_op
        self.poll_fn: Callable[[P, float], SimG | None] | None = None
        """The simulator's non-blocking network poll for ``find`` (None: no connection yet)."""

    @abc.abstractmethod
    def inject(self, g: SimG) -> P | None:
        """A G from outside any P: an arrival, or a G whose M lost its P (exitsyscall)."""

    @abc.abstractmethod
    def spawn(self, g: SimG, p: P) -> P | None:
        """A G created by a G running on ``p`` (Go's newproc)."""

    @abc.abstractmethod
    def ready(self, g: SimG, p: P | None) -> P | None:
        """A joiner made runnable by its last child finishing on ``p`` (goready)."""

    @abc.abstractmethod
    def gosched(self, g: SimG, p: P) -> P | None:
        """A G running on ``p`` yields (Go's Gosched)."""

    deferred_wake: bool = False
    """Set by :meth:`goready` when the policy wakes no M for the G now although one would
    be woken for queued work (gmp's lone runnext G); the simulator then asks again one
    sysmon interval later (gmp._core.idle.deferred_wake_due) and clears it."""

    def goready(self, g: SimG, p: P) -> P | None:
        """A G parked on a token readied by a G running on ``p`` (Go's goready from a
        channel operation). Rivals place it as any other woken G."""
        return self.ready(g, p)

    def preempt(self, g: SimG, p: P) -> P | None:
        """A G on ``p`` reached a trap after its time slice ran out (Go's gopreempt_m).
        Only a policy with :attr:`slices` is asked; the default treats it as a yield."""
        return self.gosched(g, p)

    def yield_local(self, g: SimG, p: P) -> P | None:
        """A G on ``p`` awaited ``sleep(0)``. The default treats it as :meth:`gosched`
        (a rival has one yield queue)."""
        return self.gosched(g, p)

    def sleep(self, g: SimG, p: P, when: float) -> bool:
        """A G on ``p`` sleeps until ``when``. True: the policy keeps the timer itself.

        False (the default): the simulator keeps it and calls :meth:`inject` when it fires.
        """
        return False

    @abc.abstractmethod
    def find(self, p: P, now: float) -> SimG | None:
        """The next G for ``p`` to run, or None (then its M parks). Sets ``last_cost``."""

    @abc.abstractmethod
    def has_work(self, p: P) -> bool:
        """Whether ``p`` has queued work (sysmon hands off only such a P)."""

    @abc.abstractmethod
    def runnable_work(self) -> bool:
        """Whether any queue holds a runnable G (Go's resetspinning check)."""

    @abc.abstractmethod
    def steals(self) -> list[int]:
        """Successful steals per P."""


class GmpPolicy(Policy):
    """gmp's scheduler: every decision is a call into :mod:`gmp._core`, as the runtime makes.

    Every placement is the function of :mod:`gmp._core.place` the threaded runtime calls
    at the same moment: an arrival from outside is ``rt.go`` from a foreign thread
    (requeue: global), a spawn is newproc (runnext), a finished child wakes its joiner
    (wake_joiners: local tail), a token handed over readies its waiter (goready:
    runnext), gosched and a preemption go to the global tail, ``sleep(0)`` to the local
    tail (yield_local), a longer sleep is a core timer on the P, and a P's next G is
    find_runnable, with the simulator's network poll as its
    ``poll`` once a connection is read.
    """

    name = "gmp"
    slices = True
    netpoll = True

    def bind(self, sched: Sched, cost: CostModel) -> None:
        super().bind(sched, cost)
        self._runq_op = cost.runq_op
        self._global_op = cost.global_op
        self._steal = cost.steal
        self._steal_fail = self.fail_cost = cost.steal_fail
        self._poll_cost = cost.poll
        self._polled = False

    def inject(self, g: SimG) -> P | None:
        requeue(self.sched, g)
        return None

    def spawn(self, g: SimG, p: P) -> P | None:
        newproc(self.sched, p, g)
        return p

    def ready(self, g: SimG, p: P | None) -> P | None:
        wake_joiners(self.sched, p, (g,))
        return p

    def goready(self, g: SimG, p: P) -> P | None:
        if not goready(self.sched, p, g) and needs_wakep(self.sched):
            self.deferred_wake = True  # the core's answer: see gmp._core.place.goready
        return p

    def gosched(self, g: SimG, p: P) -> P | None:
        gosched(self.sched, g)
        return None

    def preempt(self, g: SimG, p: P) -> P | None:
        gopreempt(self.sched, p, g)
        return None

    def yield_local(self, g: SimG, p: P) -> P | None:
        yield_local(self.sched, p, g)
        return None

    def sleep(self, g: SimG, p: P, when: float) -> bool:
        p.timers.add(when, g)
        return True

    def find(self, p: P, now: float) -> SimG | None:
        # Where the G came from decides its cost; the core does not say, so read it off
        # the queues before and the P's steal counter after (see the closing notes).
        local = p.runnext is not None or len(p.runq) > 0
        steals = p.steals
        pf = self.poll_fn
        self._polled = False
        if pf is None:
            g, _ = find_runnable(self.sched, p, now)
            polled = 0.0
        else:

            def poll() -> SimG | None:
                self._polled = True
                return pf(p, now)

            g, _ = find_runnable(self.sched, p, now, poll)
            polled = self._poll_cost if self._polled else 0.0
        if g is None:
            self.last_cost = self._steal_fail + polled
            return None
        if local:
            self.last_cost = self._runq_op
        elif p.steals != steals:
            self.last_cost = self._steal + polled
        else:
            # From the global queue, or readied by the poll (its cost is the poll's).
            self.last_cost = polled if self._polled else self._global_op
        return g  # type: ignore[return-value]  # every G in a simulation is a SimG

    def has_work(self, p: P) -> bool:
        return has_work(self.sched, p)

    def runnable_work(self) -> bool:
        return runnable_work(self.sched)

    def steals(self) -> list[int]:
        return [p.steals for p in self.sched.ps]


class GlobalFifoPolicy(Policy):
    """One FIFO queue for every P: a ThreadPoolExecutor, and the M/M/c queue of theory."""

    name = "global"

    def bind(self, sched: Sched, cost: CostModel) -> None:
        super().bind(sched, cost)
        self.q: deque[SimG] = deque()
        self.fail_cost = cost.global_op

    def _put(self, g: SimG) -> None:
        g.status = RUNNABLE
        self.q.append(g)

    def inject(self, g: SimG) -> P | None:
        self._put(g)
        return None

    def spawn(self, g: SimG, p: P) -> P | None:
        self._put(g)
        return None

    def ready(self, g: SimG, p: P | None) -> P | None:
        self._put(g)
        return None

    def gosched(self, g: SimG, p: P) -> P | None:
        self._put(g)
        return None

    def find(self, p: P, now: float) -> SimG | None:
        q = self.q
        if q:
            self.last_cost = self.cost.global_op
            g = q.popleft()
            g.status = RUNNING
            return g
        self.last_cost = self.cost.global_op
        return None

    def has_work(self, p: P) -> bool:
        return bool(self.q)

    def runnable_work(self) -> bool:
        return bool(self.q)

    def steals(self) -> list[int]:
        return [0] * self.sched.procs


class _PerPQueues(Policy):
    """Shared machinery of the no-stealing rivals: one unbounded FIFO per P."""

    targeted = True

    def bind(self, sched: Sched, cost: CostModel) -> None:
        super().bind(sched, cost)
        self.qs: list[deque[SimG]] = [deque() for _ in sched.ps]

    def _put(self, g: SimG, p: P) -> P:
        g.status = RUNNABLE
        self.qs[p.id].append(g)
        return p

    @abc.abstractmethod
    def place(self, g: SimG, origin: P | None) -> P:
        """Which P's queue a new or woken G goes to (``origin``: the P it comes from)."""

    def inject(self, g: SimG) -> P | None:
        return self._put(g, self.place(g, None))

    def spawn(self, g: SimG, p: P) -> P | None:
        return self._put(g, self.place(g, p))

    def ready(self, g: SimG, p: P | None) -> P | None:
        return self._put(g, self.place(g, p))

    def gosched(self, g: SimG, p: P) -> P | None:
        # A yield stays on its own P under every per-P policy: moving it would be stealing.
        return self._put(g, p)

    def find(self, p: P, now: float) -> SimG | None:
        q = self.qs[p.id]
        self.last_cost = self.cost.runq_op
        if q:
            g = q.popleft()
            g.status = RUNNING
            return g
        return None

    def has_work(self, p: P) -> bool:
        return bool(self.qs[p.id])

    def runnable_work(self) -> bool:
        return any(self.qs)

    def steals(self) -> list[int]:
        return [0] * self.sched.procs


class PerPNoStealPolicy(_PerPQueues):
    """Per-P queues and no stealing: spawns stay on the spawner's P, arrivals round-robin.

    What gmp would be without stealing and without a global queue; a woken G returns to
    the P it last ran on.
    """

    name = "perp"

    def bind(self, sched: Sched, cost: CostModel) -> None:
        super().bind(sched, cost)
        self._rr = 0

    def place(self, g: SimG, origin: P | None) -> P:
        if origin is not None:
            return origin
        if g.lastp is not None:
            return g.lastp
        ps = self.sched.ps
        p = ps[self._rr]
        self._rr = (self._rr + 1) % len(ps)
        return p


class RandomPlacementPolicy(_PerPQueues):
    """Every new or woken G goes to a uniformly random P's queue; no stealing."""

    name = "random"

    def place(self, g: SimG, origin: P | None) -> P:
        ps = self.sched.ps
        return ps[self.rng.randrange(len(ps))]


class PowerOfTwoPolicy(_PerPQueues):
    """Power of two choices (Mitzenmacher): the less loaded of two random Ps; no stealing.

    Load is the queue length plus one if the P is held by an M (running or about to).
    """

    name = "p2c"

    def place(self, g: SimG, origin: P | None) -> P:
        ps = self.sched.ps
        n = len(ps)
        if n == 1:
            return ps[0]
        rr = self.rng.randrange
        a = rr(n)
        b = rr(n - 1)
        if b >= a:
            b += 1
        qs = self.qs
        pa, pb = ps[a], ps[b]
        la = len(qs[a]) + (pa.m is not None)
        lb = len(qs[b]) + (pb.m is not None)
        return pb if lb < la else pa


class TokioPolicy(Policy):
    """A model of tokio's multi-thread scheduler (scheduler/multi_thread/worker.rs).

    - A task spawned or woken on a worker goes to its LIFO slot; the previous occupant
      moves to the back of the local queue (``schedule_local``). The LIFO slot is never
      stolen, and at most :attr:`max_lifo_polls` LIFO tasks run in a row before the
      local queue gets a turn (``MAX_LIFO_POLLS_PER_TICK = 3``).
    - Local queue bounded at 256; on overflow half of it plus the task move to the inject
      queue (``push_overflow``). Outside work goes to the inject queue.
    - Every :attr:`global_queue_interval` ticks the inject queue is checked first
      (tokio's fixed default is 31; newer releases tune it at run time), otherwise LIFO
      slot, local queue, a batch from the inject queue (``len / workers + 1``, at most
      half a queue), then one pass of stealing half a random victim's local queue
      (``steal_work``), then the inject queue again.
    - ``yield_now`` defers the task to the back of the local queue.

    Not modelled: the cap of half the workers searching at once (a search is one instant
    here), the coop budget and the I/O driver's event interval.
    """

    name = "tokio"

    def __init__(self, global_queue_interval: int = 31, max_lifo_polls: int = 3) -> None:
        if global_queue_interval < 1 or max_lifo_polls < 0:
            raise ValueError("global_queue_interval must be >= 1 and max_lifo_polls >= 0")
        self.global_queue_interval = global_queue_interval
        self.max_lifo_polls = max_lifo_polls

    def bind(self, sched: Sched, cost: CostModel) -> None:
        super().bind(sched, cost)
        n = sched.procs
        self.inject_q: deque[SimG] = deque()
        self.lifo: list[SimG | None] = [None] * n
        self.local: list[deque[SimG]] = [deque() for _ in range(n)]
        self.tick = [0] * n
        self.lifo_polls = [0] * n
        self._steals = [0] * n
        self.fail_cost = cost.steal_fail

    def _push_back(self, i: int, g: SimG) -> None:
        """``push_back_or_overflow``: local tail, or half the queue + g to inject."""
        q = self.local[i]
        if len(q) < LOCAL_QUEUE_CAP:
            q.append(g)
            return
        half = [q.popleft() for _ in range(LOCAL_QUEUE_CAP // 2)]
        half.append(g)
        self.inject_q.extend(half)

    def _schedule_local(self, g: SimG, p: P) -> P:
        g.status = RUNNABLE
        i = p.id
        prev = self.lifo[i]
        self.lifo[i] = g
        if prev is not None:
            self._push_back(i, prev)
        return p

    def inject(self, g: SimG) -> P | None:
        g.status = RUNNABLE
        self.inject_q.append(g)
        return None

    def spawn(self, g: SimG, p: P) -> P | None:
        self._schedule_local(g, p)
        return None

    def ready(self, g: SimG, p: P | None) -> P | None:
        if p is None:
            return self.inject(g)
        self._schedule_local(g, p)
        return None

    def gosched(self, g: SimG, p: P) -> P | None:
        g.status = RUNNABLE
        self._push_back(p.id, g)
        return None

    def _inject_batch(self, i: int) -> SimG | None:
        iq = self.inject_q
        if not iq:
            return None
        q = self.local[i]
        cap = min(LOCAL_QUEUE_CAP - len(q), LOCAL_QUEUE_CAP // 2)
        n = min(len(iq) // self.sched.procs + 1, cap + 1, len(iq))
        g = iq.popleft()
        for _ in range(n - 1):
            q.append(iq.popleft())
        return g

    def _steal(self, i: int) -> SimG | None:
        n = self.sched.procs
        start = self.rng.randrange(n)
        local = self.local
        for k in range(n):
            v = (start + k) % n
            if v == i:
                continue
            vq = local[v]
            take = len(vq) - len(vq) // 2
            if take == 0:
                continue
            q = local[i]
            room = LOCAL_QUEUE_CAP - len(q)
            take = min(take, room + 1)
            for _ in range(take - 1):
                q.append(vq.popleft())
            self._steals[i] += 1
            return vq.popleft()
        return None

    def _next(self, i: int) -> SimG | None:
        cost = self.cost
        tick = self.tick[i] = self.tick[i] + 1
        if tick % self.global_queue_interval == 0 and self.inject_q:
            self.last_cost = cost.global_op
            self.lifo_polls[i] = 0
            return self.inject_q.popleft()
        self.last_cost = cost.runq_op
        g = self.lifo[i]
        if g is not None:
            self.lifo[i] = None
            if self.lifo_polls[i] < self.max_lifo_polls:
                self.lifo_polls[i] += 1
                return g
            self._push_back(i, g)
        self.lifo_polls[i] = 0
        q = self.local[i]
        if q:
            return q.popleft()
        g = self._inject_batch(i)
        if g is not None:
            self.last_cost = cost.global_op
            return g
        g = self._steal(i)
        if g is not None:
            self.last_cost = cost.steal
            return g
        g = self._inject_batch(i)
        if g is not None:
            self.last_cost = cost.global_op
            return g
        self.last_cost = cost.steal_fail
        return None

    def find(self, p: P, now: float) -> SimG | None:
        g = self._next(p.id)
        if g is not None:
            g.status = RUNNING
        return g

    def has_work(self, p: P) -> bool:
        i = p.id
        return self.lifo[i] is not None or bool(self.local[i]) or bool(self.inject_q)

    def runnable_work(self) -> bool:
        return bool(self.inject_q) or any(self.local) or any(x is not None for x in self.lifo)

    def steals(self) -> list[int]:
        return list(self._steals)


POLICIES: dict[str, Callable[[], Policy]] = {
    "gmp": GmpPolicy,
    "global": GlobalFifoPolicy,
    "perp": PerPNoStealPolicy,
    "random": RandomPlacementPolicy,
    "p2c": PowerOfTwoPolicy,
    "tokio": TokioPolicy,
}
"""Policy names accepted by scenarios and :func:`make_policy`."""


def make_policy(name: str) -> Policy:
    """A fresh policy instance by name; the error lists the names that exist."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(
            f"unknown policy {name!r}; choose one of: {', '.join(sorted(POLICIES))}"
        ) from None
    return factory()
