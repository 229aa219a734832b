"""Channel ping-pong and contended mutex, for gmp and every anchor, in one module.

Each function runs one timed repetition and returns its metrics. The shapes mirror each
other: ping-pong is one round trip = one value through an unbuffered/size-1 channel and
one back; the mutex case is 8 tasks each taking and releasing one lock ``n`` times.
"""

from __future__ import annotations

import queue
import threading
from time import perf_counter
from typing import Any

Params = dict[str, Any]
Metrics = dict[str, float]


# --- ping-pong ----------------------------------------------------------------------------


def pingpong_gmp(p: Params) -> Metrics:
    import gmp

    n: int = p["n"]

    async def main() -> float:
        a: gmp.Chan[int] = gmp.Chan()
        b: gmp.Chan[int] = gmp.Chan()

        async def pong() -> None:
            for _ in range(n):
                await b.send(await a.recv())

        async def ping() -> float:
            t0 = perf_counter()
            for i in range(n):
                await a.send(i)
                await b.recv()
            return perf_counter() - t0

        if p.get("group"):
            # Both inside a TaskGroup (its cancel scope), as structured code runs them:
            # every channel operation is a checkpoint that asks about that scope.
            async with gmp.TaskGroup() as tg:
                tg.go(pong)
                return await ping()
        h = gmp.go(pong)
        el = await ping()
        await h.join()
        return el

    return {"us_rt": gmp.run(main, procs=p["procs"]) / n * 1e6}


def pingpong_asyncio(p: Params) -> Metrics:
    import asyncio

    n: int = p["n"]

    async def main() -> float:
        a: asyncio.Queue[int] = asyncio.Queue(1)
        b: asyncio.Queue[int] = asyncio.Queue(1)

        async def pong() -> None:
            for _ in range(n):
                await b.put(await a.get())

        t = asyncio.create_task(pong())
        t0 = perf_counter()
        for i in range(n):
            await a.put(i)
            await b.get()
        el = perf_counter() - t0
        await t
        return el

    if p["impl"] == "uvloop":
        import uvloop

        el = uvloop.run(main())
    else:
        el = asyncio.run(main())
    return {"us_rt": el / n * 1e6}


def pingpong_trio(p: Params) -> Metrics:
    import trio

    n: int = p["n"]

    async def main() -> float:
        a_tx, a_rx = trio.open_memory_channel[int](0)
        b_tx, b_rx = trio.open_memory_channel[int](0)

        async def pong() -> None:
            for _ in range(n):
                await b_tx.send(await a_rx.receive())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pong)
            t0 = perf_counter()
            for i in range(n):
                await a_tx.send(i)
                await b_rx.receive()
            return perf_counter() - t0

    return {"us_rt": trio.run(main) / n * 1e6}


def pingpong_threads(p: Params) -> Metrics:
    n: int = p["n"]
    a: queue.Queue[int] = queue.Queue(1)
    b: queue.Queue[int] = queue.Queue(1)

    def pong() -> None:
        for _ in range(n):
            b.put(a.get())

    t = threading.Thread(target=pong)
    t.start()
    t0 = perf_counter()
    for i in range(n):
        a.put(i)
        b.get()
    el = perf_counter() - t0
    t.join()
    return {"us_rt": el / n * 1e6}


# --- contended mutex ----------------------------------------------------------------------


def mutex_gmp(p: Params) -> Metrics:
    import gmp

    n: int = p["n"]
    tasks: int = p["tasks"]

    async def main() -> float:
        mu = gmp.Mutex()
        count = [0]

        async def worker() -> None:
            for _ in range(n):
                await mu.lock()
                count[0] += 1
                mu.unlock()

        t0 = perf_counter()
        async with gmp.TaskGroup() as tg:
            for _ in range(tasks):
                tg.go(worker)
        el = perf_counter() - t0
        assert count[0] == n * tasks
        return el

    el = gmp.run(main, procs=p["procs"])
    return {"ns_op": el / (n * tasks) * 1e9, "ops_per_s": n * tasks / el}


def mutex_threads(p: Params) -> Metrics:
    n: int = p["n"]
    tasks: int = p["tasks"]
    lock = threading.Lock()
    count = [0]

    def worker() -> None:
        for _ in range(n):
            with lock:
                count[0] += 1

    ts = [threading.Thread(target=worker) for _ in range(tasks)]
    t0 = perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = perf_counter() - t0
    assert count[0] == n * tasks
    return {"ns_op": el / (n * tasks) * 1e9, "ops_per_s": n * tasks / el}


def mutex_trio(p: Params) -> Metrics:
    import trio

    n: int = p["n"]
    tasks: int = p["tasks"]

    async def main() -> float:
        lock = trio.Lock()
        count = [0]

        async def worker() -> None:
            for _ in range(n):
                async with lock:
                    count[0] += 1

        t0 = perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)
        el = perf_counter() - t0
        assert count[0] == n * tasks
        return el

    el = trio.run(main)
    return {"ns_op": el / (n * tasks) * 1e9, "ops_per_s": n * tasks / el}


def mutex_asyncio(p: Params) -> Metrics:
    import asyncio

    n: int = p["n"]
    tasks: int = p["tasks"]

    async def main() -> float:
        lock = asyncio.Lock()
        count = [0]

        async def worker() -> None:
            for _ in range(n):
                async with lock:
                    count[0] += 1

        t0 = perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        el = perf_counter() - t0
        assert count[0] == n * tasks
        return el

    el = asyncio.run(main())
    return {"ns_op": el / (n * tasks) * 1e9, "ops_per_s": n * tasks / el}
