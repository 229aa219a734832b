"""gmp inside a trio program: run Gs from trio without blocking trio's loop.

``gmp.open_runtime`` starts a runtime for the ``async with`` block; ``await rt.call``
runs a function as a G and waits for it as a trio task does, so trio keeps running
its own tasks (here a ticker) while the G blocks a thread. Cancelling the trio task
would cancel the G.

    python examples/trio_bridge.py
"""

from __future__ import annotations

import time

import trio

import gmp


def blocking_sum(n: int) -> int:
    time.sleep(0.1)  # blocks a gmp thread, not trio's loop
    return sum(range(n))


async def main() -> tuple[int, int]:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.01)
            ticks += 1

    async with gmp.open_runtime(procs=2) as rt, trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        result: int = await rt.call(blocking_sum, 1000)
        nursery.cancel_scope.cancel()
    return result, ticks


if __name__ == "__main__":
    result, ticks = trio.run(main)
    print(f"sum {result}; trio ticked {ticks} times while the G blocked")
    assert result == sum(range(1000)) and ticks > 0
