"""gmp's side of every benchmark, written against the public API only.

Each function runs ONE repetition and returns its metrics, mirroring bench/anchors.py. The
gmp import is at module level on purpose: bench/worker.py imports this module lazily, so a
missing or broken runtime fails the gmp rows only and the anchors still run.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from time import perf_counter
from typing import Any

import gmp
from bench.anchors import buffers
from bench.common import Metrics, lateness_metrics
from bench.worker import exit_with

Params = dict[str, Any]


async def _trivial() -> int:
    return 1


def _stats_metrics(rt: gmp.Runtime) -> Metrics:
    """Scheduler counters worth printing beside a figure: did sysmon hand the P away?"""
    st = rt.stats()
    return {
        "handoffs": float(sum(pp.handoffs for pp in st.procs)),
        "threads": float(st.threads),
    }


# --- 1. spawn + complete -------------------------------------------------------------------


def spawn(p: Params) -> Metrics:
    n: int = p["n"]

    async def main() -> float:
        t0 = perf_counter()
        hs = [gmp.go(_trivial) for _ in range(n)]
        for h in hs:
            await h.join()
        return perf_counter() - t0

    w0 = perf_counter()
    options = {"timeslice": p["timeslice"]} if "timeslice" in p else {}
    inside: float = gmp.run(main, procs=p["procs"], **options)
    whole = perf_counter() - w0
    return {"inside_per_s": n / inside, "whole_per_s": n / whole}


# --- 2. yield cost -------------------------------------------------------------------------


async def _gosched_yielder(y: int) -> None:
    for _ in range(y):
        await gmp.gosched()


async def _sleep0_yielder(y: int) -> None:
    for _ in range(y):
        await gmp.sleep(0)


async def _yield_main(k: int, y: int, how: str) -> float:
    yielder = _gosched_yielder if how == "gosched" else _sleep0_yielder
    t0 = perf_counter()
    hs = [gmp.go(yielder, y) for _ in range(k)]
    for h in hs:
        await h.join()
    return perf_counter() - t0


def yield_(p: Params) -> Metrics:
    out: Metrics = {}
    for k in p["ks"]:
        y = p["total"] // k
        elapsed: float = gmp.run(_yield_main, k, y, p["how"], procs=p["procs"])
        out[f"us_K{k}"] = elapsed / (k * y) * 1e6
    return out


# --- 3. procs=1 -> procs=2 speedup on GIL-releasing work ----------------------------------


def speedup(p: Params) -> Metrics:
    bufs = buffers(p)

    async def main() -> float:
        t0 = perf_counter()
        hs = [gmp.go(lambda b=b: hashlib.sha256(b).digest()) for b in bufs]
        for h in hs:
            await h.join()
        return perf_counter() - t0

    t1: float = gmp.run(main, procs=1)
    t2: float = gmp.run(main, procs=2)
    return {"t1_ms": t1 * 1e3, "t2_ms": t2 * 1e3, "speedup": t1 / t2}


# --- 4. blocking isolation (procs=1) -------------------------------------------------------


def blocking(p: Params) -> Metrics:
    mode: str = p["mode"]
    interval: float = p["interval"]
    hold: float = p["hold"]

    async def ticker(until: float, lateness: list[float]) -> None:
        while (t := perf_counter()) < until:
            await gmp.sleep(interval)
            lateness.append(perf_counter() - (t + interval))

    async def syscaller() -> None:
        await gmp.syscall(time.sleep, hold)

    async def spinner() -> None:
        t = perf_counter()
        while perf_counter() - t < hold:
            pass

    async def main() -> tuple[list[float], float]:
        lateness: list[float] = []
        t0 = perf_counter()
        hs = [gmp.go(ticker, t0 + p["duration"], lateness) for _ in range(p["tickers"])]
        await gmp.sleep(p["delay"])
        if mode == "callable":
            hs.append(gmp.go(time.sleep, hold))
        elif mode == "syscall":
            hs.append(gmp.go(syscaller))
        elif mode == "spin":
            hs.append(gmp.go(spinner))
        for h in hs:
            await h.join()
        return lateness, perf_counter() - t0

    with gmp.Runtime(procs=1) as rt:
        lateness, elapsed = rt.go(main).result(timeout=60)
        counters = _stats_metrics(rt)
    return lateness_metrics(lateness, elapsed) | counters


# --- 5. memory per parked G ----------------------------------------------------------------


def _wait_parked(rt: gmp.Runtime, n: int, timeout: float = 120.0) -> None:
    """Wait until exactly n Gs are alive and every run queue is empty: all are asleep."""
    deadline = time.monotonic() + timeout
    while True:
        st = rt.stats()
        queued = st.global_queue + sum(pp.runq for pp in st.procs)
        if st.gs_alive == n and queued == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Gs never all parked: gs_alive={st.gs_alive}, queued={queued}")
        time.sleep(0.005)


def memory(p: Params) -> Metrics:
    n: int = p["n"]

    async def sleeper() -> None:
        await gmp.sleep(3600)

    async def spawner() -> None:
        for _ in range(n):
            gmp.go(sleeper)  # no handle kept, like the asyncio side keeps no Task

    rt = gmp.Runtime(procs=1)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rt.go(spawner).result(timeout=120)
    _wait_parked(rt, n)
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # Not rt.close(timeout=0): cancelling 100,000 Gs is not what this measures (see worker).
    exit_with({"bytes_per_task": (current - base) / n})
    raise AssertionError("unreachable: exit_with ends the process")
