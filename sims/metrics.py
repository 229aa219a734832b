"""What a simulation measured: makespan, throughput, utilisation, latency, fairness.

The :class:`Recorder` is fed by the simulator while it runs (finished Gs, busy intervals
of each P); :meth:`Recorder.summarise` turns it into a frozen :class:`Metrics` that is
plain data (JSON-able with :func:`attrs.asdict`). Samples are kept in compact
``array('d')`` buffers (8 bytes per G and measure) so a million-G run stays small.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

import attrs


def jain(xs: Sequence[float]) -> float:
    """Jain's fairness index ``(sum x)^2 / (n * sum x^2)``: 1 when all equal, 1/n at worst.

    An empty input, or one where every value is zero, is perfectly fair (1.0): nobody got
    more than anybody else.
    """
    n = len(xs)
    if n == 0:
        return 1.0
    s = math.fsum(xs)
    s2 = math.fsum(x * x for x in xs)
    if s2 == 0.0:
        return 1.0
    return (s * s) / (n * s2)


def percentile(sorted_xs: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted data, linearly interpolated.

    The same definition as numpy's default, so figures match a notebook's ``np.percentile``.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    n = len(sorted_xs)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * frac


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs) if len(xs) else math.nan


def coarsen(bins: Sequence[float], width: float, max_points: int) -> tuple[float, list[float]]:
    """Merge adjacent bins so that at most ``max_points`` remain; returns the new width."""
    if len(bins) <= max_points:
        return width, list(bins)
    k = math.ceil(len(bins) / max_points)
    out = [math.fsum(bins[i : i + k]) for i in range(0, len(bins), k)]
    return width * k, out


@attrs.frozen
class Metrics:
    """The summary of one simulation run (plain values; see :func:`attrs.asdict`)."""

    policy: str
    procs: int
    seed: int
    gs: int
    """Gs that finished (every G that entered the system, or the run failed)."""
    events: int
    """Discrete events processed (arrivals plus events popped from the queue)."""
    makespan: float
    """Virtual seconds from time 0 to the last G finishing."""
    throughput: float
    """Gs finished per virtual second."""
    utilisation: float
    """Busy fraction of all Ps over the makespan (service time only, no overheads)."""
    latency_mean: float
    latency_p50: float
    latency_p95: float
    latency_p99: float
    """Latency: finish minus arrival (sojourn time), in seconds."""
    wait_mean: float
    wait_p50: float
    wait_p95: float
    wait_p99: float
    """Wait: first run minus arrival (queueing delay), in seconds."""
    slowdown_mean: float
    """Mean of latency / ideal time (1.0 means no G ever waited)."""
    jain_gs: float
    """Jain's index across Gs of ideal/latency: do all Gs get the same share of speed?"""
    jain_ps: float
    """Jain's index across Ps of busy time: is the work spread evenly?"""
    steals: int
    handoffs: int
    threads: int
    """Ms created (simulated OS threads)."""
    overhead: float
    """Virtual seconds spent on scheduler overheads (queue ops, steals, switches)."""
    per_p_busy: tuple[float, ...]
    per_p_runs: tuple[int, ...]
    per_p_steals: tuple[int, ...]
    util_bin: float
    """Width of one point of ``util_series``, in seconds."""
    util_series: tuple[float, ...]
    """Utilisation of all Ps, per time bin (0..1)."""
    wall_seconds: float
    events_per_second: float

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def row(self) -> dict[str, Any]:
        """Scalar fields only: one CSV row."""
        return {k: v for k, v in self.as_dict().items() if not isinstance(v, list | tuple | dict)}


@attrs.define(eq=False)
class Recorder:
    """Collects measurements while a simulation runs (mutated only by the simulator)."""

    procs: int
    util_bin: float
    latency: array[float] = attrs.field(factory=lambda: array("d"))
    wait: array[float] = attrs.field(factory=lambda: array("d"))
    ideal: array[float] = attrs.field(factory=lambda: array("d"))
    busy: list[float] = attrs.field(init=False)
    runs: list[int] = attrs.field(init=False)
    bins: list[float] = attrs.field(factory=list)
    last_finish: float = 0.0
    overhead: float = 0.0

    def __attrs_post_init__(self) -> None:
        if self.util_bin <= 0:
            raise ValueError(f"util_bin must be positive seconds, got {self.util_bin}")
        self.busy = [0.0] * self.procs
        self.runs = [0] * self.procs

    def busy_interval(self, pid: int, t0: float, t1: float) -> None:
        """P ``pid`` ran G code from ``t0`` to ``t1``: add it to its total and the bins."""
        d = t1 - t0
        if d <= 0.0:
            return
        self.busy[pid] += d
        w = self.util_bin
        bins = self.bins
        b0 = int(t0 / w)
        b1 = int(t1 / w)
        if b1 > b0 and b1 * w >= t1:
            b1 -= 1  # ends exactly on a boundary: nothing spills into the next bin
        if b1 >= len(bins):
            bins.extend([0.0] * (b1 + 1 - len(bins)))
        if b0 == b1:
            bins[b0] += d
            return
        bins[b0] += (b0 + 1) * w - t0
        for b in range(b0 + 1, b1):
            bins[b] += w
        bins[b1] += t1 - b1 * w

    def summarise(
        self,
        *,
        policy: str,
        seed: int,
        events: int,
        steals: Sequence[int],
        handoffs: int,
        threads: int,
        wall_seconds: float,
        max_points: int = 100,
    ) -> Metrics:
        n = len(self.latency)
        makespan = self.last_finish
        # One sorted copy at a time, and streaming sums for the per-G indices: a
        # million-G run should not hold several million-element lists at once.
        lat = sorted(self.latency)
        lat_q = (percentile(lat, 50), percentile(lat, 95), percentile(lat, 99))
        del lat
        wait = sorted(self.wait)
        wait_q = (percentile(wait, 50), percentile(wait, 95), percentile(wait, 99))
        del wait
        share_sum = share_sq = slow_sum = 0.0
        for ideal, latency in zip(self.ideal, self.latency, strict=True):
            if latency > 0.0:
                share = ideal / latency
                slow_sum += latency / ideal if ideal > 0.0 else 1.0
            else:
                share = 1.0
                slow_sum += 1.0
            share_sum += share
            share_sq += share * share
        jain_gs = (share_sum * share_sum) / (n * share_sq) if n and share_sq > 0.0 else 1.0
        width, series = coarsen(self.bins, self.util_bin, max_points)
        cap = self.procs * width
        return Metrics(
            policy=policy,
            procs=self.procs,
            seed=seed,
            gs=n,
            events=events,
            makespan=makespan,
            throughput=n / makespan if makespan > 0 else math.nan,
            utilisation=math.fsum(self.busy) / (self.procs * makespan) if makespan > 0 else 0.0,
            latency_mean=_mean(self.latency),
            latency_p50=lat_q[0],
            latency_p95=lat_q[1],
            latency_p99=lat_q[2],
            wait_mean=_mean(self.wait),
            wait_p50=wait_q[0],
            wait_p95=wait_q[1],
            wait_p99=wait_q[2],
            slowdown_mean=slow_sum / n if n else math.nan,
            jain_gs=jain_gs,
            jain_ps=jain(self.busy),
            steals=sum(steals),
            handoffs=handoffs,
            threads=threads,
            overhead=self.overhead,
            per_p_busy=tuple(self.busy),
            per_p_runs=tuple(self.runs),
            per_p_steals=tuple(steals),
            util_bin=width,
            util_series=tuple(min(b / cap, 1.0) for b in series),
            wall_seconds=wall_seconds,
            events_per_second=events / wall_seconds if wall_seconds > 0 else math.nan,
        )
