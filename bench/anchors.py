"""The rivals gmp is measured against: asyncio, uvloop, trio and a ThreadPoolExecutor.

Each function runs ONE repetition of one benchmark and returns its metrics. The shapes mirror
bench/gmp_side.py line for line, so the only difference between two rows of a table is the
runtime underneath. asyncio and uvloop share code; uvloop only swaps the event loop.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import Any

import trio

from bench.common import Metrics, digest, lateness_metrics, make_buffers
from bench.worker import exit_with

Params = dict[str, Any]
AsyncRun = Callable[[Coroutine[Any, Any, Any]], Any]


def _run_for(impl: str) -> AsyncRun:
    """asyncio.run, or uvloop.run (same semantics, uvloop's loop)."""
    if impl == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


async def _trivial() -> int:
    return 1


def _trivial_sync() -> int:
    return 1


# --- 1. spawn + complete -------------------------------------------------------------------


def spawn_asyncio(p: Params) -> Metrics:
    n: int = p["n"]
    run = _run_for(p["impl"])

    async def main() -> float:
        t0 = perf_counter()
        tasks = [asyncio.create_task(_trivial()) for _ in range(n)]
        for t in tasks:
            await t
        return perf_counter() - t0

    w0 = perf_counter()
    inside: float = run(main())
    whole = perf_counter() - w0
    return {"inside_per_s": n / inside, "whole_per_s": n / whole}


def spawn_trio(p: Params) -> Metrics:
    n: int = p["n"]

    async def main() -> float:
        t0 = perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(_trivial)
        return perf_counter() - t0

    w0 = perf_counter()
    inside = trio.run(main)
    whole = perf_counter() - w0
    return {"inside_per_s": n / inside, "whole_per_s": n / whole}


def spawn_threads(p: Params) -> Metrics:
    n: int = p["n"]
    w0 = perf_counter()
    with ThreadPoolExecutor(p["workers"]) as ex:
        t0 = perf_counter()
        futures = [ex.submit(_trivial_sync) for _ in range(n)]
        for f in futures:
            f.result()
        inside = perf_counter() - t0
    whole = perf_counter() - w0
    return {"inside_per_s": n / inside, "whole_per_s": n / whole}


# --- 2. yield cost -------------------------------------------------------------------------


async def _asyncio_yielder(y: int) -> None:
    for _ in range(y):
        await asyncio.sleep(0)


async def _asyncio_yield_main(k: int, y: int) -> float:
    t0 = perf_counter()
    tasks = [asyncio.create_task(_asyncio_yielder(y)) for _ in range(k)]
    for t in tasks:
        await t
    return perf_counter() - t0


def yield_asyncio(p: Params) -> Metrics:
    run = _run_for(p["impl"])
    out: Metrics = {}
    for k in p["ks"]:
        y = p["total"] // k
        elapsed: float = run(_asyncio_yield_main(k, y))
        out[f"us_K{k}"] = elapsed / (k * y) * 1e6
    return out


async def _trio_yielder(y: int) -> None:
    for _ in range(y):
        await trio.lowlevel.checkpoint()


async def _trio_yield_main(k: int, y: int) -> float:
    t0 = perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(k):
            nursery.start_soon(_trio_yielder, y)
    return perf_counter() - t0


def yield_trio(p: Params) -> Metrics:
    out: Metrics = {}
    for k in p["ks"]:
        y = p["total"] // k
        elapsed = trio.run(_trio_yield_main, k, y)
        out[f"us_K{k}"] = elapsed / (k * y) * 1e6
    return out


# --- 3. procs=1 -> procs=2 speedup on GIL-releasing work ----------------------------------

_buffers: dict[tuple[int, int], list[bytes]] = {}


def buffers(p: Params) -> list[bytes]:
    """Build the hashing buffers once per process (they are 256 MiB at full size)."""
    key = (p["count"], p["size"])
    if key not in _buffers:
        _buffers.clear()
        _buffers[key] = make_buffers(*key)
    return _buffers[key]


def speedup_threads(p: Params) -> Metrics:
    bufs = buffers(p)
    times: dict[int, float] = {}
    for workers in (1, 2):
        with ThreadPoolExecutor(workers) as ex:
            t0 = perf_counter()
            futures = [ex.submit(digest, b) for b in bufs]
            for f in futures:
                f.result()
            times[workers] = perf_counter() - t0
    return {"t1_ms": times[1] * 1e3, "t2_ms": times[2] * 1e3, "speedup": times[1] / times[2]}


# --- 4. blocking isolation -----------------------------------------------------------------


def blocking_asyncio(p: Params) -> Metrics:
    run = _run_for(p["impl"])
    mode: str = p["mode"]
    interval: float = p["interval"]
    hold: float = p["hold"]

    async def ticker(until: float, lateness: list[float]) -> None:
        while (t := perf_counter()) < until:
            await asyncio.sleep(interval)
            lateness.append(perf_counter() - (t + interval))

    async def blocker() -> None:
        time.sleep(hold)

    async def spinner() -> None:
        t = perf_counter()
        while perf_counter() - t < hold:
            pass

    async def main() -> tuple[list[float], float]:
        lateness: list[float] = []
        t0 = perf_counter()
        tasks = [
            asyncio.create_task(ticker(t0 + p["duration"], lateness)) for _ in range(p["tickers"])
        ]
        await asyncio.sleep(p["delay"])
        if mode == "block":
            tasks.append(asyncio.create_task(blocker()))
        elif mode == "spin":
            tasks.append(asyncio.create_task(spinner()))
        for t in tasks:
            await t
        return lateness, perf_counter() - t0

    lateness, elapsed = run(main())
    return lateness_metrics(lateness, elapsed)


def blocking_trio(p: Params) -> Metrics:
    mode: str = p["mode"]
    interval: float = p["interval"]
    hold: float = p["hold"]

    async def ticker(until: float, lateness: list[float]) -> None:
        while (t := perf_counter()) < until:
            await trio.sleep(interval)
            lateness.append(perf_counter() - (t + interval))

    async def blocker() -> None:
        time.sleep(hold)

    async def spinner() -> None:
        t = perf_counter()
        while perf_counter() - t < hold:
            pass

    async def main() -> tuple[list[float], float]:
        lateness: list[float] = []
        t0 = perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(p["tickers"]):
                nursery.start_soon(ticker, t0 + p["duration"], lateness)
            await trio.sleep(p["delay"])
            if mode == "block":
                nursery.start_soon(blocker)
            elif mode == "spin":
                nursery.start_soon(spinner)
        return lateness, perf_counter() - t0

    lateness, elapsed = trio.run(main)
    return lateness_metrics(lateness, elapsed)


# --- 5. memory per parked task -------------------------------------------------------------


def memory_asyncio(p: Params) -> Metrics:
    n: int = p["n"]
    started = [0]

    async def sleeper() -> None:
        started[0] += 1
        await asyncio.sleep(3600)

    async def main() -> None:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            # No list kept: a sleeping Task is held by its timer handle, like a parked G.
            asyncio.create_task(sleeper())  # noqa: RUF006
        while started[0] < n:
            await asyncio.sleep(0)
        current = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        exit_with({"bytes_per_task": (current - base) / n})

    asyncio.run(main())
    raise AssertionError("unreachable: exit_with ends the process")
