"""Time slices in the pure core: a hypothesis state machine over one P and its sysmon.

The machine drives the core the way the runtime does, with virtual time: the running G
computes for up to ``MAXDT`` and then reaches a trap (it readies a parked G into runnext,
passes a token and parks, parks, gosched, or passes a trap that does not park); sysmon
looks continuously (``slice_observe`` when a G starts, ``slice_expired`` at every trap);
outside Gs arrive on the global queue. Placement goes through :mod:`gmp._core.place`.

Laws:

- **No G is lost or run twice.** Every live G is in exactly one place (running, parked,
  runnext, the local ring or the global queue), with the status that place implies,
  across preemptions at traps and preemptions of a runnext G in find_runnable.
- **The global queue is served within slices.** A G that arrives on the global queue
  while ``A`` runnable Gs are queued ahead of it runs before the P has spent
  ``(A + K + 2)`` slices of CPU on other Gs, where ``K`` counts the Gs kicked from
  runnext into the local ring while it waits (the ring is served before the global
  queue, as in Go); a slice is at most ``TIMESLICE + MAXDT``: the slice, then the
  compute up to the next trap. Runnext traffic alone (token passing, wake-ups into an
  empty runnext, gosched) therefore delays a G with nothing ahead of it by at most two
  slices, where before preemption at traps it waited for the 61st schedtick.
- **Runnext inherits.** A G readied into runnext and taken from there does not advance
  ``schedtick``; a slice is never longer than ``TIMESLICE + MAXDT`` of CPU.
"""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gmp._core.g import G, GStatus
from gmp._core.place import gopreempt, goready, gosched, preempt_due, requeue
from gmp._core.preempt import slice_expired, slice_observe
from gmp._core.sched import Sched, find_runnable

TIMESLICE = 10
MAXDT = 3
SLICE_CAP = TIMESLICE + MAXDT


class SliceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sched = Sched(1, random.Random(0))
        self.p = self.sched.ps[0]
        self.p.m = object()
        self.now = 0
        self.next_id = 0
        self.gs: dict[int, G] = {}
        self.parked: dict[int, G] = {}
        self.cur: G | None = None
        self.slice_start = 0
        # A waiting global G's id -> (its arrival time, the CPU budget it may wait).
        self.waiting: dict[int, tuple[int, int]] = {}
        for _ in range(4):
            g = self.new_g()
            g.status = GStatus.WAITING
            self.parked[g.id] = g

    def new_g(self) -> G:
        self.next_id += 1
        g = G(self.next_id)
        self.gs[g.id] = g
        return g

    # -- the P: schedule, compute, trap ---------------------------------------------------

    def schedule(self) -> None:
        g, inherit = find_runnable(self.sched, self.p, None)
        if g is None:
            self.cur = None
            return
        if not inherit:
            self.slice_start = self.now
        slice_observe(self.p, self.now)  # sysmon looks continuously
        self.cur = g
        self.waiting.pop(g.id, None)

    def compute(self, dt: int) -> G:
        if self.cur is None:
            self.schedule()
        g = self.cur
        assert g is not None
        self.now += dt
        assert self.now - self.slice_start <= SLICE_CAP + MAXDT, "a slice outlived its cap"
        slice_expired(self.p, self.now, TIMESLICE)
        return g

    def resume_or_preempt(self, g: G) -> None:
        """A trap that does not park: go on, unless the slice is over (gopreempt_m)."""
        if preempt_due(self.p):
            gopreempt(self.sched, self.p, g)
            self.schedule()

    def leave(self) -> None:
        self.cur = None
        self.schedule()

    # -- rules -------------------------------------------------------------------------------

    @precondition(lambda self: self.cur is not None or self.runnable())
    @rule(dt=st.integers(0, MAXDT), pick=st.integers(0, 99), park=st.booleans())
    def ready_a_parked_g(self, dt: int, pick: int, park: bool) -> None:
        """A channel operation that hands a value to a parked G: goready into runnext.
        With ``park`` the G then waits for an answer (a ping-pong's second half)."""
        g = self.compute(dt)
        if not self.parked:
            self.resume_or_preempt(g)
            return
        # A trap at the operation's entry first (the channel's checkpoint).
        if preempt_due(self.p):
            gopreempt(self.sched, self.p, g)
            self.schedule()
            return
        wid = sorted(self.parked)[pick % len(self.parked)]
        w = self.parked.pop(wid)
        if self.p.runnext is not None:
            # The runnext G is kicked to the local ring, which is served before the
            # global queue (as in Go): one more slice for every G waiting there.
            self.waiting = {k: (t, b + SLICE_CAP) for k, (t, b) in self.waiting.items()}
        goready(self.sched, self.p, w)
        if park:
            g.status = GStatus.WAITING
            self.parked[g.id] = g
            self.leave()

    @precondition(lambda self: self.cur is not None or self.runnable())
    @rule(dt=st.integers(0, MAXDT))
    def nonparking_trap(self, dt: int) -> None:
        self.resume_or_preempt(self.compute(dt))

    @precondition(lambda self: self.cur is not None or self.runnable())
    @rule(dt=st.integers(0, MAXDT))
    def park(self, dt: int) -> None:
        g = self.compute(dt)
        g.status = GStatus.WAITING
        self.parked[g.id] = g
        self.leave()

    @precondition(lambda self: self.cur is not None or self.runnable())
    @rule(dt=st.integers(0, MAXDT))
    def yield_with_gosched(self, dt: int) -> None:
        g = self.compute(dt)
        gosched(self.sched, g)
        self.leave()

    @rule()
    def arrive_on_the_global_queue(self) -> None:
        ahead = len(self.sched.runq) + len(self.p.runq) + (self.p.runnext is not None)
        g = self.new_g()
        requeue(self.sched, g)
        self.waiting[g.id] = (self.now, (ahead + 2) * SLICE_CAP)
        if self.cur is None:
            self.schedule()

    def runnable(self) -> bool:
        return bool(self.sched.runq or self.p.runq or self.p.runnext is not None)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def every_g_is_in_exactly_one_place(self) -> None:
        places: list[tuple[str, G]] = []
        if self.cur is not None:
            places.append(("running", self.cur))
        if self.p.runnext is not None:
            places.append(("runnext", self.p.runnext))
        places += [("ring", g) for g in self.p.runq]
        places += [("global", g) for g in self.sched.runq]
        places += [("parked", g) for g in self.parked.values()]
        ids = [g.id for _, g in places]
        assert sorted(ids) == sorted(self.gs), f"lost or duplicated: {places}"
        want = {
            "running": GStatus.RUNNING,
            "runnext": GStatus.RUNNABLE,
            "ring": GStatus.RUNNABLE,
            "global": GStatus.RUNNABLE,
            "parked": GStatus.WAITING,
        }
        for where, g in places:
            assert g.status is want[where], f"{g!r} in {where}"

    @invariant()
    def a_global_g_runs_within_its_slices(self) -> None:
        for gid, (since, budget) in self.waiting.items():
            assert self.now - since <= budget, (
                f"G {gid} has waited {self.now - since} on the global queue, "
                f"more than {budget} ({budget // SLICE_CAP} slices)"
            )


TestSliceMachine = SliceMachine.TestCase
TestSliceMachine.settings = settings(
    max_examples=300,
    stateful_step_count=80,
    deadline=None,
    derandomize=True,
    database=None,
)


def test_a_g_behind_a_token_passing_pair_runs_within_two_slices() -> None:
    """The repro at core level: a pair readying each other into runnext, a G on the
    global queue. Before preemption at traps it waited 61 slices' worth of schedticks."""
    sched = Sched(1)
    p = sched.ps[0]
    a, b, x = G(1), G(2), G(3)
    for g in (a, b):
        g.status = GStatus.WAITING
    goready(sched, p, a)
    now = 0
    cur, inherit = find_runnable(sched, p, None)
    slice_observe(p, now)
    requeue(sched, x)
    partner = b
    while cur is not x:
        assert cur is not None
        now += 1
        slice_expired(p, now, TIMESLICE)
        if preempt_due(p):  # the send's entry checkpoint
            gopreempt(sched, p, cur)
        else:
            goready(sched, p, partner)  # hand the token over
            partner = cur
            cur.status = GStatus.WAITING  # and wait for it to come back
        cur, inherit = find_runnable(sched, p, None)
        if not inherit:
            slice_observe(p, now)
    assert now <= 2 * SLICE_CAP, now
