"""Fairness of find_runnable: local work never starves the global queue, and Gs that
gosched share a P round robin."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core import (
    GLOBAL_CHECK_INTERVAL,
    LOCAL_QUEUE_CAP,
    G,
    Sched,
    find_runnable,
    globrunqput,
    runqempty,
    runqput,
)

FAST = settings(max_examples=120, derandomize=True, database=None, deadline=None)


def fairness_ticks_between(lo: int, hi: int) -> int:
    """How many schedticks t with lo <= t <= hi are multiples of 61 (fairness checks)."""
    if hi < lo:
        return 0
    return hi // GLOBAL_CHECK_INTERVAL - (lo - 1) // GLOBAL_CHECK_INTERVAL


@FAST
@given(
    procs=st.integers(1, 4),
    start_tick=st.integers(0, 500),
    local_len=st.integers(1, LOCAL_QUEUE_CAP),
    runnext_budget=st.integers(0, 40),
    data=st.data(),
)
def test_global_g_leaves_within_61_schedticks_and_runs_within_61_plus_ring_capacity(
    procs: int, start_tick: int, local_len: int, runnext_budget: int, data: st.DataObject
) -> None:
    """A P whose local queue never runs dry cannot starve a G on the global queue.

    Every G the P runs yields back onto the local tail, and some turns also ready a fresh
    G into runnext (which inherits the time slice, so waits are counted in schedticks, not
    calls). The global G leaves the global queue at the first fairness tick (at most 61
    schedticks); it runs at once if the ring is full, else it joins the ring's tail and
    runs after the at most 255 Gs ahead of it. Readies that could overflow the ring are
    skipped: a spill may move any local G, this one included, back to the global queue.
    """
    sched = Sched(procs, random.Random(0))
    p = sched.ps[0]
    p.schedtick = start_tick
    for i in range(local_len):
        runqput(sched, p, G(i), False)
    target = G(-1)
    globrunqput(sched, target)
    s0 = p.schedtick
    next_id = local_len
    calls = 0
    used_runnext = False
    left_at: int | None = None

    while True:
        tick = p.schedtick
        g, _inherit = find_runnable(sched, p, None)
        calls += 1
        assert g is not None
        if left_at is None and target not in sched.runq:
            left_at = tick
        if g is target:
            break
        assert left_at is not None or p.schedtick - s0 < GLOBAL_CHECK_INTERVAL
        assert p.schedtick - s0 < GLOBAL_CHECK_INTERVAL + LOCAL_QUEUE_CAP
        runqput(sched, p, g, False)
        if (
            runnext_budget
            and p.runqsize() < LOCAL_QUEUE_CAP - 2
            and data.draw(st.booleans(), label="ready a G into runnext")
        ):
            runnext_budget -= 1
            used_runnext = True
            runqput(sched, p, G(next_id), True)
            next_id += 1
        assert not runqempty(p)
        assert sched.spills == 0

    assert left_at is not None
    assert left_at - s0 < GLOBAL_CHECK_INTERVAL
    assert left_at % GLOBAL_CHECK_INTERVAL == 0
    assert fairness_ticks_between(s0, left_at) == 1, "taken at the first fairness tick"
    assert p.schedtick - s0 <= GLOBAL_CHECK_INTERVAL + LOCAL_QUEUE_CAP
    if not used_runnext:
        assert calls <= GLOBAL_CHECK_INTERVAL + LOCAL_QUEUE_CAP


@FAST
@given(procs=st.integers(1, 4), start_tick=st.integers(0, 500))
def test_global_g_runs_within_61_schedticks_while_the_ring_is_kept_full(
    procs: int, start_tick: int
) -> None:
    """Regression: a ring kept full must not bounce a global G back to the global tail."""
    sched = Sched(procs, random.Random(0))
    p = sched.ps[0]
    p.schedtick = start_tick
    for i in range(LOCAL_QUEUE_CAP):
        runqput(sched, p, G(i), False)
    target = G(-1)
    globrunqput(sched, target)
    s0 = p.schedtick
    for _ in range(GLOBAL_CHECK_INTERVAL):
        g, _ = find_runnable(sched, p, None)
        assert g is not None
        if g is target:
            break
        runqput(sched, p, g, False)
        assert len(p.runq) == LOCAL_QUEUE_CAP
    else:
        raise AssertionError("global G starved by a full local ring")
    assert p.schedtick - s0 <= GLOBAL_CHECK_INTERVAL


@FAST
@given(
    k=st.integers(2, 20),
    procs=st.integers(1, 4),
    start_tick=st.integers(0, 200),
    spawn_into_runnext=st.booleans(),
    turns=st.integers(1, 500),
)
def test_gosched_turn_counts_never_differ_by_more_than_one(
    k: int, procs: int, start_tick: int, spawn_into_runnext: bool, turns: int
) -> None:
    """k Gs on one P that gosched after every turn share it round robin.

    At any point in time max(turns) - min(turns) <= 1, across fairness ticks too: the
    every-61st check queues the global head behind the local Gs (which came off the
    global queue earlier) instead of letting it overtake them, as Go would.
    """
    sched = Sched(procs, random.Random(0))
    p = sched.ps[0]
    p.schedtick = start_tick
    gs = [G(i) for i in range(k)]
    for g in gs:
        runqput(sched, p, g, spawn_into_runnext)
    count = dict.fromkeys(gs, 0)

    for _ in range(turns):
        ran, _inherit = find_runnable(sched, p, None)
        assert ran is not None
        count[ran] += 1
        assert max(count.values()) - min(count.values()) <= 1
        globrunqput(sched, ran)  # gosched


def test_a_fairness_tick_does_not_let_a_goscheding_g_overtake_the_local_queue() -> None:
    """Two goscheding Gs on one P alternate straight through schedtick 61.

    With procs=1 ``a`` comes from the global batch on even ticks and ``b`` from the local
    queue on odd ones. At tick 61 Go would run ``a`` again (it is the global head); gmp
    queues ``a`` behind ``b`` so the pair stays in step.
    """
    sched = Sched(1, random.Random(0))
    p = sched.ps[0]
    p.schedtick = 2
    a, b = G(0), G(1)
    runqput(sched, p, a, False)
    runqput(sched, p, b, False)
    ran: list[G] = []
    while p.schedtick < 62 * 3:
        g, _ = find_runnable(sched, p, None)
        assert g is not None
        ran.append(g)
        globrunqput(sched, g)
    assert ran == [a, b] * (len(ran) // 2)
