"""Fan-out with a TaskGroup: 32 blocking calls of 50 ms finish in about 50 ms, not 1.6 s.

Each call runs in its own G; a blocking call costs its thread, and sysmon hands the P
to another thread, so they all wait at once. The TaskGroup waits for every child and,
had one failed, would cancel the others and raise (Go's errgroup, trio's nursery).

    python examples/fanout.py
"""

from __future__ import annotations

import time

import gmp

CALLS = 32
BLOCK = 0.05


def fetch(i: int) -> int:
    time.sleep(BLOCK)  # a blocking client library
    return i


async def main() -> tuple[int, float]:
    results: list[int] = []

    async def one(i: int) -> None:
        results.append(await gmp.syscall(fetch, i))

    started = time.perf_counter()
    async with gmp.TaskGroup() as tg:
        for i in range(CALLS):
            tg.go(one, i)
    return sum(results), time.perf_counter() - started


if __name__ == "__main__":
    total, seconds = gmp.run(main, procs=2)
    print(f"{CALLS} calls of {BLOCK * 1000:.0f} ms: sum {total} in {seconds * 1000:.0f} ms")
    assert total == sum(range(CALLS))
