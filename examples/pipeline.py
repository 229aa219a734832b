"""A three-stage pipeline of Gs joined by channels (Go's "pipelines" pattern).

``numbers`` emits 1..N, ``square`` squares them (two of them, fanning in), ``total``
sums. Closing a channel tells the next stage its input is over, so the whole pipeline
shuts down in order without any flag or sentinel.

    python examples/pipeline.py
"""

from __future__ import annotations

import gmp

N = 1000


async def numbers(out: gmp.Chan[int]) -> None:
    for i in range(1, N + 1):
        await out.send(i)
    out.close()


async def square(inp: gmp.Chan[int], out: gmp.Chan[int], wg: gmp.WaitGroup) -> None:
    try:
        async for v in inp:
            await out.send(v * v)
    finally:
        wg.done()


async def close_when_done(wg: gmp.WaitGroup, ch: gmp.Chan[int]) -> None:
    await wg.wait()
    ch.close()


async def main() -> int:
    nums: gmp.Chan[int] = gmp.Chan(16)
    squares: gmp.Chan[int] = gmp.Chan(16)
    wg = gmp.WaitGroup()
    gmp.go(numbers, nums)
    for _ in range(2):
        wg.add(1)
        gmp.go(square, nums, squares, wg)
    gmp.go(close_when_done, wg, squares)
    total = 0
    async for v in squares:
        total += v
    return total


if __name__ == "__main__":
    total = gmp.run(main, procs=2)
    print(f"sum of squares 1..{N} = {total}")
    assert total == N * (N + 1) * (2 * N + 1) // 6
