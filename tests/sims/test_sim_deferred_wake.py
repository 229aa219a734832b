"""goready's deferred wake-up in the simulator (gmp._core.place.goready, idle.deferred_wake_due).

Laws: a G readied alone into a running P's runnext wakes no M, so a token-passing pair at
procs=2 stays on one P and nothing is stolen; when the waker keeps computing instead of
parking, an M is woken one sysmon interval later and the readied G runs on the other P
then, not after the waker's computation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gmp._core.place import newproc
from sims import policies
from sims.cost import CostModel
from sims.g import Baton, Op, note, pass_token, program, release, run, spawn
from sims.metrics import Metrics
from sims.sim import SimConfig, Simulator
from sims.token_pass import _OneArrival  # one G at time 0, three Gs in all


def _pair(monkeypatch: pytest.MonkeyPatch | None) -> Metrics:
    rounds = 200

    def side(baton: Baton) -> Iterator[Op]:
        for _ in range(rounds):
            yield run(10e-6)
            yield pass_token(baton)
        yield release(baton)

    def main() -> Iterator[Op]:
        baton = Baton()
        yield spawn([program(side(baton)), program(side(baton))])

    if monkeypatch is not None:
        # Go's answer: every readied G wakes an M if one is needed (newproc's answer).
        monkeypatch.setattr(policies, "goready", newproc)
    res = Simulator(_OneArrival(program(main())), SimConfig(procs=2, cost=CostModel.python())).run()
    return res.metrics


def test_a_token_pair_at_two_procs_stays_on_one_p_and_wakes_no_m(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _pair(None)
    assert m.steals == 0
    busy = sorted(m.per_p_busy)
    assert busy[0] < 0.05 * busy[1], busy  # one P did the pair's work
    # Waking an M at every pass (Go's rule) adds its failed searches to the overhead.
    woken = _pair(monkeypatch)
    assert woken.makespan == pytest.approx(m.makespan)
    assert m.overhead < 0.9 * woken.overhead, (m.overhead, woken.overhead)


def test_a_g_readied_by_a_g_that_keeps_computing_runs_after_one_sysmon_interval() -> None:
    cfg = SimConfig(procs=2, cost=CostModel.zero())
    times: dict[str, float] = {}

    def waiter(baton: Baton) -> Iterator[Op]:
        yield pass_token(baton)  # nobody waits yet: park until the token comes
        yield note(lambda now: times.setdefault("woke", now))

    def waker(baton: Baton) -> Iterator[Op]:
        yield run(1e-3)
        yield note(lambda now: times.setdefault("readied", now))
        yield release(baton)  # ready the waiter and go on computing
        yield run(50e-3)
        yield note(lambda now: times.setdefault("waker done", now))

    def main() -> Iterator[Op]:
        baton = Baton()
        yield spawn([program(waiter(baton)), program(waker(baton))])

    Simulator(_OneArrival(program(main())), cfg).run()
    waited = times["woke"] - times["readied"]
    assert cfg.sysmon_interval <= waited < 2 * cfg.sysmon_interval + 1e-9, times
    assert times["woke"] < times["waker done"]
