"""Workloads: what arrives, when, and what each G does.

A workload yields ``(time, G)`` arrivals in time order from the RNG it is given (the
simulator's workload stream, the same for every policy at a seed). Programs of Gs with
behaviour are generators, built lazily as the G runs, so a workload of a million Gs
holds only the Gs alive at the moment.

Times are in seconds. ``load`` is the offered CPU load per P (rho): the arrival rate is
``load * procs / mean service``, so ``load = 0.7`` keeps Ps 70% busy whatever ``procs``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Protocol

import attrs

from sims.g import Op, SimG, block, gosched, join, program, run, sleep, spawn

# -- service-time distributions ------------------------------------------------------------


class ServiceDist(Protocol):
    """A service-time distribution: ``sample(rng)`` seconds, with a known ``mean``."""

    @property
    def mean(self) -> float: ...

    def sample(self, rng: random.Random) -> float: ...


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attr.name} must be positive, got {value!r}")


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attr.name} must be non-negative, got {value!r}")


def _fraction(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be within 0..1, got {value!r}")


@attrs.frozen
class Exponential:
    """Exponential service (memoryless: the M in M/M/c)."""

    mean: float = attrs.field(validator=_positive)

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)


@attrs.frozen
class LogNormal:
    """Log-normal service with the given mean; ``sigma`` of the underlying normal sets
    the tail (sigma 1.0: p99 is about 6x the mean), as request handlers tend to have."""

    mean: float = attrs.field(validator=_positive)
    sigma: float = attrs.field(default=1.0, validator=_non_negative)

    def sample(self, rng: random.Random) -> float:
        mu = math.log(self.mean) - self.sigma * self.sigma / 2.0
        return rng.lognormvariate(mu, self.sigma)


@attrs.frozen
class Bimodal:
    """Mostly ``short`` Gs and a fraction ``p_long`` of ``long`` ones (cache hit / miss)."""

    short: float = attrs.field(validator=_positive)
    long: float = attrs.field(validator=_positive)
    p_long: float = attrs.field(default=0.1, validator=_fraction)

    @property
    def mean(self) -> float:
        return (1.0 - self.p_long) * self.short + self.p_long * self.long

    def sample(self, rng: random.Random) -> float:
        return self.long if rng.random() < self.p_long else self.short


@attrs.frozen
class Constant:
    """Every G takes exactly ``value`` (deterministic service: the D in M/D/c)."""

    value: float = attrs.field(validator=_non_negative)

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: random.Random) -> float:
        return self.value


DISTS: dict[str, type[Any]] = {
    "exp": Exponential,
    "lognormal": LogNormal,
    "bimodal": Bimodal,
    "const": Constant,
}


def make_dist(spec: ServiceDist | Mapping[str, Any] | float) -> ServiceDist:
    """A distribution from a TOML table such as ``{dist = "exp", mean = 1e-3}``.

    A bare number is a constant; an object that already is a distribution is returned.
    """
    if isinstance(spec, bool):
        raise ValueError(f"a service time must be a number or a table, got {spec!r}")
    if isinstance(spec, int | float):
        return Constant(float(spec))
    if not isinstance(spec, Mapping):
        return spec
    params = dict(spec)
    name = params.pop("dist", None)
    if name not in DISTS:
        raise ValueError(f"service distribution needs dist = one of {sorted(DISTS)}, got {name!r}")
    try:
        return DISTS[name](**params)  # type: ignore[no-any-return]
    except TypeError as e:
        raise ValueError(f"bad parameters for dist {name!r}: {e}") from None


# -- workloads -------------------------------------------------------------------------------


def _rate(load: float, procs: int, mean: float) -> float:
    return load * procs / mean


@attrs.frozen
class Poisson:
    """``n`` Gs arriving from outside as a Poisson process, each computing a sampled time.

    The M/G/c queue: with :class:`Exponential` service and the ``global`` policy, the
    M/M/c queue whose mean wait the Erlang C formula gives.
    """

    kind: ClassVar[str] = "poisson"
    n: int
    service: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Exponential(1e-3))
    load: float = attrs.field(default=0.7, validator=_positive)

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        rate = _rate(self.load, procs, self.service.mean)
        expo = rng.expovariate
        sample = self.service.sample
        t = 0.0
        for _ in range(self.n):
            t += expo(rate)
            yield t, SimG(sample(rng))

    def expected_gs(self, procs: int) -> int | None:
        return self.n


@attrs.frozen
class Skew:
    """All work spawned on one P: a single spawner G creates ``n`` Gs in batches.

    Spawned Gs land on the spawner's P (runnext, local ring, spills to the global queue
    past 256), so only stealing, or a policy that places Gs elsewhere, spreads them.
    Between batches the spawner sleeps: exponential gaps (``pacing = "poisson"``) or
    fixed ones, sized so the offered load is ``load``; with ``load = 0`` every batch is
    spawned at once. The spawner itself counts as one G of the run.
    """

    kind: ClassVar[str] = "skew"
    n: int
    service: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Exponential(1e-3))
    batch: int = 1
    load: float = attrs.field(default=0.7, validator=_non_negative)
    pacing: str = attrs.field(default="poisson")

    @pacing.validator
    def _check_pacing(self, _a: attrs.Attribute[str], value: str) -> None:
        if value not in ("poisson", "fixed"):
            raise ValueError(f"pacing must be 'poisson' or 'fixed', got {value!r}")

    def _spawner(self, rng: random.Random, procs: int) -> Iterator[Op]:
        sample = self.service.sample
        gap = 0.0
        if self.load > 0:
            gap = self.batch * self.service.mean / (self.load * procs)
        left = self.n
        while left > 0:
            k = min(self.batch, left)
            left -= k
            yield spawn([SimG(sample(rng)) for _ in range(k)])
            if left and gap > 0:
                yield sleep(rng.expovariate(1.0 / gap) if self.pacing == "poisson" else gap)

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        yield 0.0, program(self._spawner(rng, procs))

    def expected_gs(self, procs: int) -> int | None:
        return self.n + 1


@attrs.frozen
class ForkJoin:
    """Recursive fork-join trees: each inner node splits, spawns ``fanout`` subtrees,
    joins them and combines; leaves compute ``leaf``.

    ``trees`` roots arrive ``gap`` seconds apart. With constant times the total work
    T_1 (:meth:`work`) and the critical path T_inf (:meth:`span`) are exact, which the
    work-stealing bound test relies on.
    """

    kind: ClassVar[str] = "forkjoin"
    depth: int
    fanout: int = 2
    leaf: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Constant(1e-4))
    split: float = attrs.field(default=0.0, validator=_non_negative)
    combine: float = attrs.field(default=0.0, validator=_non_negative)
    trees: int = 1
    gap: float = attrs.field(default=0.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.depth < 0 or self.fanout < 1 or self.trees < 1:
            raise ValueError("fork-join needs depth >= 0, fanout >= 1 and trees >= 1")

    def _node(self, rng: random.Random, depth: int) -> SimG:
        if depth == 0:
            return SimG(self.leaf.sample(rng))
        return program(self._inner(rng, depth))

    def _inner(self, rng: random.Random, depth: int) -> Iterator[Op]:
        if self.split > 0:
            yield run(self.split)
        yield spawn([self._node(rng, depth - 1) for _ in range(self.fanout)])
        yield join()
        if self.combine > 0:
            yield run(self.combine)

    def nodes(self) -> int:
        """Gs per tree: inner nodes and leaves."""
        f, d = self.fanout, self.depth
        return d + 1 if f == 1 else (f ** (d + 1) - 1) // (f - 1)

    def work(self) -> float:
        """T_1 of all trees: every G's computing time (leaf at its mean)."""
        leaves: int = self.fanout**self.depth
        inner = self.nodes() - leaves
        leaf_mean: float = self.leaf.mean
        return self.trees * (leaves * leaf_mean + inner * (self.split + self.combine))

    def span(self) -> float:
        """T_inf of one tree: the longest chain of dependent computing (leaf at its mean)."""
        return self.depth * (self.split + self.combine) + self.leaf.mean

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        for i in range(self.trees):
            yield i * self.gap, self._node(rng, self.depth)

    def expected_gs(self, procs: int) -> int | None:
        return self.trees * self.nodes()


@attrs.frozen
class BlockingMix:
    """Poisson arrivals where a fraction ``block_fraction`` of Gs make one blocking call.

    A blocking G computes half its service, blocks for ``block_time`` (a syscall: it
    holds its M, and its P unless sysmon hands the P off), then computes the other half.
    ``load`` counts CPU only.
    """

    kind: ClassVar[str] = "blocking"
    n: int
    service: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Exponential(1e-3))
    load: float = attrs.field(default=0.7, validator=_positive)
    block_fraction: float = attrs.field(default=0.1, validator=_fraction)
    block_time: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Constant(10e-3))

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        rate = _rate(self.load, procs, self.service.mean)
        t = 0.0
        for _ in range(self.n):
            t += rng.expovariate(rate)
            s = self.service.sample(rng)
            if rng.random() < self.block_fraction:
                half = s / 2.0
                yield t, program([run(half), block(self.block_time.sample(rng)), run(half)])
            else:
                yield t, SimG(s)

    def expected_gs(self, procs: int) -> int | None:
        return self.n


@attrs.frozen
class Bursts:
    """``bursts`` bursts of ``size`` Gs arriving from outside at once, ``gap`` apart."""

    kind: ClassVar[str] = "bursts"
    bursts: int
    size: int
    gap: float = attrs.field(validator=_positive)
    service: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Exponential(1e-3))

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        for b in range(self.bursts):
            t = b * self.gap
            for _ in range(self.size):
                yield t, SimG(self.service.sample(rng))

    def expected_gs(self, procs: int) -> int | None:
        return self.bursts * self.size


@attrs.frozen
class GoschedLoop:
    """``n`` Gs started together, each computing ``turns`` quanta with a gosched after
    each: cooperative round-robin, where fairness between Gs is the question."""

    kind: ClassVar[str] = "gosched"
    n: int
    turns: int = 10
    quantum: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Constant(1e-4))

    def _prog(self, rng: random.Random) -> Iterator[Op]:
        for _ in range(self.turns):
            yield run(self.quantum.sample(rng))
            yield gosched()

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        for _ in range(self.n):
            yield 0.0, program(self._prog(random.Random(rng.getrandbits(64))))

    def expected_gs(self, procs: int) -> int | None:
        return self.n


WORKLOADS: dict[str, type[Any]] = {
    cls.kind: cls for cls in (Poisson, Skew, ForkJoin, BlockingMix, Bursts, GoschedLoop)
}
"""Workload kinds accepted by scenario files (``[workload] kind = ...``)."""


def make_workload(spec: Mapping[str, Any]) -> Any:
    """A workload from a TOML table: ``kind`` plus that workload's fields."""
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in WORKLOADS:
        raise ValueError(f"workload kind must be one of {sorted(WORKLOADS)}, got {kind!r}")
    try:
        return WORKLOADS[kind](**params)
    except TypeError as e:
        raise ValueError(f"bad parameters for workload {kind!r}: {e}") from None
