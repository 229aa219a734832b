"""procresize in the core: growing, retiring Ps, and where a retired P's work goes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core import (
    MAX_PROCS,
    G,
    PStatus,
    Sched,
    check_procs,
    find_runnable,
    live_p,
    pidleget,
    pidleput,
    procresize,
    runqput,
)

FAST = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def test_check_procs() -> None:
    assert check_procs(3) == 3
    with pytest.raises(TypeError):
        check_procs(True)
    with pytest.raises(TypeError):
        check_procs(2.0)
    with pytest.raises(ValueError, match="at least 1"):
        check_procs(0)
    with pytest.raises(ValueError, match=f"at most {MAX_PROCS}"):
        check_procs(MAX_PROCS + 1)
    with pytest.raises(ValueError, match="at most 4"):
        check_procs(5, 4)


def test_growing_adds_idle_ps_below_the_warm_ones() -> None:
    s = Sched(2, random.Random(0))
    old_ps = s.ps
    r = procresize(s, 4)
    assert (r.old, r.new) == (2, 4)
    assert [p.id for p in r.added] == [2, 3]
    assert s.ps is not old_ps and [p.id for p in old_ps] == [0, 1]  # never mutated
    assert [p.id for p in s.ps] == [0, 1, 2, 3]
    assert all(p.status is PStatus.IDLE for p in r.added)
    # P0 (idled most recently at start) still comes first; the new Ps last.
    assert [pidleget(s).id for _ in range(4)] == [0, 1, 2, 3]  # type: ignore[union-attr]


def test_no_change_is_a_no_op() -> None:
    s = Sched(3)
    ps = s.ps
    r = procresize(s, 3)
    assert r.added == r.retired == () and s.ps is ps


def test_shrinking_moves_runnext_and_queue_to_the_global_head_in_order() -> None:
    s = Sched(3, random.Random(0))
    p0, p1, p2 = s.ps
    for p in (p0, p1, p2):
        s.idle.remove(p)
        p.status = PStatus.RUNNING
        p.m = f"M{p.id}"
    early = G(100)
    s.runq.append(early)
    for i in range(3):
        runqput(s, p2, G(20 + i), False)
    runqput(s, p2, G(29), True)  # runnext
    for i in range(2):
        runqput(s, p1, G(10 + i), False)
    t2 = p2.timers.add(5.0, G(90))
    t1 = p1.timers.add(6.0, "deadline")
    cancelled = p1.timers.add(1.0, G(91))
    cancelled.cancel()
    r = procresize(s, 1)
    assert [p.id for p in r.retired] == [2, 1]  # highest first
    assert r.owners == ("M2", "M1")
    assert (r.moved_gs, r.moved_timers) == (6, 2)
    assert [g.id for g in s.runq] == [10, 11, 29, 20, 21, 22, 100]
    assert all(p.status is PStatus.DEAD and p.m is None for p in (p1, p2))
    assert p1.runqsize() == p2.runqsize() == 0 and not p1.timers and not p2.timers
    # Timers keep their identity (a sleeping G's abort handle) and go to the survivor.
    assert {e[2] for e in p0.timers.heap} == {t1, t2}
    assert s.ps == [p0] and s.idle == []
    assert p0.status is PStatus.RUNNING and p0.m == "M0"


def test_retired_ps_leave_the_idle_list_and_cannot_be_idled_again() -> None:
    s = Sched(4)
    procresize(s, 2)
    assert sorted(p.id for p in s.idle) == [0, 1]
    dead = s.allp[3]
    with pytest.raises(AssertionError, match="retired"):
        pidleput(s, dead)
    assert live_p(s, dead) is s.ps[1] and live_p(s, s.ps[0]) is s.ps[0]


def test_regrowing_revives_the_same_ps_with_their_counters() -> None:
    s = Sched(3)
    p2 = s.ps[2]
    p2.runs = 7
    p2.preempt = True
    procresize(s, 1)
    r = procresize(s, 3)
    assert r.added[1] is p2
    assert p2.status is PStatus.IDLE and p2.runs == 7 and not p2.preempt
    assert p2 in s.idle


def test_work_moved_by_a_shrink_is_found_by_the_survivor() -> None:
    s = Sched(2, random.Random(0))
    p0, p1 = s.ps
    s.idle.clear()
    runqput(s, p1, G(1), True)
    p1.timers.add(0.5, G(2))
    procresize(s, 1)
    g, _ = find_runnable(s, p0, 0.0)
    assert g is not None and g.id == 1
    g, _ = find_runnable(s, p0, 1.0)
    assert g is not None and g.id == 2


ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 15), st.booleans()),
        st.tuples(st.just("timer"), st.integers(0, 15), st.floats(0, 10)),
        st.tuples(st.just("global"), st.integers(0, 0), st.booleans()),
        st.tuples(st.just("run"), st.integers(0, 15), st.floats(0, 10)),
        st.tuples(st.just("resize"), st.integers(1, 16), st.booleans()),
    ),
    max_size=80,
)


@FAST
@given(st.integers(1, 16), ops)
def test_resizes_never_lose_or_duplicate_a_g_or_a_timer(start: int, seq: list[tuple]) -> None:  # type: ignore[type-arg]
    s = Sched(start, random.Random(1))
    next_id = 0
    queued: set[int] = set()  # ids runnable somewhere
    sleeping: set[int] = set()  # ids on a timer
    ran: set[int] = set()
    for kind, a, b in seq:
        ps = s.ps
        if kind == "put":
            next_id += 1
            runqput(s, ps[a % len(ps)], G(next_id), bool(b))
            queued.add(next_id)
        elif kind == "timer":
            next_id += 1
            ps[a % len(ps)].timers.add(float(b), G(next_id))
            sleeping.add(next_id)
        elif kind == "global":
            next_id += 1
            s.runq.append(G(next_id))
            queued.add(next_id)
        elif kind == "run":
            p = ps[a % len(ps)]
            g, _ = find_runnable(s, p, float(b))
            if g is not None:
                assert g.id not in ran
                ran.add(g.id)
        else:
            procresize(s, a)
            assert [p.id for p in s.ps] == list(range(a))
            assert all(p.status is not PStatus.DEAD for p in s.ps)
            assert all(p.status is PStatus.DEAD for p in s.allp[a:])
            assert all(p.id < a for p in s.idle)
        # Conservation: every G is in exactly one place (a queue, a timer, or it ran).
        places: list[int] = [g.id for g in s.runq]
        for p in s.allp:
            if p.runnext is not None:
                places.append(p.runnext.id)
            places.extend(g.id for g in p.runq)
            places.extend(e[2].payload.id for e in p.timers.heap if e[2].pending)  # type: ignore[attr-defined]
        for p in s.allp[len(s.ps) :]:
            assert p.runqsize() == 0 and not p.timers.heap
        assert len(places) == len(set(places))
        assert set(places) | ran == queued | sleeping
        assert not set(places) & ran
