"""Each rival policy does what its name says, on inputs small enough to reason about."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from gmp._core import Sched
from sims import Constant, CostModel, GoschedLoop, SimConfig, Skew, simulate
from sims.g import SimG
from sims.policies import (
    GlobalFifoPolicy,
    GmpPolicy,
    PowerOfTwoPolicy,
    TokioPolicy,
    make_policy,
)
from sims.workloads import Bursts, Poisson


def _bound(policy: object, procs: int = 4) -> object:
    policy.bind(Sched(procs, random.Random(1)), CostModel())  # type: ignore[attr-defined]
    return policy


def test_global_fifo_serves_in_arrival_order() -> None:
    r = simulate(
        Bursts(1, 50, 1.0, Constant(1e-3)), "global", SimConfig(procs=1, cost=CostModel.zero())
    )
    assert list(r.wait) == pytest.approx([i * 1e-3 for i in range(50)])


def test_gmp_spawn_takes_runnext_and_displaces_to_the_tail() -> None:
    pol = _bound(GmpPolicy())
    assert isinstance(pol, GmpPolicy)
    p = pol.sched.ps[0]
    a, b = SimG(1.0), SimG(1.0)
    pol.spawn(a, p)
    pol.spawn(b, p)
    assert p.runnext is b and list(p.runq) == [a]
    assert pol.find(p, 0.0) is b  # runnext first (Go's runqget)
    assert pol.last_cost == pol.cost.runq_op


def test_skew_stays_on_one_p_without_stealing_and_spreads_with_it() -> None:
    wl = Skew(4000, batch=64, load=0.8)
    perp = simulate(wl, "perp", SimConfig(procs=4, seed=1)).metrics
    assert sum(1 for b in perp.per_p_busy if b > 0) == 1
    assert perp.jain_ps == pytest.approx(0.25)
    for pol in ("gmp", "tokio", "global", "random", "p2c"):
        m = simulate(wl, pol, SimConfig(procs=4, seed=1)).metrics
        assert m.jain_ps > 0.95, (pol, m.per_p_busy)


def test_power_of_two_picks_the_less_loaded_p() -> None:
    pol = _bound(PowerOfTwoPolicy(), procs=2)
    assert isinstance(pol, PowerOfTwoPolicy)
    ps = pol.sched.ps
    for _ in range(5):
        pol._put(SimG(1.0), ps[0])
    for _ in range(20):
        assert pol.place(SimG(1.0), None) is ps[1]


def test_power_of_two_beats_random_placement_on_latency() -> None:
    wl = Poisson(20000, load=0.85)
    rnd = simulate(wl, "random", SimConfig(procs=8, seed=4)).metrics
    p2c = simulate(wl, "p2c", SimConfig(procs=8, seed=4)).metrics
    assert p2c.latency_p99 < rnd.latency_p99 / 1.5


def test_tokio_lifo_slot_runs_newest_but_yields_after_three() -> None:
    pol = _bound(TokioPolicy(global_queue_interval=1000))
    assert isinstance(pol, TokioPolicy)
    p = pol.sched.ps[0]
    first = SimG(1.0)
    pol.local[0].append(first)
    order = []
    for _ in range(5):
        g = SimG(1.0)
        pol.spawn(g, p)  # like a task waking its successor each time it runs
        got = pol.find(p, 0.0)
        order.append(got is g)
    # Three LIFO polls in a row, then the local queue's head gets its turn.
    assert order[:3] == [True, True, True]
    assert order[3] is False


def test_tokio_lifo_slot_is_not_stolen() -> None:
    pol = _bound(TokioPolicy())
    assert isinstance(pol, TokioPolicy)
    victim, thief = pol.sched.ps[0], pol.sched.ps[1]
    pol.spawn(SimG(1.0), victim)
    assert pol.find(thief, 0.0) is None
    pol.spawn(SimG(1.0), victim)  # the first moves to the local queue: stealable now
    assert pol.find(thief, 0.0) is not None
    assert pol.steals()[1] == 1


def test_global_policy_has_no_steals_and_no_rng_use() -> None:
    pol = _bound(GlobalFifoPolicy())
    assert isinstance(pol, GlobalFifoPolicy)
    state = pol.rng.getstate()
    for _ in range(10):
        pol.inject(SimG(1.0))
    while pol.find(pol.sched.ps[0], 0.0) is not None:
        pass
    assert pol.rng.getstate() == state
    assert pol.steals() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("policy", "floor"),
    # gmp's gosched goes to the global queue, which mixes the Gs of every P; tokio's
    # yield_now stays on the worker's local queue, so the split of the first batch
    # between workers (21 and 19 Gs here) shows in the Gs' shares.
    [("gmp", 0.99), ("global", 0.99), ("perp", 0.99), ("p2c", 0.99), ("tokio", 0.95)],
)
def test_gosched_round_robin_is_fair(policy: str, floor: float) -> None:
    m = simulate(GoschedLoop(40, 20, Constant(1e-4)), policy, SimConfig(procs=2, seed=1)).metrics
    assert m.jain_gs > floor


def test_make_policy_gives_fresh_instances() -> None:
    assert make_policy("gmp") is not make_policy("gmp")


def test_rival_sleep_uses_the_simulator_timer() -> None:
    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            from sims.g import program, run, sleep

            yield 0.0, program([sleep(0.01), run(1e-3)])

        def expected_gs(self, procs: int) -> int:
            return 1

    for pol in ("global", "perp", "random", "p2c", "tokio"):
        r = simulate(W(), pol, SimConfig(procs=2, cost=CostModel.zero()))
        assert list(r.latency) == pytest.approx([0.011]), pol
