"""Fork-join trees against the work-stealing bound T_P <= T_1/P + c * T_inf.

T_1 is the total work, T_inf the critical path (both exact: constant times). Any greedy
scheduler meets Brent's bound with c = 1 when scheduling is free; Blumofe and Leiserson's
work stealing meets it with a constant c in expectation. With no overheads gmp's core must
meet c = 1; with the default cost model (wake-ups, thread starts, steals and switches all
cost time) and grains of at least 0.5 ms, c = 2. Measured worst cases over these shapes,
P and seeds: 0.94 and 1.47.
"""

from __future__ import annotations

import pytest

from sims import Constant, CostModel, ForkJoin, SimConfig, simulate

SHAPES = [
    # depth, fanout, leaf, split, combine
    (10, 2, 1e-3, 5e-5, 5e-5),
    (5, 4, 1e-3, 1e-4, 1e-4),
    (6, 3, 5e-4, 0.0, 0.0),
    (2, 16, 1e-3, 5e-5, 5e-5),
]


def test_tree_arithmetic() -> None:
    wl = ForkJoin(3, 2, Constant(1.0), split=0.1, combine=0.2)
    assert wl.nodes() == 15
    assert wl.work() == pytest.approx(8 * 1.0 + 7 * 0.3)
    assert wl.span() == pytest.approx(3 * 0.3 + 1.0)
    assert ForkJoin(4, 1).nodes() == 5


@pytest.mark.parametrize("policy", ["gmp", "tokio"])
@pytest.mark.parametrize("procs", [2, 4, 8, 16])
@pytest.mark.parametrize(
    ("cost", "c"), [(CostModel.zero(), 1.0), (CostModel(), 2.0)], ids=["free", "costed"]
)
def test_work_stealing_bound(policy: str, procs: int, cost: CostModel, c: float) -> None:
    for depth, fanout, leaf, split, combine in SHAPES:
        wl = ForkJoin(depth, fanout, Constant(leaf), split, combine)
        for seed in range(2):
            m = simulate(wl, policy, SimConfig(procs=procs, seed=seed, cost=cost)).metrics
            bound = wl.work() / procs + c * wl.span()
            assert m.gs == wl.nodes()
            assert m.makespan <= bound, (
                f"{policy} P={procs} tree {depth}x{fanout}: T_P={m.makespan:.5f} > "
                f"T_1/P + {c} T_inf = {bound:.5f}"
            )


def test_a_single_p_takes_exactly_the_work() -> None:
    wl = ForkJoin(8, 2, Constant(1e-3), 1e-4, 1e-4)
    m = simulate(wl, "gmp", SimConfig(procs=1, cost=CostModel.zero())).metrics
    assert m.makespan == pytest.approx(wl.work())


def test_stealing_is_what_spreads_a_tree() -> None:
    """Without stealing (perp) a tree spawned on one P stays there; gmp spreads it."""
    wl = ForkJoin(9, 2, Constant(1e-3))
    gmp = simulate(wl, "gmp", SimConfig(procs=8, seed=1)).metrics
    perp = simulate(wl, "perp", SimConfig(procs=8, seed=1)).metrics
    assert gmp.steals > 0
    assert sum(1 for b in perp.per_p_busy if b > 0) == 1
    assert gmp.makespan < perp.makespan / 6
