"""The placement and wake-up rules of gmp._core.place and gmp._core.idle.

Laws: each placement puts the G where Go does (newproc and goready: runnext, kicking the
old occupant to the local tail; gosched and gopreempt: the global tail; wake_joiners: the
local tail; requeue and placements without a P: global), and every one of them answers
"wake an M?" exactly as needs_wakep does for the state it leaves, but one: goready of a G
that lands alone in a running P's runnext answers no, and deferred_wake_due then answers
yes exactly while that G waits there, the P has not switched Gs since the look that read
its runtick, and needs_wakep holds.
"""

from __future__ import annotations

import itertools

import pytest

from gmp._core.g import G, GStatus
from gmp._core.idle import (
    deferred_wake_due,
    needs_wakep,
    resetspinning,
    spinning_started,
    spinning_stopped,
)
from gmp._core.p import PStatus
from gmp._core.place import (
    gopreempt,
    goready,
    gosched,
    newproc,
    preempt_due,
    requeue,
    wake_joiners,
    yield_local,
)
from gmp._core.runq import LOCAL_QUEUE_CAP, runqput
from gmp._core.sched import Sched, pidleget


def _sched(idle: bool, spinning: int) -> Sched:
    s = Sched(2)
    if not idle:
        while pidleget(s) is not None:
            pass
    for _ in range(spinning):
        spinning_started(s)
    return s


STATES = list(itertools.product([True, False], [0, 1]))


@pytest.mark.parametrize(("idle", "spinning"), STATES)
def test_every_placement_answers_the_wake_question_as_needs_wakep(
    idle: bool, spinning: int
) -> None:
    for place in ("newproc", "goready", "gosched", "gopreempt", "wake_joiners", "requeue"):
        s = _sched(idle, spinning)
        p = s.ps[0]
        g = G(1)
        if place == "newproc":
            wake = newproc(s, p, g)
        elif place == "goready":
            wake = goready(s, p, g)
        elif place == "gosched":
            wake = gosched(s, g)
        elif place == "gopreempt":
            wake = gopreempt(s, p, g)
        elif place == "wake_joiners":
            wake = wake_joiners(s, p, [g])
        else:
            wake = requeue(s, g)
        assert wake == needs_wakep(s), place
        assert g.status is GStatus.RUNNABLE


def test_placements_put_gs_where_go_does() -> None:
    s = Sched(1)
    p = s.ps[0]
    a, b, c, d, e = (G(i) for i in range(5))
    newproc(s, p, a)
    goready(s, p, b)  # kicks a to the local tail
    assert p.runnext is b and list(p.runq) == [a]
    wake_joiners(s, p, [c])
    assert list(p.runq) == [a, c]
    gosched(s, d)
    p.preempt = True
    assert preempt_due(p)
    gopreempt(s, p, e)
    assert list(s.runq) == [d, e]
    assert not p.preempt and p.preemptions == 1
    f, h = G(6), G(7)
    newproc(s, None, f)
    yield_local(s, None, h)
    assert list(s.runq) == [d, e, f, h]
    k = G(8)
    assert yield_local(s, p, k) is False
    assert list(p.runq) == [a, c, k]


@pytest.mark.parametrize("queued", [0, 5, LOCAL_QUEUE_CAP - 1, LOCAL_QUEUE_CAP])
def test_yield_local_places_as_runqput_at_the_local_tail(queued: int) -> None:
    # yield_local writes runqput(next=False) out: a full local queue spills half of
    # itself and the yielding G to the global queue, as runqput's does.
    twins = []
    for place in (yield_local, lambda s, p, g: runqput(s, p, g, False)):
        s = Sched(1)
        p = s.ps[0]
        for i in range(queued):
            p.runq.append(G(i))
        g = G(1000)
        place(s, p, g)
        assert g.status is GStatus.RUNNABLE
        twins.append(([x.id for x in p.runq], [x.id for x in s.runq], s.spills))
    assert twins[0] == twins[1]
    if queued == LOCAL_QUEUE_CAP:
        assert twins[0][1][-1] == 1000  # spilled behind half of the local queue


def test_resetspinning_wakes_another_m_only_for_queued_work() -> None:
    s = Sched(2)
    spinning_started(s)
    assert resetspinning(s) is False  # nothing queued
    spinning_started(s)
    requeue(s, G(1))
    assert resetspinning(s) is True
    with pytest.raises(AssertionError, match="no M was spinning"):
        spinning_stopped(s)


# -- goready's deferred wake-up --------------------------------------------------------


def test_goready_of_a_lone_g_into_a_running_ps_runnext_wakes_no_m() -> None:
    s = _sched(True, 0)
    p = s.ps[0]
    p.status = PStatus.RUNNING
    g = G(1)
    assert needs_wakep(s)
    assert goready(s, p, g) is False
    assert p.runnext is g and not p.runq and g.status is GStatus.RUNNABLE


@pytest.mark.parametrize("case", ["kicks", "queued", "syscall", "idle", "outside"])
def test_goready_wakes_an_m_as_needs_wakep_when_the_g_is_not_alone_or_the_p_not_running(
    case: str,
) -> None:
    s = _sched(True, 0)
    p = s.ps[0]
    p.status = PStatus.RUNNING
    a, g = G(1), G(2)
    if case == "kicks":
        p.runnext = a
    elif case == "queued":
        p.runq.append(a)
    elif case == "syscall":
        p.status = PStatus.SYSCALL
    elif case == "idle":
        p.status = PStatus.IDLE
    wake = goready(s, None if case == "outside" else p, g)
    assert wake is True and wake == needs_wakep(s)
    if case == "outside":
        assert list(s.runq) == [g]
    else:
        assert p.runnext is g
        assert list(p.runq) == ([a] if case in ("kicks", "queued") else [])


@pytest.mark.parametrize(("idle", "spinning"), STATES)
def test_deferred_wake_is_due_while_the_g_waits_and_the_step_goes_on(
    idle: bool, spinning: int
) -> None:
    s = _sched(idle, spinning)
    p = s.ps[0]
    p.status = PStatus.RUNNING
    g = G(1)
    goready(s, p, g)
    seen = p.runtick
    assert deferred_wake_due(s, p, seen) is needs_wakep(s)
    p.runtick += 1  # the P switched Gs since: its M ran the G, or will
    assert not deferred_wake_due(s, p, seen)
    p.runtick -= 1
    p.runnext = None  # taken (by its M or a thief)
    assert not deferred_wake_due(s, p, seen)
    p.runnext = g
    p.status = PStatus.SYSCALL  # handed off by the syscall rule instead
    assert not deferred_wake_due(s, p, seen)
