"""Simulate gmp's scheduler beside a single global queue, in virtual time.

The same workload (Poisson arrivals at 70% load, exponential service times) runs under
gmp's policy (per-P queues, work stealing) and under one global FIFO on 4 Ps; the
simulator is deterministic for a seed, so the numbers repeat exactly.

    python examples/simulation.py
"""

from __future__ import annotations

from sims import Exponential, Poisson, SimConfig, simulate


def main() -> dict[str, float]:
    workload = Poisson(n=5000, service=Exponential(1e-3), load=0.7)
    out = {}
    for policy in ("gmp", "global"):
        result = simulate(workload, policy, SimConfig(procs=4, seed=1))
        out[policy] = result.metrics.latency_p99
    return out


if __name__ == "__main__":
    for policy, p99 in main().items():
        print(f"{policy:>6}: p99 latency {p99 * 1000:.2f} ms (virtual time)")
