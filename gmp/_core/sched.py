"""Scheduler-wide state and the find-runnable policy (Go's schedt, findRunnable; proc.go).

:func:`find_runnable` is the heart of the scheduler. Its order follows Go:

1. run the P's due timers (readying sleepers into its own queue);
2. every :data:`GLOBAL_CHECK_INTERVAL`-th schedtick, take one G from the global queue
   first, so a P busy with its local queue cannot starve the global one (it runs at once
   if the local ring is empty or full, else it joins the local tail: see find_runnable);
3. the local queue (``runnext`` first);
4. a batch from the global queue;
4b. the network, without blocking, when a G waits on it and no M is blocked in the
   poller (the driver's ``poll``; gmp._core.netpoll);
5. steal: :data:`STEAL_TRIES` rounds over the other Ps in a random order, taking half of a
   victim's queue; the last round may also take a victim's ``runnext`` and fires the
   victim's due timers (the victim's owner may be blocked).

When nothing is found the driver parks its M (Go's stopm) after putting the P idle.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator

from gmp._core.g import RUNNABLE, RUNNING, SYSCALL, G
from gmp._core.p import P, PStatus
from gmp._core.runq import LOCAL_QUEUE_CAP, popleft_n, runqget, runqput, runqsteal

GLOBAL_CHECK_INTERVAL = 61
"""Go checks the global queue first on every 61st schedtick (a prime, to avoid rhythms)."""

STEAL_TRIES = 4
"""Rounds of stealing over all other Ps before giving up (Go's stealTries)."""


class Sched:
    """Everything shared between Ps: the global queue, the idle P list, the RNG.

    Drivers own one Sched and guard it (and every P) with a single lock.
    """

    __slots__ = (
        "allp",
        "fired",
        "idle",
        "lastpoll",
        "nmspinning",
        "npollwait",
        "polling",
        "ps",
        "rng",
        "runq",
        "spills",
    )

    def __init__(self, procs: int, rng: random.Random | None = None) -> None:
        if not isinstance(procs, int) or isinstance(procs, bool):
            raise TypeError(f"procs must be an int, got {type(procs).__name__}")
        if procs < 1:
            raise ValueError(f"procs must be at least 1, got {procs}")
        # Every P ever created (Go's allp, whose capacity outlives a shrink): a resize
        # that grows again revives the same P objects, counters included.
        self.allp: list[P] = [P(i) for i in range(procs)]
        # The live Ps, allp[:procs]. A resize assigns a new list instead of mutating this
        # one, so a driver may iterate it without the lock (sysmon does).
        self.ps: list[P] = list(self.allp)
        self.runq: deque[G] = deque()
        self.idle: list[P] = list(reversed(self.ps))
        # Ms holding a P and looking for work (Go's sched.nmspinning); see gmp._core.idle.
        self.nmspinning = 0
        self.rng = rng if rng is not None else random.Random()
        # Timer payloads that are not Gs, fired under the lock, for the driver to act on
        # after it releases the lock (a deadline must not call out while holding it).
        self.fired: list[object] = []
        self.spills = 0
        # The network poller's share (gmp._core.netpoll): Gs parked on descriptors (Go's
        # netpollWaiters), whether an M is blocked in the poller (Go's lastpoll == 0),
        # and the driver's clock at the last poll (sysmon polls when it is old).
        self.npollwait = 0
        self.polling = False
        self.lastpoll = 0.0

    @property
    def procs(self) -> int:
        return len(self.ps)


def entersyscall(p: P, g: G) -> None:
    """``g`` enters a blocking call on ``p`` (Go's entersyscall): the P is marked so
    sysmon may retake it, and its runtick moves, so sysmon times the call from its
    first look (gmp._core.preempt.stuck)."""
    p.status = PStatus.SYSCALL
    p.runtick += 1
    g.status = SYSCALL


def globrunqput(sched: Sched, g: G) -> None:
    """Put ``g`` at the tail of the global queue (Go's globrunqput)."""
    g.status = RUNNABLE
    sched.runq.append(g)


def globrunqget(sched: Sched, p: P, max: int) -> G | None:
    """Take a fair share of the global queue for ``p`` (Go's globrunqget).

    The share is ``len/procs + 1``, capped by ``max`` (when positive) and by half a local
    queue. One G is returned; the rest go to ``p``'s local queue.
    """
    gq = sched.runq
    size = len(gq)
    if size == 0:
        return None
    n = size // len(sched.ps) + 1
    if n > size:
        n = size
    if max > 0 and n > max:
        n = max
    if n > LOCAL_QUEUE_CAP // 2:
        n = LOCAL_QUEUE_CAP // 2
    g = gq.popleft()
    n -= 1
    if n:
        q = p.runq
        if len(q) + n <= LOCAL_QUEUE_CAP:
            # One extend, not a runqput per G (gosched at K=100: 0.85 -> 0.82 us): the
            # batch fits, and every way onto the global queue has made its Gs RUNNABLE.
            # The whole queue (every batch at procs=1) moves in C: the list built by a
            # comprehension made a gosched at procs=1, K=2 cost 11.8k instructions, not
            # 10.4k (callgrind; K=100: 9.1k, not 8.9k).
            if n == size - 1:
                q.extend(gq)
                gq.clear()
            else:
                q.extend(popleft_n(gq, n))
        else:
            for _ in range(n):
                runqput(sched, p, gq.popleft(), False)
    return g


def run_timers(sched: Sched, owner: P, into: P, now: float) -> None:
    """Fire ``owner``'s due timers; ready their Gs onto ``into`` (Go's checkTimers).

    A G payload goes to ``into``'s runnext, as goready would put it; other payloads are
    queued on ``sched.fired`` for the driver.
    """
    for payload in owner.timers.pop_due(now):
        if isinstance(payload, G):
            runqput(sched, into, payload, True)
        else:
            sched.fired.append(payload)


_coprimes_cache: dict[int, list[int]] = {}


def random_order(rng: random.Random, n: int) -> Iterator[int]:
    """Visit 0..n-1 in a pseudo-random order (Go's randomOrder: start + coprime stride)."""
    if n <= 0:
        return
    cops = _coprimes_cache.get(n)
    if cops is None:
        cops = [i for i in range(1, n + 1) if math.gcd(i, n) == 1]
        _coprimes_cache[n] = cops
    pos = rng.randrange(n)
    inc = cops[rng.randrange(len(cops))]
    for _ in range(n):
        yield pos
        pos = (pos + inc) % n


def steal_work(sched: Sched, p: P, now: float | None) -> G | None:
    """Go's stealWork: several rounds over random victims, half of a queue at a time."""
    ps = sched.ps
    n = len(ps)
    if n == 1:
        return None
    for i in range(STEAL_TRIES):
        last = i == STEAL_TRIES - 1
        for idx in random_order(sched.rng, n):
            victim = ps[idx]
            if victim is p:
                continue
            if last and now is not None and victim.timers.heap:
                run_timers(sched, victim, p, now)
                g, _ = runqget(p)
                if g is not None:
                    return g
            g = runqsteal(p, victim, last)
            if g is not None:
                return g
    return None


def find_runnable(
    sched: Sched, p: P, now: float | None, poll: Callable[[], G | None] | None = None
) -> tuple[G | None, bool]:
    """Choose the next G for ``p`` (Go's findRunnable, minus GC).

    ``now`` is the driver's clock reading for timers (None: skip timers). ``poll`` is the
    driver's non-blocking network poll: it readies the Gs whose descriptors are ready,
    places all but one (gmp._core.place.inject) and returns that one. It is called after
    the global queue and before stealing, and only when a G waits on the network and no
    M is blocked in the poller (gmp._core.netpoll.poll_before_steal), as in Go. Returns
    ``(g, inherit)``. On success the G is RUNNING and the P's ticks are advanced, the way
    Go's execute does it: ``schedtick`` only when the G does not inherit a time slice.
    """
    g: G | None = None
    inherit = False
    if now is not None:
        h = p.timers.heap
        if h and h[0][0] <= now:
            run_timers(sched, p, p, now)
    if p.preempt:
        # The slice ran out and the G that had it parked or finished before reaching a
        # trap that could preempt it. Go would let the runnext G inherit the spent slice
        # and preempt it at its first instruction (to the global tail); gmp can preempt
        # only at traps, and a G that only ever parks never reaches one, so the runnext G
        # goes to the global tail now, as it would after that first instruction. Moving
        # it to the local tail instead would hand a token-passing pair a fresh slice
        # whenever its local queue is empty (measured: a ping-pong pair then took 0.8 of
        # the P against a pair that is preempted at traps; see docs/architecture.md).
        p.preempt = False
        p.preemptions += 1
        rn = p.runnext
        if rn is not None:
            p.runnext = None
            globrunqput(sched, rn)
    if p.schedtick % GLOBAL_CHECK_INTERVAL == 0 and sched.runq:
        g = globrunqget(sched, p, 1)
        if g is not None and p.runq and len(p.runq) < LOCAL_QUEUE_CAP:
            # Go runs the global G at once. gmp queues it behind the local Gs instead: they
            # came off the global queue earlier, so running it first would let the same G
            # overtake its peers every 61 ticks (an unbounded drift in turn counts for Gs
            # that gosched). It still leaves the global queue within 61 schedticks.
            # A full ring runs it at once, as Go does: queuing it would spill it straight
            # back to the global tail, and a ring kept full would starve it forever.
            runqput(sched, p, g, False)
            g = None
    if g is None:
        g, inherit = runqget(p)
        if g is None:
            if sched.runq:
                g = globrunqget(sched, p, 0)
            if g is None and poll is not None and sched.npollwait > 0 and not sched.polling:
                # netpoll.poll_before_steal, inlined (it imports this module).
                g = poll()
            if g is None:
                g = steal_work(sched, p, now)
                if g is None:
                    return None, False
    if not inherit:
        p.schedtick += 1
    p.runtick += 1
    p.runs += 1
    g.status = RUNNING
    return g, inherit


def has_work(sched: Sched, p: P) -> bool:
    """Whether ``p`` (or the global queue) holds something an M could run now or later."""
    return bool(p.runnext is not None or p.runq or sched.runq or p.timers.next_when() is not None)


def pidleput(sched: Sched, p: P) -> None:
    """Return ``p`` to the idle list (Go's pidleput). Its local queue must be empty."""
    if p.runnext is not None or p.runq:
        raise AssertionError(f"pidleput: {p!r} still has work")
    if p.status is PStatus.DEAD:
        raise AssertionError(f"pidleput: {p!r} was retired by procresize")
    p.status = PStatus.IDLE
    p.m = None
    sched.idle.append(p)


def pidleget(sched: Sched) -> P | None:
    """Take an idle P, most recently idled first (Go's pidleget), or None."""
    if sched.idle:
        return sched.idle.pop()
    return None
