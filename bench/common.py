"""Workload pieces shared by every rival, so all sides run the same code."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

Metrics = dict[str, float]


def make_buffers(count: int, size: int) -> list[bytes]:
    """Buffers for the hashing benchmark; the content does not change SHA-256's speed."""
    return [bytes([i % 256]) * size for i in range(count)]


def digest(buf: bytes) -> bytes:
    """hashlib releases the GIL for inputs above 2 KiB, so this parallelises across threads."""
    return hashlib.sha256(buf).digest()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def lateness_metrics(lateness: Sequence[float], elapsed: float) -> Metrics:
    """Summarise ticker wake-up lateness (seconds) as milliseconds plus the wake-up rate."""
    return {
        "worst_ms": max(lateness, default=math.nan) * 1e3,
        "p99_ms": percentile(lateness, 99) * 1e3,
        "p50_ms": percentile(lateness, 50) * 1e3,
        "wakeups_per_s": len(lateness) / elapsed if elapsed > 0 else math.nan,
    }
