"""Exact reference models of the two buckets, in ``fractions.Fraction`` arithmetic.

They restate each algorithm from its definition (x/time/rate's Limiter; the leaky bucket
as a queue) with no rounding anywhere, so the float implementation can be compared with
them decision by decision.
"""

from __future__ import annotations

import math
from fractions import Fraction

import attrs


@attrs.frozen
class ModelDecision:
    allowed: bool
    remaining: int
    retry_after: Fraction
    reset: Fraction
    delay: Fraction


@attrs.define
class ModelReservation:
    cost: int
    at: Fraction
    need: Fraction
    mark: int


@attrs.define
class TokenModel:
    rate: Fraction
    burst: int
    tokens: Fraction = attrs.field(init=False)
    last: Fraction | None = None
    reserved: int = 0

    def __attrs_post_init__(self) -> None:
        self.tokens = Fraction(self.burst)

    def _clamp(self, now: Fraction) -> Fraction:
        return now if self.last is None or now > self.last else self.last

    def _at(self, now: Fraction) -> Fraction:
        if self.last is None:
            return self.tokens
        return min(Fraction(self.burst), self.tokens + (now - self.last) * self.rate)

    def decide(
        self, now: Fraction, cost: int, max_wait: Fraction | None = Fraction(0)
    ) -> tuple[ModelDecision, ModelReservation | None]:
        now = self._clamp(now)
        tokens = self._at(now)
        self.last = now
        if cost == 0 or tokens >= cost:
            self.tokens = tokens - cost
            return self._decision(True, self.tokens, Fraction(0), Fraction(0)), None
        deficit = cost - tokens
        if max_wait is None or deficit <= max_wait * self.rate:
            self.tokens = tokens - cost
            self.reserved += cost
            d = self._decision(True, self.tokens, Fraction(0), deficit / self.rate)
            return d, ModelReservation(cost, now, deficit, self.reserved)
        self.tokens = tokens
        return self._decision(False, tokens, deficit / self.rate, Fraction(0)), None

    def _decision(
        self, allowed: bool, tokens: Fraction, retry: Fraction, delay: Fraction
    ) -> ModelDecision:
        return ModelDecision(
            allowed, max(0, math.floor(tokens)), retry, (self.burst - tokens) / self.rate, delay
        )

    def cancel(self, now: Fraction, r: ModelReservation) -> None:
        now = self._clamp(now)
        if (now - r.at) * self.rate >= r.need:
            return
        later = self.reserved - r.mark
        restore = r.cost - later
        if restore <= 0:
            return
        self.tokens = min(Fraction(self.burst), self._at(now) + restore)
        self.last = now
        if later == 0:
            self.reserved -= r.cost

    def idle(self, now: Fraction) -> bool:
        return self._at(self._clamp(now)) >= self.burst


@attrs.define
class LeakyModel:
    rate: Fraction
    capacity: int
    level: Fraction = Fraction(0)
    last: Fraction | None = None
    reserved: int = 0

    def _clamp(self, now: Fraction) -> Fraction:
        return now if self.last is None or now > self.last else self.last

    def _at(self, now: Fraction) -> Fraction:
        if self.last is None:
            return self.level
        return max(Fraction(0), self.level - (now - self.last) * self.rate)

    def decide(
        self, now: Fraction, cost: int, max_wait: Fraction | None = None
    ) -> tuple[ModelDecision, ModelReservation | None]:
        now = self._clamp(now)
        level = self._at(now)
        self.last = now
        fits = level + cost <= self.capacity
        in_time = max_wait is None or level <= max_wait * self.rate
        if fits and in_time:
            self.level = level + cost
            res = None
            if level > 0 and cost > 0:
                self.reserved += cost
                res = ModelReservation(cost, now, level, self.reserved)
            return self._decision(True, self.level, Fraction(0), level / self.rate), res
        self.level = level
        # Too late for max_wait: its turn is when the queue ahead drains; else, room.
        retry = level / self.rate if not in_time else (level + cost - self.capacity) / self.rate
        return self._decision(False, level, retry, Fraction(0)), None

    def _decision(
        self, allowed: bool, level: Fraction, retry: Fraction, delay: Fraction
    ) -> ModelDecision:
        return ModelDecision(
            allowed, max(0, math.floor(self.capacity - level)), retry, level / self.rate, delay
        )

    def cancel(self, now: Fraction, r: ModelReservation) -> None:
        now = self._clamp(now)
        if (now - r.at) * self.rate >= r.need:
            return
        later = self.reserved - r.mark
        restore = r.cost - later
        if restore <= 0:
            return
        self.level = max(Fraction(0), self._at(now) - restore)
        self.last = now
        if later == 0:
            self.reserved -= r.cost

    def idle(self, now: Fraction) -> bool:
        return self._at(self._clamp(now)) <= 0
