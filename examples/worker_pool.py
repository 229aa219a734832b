"""A worker pool with a bounded queue that refuses work when it is full.

Four worker Gs take jobs from a buffered channel of 8. The producer offers 40 jobs
faster than the workers finish them; a ``select`` with ``default`` is Go's non-blocking
send, so a job that finds the queue full is rejected at once (a service would answer
503) instead of piling up. Every job is either done or rejected, never lost.

    python examples/worker_pool.py
"""

from __future__ import annotations

import time

import gmp

WORKERS = 4
QUEUE = 8
JOBS = 40


def work(job: int) -> int:
    time.sleep(0.005)  # a blocking call: the worker's P is handed on while it waits
    return job * job


async def worker(jobs: gmp.Chan[int], results: gmp.Chan[int]) -> None:
    async for job in jobs:
        await results.send(await gmp.syscall(work, job))


async def main() -> tuple[int, int, int]:
    jobs: gmp.Chan[int] = gmp.Chan(QUEUE)
    results: gmp.Chan[int] = gmp.Chan(JOBS)
    wg = gmp.WaitGroup()
    for _ in range(WORKERS):
        wg.add(1)

        async def run() -> None:
            try:
                await worker(jobs, results)
            finally:
                wg.done()

        gmp.go(run)
    accepted = rejected = 0
    for job in range(JOBS):
        got = await gmp.select(gmp.Send(jobs, job), default=True)
        if got.index == -1:  # the queue was full: reject instead of waiting
            rejected += 1
        else:
            accepted += 1
    jobs.close()
    await wg.wait()
    results.close()
    done = [r async for r in results]
    return accepted, rejected, len(done)


if __name__ == "__main__":
    accepted, rejected, done = gmp.run(main, procs=2)
    print(f"accepted {accepted}, rejected {rejected}, done {done}")
    assert accepted + rejected == JOBS and done == accepted
