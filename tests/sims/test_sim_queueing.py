"""The simulator against queueing theory: M/M/c mean wait from the Erlang C formula.

The ``global`` policy on Poisson arrivals with exponential service and no overheads is
the M/M/c queue, so its mean wait must match Erlang C. A mean wait estimated from one
run converges slowly near saturation (at rho = 0.85 the relative spread of a 100k-G
estimate is about 5.5% over seeds), so the run length grows with the load; the seed is
fixed, and the figure printed on failure shows how far off it was.
"""

from __future__ import annotations

import math

import pytest

from sims import CostModel, Exponential, Poisson, SimConfig, simulate


def erlang_c(c: int, a: float) -> float:
    """Probability an arrival waits in M/M/c with offered load ``a = lambda / mu`` erlangs."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue of M/M/c: C(c, a) / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def test_erlang_c_formula_itself() -> None:
    # M/M/1: C = rho, Wq = rho / (mu - lambda); and a textbook value for M/M/2.
    assert erlang_c(1, 0.6) == pytest.approx(0.6)
    assert mmc_mean_wait(1, 0.6, 1.0) == pytest.approx(0.6 / 0.4)
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)


SERVERS = 4


@pytest.mark.parametrize(
    ("rho", "n"),
    [(0.5, 200_000), (0.7, 400_000), (0.85, 800_000)],
)
def test_global_fifo_matches_erlang_c_mean_wait(rho: float, n: int) -> None:
    mean_service = 1.0
    cfg = SimConfig(procs=SERVERS, seed=1, cost=CostModel.zero(), util_bin=100.0)
    m = simulate(Poisson(n, Exponential(mean_service), load=rho), "global", cfg).metrics
    lam = rho * SERVERS / mean_service
    expected = mmc_mean_wait(SERVERS, lam, 1.0 / mean_service)
    err = (m.wait_mean - expected) / expected
    assert abs(err) < 0.05, (
        f"rho={rho}: simulated Wq={m.wait_mean:.4f}, Erlang C {expected:.4f} ({err:+.1%})"
    )
    # Utilisation is rho (busy time over makespan), up to the drain at the end.
    assert m.utilisation == pytest.approx(rho, rel=0.02)


@pytest.mark.parametrize("rho", [0.5, 0.85])
def test_fraction_of_gs_that_wait_is_erlang_c(rho: float) -> None:
    cfg = SimConfig(procs=SERVERS, seed=2, cost=CostModel.zero(), util_bin=100.0)
    r = simulate(Poisson(200_000, Exponential(1.0), load=rho), "global", cfg)
    waited = sum(1 for w in r.wait if w > 0.0) / len(r.wait)
    expected = erlang_c(SERVERS, rho * SERVERS)
    assert waited == pytest.approx(expected, rel=0.03), (waited, expected)


def test_mm1_is_exactly_the_lindley_recursion() -> None:
    """One server, FIFO: each wait is W' = max(0, W + S - A) on the same random numbers."""

    arrivals: list[tuple[float, float]] = []
    wl = Poisson(5_000, Exponential(1.0), load=0.8)

    class Tap:
        def arrivals(self, rng, procs):  # type: ignore[no-untyped-def]
            for t, g in wl.arrivals(rng, procs):
                arrivals.append((t, g.service))
                yield t, g

        def expected_gs(self, procs: int) -> int:
            return wl.n

    r = simulate(Tap(), "global", SimConfig(procs=1, seed=5, cost=CostModel.zero()))
    w, prev_t, prev_s, lindley = 0.0, 0.0, 0.0, []
    for i, (t, s) in enumerate(arrivals):
        if i:
            w = max(0.0, w + prev_s - (t - prev_t))
        lindley.append(w)
        prev_t, prev_s = t, s
    # FIFO on one server: Gs finish in arrival order.
    assert list(r.wait) == pytest.approx(lindley, abs=1e-9)
