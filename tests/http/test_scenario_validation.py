"""A scenario's workload.n must be a positive count; anything else is refused, naming it."""

from __future__ import annotations

import pytest

from sims import scenario as sc


@pytest.mark.parametrize("n", [-5, 0, 2.5, True, "10"])
def test_a_bad_workload_n_is_refused_naming_the_field(n):
    data = sc.override(sc.load("blocking"), "workload.n", n)
    with pytest.raises(sc.ScenarioError, match=r"workload\.n .* positive integer, got"):
        sc.validate(data, "blocking")


def test_a_bad_workload_n_in_a_sweep_is_refused():
    data = sc.override(sc.load("blocking"), "sweep", {"workload.n": [100, -5]})
    with pytest.raises(sc.ScenarioError, match="got -5"):
        sc.validate(data, "blocking")


def test_the_bundled_scenarios_pass():
    for name in ("blocking", "bursts", "fairness", "forkjoin", "mmc", "skew"):
        sc.validate(sc.load(name), name)


def test_gmp_sim_refuses_a_negative_n_on_the_command_line():
    from gmp.cli import main

    assert main(["sim", "blocking", "--set", "workload.n=-5", "--no-plots"]) == 2
