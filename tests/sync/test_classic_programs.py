"""Classic Go concurrency programs, written with gmp, at procs 1, 2 and 4."""

from __future__ import annotations

import pytest

import gmp

PRIMES_UNDER_200 = [p for p in range(2, 200) if all(p % d for d in range(2, p))]


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_concurrent_prime_sieve(procs: int) -> None:
    """Go's classic: a daisy chain of filter Gs connected by unbuffered channels."""

    async def generate(ch: gmp.Chan[int]) -> None:
        i = 2
        while True:
            await ch.send(i)
            i += 1

    async def filt(src: gmp.Chan[int], dst: gmp.Chan[int], prime: int) -> None:
        while True:
            i = await src.recv()
            if i % prime != 0:
                await dst.send(i)

    async def main() -> list[int]:
        ch: gmp.Chan[int] = gmp.Chan()
        gmp.go(generate, ch)
        primes = []
        for _ in range(len(PRIMES_UNDER_200)):
            prime = await ch.recv()
            primes.append(prime)
            ch1: gmp.Chan[int] = gmp.Chan()
            gmp.go(filt, ch, ch1, prime)
            ch = ch1
        return primes

    assert gmp.run(main, procs=procs) == PRIMES_UNDER_200


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_fan_out_fan_in_pipeline(procs: int) -> None:
    async def gen(out: gmp.Chan[int], n: int) -> None:
        for i in range(n):
            await out.send(i)
        out.close()

    async def square(src: gmp.Chan[int], out: gmp.Chan[int], wg: gmp.WaitGroup) -> None:
        async for v in src:
            await out.send(v * v)
        wg.done()

    async def main() -> int:
        src: gmp.Chan[int] = gmp.Chan()
        merged: gmp.Chan[int] = gmp.Chan(8)
        wg = gmp.WaitGroup()
        gmp.go(gen, src, 2000)
        wg.add(4)
        for _ in range(4):
            gmp.go(square, src, merged, wg)

        async def closer() -> None:
            await wg.wait()
            merged.close()

        gmp.go(closer)
        return sum([v async for v in merged])

    assert gmp.run(main, procs=procs) == sum(i * i for i in range(2000))


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_bounded_worker_pool(procs: int) -> None:
    async def worker(jobs: gmp.Chan[int], results: gmp.Chan[tuple[int, int]]) -> None:
        async for j in jobs:
            await gmp.gosched()
            await results.send((j, j * 3))

    async def main() -> dict[int, int]:
        jobs: gmp.Chan[int] = gmp.Chan(10)
        results: gmp.Chan[tuple[int, int]] = gmp.Chan(10)
        async with gmp.TaskGroup() as tg:
            for _ in range(3):
                tg.go(worker, jobs, results)

            async def feed() -> None:
                for j in range(500):
                    await jobs.send(j)
                jobs.close()

            tg.go(feed)
            out = {}
            for _ in range(500):
                j, r = await results.recv()
                out[j] = r
        return out

    assert gmp.run(main, procs=procs) == {j: j * 3 for j in range(500)}
