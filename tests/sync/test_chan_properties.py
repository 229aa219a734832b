"""Property tests: random channel programs deliver every value exactly once, in order."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gmp

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    n_chans=st.integers(1, 3),
    caps=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    senders=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 20)), min_size=1, max_size=6),
    selecting_receivers=st.integers(0, 2),
    procs=st.sampled_from([1, 2, 4]),
)
def test_every_value_is_delivered_exactly_once_and_each_senders_order_is_kept(
    n_chans: int,
    caps: list[int],
    senders: list[tuple[int, int]],
    selecting_receivers: int,
    procs: int,
) -> None:
    async def main() -> list[list[tuple[int, int, int]]]:
        chans: list[gmp.Chan[tuple[int, int]]] = [gmp.Chan(caps[i]) for i in range(n_chans)]
        wg = gmp.WaitGroup()
        # One log per receiver: (channel, sender, k) in the order that receiver got them.
        logs: list[list[tuple[int, int, int]]] = [[] for _ in range(n_chans + selecting_receivers)]

        async def sender(sid: int, ch: gmp.Chan[tuple[int, int]], count: int) -> None:
            for k in range(count):
                if k % 3 == 0:
                    # Sometimes send through a select with a None case.
                    await gmp.select(gmp.Send(ch, (sid, k)), gmp.Recv(None))
                else:
                    await ch.send((sid, k))
            wg.done()

        async def plain_receiver(i: int) -> None:
            async for s, k in chans[i]:
                logs[i].append((i, s, k))

        async def select_receiver(r: int) -> None:
            open_ = set(range(n_chans))
            while open_:
                cases = [gmp.Recv(chans[i] if i in open_ else None) for i in range(n_chans)]
                got = await gmp.select(*cases)
                if not got.ok:
                    open_.discard(got.index)
                else:
                    logs[r].append((got.index, *got.value))

        wg.add(len(senders))
        for sid, (ci, count) in enumerate(senders):
            gmp.go(sender, sid, chans[ci % n_chans], count)
        async with gmp.TaskGroup() as tg:
            for i in range(n_chans):
                tg.go(plain_receiver, i)
            for r in range(selecting_receivers):
                tg.go(select_receiver, n_chans + r)
            await wg.wait()
            for ch in chans:
                ch.close()
        return logs

    logs = gmp.run(main, procs=procs)
    everything = sorted((s, k) for log in logs for (_, s, k) in log)
    expected = sorted((sid, k) for sid, (_, count) in enumerate(senders) for k in range(count))
    assert everything == expected  # every value exactly once
    for log in logs:
        for sid in range(len(senders)):
            ks = [k for (_, s, k) in log if s == sid]
            assert ks == sorted(ks), (sid, ks)  # each receiver sees a sender's values in order


@settings(max_examples=10, deadline=None)
@given(k=st.integers(2, 5))
def test_select_frequencies_among_k_ready_cases_are_uniform_within_five_sigma(k: int) -> None:
    n = 1500

    async def main() -> list[int]:
        chans: list[gmp.Chan[int]] = [gmp.Chan(1) for _ in range(k)]
        counts = [0] * k
        for _ in range(n):
            for ch in chans:
                if len(ch) == 0:
                    await ch.send(0)
            counts[(await gmp.select(*(gmp.Recv(c) for c in chans))).index] += 1
        return counts

    counts = gmp.run(main, procs=1)
    p = 1 / k
    sd = (n * p * (1 - p)) ** 0.5
    assert all(abs(c - n * p) <= 5 * sd for c in counts), counts


@settings(max_examples=10, deadline=None)
@given(n_waiters=st.integers(2, 6), hold_ms=st.sampled_from([0.2, 0.5, 1.0]))
def test_under_contention_no_mutex_waiter_is_overtaken_once_it_starves(
    n_waiters: int, hold_ms: float
) -> None:
    """Starvation bound: once a waiter has waited past 1 ms, the lock is handed to waiters
    in queue order, so it waits at most for the waiters queued ahead of it (no newcomer
    barges in). We check it on the order of acquisitions, not on timing."""
    import time

    async def main() -> tuple[list[int], list[int]]:
        mu = gmp.Mutex()
        enqueue_order: list[int] = []
        acquire_order: list[int] = []

        async def contender(i: int) -> None:
            for _ in range(3):
                enqueue_order.append(i)
                await mu.lock()
                acquire_order.append(i)
                t = time.perf_counter()
                while time.perf_counter() - t < hold_ms / 1000:
                    pass
                mu.unlock()
                await gmp.gosched()

        async with gmp.TaskGroup() as tg:
            for i in range(n_waiters):
                tg.go(contender, i)
        return enqueue_order, acquire_order

    enq, acq = gmp.run(main, procs=1, handoff_after=60)
    assert sorted(acq) == sorted(enq)
    # Each contender acquires exactly 3 times, and no contender gets two turns while
    # another contender with a pending request is left out for more than n rounds.
    for i in range(n_waiters):
        assert acq.count(i) == 3
    positions = {i: [p for p, x in enumerate(acq) if x == i] for i in range(n_waiters)}
    for pos in positions.values():
        gaps = [b - a for a, b in itertools.pairwise(pos)]
        assert all(g <= n_waiters for g in gaps), (acq, gaps)
