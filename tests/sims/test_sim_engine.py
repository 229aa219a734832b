"""The simulator as a driver of gmp's core: determinism, completeness, M/P mechanics."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from gmp._core import P, Sched
from gmp._core.g import DEAD
from sims import (
    POLICIES,
    BlockingMix,
    Bursts,
    CostModel,
    ForkJoin,
    GoschedLoop,
    Poisson,
    SimConfig,
    SimulationError,
    Simulator,
    Skew,
    make_policy,
    simulate,
)
from sims.g import SimG, block, blocking_callable, program, run, sleep, spawn

WORKLOADS: list[Any] = [
    Poisson(3000, load=0.8),
    Skew(2000, batch=16, load=0.8),
    Skew(600, batch=600, load=0.0),  # one burst of 600 on one P: spills past 256
    ForkJoin(7, 2, split=1e-5, combine=1e-5),
    BlockingMix(1500, load=0.6, block_fraction=0.3),
    Bursts(3, 400, 0.05),
    GoschedLoop(60, 8),
]


def _tracking(policy_name: str, seen: list[SimG]) -> Any:
    """A policy instance that also records every G handed to it when it enters."""
    pol = make_policy(policy_name)
    inject, spawn_ = pol.inject, pol.spawn

    def tracked_inject(g: SimG) -> P | None:
        if g.start < 0:
            seen.append(g)
        return inject(g)

    def tracked_spawn(g: SimG, p: P) -> P | None:
        seen.append(g)
        return spawn_(g, p)

    pol.inject = tracked_inject  # type: ignore[method-assign]
    pol.spawn = tracked_spawn  # type: ignore[method-assign]
    return pol


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: type(w).__name__)
def test_every_g_completes_exactly_once(policy: str, workload: Any) -> None:
    seen: list[SimG] = []
    sim = Simulator(workload, SimConfig(procs=4, seed=3), _tracking(policy, seen))
    m = sim.run().metrics
    assert m.gs == workload.expected_gs(4) == len(seen)
    assert all(g.status is DEAD for g in seen)
    assert sorted(g.id for g in seen) == list(range(1, len(seen) + 1))
    assert sim.gs_alive == 0 and sim.runnable == 0
    assert sum(m.per_p_busy) == pytest.approx(sum(g.cpu for g in seen))


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_seed_determines_the_run(policy: str) -> None:
    wl = BlockingMix(2000, load=0.8, block_fraction=0.2)

    def once(seed: int) -> tuple[Any, ...]:
        r = simulate(wl, policy, SimConfig(procs=4, seed=seed))
        m = r.metrics
        return (tuple(r.latency), tuple(r.wait), m.per_p_runs, m.per_p_steals, m.handoffs)

    assert once(7) == once(7)
    assert once(7) != once(8)


def test_policies_see_the_same_arrivals_for_a_seed() -> None:
    """Common random numbers: the workload stream does not depend on the policy."""
    wl = Poisson(500, load=0.7)
    arrivals: dict[str, list[tuple[float, float]]] = {}
    for pol in ("gmp", "random"):
        sim = Simulator(wl, SimConfig(procs=4, seed=11), pol)
        arrivals[pol] = [(t, g.service) for t, g in wl.arrivals(sim.wl_rng, 4)]
    assert arrivals["gmp"] == arrivals["random"]


def test_the_gmp_policy_is_the_core() -> None:
    """Ps are core Ps in a core Sched, and the core's counters move."""
    sim = Simulator(Skew(3000, batch=64, load=0.9), SimConfig(procs=4, seed=1), "gmp")
    m = sim.run().metrics
    assert isinstance(sim.sched, Sched)
    assert all(type(p) is P for p in sim.sched.ps)
    assert m.steals == sum(p.steals for p in sim.sched.ps) > 0
    assert sum(p.runs for p in sim.sched.ps) == sum(m.per_p_runs)


def test_skipping_futile_searches_changes_no_decision_of_the_global_policy() -> None:
    """The global policy draws no random numbers: the skip must not change a thing."""
    wl = Poisson(3000, load=0.6)
    a = simulate(wl, "global", SimConfig(procs=8, seed=2, skip_futile_search=True))
    b = simulate(wl, "global", SimConfig(procs=8, seed=2, skip_futile_search=False))
    assert tuple(a.latency) == tuple(b.latency)
    assert a.metrics.overhead == pytest.approx(b.metrics.overhead)


def test_skipping_futile_searches_keeps_gmp_statistically_the_same() -> None:
    wl = Poisson(20000, load=0.7)
    a = simulate(wl, "gmp", SimConfig(procs=8, seed=2, skip_futile_search=True)).metrics
    b = simulate(wl, "gmp", SimConfig(procs=8, seed=2, skip_futile_search=False)).metrics
    assert a.makespan == pytest.approx(b.makespan, rel=0.01)
    assert a.latency_mean == pytest.approx(b.latency_mean, rel=0.05)


def _one_blocker_and_queue(handoff: bool, off_cpu_handoff: bool = True) -> Any:
    """A G that blocks 20 ms on the only P, with 10 Gs of 1 ms queued behind it."""

    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            kids = [SimG(1e-3) for _ in range(10)]
            yield 0.0, program([spawn(kids), block(20e-3)])

        def expected_gs(self, procs: int) -> int:
            return 11

    return simulate(
        W(), "gmp", SimConfig(procs=1, seed=0, handoff=handoff, off_cpu_handoff=off_cpu_handoff)
    )


def test_handoff_lets_the_p_run_its_queue_while_a_g_blocks() -> None:
    with_ho = _one_blocker_and_queue(True).metrics
    without = _one_blocker_and_queue(False).metrics
    assert with_ho.handoffs == 1 and without.handoffs == 0
    assert with_ho.threads == 2 and without.threads == 1
    # With handoff the 10 ms of queued work overlaps the 20 ms call.
    assert with_ho.makespan == pytest.approx(0.020, abs=5e-4)
    assert without.makespan == pytest.approx(0.030, abs=5e-4)
    # The call starts just after 0; sysmon first sees it at its 1 ms tick. With thread
    # clocks the next tick (2 ms) finds the thread off the CPU for a whole tick and
    # hands the P off (gmp._core.preempt.stuck); without them, the first tick after the
    # call has been seen for handoff_after (3 ms), at 4 ms.
    first_child = sorted(_one_blocker_and_queue(True).wait)[1]
    assert 0.002 < first_child < 0.002 + 1e-4
    first_child = sorted(_one_blocker_and_queue(True, off_cpu_handoff=False).wait)[1]
    assert 0.004 < first_child < 0.004 + 1e-4


def test_the_blocked_m_gets_a_p_back_when_its_call_returns() -> None:
    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            kids = [SimG(10e-3) for _ in range(3)]
            yield 0.0, program([spawn(kids), block(5e-3), run(1e-3)])

        def expected_gs(self, procs: int) -> int:
            return 4

    r = simulate(W(), "gmp", SimConfig(procs=1, seed=0, cost=CostModel.zero()))
    # The spawner's P was handed off at 1 ms (sysmon's second look found the call off
    # the CPU) to run the kids; at 5 ms the call returns, no P is idle, so the spawner
    # is queued globally and runs after the kids.
    assert r.metrics.handoffs == 1
    assert r.metrics.makespan == pytest.approx(0.001 + 0.030 + 0.001)


def test_sleepers_wake_on_core_timers() -> None:
    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            for i in range(5):
                yield 0.0, program([sleep(0.01 * (5 - i)), run(1e-3)])

        def expected_gs(self, procs: int) -> int:
            return 5

    r = simulate(W(), "gmp", SimConfig(procs=2, seed=0, cost=CostModel.zero()))
    assert sorted(r.latency) == pytest.approx([0.011, 0.021, 0.031, 0.041, 0.051])


def test_bad_inputs_are_reported_clearly() -> None:
    with pytest.raises(ValueError, match="unknown policy 'fifo'"):
        simulate(Poisson(10), "fifo")
    with pytest.raises(ValueError, match="procs must be a positive int"):
        SimConfig(procs=0)
    with pytest.raises(ValueError, match="max_threads"):
        SimConfig(procs=8, max_threads=4)
    with pytest.raises(ValueError, match="non-negative"):
        CostModel(wake=-1.0)

    class Backwards:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            yield 1.0, SimG(1e-3)
            yield 0.5, SimG(1e-3)

        def expected_gs(self, procs: int) -> int:
            return 2

    with pytest.raises(SimulationError, match="back in time"):
        simulate(Backwards())
    sim = Simulator(Poisson(10))
    sim.run()
    with pytest.raises(RuntimeError, match="runs once"):
        sim.run()


def test_a_g_that_can_never_finish_is_reported() -> None:
    class Orphan:
        """Joins a child that is never spawned... by spawning none and joining a fake."""

        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            g = program([run(1e-3), (5, None)])  # JOIN
            g.pending = 1  # waits for a child that does not exist
            yield 0.0, g

        def expected_gs(self, procs: int) -> int:
            return 1

    with pytest.raises(SimulationError, match="never finished"):
        simulate(Orphan())


def test_progress_counts_every_g() -> None:
    calls: list[int] = []
    simulate(Poisson(5000), "gmp", SimConfig(procs=4), progress=calls.append)
    assert sum(calls) == 5000 and len(calls) >= 1


@pytest.mark.parametrize(("callable_g", "latency"), [(True, 0.010), (False, 0.051)])
def test_a_plain_callable_ends_without_a_p_a_coroutine_syscall_waits_for_one(
    callable_g: bool, latency: float
) -> None:
    """One P: a 10 ms blocking G and a 50 ms CPU G; the P goes to the CPU G at 1 ms
    (sysmon's second look finds the call off the CPU).

    When the call returns no P is free. A plain callable (``rt.go(time.sleep, ...)``)
    is done anyway (the runtime's ``_run_callable``); a coroutine after ``gmp.syscall``
    must run again, so it is queued globally and waits for the CPU G (exitsyscall0).
    """

    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            yield 0.0, blocking_callable(0.010) if callable_g else program([block(0.010)])
            yield 0.0, SimG(0.050)

        def expected_gs(self, procs: int) -> int:
            return 2

    r = simulate(W(), "gmp", SimConfig(procs=1, cost=CostModel.zero()))
    assert r.metrics.handoffs == 1
    assert r.latency[0] == pytest.approx(latency)
