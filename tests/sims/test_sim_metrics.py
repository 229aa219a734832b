"""Metrics on known inputs: Jain's index, percentiles, utilisation accounting."""

from __future__ import annotations

import math

import pytest

from sims import Constant, CostModel, SimConfig, jain, percentile, simulate
from sims.metrics import Recorder, coarsen
from sims.workloads import Bursts


def test_jain_index_known_values() -> None:
    assert jain([1.0, 1.0, 1.0, 1.0]) == 1.0
    assert jain([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain([1.0, 2.0, 3.0]) == pytest.approx(36.0 / 42.0)
    assert jain([5.0]) == 1.0
    assert jain([]) == 1.0
    assert jain([0.0, 0.0]) == 1.0
    # Scale-free: multiplying every share changes nothing.
    assert jain([2.0, 4.0, 6.0]) == pytest.approx(jain([1.0, 2.0, 3.0]))
    # k of n equally served, the rest starved: k/n.
    assert jain([3.0] * 3 + [0.0] * 7) == pytest.approx(0.3)


def test_percentile_matches_numpy_linear_interpolation() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 5.0
    assert percentile(xs, 50) == 3.0
    assert percentile(xs, 25) == 2.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(xs, 101)


def test_busy_intervals_fill_bins_exactly() -> None:
    rec = Recorder(procs=2, util_bin=1.0)
    rec.busy_interval(0, 0.5, 2.25)
    rec.busy_interval(1, 1.0, 1.5)
    rec.busy_interval(1, 3.0, 3.0)  # empty: ignored
    assert rec.busy == [1.75, 0.5]
    assert rec.bins == pytest.approx([0.5, 1.5, 0.25])
    width, merged = coarsen(rec.bins, 1.0, 2)
    assert width == 2.0 and merged == pytest.approx([2.0, 0.25])


def test_metrics_of_a_hand_computable_run() -> None:
    """4 Gs of 1 s each arrive together on 2 Ps with no overheads."""
    m = simulate(
        Bursts(1, 4, 1.0, Constant(1.0)),
        "global",
        SimConfig(procs=2, cost=CostModel.zero(), util_bin=0.5),
    ).metrics
    assert m.gs == 4
    assert m.makespan == pytest.approx(2.0)
    assert m.throughput == pytest.approx(2.0)
    assert m.utilisation == pytest.approx(1.0)
    assert m.latency_mean == pytest.approx(1.5)
    assert m.wait_mean == pytest.approx(0.5)
    assert m.latency_p50 == pytest.approx(1.5)
    assert m.jain_ps == pytest.approx(1.0)
    # Two Gs got all of their time (share 1), two got half (share 1/2).
    assert m.jain_gs == pytest.approx(jain([1.0, 1.0, 0.5, 0.5]))
    assert m.slowdown_mean == pytest.approx(1.5)
    assert m.util_series == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert m.per_p_busy == pytest.approx((2.0, 2.0))
    assert m.per_p_runs == (2, 2)


def test_overheads_are_charged_and_reported() -> None:
    wl = Bursts(1, 10, 1.0, Constant(1e-3))
    free = simulate(wl, "gmp", SimConfig(procs=1, cost=CostModel.zero())).metrics
    costed = simulate(wl, "gmp", SimConfig(procs=1, cost=CostModel(switch=1e-4))).metrics
    assert free.overhead == 0.0
    assert costed.overhead > 10 * 1e-4
    assert costed.makespan > free.makespan + 10 * 1e-4
