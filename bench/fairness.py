"""``python -m bench.fairness``: Go's fairness figures at procs=1.

- **PingPongHog** (Go's ``TestPingPongHog``, proc_test.go): two Gs passing a token and
  computing 20,000 steps per turn beside two passing one and computing 20; the service
  ratio (P time) of the heavy pair over the light one. Fair time slices make it about
  1; Go's test accepts 0.2-5, gmp's tests 0.5-2. Median and worst (farthest from 1) of 20.
- **A G behind a token-passing pair**: how long ``gosched`` takes to come back while a
  ping-pong pair runs on the only P (Go: about one 10 ms slice), in the runtime and in
  the simulator running the same core rules (``sims.token_pass``).

Figures, not assertions: the tests hold the bounds, this prints what a run measured.
Timed runs should hold the bench lock (``make bench`` does).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys


def report(rounds: int = 20) -> None:
    from sims.token_pass import ping_pong_hog, runtime_waits, simulated_waits

    out = sys.stdout
    ratios = [ping_pong_hog() for _ in range(rounds)]
    worst = max(ratios, key=lambda r: abs(math.log(r)))
    out.write("\nfairness at procs=1 (Go's PingPongHog and the global queue behind a pair)\n")
    out.write(
        f"  PingPongHog service ratio over {rounds} runs: median {statistics.median(ratios):.2f}, "
        f"worst {worst:.2f}, range {min(ratios):.2f}-{max(ratios):.2f} (fair: 1; tests: 0.5-2)\n"
    )
    real = runtime_waits(0.010, rounds)
    sim = simulated_waits(0.010, rounds)
    out.write(
        f"  G behind a token-passing pair, 10 ms slice: runtime median "
        f"{statistics.median(real) * 1000:.1f} ms (max {max(real) * 1000:.1f}), simulator "
        f"{statistics.median(sim) * 1000:.1f} ms; Go: about 10 ms; before preemption at "
        "every trap: 1100 ms\n"
    )
    out.flush()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__)
    ap.add_argument("--rounds", type=int, default=20, help="runs of each measurement")
    args = ap.parse_args(argv)
    report(args.rounds)


if __name__ == "__main__":
    main()
