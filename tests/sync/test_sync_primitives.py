"""WaitGroup, Mutex, RWMutex, Once, Cond, Semaphore and AtomicInt."""

from __future__ import annotations

import time

import pytest

import gmp


def test_waitgroup_waits_for_every_done_and_rejects_a_negative_counter() -> None:
    async def main() -> int:
        wg = gmp.WaitGroup()
        hits = gmp.AtomicInt()

        async def work() -> None:
            await gmp.sleep(0.001)
            hits.add(1)
            wg.done()

        wg.add(50)
        for _ in range(50):
            gmp.go(work)
        await wg.wait()
        with pytest.raises(ValueError, match="negative WaitGroup counter"):
            wg.done()
        return hits.load()

    assert gmp.run(main, procs=2) == 50


@pytest.mark.parametrize("procs", [1, 2, 4])
def test_mutex_gives_mutual_exclusion_across_checkpoints(procs: int) -> None:
    async def main() -> tuple[int, int]:
        mu = gmp.Mutex()
        state = {"inside": 0, "max_inside": 0, "count": 0}

        async def worker() -> None:
            for _ in range(100):
                async with mu:
                    state["inside"] += 1
                    state["max_inside"] = max(state["max_inside"], state["inside"])
                    await gmp.gosched()  # a checkpoint inside the critical section
                    state["count"] += 1
                    state["inside"] -= 1

        async with gmp.TaskGroup() as tg:
            for _ in range(8):
                tg.go(worker)
        return state["max_inside"], state["count"]

    assert gmp.run(main, procs=procs) == (1, 800)


def test_mutex_misuse_raises_like_a_go_panic() -> None:
    async def main() -> None:
        mu = gmp.Mutex()
        with pytest.raises(RuntimeError, match="unlock of unlocked mutex"):
            mu.unlock()
        rw = gmp.RWMutex()
        with pytest.raises(RuntimeError, match="RUnlock of unlocked RWMutex"):
            rw.runlock()
        with pytest.raises(RuntimeError, match="Unlock of unlocked RWMutex"):
            rw.unlock()

    gmp.run(main, procs=1)


def test_mutex_enters_starvation_mode_and_hands_off_in_fifo_order() -> None:
    """A waiter blocked over 1 ms flips the mutex into starvation mode; from then on the
    lock goes to waiters in arrival order and newcomers cannot barge in."""

    async def main() -> tuple[bool, list[int]]:
        mu = gmp.Mutex()
        order: list[int] = []
        saw_starving = False

        async def waiter(i: int) -> None:
            await mu.lock()
            order.append(i)
            mu.unlock()

        await mu.lock()
        hs = []
        for i in range(5):
            hs.append(gmp.go(waiter, i))
            await gmp.sleep(0.002)  # they queue in order 0..4 and age past 1 ms
        # Wake the first waiter in normal mode while we immediately re-take the lock:
        # it loses, notices it waited > 1 ms, and switches the mutex to starvation.
        mu.unlock()
        await mu.lock()
        await gmp.sleep(0.002)
        saw_starving = mu.starving
        mu.unlock()
        for h in hs:
            await h.join()
        return saw_starving, order

    starving, order = gmp.run(main, procs=1)
    assert starving is True
    assert order == [0, 1, 2, 3, 4]


def test_rwmutex_waiting_writer_is_not_starved_by_new_readers() -> None:
    async def main() -> list[str]:
        rw = gmp.RWMutex()
        log: list[str] = []

        async def reader(i: int) -> None:
            await rw.rlock()
            log.append(f"r{i}")
            await gmp.sleep(0.005)
            rw.runlock()

        async def writer() -> None:
            await rw.lock()
            log.append("w")
            rw.unlock()

        hs = [gmp.go(reader, 0)]
        await gmp.sleep(0.001)
        hs.append(gmp.go(writer))
        await gmp.sleep(0.001)
        hs += [gmp.go(reader, i) for i in range(1, 4)]  # arrive while the writer waits
        for h in hs:
            await h.join()
        return log

    log = gmp.run(main, procs=2)
    assert log[0] == "r0" and log[1] == "w", log
    assert sorted(log[2:]) == ["r1", "r2", "r3"]


def test_rwmutex_allows_concurrent_readers() -> None:
    async def main() -> int:
        rw = gmp.RWMutex()
        inside = gmp.AtomicInt()
        peak = gmp.AtomicInt()

        async def reader() -> None:
            async with rw.rlocker():
                n = inside.add(1)
                if n > peak.load():
                    peak.store(n)
                await gmp.sleep(0.01)
                inside.add(-1)

        async with gmp.TaskGroup() as tg:
            for _ in range(5):
                tg.go(reader)
        return peak.load()

    assert gmp.run(main, procs=2) == 5


def test_once_runs_exactly_once_even_under_contention() -> None:
    async def main() -> int:
        once = gmp.Once()
        calls = gmp.AtomicInt()

        async def init() -> None:
            calls.add(1)
            await gmp.sleep(0.01)

        async with gmp.TaskGroup() as tg:
            for _ in range(10):
                tg.go(once.do, init)
        assert once.done
        return calls.load()

    assert gmp.run(main, procs=4) == 1


def test_cond_signal_and_broadcast() -> None:
    async def main() -> list[int]:
        cond = gmp.Cond()
        ready: list[int] = []
        queue: list[int] = []

        async def consumer(i: int) -> None:
            await cond.mutex.lock()
            while not queue:
                await cond.wait()
            queue.pop()
            ready.append(i)
            cond.mutex.unlock()

        hs = [gmp.go(consumer, i) for i in range(3)]
        await gmp.sleep(0.01)
        await cond.mutex.lock()
        queue.append(1)
        cond.signal()
        cond.mutex.unlock()
        await gmp.sleep(0.01)
        assert len(ready) == 1
        await cond.mutex.lock()
        queue.extend([2, 3])
        cond.broadcast()
        cond.mutex.unlock()
        for h in hs:
            await h.join()
        return sorted(ready)

    assert gmp.run(main, procs=2) == [0, 1, 2]


def test_cond_wait_without_the_mutex_is_an_error() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="without holding its mutex"):
            await gmp.Cond().wait()

    gmp.run(main, procs=1)


def test_semaphore_bounds_concurrency_and_max_value() -> None:
    async def main() -> int:
        sem = gmp.Semaphore(3, max_value=3)
        inside = gmp.AtomicInt()
        peak = gmp.AtomicInt()

        async def work() -> None:
            async with sem:
                n = inside.add(1)
                if n > peak.load():
                    peak.store(n)
                await gmp.sleep(0.002)
                inside.add(-1)

        async with gmp.TaskGroup() as tg:
            for _ in range(20):
                tg.go(work)
        with pytest.raises(ValueError, match="max_value"):
            sem.release()
        return peak.load()

    assert gmp.run(main, procs=4) == 3


def test_atomic_int_operations() -> None:
    a = gmp.AtomicInt(5)
    assert a.add(2) == 7
    assert a.swap(1) == 7
    assert a.compare_and_swap(1, 9) is True
    assert a.compare_and_swap(1, 10) is False
    assert a.load() == 9


def test_a_cancelled_lock_waiter_leaves_the_queue() -> None:
    async def main() -> bool:
        mu = gmp.Mutex()
        await mu.lock()
        with gmp.move_on_after(0.01) as scope:
            await mu.lock()
        mu.unlock()
        t = time.monotonic()
        await mu.lock()  # must not be handed to the cancelled waiter
        mu.unlock()
        return scope.cancelled_caught and time.monotonic() - t < 5

    assert gmp.run(main, procs=1) is True
