"""Local run queue: runqput, runqget, runqputslow, runqsteal (Go's proc.go).

Each test states one rule of the local queue the way Go's runtime defines it.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core import LOCAL_QUEUE_CAP, G, GStatus, P, Sched, runqempty, runqget, runqput, runqsteal

FAST = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def make_gs(n: int, start: int = 0) -> list[G]:
    return [G(i) for i in range(start, start + n)]


def fill(sched: Sched, p: P, gs: list[G]) -> None:
    """Put ``gs`` on ``p``'s ring in order (next=False), as a spawner yielding would."""
    for g in gs:
        runqput(sched, p, g, False)


# -- runqput / runqget --------------------------------------------------------------------


def test_runqput_marks_the_g_runnable() -> None:
    sched = Sched(1)
    g = G(1)
    assert g.status is GStatus.IDLE
    runqput(sched, sched.ps[0], g, False)
    assert g.status is GStatus.RUNNABLE


def test_runqput_next_takes_runnext_and_kicks_the_old_occupant_to_the_tail() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    a, b, old, new = make_gs(4)
    fill(sched, p, [a, b])
    runqput(sched, p, old, True)
    assert p.runnext is old
    assert list(p.runq) == [a, b]

    runqput(sched, p, new, True)
    assert p.runnext is new
    assert list(p.runq) == [a, b, old], "the displaced runnext goes to the tail, not the head"


def test_runqput_next_into_an_empty_slot_leaves_the_ring_untouched() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    (g,) = make_gs(1)
    runqput(sched, p, g, True)
    assert p.runnext is g
    assert not p.runq
    assert p.runqsize() == 1


def test_local_queue_is_fifo() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    gs = make_gs(10)
    fill(sched, p, gs)
    got = [runqget(p) for _ in gs]
    assert got == [(g, False) for g in gs]
    assert runqget(p) == (None, False)


def test_runqget_takes_runnext_first_and_reports_that_it_inherits_the_time_slice() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    a, b, r = make_gs(3)
    fill(sched, p, [a, b])
    runqput(sched, p, r, True)
    assert runqget(p) == (r, True)
    assert p.runnext is None
    assert runqget(p) == (a, False)
    assert runqget(p) == (b, False)
    assert runqget(p) == (None, False)
    assert runqempty(p)


def test_runqempty_sees_runnext_and_ring() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    assert runqempty(p)
    runqput(sched, p, G(1), True)
    assert not runqempty(p)
    runqget(p)
    assert runqempty(p)
    runqput(sched, p, G(2), False)
    assert not runqempty(p)


def test_local_ring_holds_exactly_256_without_spilling() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    fill(sched, p, make_gs(LOCAL_QUEUE_CAP))
    assert LOCAL_QUEUE_CAP == 256
    assert len(p.runq) == 256
    assert not sched.runq
    assert sched.spills == 0


# -- overflow: runqputslow ----------------------------------------------------------------


def test_overflow_moves_the_oldest_half_plus_the_newcomer_to_the_global_queue() -> None:
    sched = Sched(2)
    p = sched.ps[0]
    gs = make_gs(LOCAL_QUEUE_CAP)
    fill(sched, p, gs)
    newcomer = G(1000)
    runqput(sched, p, newcomer, False)

    assert list(sched.runq) == [*gs[:128], newcomer]
    assert list(p.runq) == gs[128:]
    assert len(p.runq) == 128
    assert sched.spills == 1
    assert all(g.status is GStatus.RUNNABLE for g in sched.runq)


def test_overflow_via_runnext_spills_the_kicked_g_with_the_oldest_half() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    gs = make_gs(LOCAL_QUEUE_CAP)
    fill(sched, p, gs)
    kicked, new = G(1000), G(1001)
    runqput(sched, p, kicked, True)
    assert sched.spills == 0, "filling an empty runnext never spills"

    runqput(sched, p, new, True)
    assert p.runnext is new
    assert list(sched.runq) == [*gs[:128], kicked]
    assert list(p.runq) == gs[128:]
    assert sched.spills == 1


def test_overflow_appends_to_the_global_tail_behind_older_global_gs() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    older = G(-1)
    sched.runq.append(older)
    gs = make_gs(LOCAL_QUEUE_CAP + 1)
    fill(sched, p, gs)
    assert sched.runq[0] is older
    assert list(sched.runq)[1:] == [*gs[:128], gs[256]]


# -- runqsteal ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 256])
def test_steal_takes_half_rounded_up_oldest_first(n: int) -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    gs = make_gs(n)
    fill(sched, victim, gs)
    taken = math.ceil(n / 2)

    g = runqsteal(thief, victim, False)

    # The thief runs the youngest of the stolen batch and queues the older ones in order,
    # as Go's runqsteal returns the last G runqgrab copied.
    assert g is gs[taken - 1]
    assert list(thief.runq) == gs[: taken - 1]
    assert list(victim.runq) == gs[taken:]
    assert thief.steals == 1
    assert thief.stolen == taken
    assert g.status is GStatus.RUNNABLE, "the core leaves RUNNING to find_runnable"


def test_steal_from_an_empty_victim_takes_nothing() -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    assert runqsteal(thief, victim, True) is None
    assert thief.steals == 0
    assert thief.stolen == 0


def test_steal_leaves_runnext_alone_when_the_ring_has_work() -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    a, r = make_gs(2)
    runqput(sched, victim, a, False)
    runqput(sched, victim, r, True)
    assert runqsteal(thief, victim, True) is a
    assert victim.runnext is r, "runnext is only a last resort, even on the last round"


def test_steal_takes_runnext_only_when_allowed_and_the_ring_is_empty() -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    r = G(1)
    runqput(sched, victim, r, True)

    assert runqsteal(thief, victim, False) is None
    assert victim.runnext is r

    assert runqsteal(thief, victim, True) is r
    assert victim.runnext is None
    assert thief.steals == 1
    assert thief.stolen == 1
    assert not thief.runq


def test_steal_never_overfills_the_thief() -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    fill(sched, thief, make_gs(LOCAL_QUEUE_CAP - 3))
    vgs = make_gs(100, start=1000)
    fill(sched, victim, vgs)

    g = runqsteal(thief, victim, False)
    # Room for 3 on the thief's ring plus the one it runs: 4 instead of 50.
    assert g is vgs[3]
    assert len(thief.runq) == LOCAL_QUEUE_CAP
    assert list(thief.runq)[-3:] == vgs[:3]
    assert list(victim.runq) == vgs[4:]
    assert thief.stolen == 4


@FAST
@given(
    n=st.integers(0, LOCAL_QUEUE_CAP),
    victim_has_runnext=st.booleans(),
    steal_runnext=st.booleans(),
)
def test_steal_takes_exactly_ceil_half_and_preserves_order_of_stolen_and_remaining(
    n: int, victim_has_runnext: bool, steal_runnext: bool
) -> None:
    sched = Sched(2)
    thief, victim = sched.ps
    gs = make_gs(n)
    fill(sched, victim, gs)
    r = G(-1)
    if victim_has_runnext:
        runqput(sched, victim, r, True)

    g = runqsteal(thief, victim, steal_runnext)

    if n == 0:
        if victim_has_runnext and steal_runnext:
            assert g is r
            assert victim.runnext is None
        else:
            assert g is None
            assert victim.runnext is (r if victim_has_runnext else None)
        assert not thief.runq
        return

    taken = -(-n // 2)
    assert g is not None
    stolen = [*thief.runq, g]
    assert len(stolen) == taken
    assert stolen == gs[:taken], "stolen Gs keep their relative order"
    assert list(victim.runq) == gs[taken:], "remaining Gs keep their relative order"
    assert victim.runnext is (r if victim_has_runnext else None)
    assert thief.stolen == taken
