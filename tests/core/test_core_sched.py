"""Scheduler-wide state and find_runnable's order (Go's schedt, findRunnable, proc.go)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gmp._core import (
    GLOBAL_CHECK_INTERVAL,
    LOCAL_QUEUE_CAP,
    STEAL_TRIES,
    G,
    GStatus,
    P,
    PStatus,
    Sched,
    find_runnable,
    globrunqget,
    globrunqput,
    has_work,
    pidleget,
    pidleput,
    random_order,
    runqempty,
    runqput,
)

FAST = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def make_gs(n: int, start: int = 0) -> list[G]:
    return [G(i) for i in range(start, start + n)]


def fill(sched: Sched, p: P, gs: list[G]) -> None:
    for g in gs:
        runqput(sched, p, g, False)


def sleeping(gid: int) -> G:
    g = G(gid)
    g.status = GStatus.WAITING
    return g


# -- Sched construction -------------------------------------------------------------------


def test_sched_builds_procs_idle_ps_with_ids_in_order() -> None:
    sched = Sched(3, random.Random(1))
    assert sched.procs == 3
    assert [p.id for p in sched.ps] == [0, 1, 2]
    assert all(p.status is PStatus.IDLE and runqempty(p) for p in sched.ps)
    assert not sched.runq
    assert sched.spills == 0
    assert sched.fired == []


def test_sched_rejects_zero_procs_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"procs must be at least 1, got 0"):
        Sched(0)


def test_sched_rejects_negative_procs() -> None:
    with pytest.raises(ValueError, match=r"at least 1, got -2"):
        Sched(-2)


@pytest.mark.parametrize(("procs", "type_name"), [("2", "str"), (2.0, "float"), (True, "bool")])
def test_sched_rejects_non_int_procs_with_a_clear_error(procs: object, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"procs must be an int, got {type_name}"):
        Sched(procs)  # type: ignore[arg-type]


def test_sched_uses_the_injected_rng() -> None:
    rng = random.Random(7)
    assert Sched(2, rng).rng is rng


# -- idle P list ---------------------------------------------------------------------------


def test_pidleget_hands_out_ps_lowest_id_first_then_none() -> None:
    sched = Sched(3)
    assert [pidleget(sched) for _ in range(4)] == [*sched.ps, None]


def test_pidleput_returns_the_p_idle_and_ownerless_and_pidleget_reuses_it_first() -> None:
    sched = Sched(3)
    p = pidleget(sched)
    assert p is not None
    p.status = PStatus.RUNNING
    p.m = object()
    pidleput(sched, p)
    assert p.status is PStatus.IDLE
    assert p.m is None
    assert pidleget(sched) is p, "the most recently idled P is handed out first"


@pytest.mark.parametrize("where", ["runnext", "ring"])
def test_pidleput_refuses_a_p_that_still_has_local_work(where: str) -> None:
    sched = Sched(1)
    p = pidleget(sched)
    assert p is not None
    runqput(sched, p, G(1), where == "runnext")
    with pytest.raises(AssertionError, match="still has work"):
        pidleput(sched, p)
    assert sched.idle == []


def test_has_work_sees_runnext_ring_timers_and_the_global_queue() -> None:
    sched = Sched(2)
    p, other = sched.ps
    assert not has_work(sched, p)
    runqput(sched, other, G(1), False)
    assert not has_work(sched, p), "another P's queue is not this P's work"

    runqput(sched, p, G(2), True)
    assert has_work(sched, p)
    p.runnext = None

    runqput(sched, p, G(3), False)
    assert has_work(sched, p)
    p.runq.clear()

    p.timers.add(10.0, "deadline")
    assert has_work(sched, p)
    p.timers.drain()

    globrunqput(sched, G(4))
    assert has_work(sched, p)


# -- global queue --------------------------------------------------------------------------


def test_globrunqput_appends_at_the_tail_and_marks_runnable() -> None:
    sched = Sched(1)
    a, b = make_gs(2)
    a.status = GStatus.RUNNING
    globrunqput(sched, a)
    globrunqput(sched, b)
    assert list(sched.runq) == [a, b]
    assert a.status is GStatus.RUNNABLE


def test_globrunqget_from_an_empty_queue_returns_none() -> None:
    sched = Sched(2)
    assert globrunqget(sched, sched.ps[0], 0) is None


@pytest.mark.parametrize(
    ("procs", "size", "max_", "taken"),
    [
        (1, 5, 0, 5),  # len/1 + 1 capped by len
        (2, 10, 0, 6),  # len/procs + 1
        (4, 20, 0, 6),
        (8, 3, 0, 1),
        (4, 20, 3, 3),  # capped by max
        (3, 7, 1, 1),  # the fairness check takes exactly one
        (1, 300, 0, 128),  # capped by half a local queue
        (4, 1000, 0, 128),
        (4, 1000, 200, 128),
    ],
)
def test_globrunqget_takes_a_fair_share_capped_by_max_and_half_a_local_queue(
    procs: int, size: int, max_: int, taken: int
) -> None:
    sched = Sched(procs)
    p = sched.ps[0]
    gs = make_gs(size)
    for g in gs:
        globrunqput(sched, g)

    got = globrunqget(sched, p, max_)

    assert got is gs[0], "the oldest global G runs"
    assert list(p.runq) == gs[1:taken], "the rest of the share lands on the local queue in order"
    assert list(sched.runq) == gs[taken:]
    assert len(p.runq) <= LOCAL_QUEUE_CAP // 2


# -- find_runnable: ticks and status -------------------------------------------------------


def test_find_runnable_on_a_ring_g_sets_running_and_advances_every_tick() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    (g,) = make_gs(1)
    fill(sched, p, [g])
    assert find_runnable(sched, p, None) == (g, False)
    assert g.status is GStatus.RUNNING
    assert (p.schedtick, p.runtick, p.runs) == (2, 1, 1)


def test_find_runnable_on_runnext_inherits_so_schedtick_stays() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    (g,) = make_gs(1)
    runqput(sched, p, g, True)
    assert find_runnable(sched, p, None) == (g, True)
    assert g.status is GStatus.RUNNING
    assert p.schedtick == 1, "a runnext G inherits the time slice"
    assert (p.runtick, p.runs) == (1, 1), "runtick still moves: sysmon sees a sign of life"


def test_find_runnable_with_no_work_anywhere_returns_none_and_leaves_ticks() -> None:
    sched = Sched(4, random.Random(3))
    p = sched.ps[0]
    assert find_runnable(sched, p, 0.0) == (None, False)
    assert (p.schedtick, p.runtick, p.runs) == (0, 0, 0)


def test_find_runnable_prefers_local_over_global_between_fairness_ticks() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    local, glob = G(1), G(2)
    fill(sched, p, [local])
    globrunqput(sched, glob)
    assert find_runnable(sched, p, None) == (local, False)
    assert find_runnable(sched, p, None) == (glob, False)


def test_find_runnable_takes_a_global_batch_when_the_local_queue_is_empty() -> None:
    sched = Sched(2)
    p = sched.ps[0]
    p.schedtick = 1
    gs = make_gs(10)
    for g in gs:
        globrunqput(sched, g)
    assert find_runnable(sched, p, None) == (gs[0], False)
    assert list(p.runq) == gs[1:6], "share is 10/2 + 1 = 6"
    assert list(sched.runq) == gs[6:]


# -- find_runnable: the every-61st-schedtick fairness check ---------------------------------


FAIRNESS_TICKS = [0, 61, 122, 61 * 10]


@pytest.mark.parametrize("schedtick", FAIRNESS_TICKS)
def test_every_61st_schedtick_runs_a_global_g_at_once_when_the_ring_is_empty(
    schedtick: int,
) -> None:
    assert GLOBAL_CHECK_INTERVAL == 61
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = schedtick
    r = G(1)
    runqput(sched, p, r, True)
    x, y = G(10), G(11)
    globrunqput(sched, x)
    globrunqput(sched, y)

    assert find_runnable(sched, p, None) == (x, False), "ahead of runnext, too"
    assert list(sched.runq) == [y], "the fairness check takes exactly one G"
    assert p.runnext is r
    assert p.schedtick == schedtick + 1


@pytest.mark.parametrize("schedtick", FAIRNESS_TICKS)
def test_every_61st_schedtick_moves_a_global_g_behind_a_busy_local_ring(schedtick: int) -> None:
    """gmp departs from Go here: the global G joins the local tail instead of running.

    The local Gs came off the global queue earlier; letting the global head run first
    would let a goscheding G overtake its peers every 61 ticks.
    """
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = schedtick
    a, b = G(1), G(2)
    fill(sched, p, [a, b])
    x, y = G(10), G(11)
    globrunqput(sched, x)
    globrunqput(sched, y)

    assert find_runnable(sched, p, None) == (a, False)
    assert list(p.runq) == [b, x]
    assert list(sched.runq) == [y], "the fairness check takes exactly one G"
    assert p.schedtick == schedtick + 1


@pytest.mark.parametrize("schedtick", FAIRNESS_TICKS)
def test_every_61st_schedtick_runs_a_global_g_at_once_when_the_ring_is_full(
    schedtick: int,
) -> None:
    """Queuing it on a full ring would spill it straight back to the global tail."""
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = schedtick
    gs = make_gs(LOCAL_QUEUE_CAP)
    fill(sched, p, gs)
    x = G(1000)
    globrunqput(sched, x)

    assert find_runnable(sched, p, None) == (x, False)
    assert list(p.runq) == gs
    assert not sched.runq
    assert sched.spills == 0


def test_a_fairness_tick_after_a_runnext_turn_checks_the_global_queue_again() -> None:
    """A runnext G inherits the slice, so schedtick stays on the fairness tick."""
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 61
    a, r = G(1), G(2)
    fill(sched, p, [a])
    runqput(sched, p, r, True)
    x, y = G(10), G(11)
    globrunqput(sched, x)
    globrunqput(sched, y)

    assert find_runnable(sched, p, None) == (r, True)
    assert list(p.runq) == [a, x]
    assert find_runnable(sched, p, None) == (a, False)
    assert list(p.runq) == [x, y]
    assert not sched.runq


@pytest.mark.parametrize("schedtick", [1, 60, 62, 121, 123])
def test_off_the_61st_schedtick_local_work_comes_first(schedtick: int) -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = schedtick
    r = G(2)
    runqput(sched, p, r, True)
    globrunqput(sched, G(10))
    assert find_runnable(sched, p, None) == (r, True)


def test_fairness_tick_with_an_empty_global_queue_falls_through_to_local() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 61
    r = G(1)
    runqput(sched, p, r, True)
    assert find_runnable(sched, p, None) == (r, True)


def test_runnext_ping_pong_never_reaches_the_fairness_tick() -> None:
    """A pair that keeps readying each other into runnext inherits the slice forever.

    schedtick never advances, so the every-61st check never fires on its own; that is
    what sysmon's preempt flag is for (see the preempt tests).
    """
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    a, b = G(1), G(2)
    starving = G(3)
    globrunqput(sched, starving)
    runqput(sched, p, a, True)
    for i in range(200):
        g, inherit = find_runnable(sched, p, None)
        assert inherit
        assert g is (a if i % 2 == 0 else b)
        runqput(sched, p, b if g is a else a, True)
    assert p.schedtick == 1
    assert list(sched.runq) == [starving]


# -- find_runnable: preemption -------------------------------------------------------------


def test_preempt_sends_runnext_to_the_global_tail_and_runs_the_local_head() -> None:
    """The slice ran out while its G parked: the runnext G would inherit a spent slice,
    so it is preempted before it starts (Go preempts it at its first instruction)."""
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 5
    a, b, r = make_gs(3)
    fill(sched, p, [a, b])
    runqput(sched, p, r, True)
    p.preempt = True

    assert find_runnable(sched, p, None) == (a, False)
    assert p.runnext is None
    assert list(p.runq) == [b]
    assert list(sched.runq) == [r]
    assert p.preempt is False, "the flag is consumed"
    assert p.preemptions == 1
    assert p.schedtick == 6


def test_preempt_with_only_a_runnext_g_runs_it_with_a_fresh_slice() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 5
    r = G(1)
    runqput(sched, p, r, True)
    p.preempt = True
    assert find_runnable(sched, p, None) == (r, False)
    assert p.schedtick == 6


def test_preempt_breaks_a_runnext_ping_pong() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    a, b, waiting = make_gs(3)
    fill(sched, p, [waiting])
    runqput(sched, p, a, True)
    assert find_runnable(sched, p, None) == (a, True)
    runqput(sched, p, b, True)
    p.preempt = True
    assert find_runnable(sched, p, None) == (waiting, False)
    assert list(sched.runq) == [b]


def test_preempt_puts_runnext_behind_the_global_gs_that_waited() -> None:
    """A G waiting on the global queue runs before the pair that held the slice."""
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    a, b, starving = make_gs(3)
    globrunqput(sched, starving)
    runqput(sched, p, a, True)
    assert find_runnable(sched, p, None) == (a, True)
    runqput(sched, p, b, True)
    p.preempt = True
    g, inherit = find_runnable(sched, p, None)
    assert (g, inherit) == (starving, False)


def test_preempt_on_a_full_ring_keeps_every_g() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    gs = make_gs(LOCAL_QUEUE_CAP)
    fill(sched, p, gs)
    r = G(1000)
    runqput(sched, p, r, True)
    p.preempt = True
    assert find_runnable(sched, p, None) == (gs[0], False)
    assert list(sched.runq) == [r]
    assert list(p.runq) == gs[1:]
    assert p.runnext is None


# -- find_runnable: timers -----------------------------------------------------------------


def test_find_runnable_fires_due_timers_of_its_own_p() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    g = sleeping(1)
    t = p.timers.add(5.0, g)

    assert find_runnable(sched, p, 4.9) == (None, False)
    assert g.status is GStatus.WAITING
    assert t.pending

    assert find_runnable(sched, p, 5.0) == (g, True), "a woken G is readied into runnext"
    assert g.status is GStatus.RUNNING
    assert not t.pending
    assert not p.timers


def test_a_woken_timer_g_runs_before_the_local_queue() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    a = G(1)
    fill(sched, p, [a])
    w = sleeping(2)
    p.timers.add(1.0, w)
    assert find_runnable(sched, p, 1.0) == (w, True)
    assert list(p.runq) == [a]


def test_several_due_timers_are_readied_in_when_order_last_one_in_runnext() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.schedtick = 1
    w1, w2, w3 = sleeping(1), sleeping(2), sleeping(3)
    p.timers.add(3.0, w3)
    p.timers.add(1.0, w1)
    p.timers.add(2.0, w2)
    assert find_runnable(sched, p, 3.0) == (w3, True)
    assert list(p.runq) == [w1, w2]
    assert all(g.status is GStatus.RUNNABLE for g in p.runq)


def test_non_g_timer_payloads_are_left_on_sched_fired_for_the_driver() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    p.timers.add(1.0, "deadline-a")
    p.timers.add(2.0, "deadline-b")
    p.timers.add(9.0, "later")
    assert find_runnable(sched, p, 2.0) == (None, False)
    assert sched.fired == ["deadline-a", "deadline-b"]
    assert p.timers.live() == 1


def test_find_runnable_without_a_clock_reading_skips_timers() -> None:
    sched = Sched(2, random.Random(0))
    p, victim = sched.ps
    own, theirs = sleeping(1), sleeping(2)
    p.timers.add(0.0, own)
    victim.timers.add(0.0, theirs)
    assert find_runnable(sched, p, None) == (None, False)
    assert p.timers.live() == 1
    assert victim.timers.live() == 1


def test_cancelled_timers_do_not_wake_their_g() -> None:
    sched = Sched(1)
    p = sched.ps[0]
    g = sleeping(1)
    p.timers.add(1.0, g).cancel()
    assert find_runnable(sched, p, 5.0) == (None, False)
    assert g.status is GStatus.WAITING


# -- find_runnable: stealing ---------------------------------------------------------------


def test_find_runnable_steals_half_of_a_busy_victim() -> None:
    sched = Sched(2, random.Random(0))
    p, victim = sched.ps
    p.schedtick = 1
    gs = make_gs(6)
    fill(sched, victim, gs)
    assert find_runnable(sched, p, None) == (gs[2], False)
    assert list(p.runq) == gs[:2]
    assert list(victim.runq) == gs[3:]
    assert gs[2].status is GStatus.RUNNING
    assert (p.steals, p.stolen) == (1, 3)
    assert p.schedtick == 2


def test_a_single_p_never_steals() -> None:
    sched = Sched(1, random.Random(0))
    p = sched.ps[0]
    assert STEAL_TRIES == 4
    assert find_runnable(sched, p, 0.0) == (None, False)
    assert p.steals == 0


@pytest.mark.parametrize("seed", range(12))
def test_runnext_is_stolen_only_as_last_resort(seed: int) -> None:
    sched = Sched(3, random.Random(seed))
    p, holds_runnext, holds_ring = sched.ps
    p.schedtick = 1
    r, a = G(1), G(2)
    runqput(sched, holds_runnext, r, True)
    runqput(sched, holds_ring, a, False)

    assert find_runnable(sched, p, None) == (a, False), "any ring beats any runnext"
    assert holds_runnext.runnext is r

    assert find_runnable(sched, p, None) == (r, False), "the last round takes runnext"
    assert holds_runnext.runnext is None


@pytest.mark.parametrize("seed", range(8))
def test_stealing_fires_a_victims_due_timers_in_the_last_round(seed: int) -> None:
    sched = Sched(3, random.Random(seed))
    p, victim, _other = sched.ps
    w = sleeping(1)
    t = victim.timers.add(1.0, w)
    victim.timers.add(50.0, "not yet")

    assert find_runnable(sched, p, 2.0) == (w, False)
    assert w.status is GStatus.RUNNING
    assert not t.pending
    assert victim.timers.live() == 1
    assert runqempty(victim), "the woken G went to the thief, not back to the victim"
    assert p.steals == 0, "firing timers is not a steal"


def test_stealing_fires_victim_deadline_payloads_for_the_driver() -> None:
    sched = Sched(2, random.Random(0))
    p, victim = sched.ps
    victim.timers.add(1.0, "deadline")
    assert find_runnable(sched, p, 2.0) == (None, False)
    assert sched.fired == ["deadline"]


@pytest.mark.parametrize("seed", range(8))
def test_stealing_takes_a_victims_ring_before_firing_its_timers(seed: int) -> None:
    """Timers of a victim are only fired in the last round; ring work is found earlier."""
    sched = Sched(2, random.Random(seed))
    p, victim = sched.ps
    a = G(1)
    fill(sched, victim, [a])
    w = sleeping(2)
    t = victim.timers.add(0.0, w)
    assert find_runnable(sched, p, 1.0) == (a, False)
    assert t.pending


def test_stealing_victim_timers_not_yet_due_wake_nobody() -> None:
    sched = Sched(2, random.Random(0))
    p, victim = sched.ps
    w = sleeping(1)
    victim.timers.add(10.0, w)
    assert find_runnable(sched, p, 9.0) == (None, False)
    assert w.status is GStatus.WAITING


# -- random_order ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12, 64, 97])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_random_order_visits_each_index_exactly_once(n: int, seed: int) -> None:
    order = list(random_order(random.Random(seed), n))
    assert len(order) == n
    assert sorted(order) == list(range(n))


@pytest.mark.parametrize("n", [0, -3])
def test_random_order_of_nothing_is_empty(n: int) -> None:
    assert list(random_order(random.Random(0), n)) == []


def test_random_order_varies_with_the_rng() -> None:
    orders = {tuple(random_order(random.Random(seed), 7)) for seed in range(100)}
    starts = {order[0] for order in orders}
    assert len(orders) > 10
    assert starts == set(range(7)), "every P gets to be the first victim"


def test_random_order_is_deterministic_for_a_seed() -> None:
    a = list(random_order(random.Random(123), 64))
    b = list(random_order(random.Random(123), 64))
    assert a == b


@FAST
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_random_order_is_always_a_permutation(n: int, seed: int) -> None:
    assert sorted(random_order(random.Random(seed), n)) == list(range(n))
