"""How busy the machine is with other work: figures taken on a busy machine mislead.

Machine-wide busy CPU time comes from /proc/stat (Linux); this run's own CPU time from
getrusage (itself plus every worker it has reaped). The difference, over a wall-clock
interval, is how many cores other processes kept busy meanwhile.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy: float | None  # machine-wide busy CPU seconds since boot; None if unknown
    own: float  # CPU seconds of this process and its reaped children


def _machine_busy() -> float | None:
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is in user


def sample() -> CpuSample:
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    return CpuSample(time.perf_counter(), _machine_busy(), own)


def others_cores(start: CpuSample, end: CpuSample) -> float | None:
    """Average number of cores other processes kept busy between two samples."""
    wall = end.wall - start.wall
    if start.busy is None or end.busy is None or wall <= 0:
        return None
    return max(0.0, (end.busy - start.busy) - (end.own - start.own)) / wall


def describe(start: CpuSample, end: CpuSample) -> str:
    cores = others_cores(start, end)
    if cores is None:
        return "other processes' CPU use unknown"
    return f"other processes kept {cores:.2f} of {os.cpu_count()} cpus busy"
