"""Where a G goes when it becomes runnable: the placement rules of Go's proc.go.

Every way a G enters a run queue is one function here, and both drivers (the threaded
runtime and the simulator) call these, never ``runqput``/``globrunqput`` directly, so a
placement rule is written once:

============== ============================== =========================================
function       Go                             where the G goes
============== ============================== =========================================
newproc        newproc                        the creating P's runnext; global from
                                              outside the runtime
goready        goready / ready                the waker P's runnext (it inherits the
                                              waker's time slice); global from outside;
                                              alone there, no M woken (see goready)
gosched        goschedImpl                    the global queue's tail
gopreempt      gopreempt_m                    the global queue's tail (its slice ran out)
yield_local    (``sleep(0)``; no Go twin)     the P's local tail; the global tail
                                              once its slice ran out; global w/o a P
wake_joiners   (goready of each joiner)       the P's local tail, else global: see below
requeue        exitsyscall0 / stoplockedm     global: the G's M has no P to run it on
inject         injectglist (netpoll results)  one per idle P to the global queue (and an
                                              M started for each), the rest to the
                                              poller's P's local tail
============== ============================== =========================================

Each returns whether the driver must wake an M (:func:`gmp._core.idle.needs_wakep`;
goready defers it in one case, see there).

One deliberate difference: joiners woken by a finishing G go to the local *tail*, not
runnext. A join is fan-in; a joiner behind its siblings collects a batch of finished Gs in
one resumption, where runnext would make it ping-pong with every child that finishes
(docs/architecture.md has the measurement).
"""

from __future__ import annotations

from collections.abc import Iterable

from gmp._core.g import RUNNABLE, G
from gmp._core.idle import needs_wakep
from gmp._core.p import P, PStatus
from gmp._core.runq import LOCAL_QUEUE_CAP, runqput, runqputslow
from gmp._core.sched import Sched, globrunqput

_P_RUNNING = PStatus.RUNNING


def newproc(sched: Sched, p: P | None, g: G) -> bool:
    """A new G: the creator's P's runnext (Go's newproc), or global if created outside.

    runqput (next=True), globrunqput and needs_wakep, inlined as in :func:`gosched`: this
    runs once per spawn, and the two calls it saves took a spawn+complete of 100k Gs at
    procs=1 from 4.55 to 4.28 us per G (medians of 7 interleaved runs).
    tests/core/test_core_place.py holds the placement and the wake answer."""
    g.status = RUNNABLE
    if p is not None:
        old = p.runnext
        p.runnext = g
        if old is not None:
            q = p.runq
            if len(q) < LOCAL_QUEUE_CAP:
                q.append(old)
            else:
                runqputslow(sched, p, old)
    else:
        sched.runq.append(g)
    return sched.nmspinning == 0 and bool(sched.idle)


def goready(sched: Sched, p: P | None, g: G) -> bool:
    """A parked G readied by a G running on ``p`` (Go's goready): ``p``'s runnext, placed
    exactly as :func:`newproc` places a new G (Go's goready and newproc both call
    ``runqput(pp, gp, true)``). In runnext it inherits the rest of the waker's time slice
    (find_runnable does not advance ``schedtick`` for it), so a token-passing pair shares
    one slice and sysmon's preemption breaks it up when that slice runs out. Every
    channel hand-off readies a G through here.

    The wake answer differs from Go's in one case, deliberately: a G that lands alone in
    the runnext of a running P (nothing kicked to the local queue, nothing there) wakes
    no M. Go's ready always calls wakep. The G that readied it usually parks next (a
    receive after a send), and its M then runs the readied G at once; a woken M could
    only find it by stealing it, or find nothing and park again, and it costs the waker a
    futex wake-up on every hand-off. Measured, a channel ping-pong at procs=2, old and
    new interleaved: 32.7-59.7 -> 12.6-16.4 us a round trip on free-threaded 3.13t
    (20,000 round trips; at procs=1 13.2-13.8), steals ~4,000 -> 5-9; with the GIL
    (3.11, 100,000) medians 6.84 -> 6.03 us (docs/architecture.md). If the waker
    keeps running instead, sysmon wakes an M for the G at its next look
    (:func:`gmp._core.idle.deferred_wake_due`). A P in a blocking call, or a second G in
    line, wakes an M at once, as in Go."""
    if p is not None and p.runnext is None and not p.runq and p.status is _P_RUNNING:
        # newproc's placement for an empty runnext, without its call: the hand-off of
        # every ping-pong round trip takes this path.
        g.status = RUNNABLE
        p.runnext = g
        return False  # the wake-up is deferred: see above
    return newproc(sched, p, g)


def gosched(sched: Sched, g: G) -> bool:
    """The G yields the P (Go's Gosched): the global queue's tail.

    globrunqput and needs_wakep, inlined: this is the whole cost of a gosched beyond the
    coroutine switch (one call instead of three is 8% of a yield at procs=1). The wake
    test is needs_wakep's, and tests/core/test_core_place.py holds the two equal."""
    g.status = RUNNABLE
    sched.runq.append(g)
    return sched.nmspinning == 0 and bool(sched.idle)


def gopreempt(sched: Sched, p: P | None, g: G) -> bool:
    """The G reached a trap after its P's time slice ran out (Go's gopreempt_m): the
    global queue's tail, behind everything that waited while the slice was inherited."""
    if p is not None:
        p.preempt = False
        p.preemptions += 1
    globrunqput(sched, g)
    return needs_wakep(sched)


def yield_local(sched: Sched, p: P | None, g: G) -> bool:
    """``sleep(0)``: behind the P's other local Gs; the global tail instead when the P's
    time slice ran out (:func:`gopreempt`: a trap after the slice, like any other);
    global if the M lost its P.

    runqput (next=False) inlined, as in :func:`newproc`: every ``sleep(0)`` comes here,
    and the call it saves was 5% of one at procs=1 (callgrind, 10.2k -> 9.6k
    instructions). tests/core/test_core_place.py holds the placement."""
    if p is not None:
        if p.preempt:
            return gopreempt(sched, p, g)
        g.status = RUNNABLE
        q = p.runq
        if len(q) < LOCAL_QUEUE_CAP:
            q.append(g)
        else:
            runqputslow(sched, p, g)
        return False
    globrunqput(sched, g)
    return needs_wakep(sched)


def wake_joiners(sched: Sched, p: P | None, joiners: Iterable[G]) -> bool:
    """Gs that waited for a finished G: the finisher P's local tail (see the module
    docstring for why not runnext), or global when it finished without a P."""
    if p is not None:
        for w in joiners:
            runqput(sched, p, w, False)
    else:
        for w in joiners:
            globrunqput(sched, w)
    return needs_wakep(sched)


def requeue(sched: Sched, g: G) -> bool:
    """A G whose M lost its P (handoff, a retired P) and found no idle one: global (Go's
    exitsyscall0 puts it there and stops the M)."""
    globrunqput(sched, g)
    return needs_wakep(sched)


def inject(sched: Sched, p: P | None, gs: list[G]) -> int:
    """Gs readied by the network poller (Go's injectglist). Returns how many Ms the
    driver must start, one per idle P that got a G.

    As many Gs as there are idle Ps go to the global queue, so each idle P has one to
    start with; the rest go to ``p``'s local tail, where the polling M runs them (all to
    the global queue when the poller holds no P: a blocked poller or sysmon)."""
    if not gs:
        return 0
    if p is None:
        for g in gs:
            globrunqput(sched, g)
        return min(len(sched.idle), len(gs))
    n = min(len(sched.idle), len(gs))
    for g in gs[:n]:
        globrunqput(sched, g)
    for g in gs[n:]:
        runqput(sched, p, g, False)
    return n


def preempt_due(p: P | None) -> bool:
    """Whether a G reaching a trap on ``p`` must give it up (Go's ``gp.preempt`` test at a
    function prologue). A hint written by sysmon without the lock: a stale read delays the
    preemption by one trap, never loses a G."""
    return p is not None and p.preempt
