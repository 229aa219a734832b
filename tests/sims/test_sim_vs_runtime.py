"""The simulator against the threaded runtime on workloads both can run.

Gs that block in ``time.sleep`` need no CPU, so real timings do not depend on the GIL or
on how busy this machine is, only on sleep overshoot and thread wake-ups. The simulator
runs the same shapes as ``blocking_callable`` Gs on gmp's core with the default costs.

Stated tolerances: the real makespan is at least 95% and at most 150% of the simulated
one (real sleeps overshoot by ~0.1 ms each, and threads wake slower than the cost
model's 5 us); each P's share of the Gs run is within 10 points of the simulated share;
the number of handoffs differs by at most 10% of the Gs.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator

import pytest

import gmp
from sims import Metrics, SimConfig, simulate
from sims.g import SimG, blocking_callable, join, program, spawn

pytestmark = [pytest.mark.threaded, pytest.mark.usefixtures("frozen_heap")]


def _sim(
    procs: int, n: int, d: float, handoff_after: float, from_a_g: bool, off_cpu: bool = True
) -> Metrics:
    class W:
        def arrivals(self, rng: random.Random, p: int) -> Iterator[tuple[float, SimG]]:
            if from_a_g:
                yield 0.0, program([spawn([blocking_callable(d) for _ in range(n)]), join()])
            else:
                for _ in range(n):
                    yield 0.0, blocking_callable(d)

        def expected_gs(self, p: int) -> int:
            return n + from_a_g

    cfg = SimConfig(procs=procs, seed=1, handoff_after=handoff_after, off_cpu_handoff=off_cpu)
    return simulate(W(), "gmp", cfg).metrics


def _real(
    procs: int, n: int, d: float, handoff_after: float, from_a_g: bool, off_cpu: bool = True
) -> tuple[float, gmp.RuntimeStats]:
    async def main() -> None:
        hs = [gmp.go(time.sleep, d) for _ in range(n)]
        for h in hs:
            await h.join()

    with gmp.Runtime(
        procs=procs, handoff_after=handoff_after, off_cpu_handoff=off_cpu, seed=1
    ) as rt:
        t0 = time.perf_counter()
        if from_a_g:
            rt.go(main).result(timeout=60)
        else:
            for h in [rt.go(time.sleep, d) for _ in range(n)]:
                h.result(timeout=60)
        makespan = time.perf_counter() - t0
        stats = rt.stats()
    return makespan, stats


@pytest.mark.parametrize(
    ("procs", "n", "d", "from_a_g"),
    [(2, 200, 0.002, False), (4, 200, 0.002, False), (2, 200, 0.002, True), (4, 200, 0.002, True)],
    ids=["2P-outside", "4P-outside", "2P-one-spawner", "4P-one-spawner"],
)
def test_makespan_and_per_p_distribution_agree(
    procs: int, n: int, d: float, from_a_g: bool
) -> None:
    # handoff_after far above the call length and no off-CPU handoff: no handoff in
    # either, Ps run Gs in turn.
    sim = _sim(procs, n, d, 0.5, from_a_g, off_cpu=False)
    real_makespan, st = _real(procs, n, d, 0.5, from_a_g, off_cpu=False)
    assert 0.95 * sim.makespan <= real_makespan <= 1.5 * sim.makespan, (
        real_makespan,
        sim.makespan,
    )
    real_runs = [p.runs for p in st.procs]
    sim_share = [r / sum(sim.per_p_runs) for r in sim.per_p_runs]
    real_share = [r / sum(real_runs) for r in real_runs]
    for s, r in zip(sorted(sim_share), sorted(real_share), strict=True):
        assert abs(s - r) <= 0.10, (sim.per_p_runs, real_runs)


@pytest.mark.parametrize("procs", [1, 2])
def test_handoff_agrees(procs: int) -> None:
    """Gs blocking 20 ms with a 3 ms handoff: each call costs its P ~3-4 ms, not 20."""
    n, d = 20 * procs, 0.02
    sim = _sim(procs, n, d, 0.003, True)
    real_makespan, st = _real(procs, n, d, 0.003, True)
    assert abs(st.handoffs - sim.handoffs) <= 0.1 * n, (st.handoffs, sim.handoffs)
    assert 0.95 * sim.makespan <= real_makespan <= 1.5 * sim.makespan, (
        real_makespan,
        sim.makespan,
    )
    # Without handoff the same work would take n * d / procs.
    assert sim.makespan < 0.3 * n * d / procs


# -- time slices: a G behind a token-passing pair -------------------------------------------


@pytest.mark.parametrize("timeslice", [0.010, 0.030])
def test_a_g_behind_a_token_pair_waits_as_long_in_the_runtime_as_simulated(
    timeslice: float,
) -> None:
    """The wait is one slice plus the lag in noticing it (the M's own look at its safe
    points, gmp._core.preempt.safe_point_look, or sysmon's); the simulator computes it
    with the core's own slice and placement rules (sims.token_pass). Tolerance: the
    runtime's median within 10% of the simulated one."""
    from sims.token_pass import runtime_waits, simulated_waits

    sim = statistics.median(simulated_waits(timeslice, rounds=15))
    real = statistics.median(runtime_waits(timeslice, rounds=15))
    assert timeslice <= sim <= 3 * timeslice, sim
    assert 0.9 <= real / sim <= 1.1, (
        f"runtime {real * 1000:.2f} ms vs simulated {sim * 1000:.2f} ms"
    )
