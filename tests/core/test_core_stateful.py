"""A hypothesis state machine that drives the pure core the way an M would.

The machine spawns, schedules, finishes, parks, readies, sleeps, steals, preempts and
overflows, and after every step checks the conservation laws of the scheduler:

* every live G is in exactly one place (a runnext slot, a local ring, the global queue,
  a pending timer, the parked set, or running on one P), never duplicated, never lost;
* a G's status matches its place (queued: RUNNABLE, timer or parked: WAITING,
  running: RUNNING, finished: DEAD and nowhere);
* local rings never exceed LOCAL_QUEUE_CAP;
* every queue is FIFO: between steps a queue only loses Gs at its head and gains them
  at its tail, so the relative order of queued Gs never changes;
* find_runnable never returns a DEAD G nor one that is running on another P, and only
  returns nothing when there is truly nothing to run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gmp._core import (
    LOCAL_QUEUE_CAP,
    G,
    GStatus,
    P,
    Sched,
    Timer,
    find_runnable,
    globrunqput,
    runqempty,
    runqput,
    runqsteal,
)

MAX_PROCS = 4
MAX_LIVE = 700
"""Cap on live Gs so that the overflow rule keeps the per-step invariant checks cheap."""

OUTCOMES = ["keep running", "exit", "gosched", "park", "sleep", "spawn and exit"]

picks = st.integers(0, 63)
"""An index reduced modulo the number of candidates, so rules never need assume()."""


def fifo_violation(before: list[G], after: list[G]) -> str | None:
    """Why ``after`` is not ``before`` minus a head plus a tail, or None if it is."""
    if after == before or not after:
        return None
    try:
        start = before.index(after[0])
    except ValueError:
        start = len(before)
    kept = len(before) - start
    if after[:kept] != before[start:]:
        return "queued Gs were reordered or removed from the middle"
    if not set(map(id, after[kept:])).isdisjoint(map(id, before)):
        return "a queued G moved behind a newcomer"
    return None


PLACE_STATUS = {
    "runnext": GStatus.RUNNABLE,
    "runq": GStatus.RUNNABLE,
    "global": GStatus.RUNNABLE,
    "timer": GStatus.WAITING,
    "parked": GStatus.WAITING,
    "running": GStatus.RUNNING,
}


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sched = Sched(1)
        self.now = 0.0
        self.next_id = 0
        self.gs: dict[int, G] = {}
        self.dead: set[int] = set()
        self.parked: dict[int, G] = {}
        self.sleeping: dict[int, tuple[int, Timer]] = {}
        self.deadlines: dict[int, tuple[int, Timer]] = {}
        self.fired_deadlines: set[int] = set()
        self.running: dict[int, G] = {}
        self.runs: dict[int, int] = {}
        self.snapshots: dict[str, list[G]] = {}

    # -- helpers ---------------------------------------------------------------------

    def p(self, pick: int) -> P:
        return self.sched.ps[pick % self.sched.procs]

    def new_g(self) -> G:
        g = G(self.next_id)
        self.gs[g.id] = g
        self.next_id += 1
        return g

    def live(self) -> int:
        return len(self.gs) - len(self.dead)

    def free_ps(self) -> list[P]:
        return [p for p in self.sched.ps if p.id not in self.running]

    def queues(self) -> dict[str, list[G]]:
        qs = {f"runq{p.id}": list(p.runq) for p in self.sched.ps}
        qs["global"] = list(self.sched.runq)
        return qs

    def queued(self) -> Iterable[G]:
        for p in self.sched.ps:
            if p.runnext is not None:
                yield p.runnext
            yield from p.runq
        yield from self.sched.runq

    def reconcile_timers(self) -> None:
        """Forget timers that fired: their G is now queued, their payload handed over."""
        for gid, (_, t) in list(self.sleeping.items()):
            if not t.pending:
                del self.sleeping[gid]
        fired = self.sched.fired
        for payload in fired:
            assert isinstance(payload, int), f"unexpected fired payload {payload!r}"
            assert payload in self.deadlines, "a deadline fired that was never set"
            assert payload not in self.fired_deadlines, "a deadline fired twice"
            _, t = self.deadlines.pop(payload)
            assert not t.pending
            self.fired_deadlines.add(payload)
        fired.clear()
        for did, (_, t) in self.deadlines.items():
            assert t.pending, f"deadline {did} left its heap without being handed over"

    # -- rules -----------------------------------------------------------------------

    @initialize(procs=st.integers(1, MAX_PROCS), seed=st.integers(0, 2**32 - 1))
    def start(self, procs: int, seed: int) -> None:
        self.sched = Sched(procs, random.Random(seed))
        self.runs = {p.id: 0 for p in self.sched.ps}
        self.snapshots = self.queues()

    @precondition(lambda self: self.live() < MAX_LIVE)
    @rule(pick=picks, where=st.sampled_from(["runnext", "tail", "global"]))
    def spawn(self, pick: int, where: str) -> None:
        g = self.new_g()
        if where == "global":
            globrunqput(self.sched, g)
        else:
            runqput(self.sched, self.p(pick), g, where == "runnext")
        assert g.status is GStatus.RUNNABLE

    @precondition(lambda self: self.live() < MAX_LIVE)
    @rule(pick=picks, next=st.booleans())
    def overflow(self, pick: int, next: bool) -> None:
        p = self.p(pick)
        spills = self.sched.spills
        for _ in range(300):
            runqput(self.sched, p, self.new_g(), next)
        assert self.sched.spills > spills, "300 Gs cannot fit a 256-slot ring"

    @precondition(lambda self: len(self.running) < self.sched.procs)
    @rule(pick=picks, use_clock=st.booleans())
    def schedule(self, pick: int, use_clock: bool) -> None:
        free = self.free_ps()
        self.find_and_run(free[pick % len(free)], self.now if use_clock else None)

    @rule(
        outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=MAX_PROCS, max_size=MAX_PROCS),
        dt=st.integers(0, 3),
    )
    def run_round(self, outcomes: list[str], dt: int) -> None:
        """Every free P schedules once, then every running G yields in some way."""
        self.now += dt
        for p in self.free_ps():
            self.find_and_run(p, self.now)
            self.check_fifo()
        for pid, outcome in zip(sorted(self.running), outcomes, strict=False):
            if outcome != "keep running":
                self.yield_running(pid, outcome, pid)
                self.check_fifo()

    def find_and_run(self, p: P, now: float | None) -> None:
        candidates = {id(g) for g in self.queued()}
        if now is not None:
            for _, t in self.sleeping.values():
                if t.when <= now:
                    candidates.add(id(t.payload))
        before = (p.schedtick, p.runtick, p.runs)
        sleepers, deadlines, steals = len(self.sleeping), len(self.deadlines), p.steals

        g, inherit = find_runnable(self.sched, p, now)

        self.reconcile_timers()
        if len(self.sleeping) < sleepers:
            event("schedule: timers woke sleepers")
        if len(self.deadlines) < deadlines:
            event("schedule: deadlines handed to the driver")
        if p.steals > steals:
            event("schedule: stole work")
        if g is None:
            event("schedule: nothing to run")
            assert not inherit
            assert (p.schedtick, p.runtick, p.runs) == before
            assert not candidates, "find_runnable gave up while Gs were runnable"
            assert not self.sched.runq
            assert all(runqempty(q) for q in self.sched.ps)
            if now is not None:
                for q in self.sched.ps:
                    when = q.timers.next_when()
                    assert when is None or when > now, "a due timer was left unfired"
            return
        assert id(g) in candidates, "find_runnable returned a G that was not runnable"
        assert g.id not in self.dead, "a DEAD G ran again"
        assert g not in self.running.values(), "a G runs on two Ps at once"
        assert g.status is GStatus.RUNNING
        assert p.schedtick == before[0] + (not inherit)
        assert (p.runtick, p.runs) == (before[1] + 1, before[2] + 1)
        event(f"schedule: ran a G ({'inherited' if inherit else 'new slice'})")
        self.running[p.id] = g
        self.runs[p.id] += 1

    def yield_running(self, pid: int, outcome: str, on: int, delay: int = 1) -> None:
        """The G running on P ``pid`` stops running: how is ``outcome``."""
        g = self.running.pop(pid)
        if outcome == "exit":
            g.status = GStatus.DEAD
            self.dead.add(g.id)
        elif outcome == "gosched":
            globrunqput(self.sched, g)
        elif outcome == "park":
            g.status = GStatus.WAITING
            self.parked[g.id] = g
        elif outcome == "sleep":
            g.status = GStatus.WAITING
            p = self.p(on)
            self.sleeping[g.id] = (p.id, p.timers.add(self.now + delay, g))
        elif outcome == "spawn and exit":
            # newproc: the child takes the parent's runnext, then the parent finishes.
            runqput(self.sched, self.sched.ps[pid], self.new_g(), True)
            g.status = GStatus.DEAD
            self.dead.add(g.id)
        else:
            raise AssertionError(outcome)

    @precondition(lambda self: bool(self.running))
    @rule(pick=picks, outcome=st.sampled_from(OUTCOMES[1:]), on=picks, delay=st.integers(0, 10))
    def finish(self, pick: int, outcome: str, on: int, delay: int) -> None:
        pid = sorted(self.running)[pick % len(self.running)]
        self.yield_running(pid, outcome, on, delay)

    @precondition(lambda self: bool(self.parked))
    @rule(pick=picks, onto=picks)
    def ready(self, pick: int, onto: int) -> None:
        gid = sorted(self.parked)[pick % len(self.parked)]
        g = self.parked.pop(gid)
        runqput(self.sched, self.p(onto), g, True)
        assert self.p(onto).runnext is g

    @precondition(lambda self: bool(self.sleeping))
    @rule(pick=picks, onto=picks)
    def wake_early(self, pick: int, onto: int) -> None:
        gid = sorted(self.sleeping)[pick % len(self.sleeping)]
        _, t = self.sleeping.pop(gid)
        assert t.cancel(), "a timer the machine still tracks must be pending"
        runqput(self.sched, self.p(onto), self.gs[gid], True)

    @rule(on=picks, delay=st.integers(0, 10))
    def set_deadline(self, on: int, delay: int) -> None:
        p = self.p(on)
        did = self.next_id
        self.next_id += 1
        self.deadlines[did] = (p.id, p.timers.add(self.now + delay, did))

    @precondition(lambda self: bool(self.deadlines))
    @rule(pick=picks)
    def cancel_deadline(self, pick: int) -> None:
        did = sorted(self.deadlines)[pick % len(self.deadlines)]
        _, t = self.deadlines.pop(did)
        assert t.cancel()

    @rule(dt=st.integers(0, 10))
    def advance_clock(self, dt: int) -> None:
        self.now += dt

    @rule(pick=picks)
    def preempt(self, pick: int) -> None:
        self.p(pick).preempt = True

    @precondition(lambda self: self.sched.procs >= 2)
    @rule(thief_pick=picks, victim_pick=picks, steal_runnext=st.booleans())
    def steal(self, thief_pick: int, victim_pick: int, steal_runnext: bool) -> None:
        procs = self.sched.procs
        thief = self.p(thief_pick)
        victim = self.sched.ps[(thief.id + 1 + victim_pick % (procs - 1)) % procs]
        ring = list(victim.runq)
        runnext = victim.runnext
        thief_ring = list(thief.runq)
        room = LOCAL_QUEUE_CAP - len(thief_ring)

        g = runqsteal(thief, victim, steal_runnext)

        if ring:
            n = min(math.ceil(len(ring) / 2), room + 1)
            assert g is ring[n - 1]
            assert list(thief.runq) == thief_ring + ring[: n - 1]
            assert list(victim.runq) == ring[n:]
            assert victim.runnext is runnext
        elif steal_runnext and runnext is not None:
            assert g is runnext
            assert victim.runnext is None
        else:
            assert g is None
            assert victim.runnext is runnext
        if g is not None:
            assert g.status is GStatus.RUNNABLE
            runqput(self.sched, thief, g, False)

    # -- invariants ------------------------------------------------------------------

    def places(self) -> list[tuple[str, list[G]]]:
        """Every place a G can be, with the Gs found there."""
        out: list[tuple[str, list[G]]] = []
        for p in self.sched.ps:
            out.append((f"runnext{p.id}", [] if p.runnext is None else [p.runnext]))
            out.append((f"runq{p.id}", list(p.runq)))
        out.append(("global", list(self.sched.runq)))
        out.append(("timer", [self.gs[gid] for gid in self.sleeping]))
        out.append(("parked", list(self.parked.values())))
        out.append(("running", list(self.running.values())))
        return out

    @invariant()
    def every_live_g_is_in_exactly_one_place_with_a_matching_status(self) -> None:
        places = self.places()
        located = [g for _, gs in places for g in gs]
        # Unique, known, not dead, and as many as the live Gs: a bijection with them.
        if (
            len(set(map(id, located))) != len(located)
            or len(located) != self.live()
            or any(self.gs.get(g.id) is not g or g.id in self.dead for g in located)
        ):
            raise AssertionError(self.misplaced(places))
        for name, gs in places:
            want = PLACE_STATUS[name.rstrip("0123456789")]
            wrong = [g for g in gs if g.status is not want]
            assert not wrong, f"{wrong[:3]} in {name} should be {want.name}"
        for gid in self.dead:
            assert self.gs[gid].status is GStatus.DEAD
        for gid, (_, t) in self.sleeping.items():
            assert t.pending
            assert t.payload is self.gs[gid]

    def misplaced(self, places: list[tuple[str, list[G]]]) -> str:
        """The slow path: say which G is lost, duplicated, unknown or resurrected."""
        where: dict[int, list[str]] = {}
        for name, gs in places:
            for g in gs:
                if self.gs.get(g.id) is not g:
                    return f"unknown G {g!r} in {name}"
                where.setdefault(g.id, []).append(name)
        for gid, g in self.gs.items():
            found = where.get(gid, [])
            if gid in self.dead and found:
                return f"DEAD {g!r} found in {found}"
            if gid not in self.dead and len(found) != 1:
                return f"{g!r} is in {found or 'no place: lost'}"
        return "inconsistent places"

    @invariant()
    def timer_heaps_hold_exactly_the_pending_sleeps_and_deadlines(self) -> None:
        for p in self.sched.ps:
            mine = sum(1 for pid, _ in self.sleeping.values() if pid == p.id)
            mine += sum(1 for pid, _ in self.deadlines.values() if pid == p.id)
            assert p.timers.live() == mine

    @invariant()
    def local_rings_never_exceed_capacity(self) -> None:
        for p in self.sched.ps:
            assert len(p.runq) <= LOCAL_QUEUE_CAP

    @invariant()
    def queues_only_lose_gs_at_the_head_and_gain_them_at_the_tail(self) -> None:
        self.check_fifo()

    def check_fifo(self) -> None:
        """Compare every queue with its last snapshot (taken at most one core call ago)."""
        now = self.queues()
        for name, after in now.items():
            problem = fifo_violation(self.snapshots.get(name, []), after)
            assert problem is None, f"{name}: {problem}"
        self.snapshots = now

    @invariant()
    def per_p_run_counters_match_the_schedules_observed(self) -> None:
        for p in self.sched.ps:
            assert p.runs == self.runs.get(p.id, 0)
            assert p.schedtick <= p.runtick == p.runs


TestSchedulerStateMachine = SchedulerMachine.TestCase
TestSchedulerStateMachine.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    database=None,
)
