"""``sleep(0)`` in the simulator is the runtime's Yield: gmp._core.place.yield_local.

Laws (procs=1, gmp's policy, costs zero):

- a ``sleep(0)`` within the time slice stays on the P: the G runs again before a G that
  waits in the global queue; a ``gosched()`` in the same place goes behind it;
- a ``sleep(0)`` reached with the slice spent is the preemption (the global tail) and is
  then done: the G is not sent through ``yield_local`` again when it runs, as the
  runtime's ``yield_local`` sends it there once (tests/runtime/test_yield_preempted.py
  holds the runtime's side);
- a duration of zero or less makes the yield, not a timer, as ``gmp.sleep`` does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from sims import CostModel, SimConfig, simulate
from sims.g import GOSCHED, SLEEP, YIELD, Op, SimG, gosched, note, program, run, sleep
from sims.policies import GmpPolicy


class _Counting(GmpPolicy):
    """gmp's policy, counting the placements a yield can take."""

    def __init__(self) -> None:
        super().__init__()
        self.yields = 0
        self.preempts = 0

    def yield_local(self, g: SimG, p: object) -> object:  # type: ignore[override]
        self.yields += 1
        return super().yield_local(g, p)  # type: ignore[arg-type]

    def preempt(self, g: SimG, p: object) -> object:  # type: ignore[override]
        self.preempts += 1
        return super().preempt(g, p)  # type: ignore[arg-type]


def _order(first_run: float, checkpoint: Op, policy: GmpPolicy | None = None) -> list[str]:
    """Main computes ``first_run`` s, then awaits ``checkpoint``; another G arrives from
    outside (the global queue) while it computes. Who runs first after the checkpoint?"""
    seen: list[str] = []

    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            yield 0.0, program([run(first_run), checkpoint, note(lambda t: seen.append("main"))])
            yield first_run / 2, program([note(lambda t: seen.append("other")), run(1e-4)])

        def expected_gs(self, procs: int) -> int:
            return 2

    simulate(W(), policy or "gmp", SimConfig(procs=1, cost=CostModel.zero()))
    return seen


def test_sleep_zero_stays_on_the_p_and_gosched_does_not() -> None:
    assert _order(1e-3, sleep(0)) == ["main", "other"]
    assert _order(1e-3, gosched()) == ["other", "main"]


def test_sleep_zero_with_the_slice_spent_is_the_preemption_once() -> None:
    policy = _Counting()
    assert _order(20e-3, sleep(0), policy) == ["other", "main"]  # 10 ms slice: global tail
    assert (policy.preempts, policy.yields) == (1, 0)
    within = _Counting()
    assert _order(1e-3, sleep(0), within) == ["main", "other"]
    assert (within.preempts, within.yields) == (0, 1)


def test_zero_or_less_is_the_yield_not_a_timer() -> None:
    assert sleep(0) == (YIELD, None)
    assert sleep(-1.0) == (YIELD, None)
    assert sleep(0.5) == (SLEEP, 0.5)
    assert gosched() == (GOSCHED, None)
