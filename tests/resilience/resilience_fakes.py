"""A settable clock for the resilience tests (decisions are pure functions of time)."""

from __future__ import annotations


class FakeClock:
    """``clock()`` returns ``now``; tests move it. Reads are single attribute loads."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
