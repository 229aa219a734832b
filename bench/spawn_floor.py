"""``python -m bench.spawn_floor [--n N] [--reps N]``: how fast a pure-Python run loop can
spawn and complete trivial coroutines, step by step up to gmp, beside asyncio.

The spawn target of the hot-path issue (1.5x asyncio) asks where gmp's cost per G goes.
This runs the same work (``N`` coroutines that return at once, all spawned, then all
run, then every result read) through a ladder of run loops in one process:

1. ``floor``: a handle per coroutine, a deque, ``coro.send``; no lock, no contextvars.
   The most any pure-Python loop can do.
2. ``+ contextvars``: each G gets a copy of its spawner's context and runs in it
   (``Context.run``), as asyncio's Task and gmp's G do.
3. ``+ lock``: the spawn, the pick, the finish and the join each take a lock, as a loop
   that several threads share must (gmp's scheduler lock).
4. ``gmp procs=1``: ``gmp.go`` and ``join``, with everything the runtime adds on top
   (G records, runnext and the local and global queues, the fairness tick, time slices,
   stats, sysmon).

Rows 1-3 are the floor for a thread-safe loop written in Python; the step from row 3 to
row 4 is the price of gmp's scheduling semantics. Each row is written out in full, not
built from the one before: a shared helper would put its calls into the floor being
measured. Medians of ``--reps`` rounds, the rows interleaved within each round, a
collection before each; hold ``/tmp/gmp-bench.lock``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextvars
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import gmp


async def _trivial() -> int:
    return 1


class _Handle:
    """The least a handle can hold: the coroutine, its context, its result."""

    __slots__ = ("coro", "ctx", "value")

    def __init__(self, coro: Coroutine[Any, Any, int], ctx: contextvars.Context | None) -> None:
        self.coro: Coroutine[Any, Any, int] | None = coro
        self.ctx = ctx
        self.value = 0


def floor(n: int) -> float:
    """Row 1: a deque of handles and ``coro.send``; seconds for ``n``."""
    t0 = time.perf_counter()
    q: collections.deque[_Handle] = collections.deque()
    hs = []
    for _ in range(n):
        h = _Handle(_trivial(), None)
        q.append(h)
        hs.append(h)
    pop = q.popleft
    while q:
        h = pop()
        coro = h.coro
        assert coro is not None
        try:
            coro.send(None)
        except StopIteration as stop:
            h.value = stop.value
            h.coro = None
    total = sum(h.value for h in hs)
    assert total == n
    return time.perf_counter() - t0


def with_contextvars(n: int) -> float:
    """Row 2: row 1, each G in a copy of its spawner's context."""
    t0 = time.perf_counter()
    q: collections.deque[_Handle] = collections.deque()
    hs = []
    for _ in range(n):
        h = _Handle(_trivial(), contextvars.copy_context())
        q.append(h)
        hs.append(h)
    pop = q.popleft
    while q:
        h = pop()
        coro = h.coro
        ctx = h.ctx
        assert coro is not None and ctx is not None
        try:
            ctx.run(coro.send, None)
        except StopIteration as stop:
            h.value = stop.value
            h.coro = None
            h.ctx = None
    total = sum(h.value for h in hs)
    assert total == n
    return time.perf_counter() - t0


def with_lock(n: int) -> float:
    """Row 3: row 2, with a lock around the spawn, the pick, the finish and the join."""
    lock = threading.Lock()
    t0 = time.perf_counter()
    q: collections.deque[_Handle] = collections.deque()
    hs = []
    for _ in range(n):
        h = _Handle(_trivial(), contextvars.copy_context())
        with lock:
            q.append(h)
        hs.append(h)
    pop = q.popleft
    while True:
        with lock:
            if not q:
                break
            h = pop()
        coro = h.coro
        ctx = h.ctx
        assert coro is not None and ctx is not None
        try:
            ctx.run(coro.send, None)
        except StopIteration as stop:
            with lock:
                h.value = stop.value
                h.coro = None
                h.ctx = None
    total = 0
    for h in hs:
        with lock:
            total += h.value
    assert total == n
    return time.perf_counter() - t0


def with_gmp(n: int) -> float:
    """Row 4: ``gmp.go`` and ``await h.join()`` at procs=1, timed inside main."""

    async def main() -> float:
        t0 = time.perf_counter()
        hs = [gmp.go(_trivial) for _ in range(n)]
        total = 0
        for h in hs:
            total += await h.join()
        assert total == n
        return time.perf_counter() - t0

    elapsed: float = gmp.run(main, procs=1)
    return elapsed


def with_asyncio(n: int) -> float:
    """The anchor: ``create_task`` and ``await`` on asyncio's default loop."""

    async def main() -> float:
        t0 = time.perf_counter()
        ts = [asyncio.create_task(_trivial()) for _ in range(n)]
        total = 0
        for t in ts:
            total += await t
        assert total == n
        return time.perf_counter() - t0

    return asyncio.run(main())


ROWS: dict[str, Callable[[int], float]] = {
    "1 floor": floor,
    "2 + contextvars": with_contextvars,
    "3 + lock": with_lock,
    "4 gmp procs=1": with_gmp,
    "asyncio": with_asyncio,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.spawn_floor", description=__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="coroutines per run")
    ap.add_argument("--reps", type=int, default=5, help="rounds (each runs every row)")
    args = ap.parse_args(argv)
    if args.n < 1 or args.reps < 1:
        ap.error("--n and --reps must be at least 1")
    rates: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(args.reps):
        for name, fn in ROWS.items():
            gc.collect()  # each row starts without the last one's garbage
            rates[name].append(args.n / fn(args.n))
    anchor = statistics.median(rates["asyncio"])
    out = sys.stdout
    out.write(f"spawn + complete of {args.n:,} trivial coroutines, medians of {args.reps}\n")
    out.write(f"{'row':18s} {'tasks/s':>9s} {'us/task':>8s} {'vs asyncio':>10s}\n")
    for name, values in rates.items():
        rate = statistics.median(values)
        out.write(f"{name:18s} {rate / 1e3:8.1f}k {1e6 / rate:8.2f} {rate / anchor:9.2f}x\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
