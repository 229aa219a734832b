"""gmp's scheduling simulator: gmp's own pure core driven in virtual time.

``simulate(workload, policy, SimConfig(...))`` runs one workload under one policy and
returns a :class:`~sims.sim.SimResult` with its :class:`~sims.metrics.Metrics`. The
``gmp`` policy *is* :mod:`gmp._core`; the rivals in :mod:`sims.policies` run on the same
workloads and cost model for comparison. ``gmp sim SCENARIO.toml`` is the command line.
"""

from sims.cost import CostModel
from sims.echo import Echo
from sims.metrics import Metrics, jain, percentile
from sims.netpoll import EOF, NetpollStats, SimConn
from sims.policies import POLICIES, Policy, make_policy
from sims.sim import SimConfig, SimResult, SimulationError, Simulator, simulate
from sims.workloads import (
    Bimodal,
    BlockingMix,
    Bursts,
    Constant,
    Exponential,
    ForkJoin,
    GoschedLoop,
    LogNormal,
    Poisson,
    Skew,
    make_dist,
    make_workload,
)

__all__ = [
    "EOF",
    "POLICIES",
    "Bimodal",
    "BlockingMix",
    "Bursts",
    "Constant",
    "CostModel",
    "Echo",
    "Exponential",
    "ForkJoin",
    "GoschedLoop",
    "LogNormal",
    "Metrics",
    "NetpollStats",
    "Poisson",
    "Policy",
    "SimConfig",
    "SimConn",
    "SimResult",
    "SimulationError",
    "Simulator",
    "Skew",
    "jain",
    "make_dist",
    "make_policy",
    "make_workload",
    "percentile",
    "simulate",
]
