"""Channels and select with Go semantics."""

from __future__ import annotations

import pytest

import gmp


def run(main, *args, procs=2):  # type: ignore[no-untyped-def]
    return gmp.run(main, *args, procs=procs)


def test_unbuffered_send_blocks_until_received() -> None:
    async def main() -> list[str]:
        ch: gmp.Chan[int] = gmp.Chan()
        log: list[str] = []

        async def sender() -> None:
            await ch.send(1)
            log.append("sent")

        h = gmp.go(sender)
        await gmp.sleep(0.02)
        log.append("before recv")
        assert await ch.recv() == 1
        await h.join()
        return log

    assert run(main) == ["before recv", "sent"]


def test_buffered_channel_len_cap_and_fifo() -> None:
    async def main() -> tuple[int, int, list[int]]:
        ch: gmp.Chan[int] = gmp.Chan(3)
        for i in range(3):
            await ch.send(i)
        n = len(ch)
        # A 4th send blocks until someone receives.
        h = gmp.go(ch.send, 3)
        await gmp.sleep(0.01)
        assert not h.done()
        out = [await ch.recv() for _ in range(4)]
        await h.join()
        return n, ch.cap, out

    assert run(main) == (3, 3, [0, 1, 2, 3])


def test_close_drains_then_reports_closed() -> None:
    async def main() -> list[object]:
        ch: gmp.Chan[int] = gmp.Chan(2)
        await ch.send(1)
        await ch.send(2)
        ch.close()
        out: list[object] = [await ch.recv_ok(), await ch.recv_ok(), await ch.recv_ok()]
        with pytest.raises(gmp.ChannelClosed, match="receive from closed channel"):
            await ch.recv()
        with pytest.raises(gmp.ChannelPanic, match="send on closed channel"):
            await ch.send(3)
        with pytest.raises(gmp.ChannelPanic, match="close of closed channel"):
            ch.close()
        return out

    assert run(main) == [(1, True), (2, True), (None, False)]


def test_close_wakes_parked_receivers_and_senders() -> None:
    async def main() -> list[object]:
        ch: gmp.Chan[int] = gmp.Chan()
        results: list[object] = []

        async def receiver() -> None:
            results.append(await ch.recv_ok())

        async def sender() -> None:
            try:
                await ch.send(1)
            except gmp.ChannelPanic as e:
                results.append(str(e))

        hs = [gmp.go(receiver), gmp.go(receiver)]
        await gmp.sleep(0.01)
        ch.close()
        for h in hs:
            await h.join()
        ch2: gmp.Chan[int] = gmp.Chan()
        ch = ch2
        s = gmp.go(sender)
        await gmp.sleep(0.01)
        ch2.close()
        await s.join()
        return results

    out = run(main)
    assert out[:2] == [(None, False), (None, False)]
    assert "closed" in str(out[2])


def test_async_for_runs_until_close() -> None:
    async def main() -> list[int]:
        ch: gmp.Chan[int] = gmp.Chan(1)

        async def produce() -> None:
            for i in range(100):
                await ch.send(i)
            ch.close()

        gmp.go(produce)
        return [v async for v in ch]

    assert run(main, procs=1) == list(range(100))
    assert run(main, procs=4) == list(range(100))


def test_bad_capacity_is_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        gmp.Chan(-1)
    with pytest.raises(TypeError, match="int"):
        gmp.Chan(1.5)  # type: ignore[arg-type]


def test_select_default_is_non_blocking_and_none_never_fires() -> None:
    async def main() -> tuple[int, int, int]:
        a: gmp.Chan[int] = gmp.Chan()
        empty = await gmp.select(gmp.Recv(a), gmp.Recv(None), gmp.Send(None, 1), default=True)
        b: gmp.Chan[int] = gmp.Chan(1)
        await b.send(7)
        got = await gmp.select(gmp.Recv(None), gmp.Recv(b), default=True)
        assert got.value == 7 and got.ok
        sent = await gmp.select(gmp.Send(b, 8), gmp.Send(None, 9))
        return empty.index, got.index, sent.index

    assert run(main) == (-1, 1, 0)


def test_select_with_no_cases_blocks_until_cancelled() -> None:
    async def main() -> bool:
        with gmp.move_on_after(0.05) as scope:
            await gmp.select()
        return scope.cancelled_caught

    assert run(main) is True


def test_blocked_select_commits_exactly_one_case() -> None:
    async def main() -> tuple[int, int, int]:
        a: gmp.Chan[int] = gmp.Chan()
        b: gmp.Chan[int] = gmp.Chan()

        async def selector() -> gmp.Selected:
            return await gmp.select(gmp.Recv(a), gmp.Recv(b))

        h = gmp.go(selector)
        await gmp.sleep(0.01)
        # Both channels get a sender; only one value may be taken by the select.
        s1 = gmp.go(a.send, 1)
        s2 = gmp.go(b.send, 2)
        got = await h.join()
        await gmp.sleep(0.01)
        # The other sender is still blocked: its value was not consumed.
        leftover = await gmp.select(gmp.Recv(a), gmp.Recv(b), default=True)
        await s1.join()
        await s2.join()
        return got.index, got.value, leftover.value

    idx, val, left = run(main)
    assert (idx, val) in ((0, 1), (1, 2))
    assert left == (2 if val == 1 else 1)


def test_select_send_case_on_closed_channel_raises() -> None:
    async def main() -> None:
        a: gmp.Chan[int] = gmp.Chan()
        a.close()
        with pytest.raises(gmp.ChannelPanic, match="send on closed channel"):
            await gmp.select(gmp.Send(a, 1))

    run(main)


def test_select_chooses_uniformly_among_ready_cases() -> None:
    n = 4000

    async def main() -> list[int]:
        chans: list[gmp.Chan[int]] = [gmp.Chan(1) for _ in range(3)]
        counts = [0, 0, 0]
        for _ in range(n):
            for ch in chans:
                if len(ch) == 0:
                    await ch.send(1)
            got = await gmp.select(*(gmp.Recv(ch) for ch in chans))
            counts[got.index] += 1
        return counts

    counts = run(main, procs=1)
    # Binomial(n, 1/3): sd ~ 30. Five standard deviations is a bound only a bias breaks.
    for c in counts:
        assert abs(c - n / 3) < 5 * (n * (1 / 3) * (2 / 3)) ** 0.5, counts


def test_cancel_removes_a_parked_receiver_from_the_channel() -> None:
    async def main() -> tuple[bool, object]:
        ch: gmp.Chan[int] = gmp.Chan()
        with gmp.move_on_after(0.02) as scope:
            await ch.recv()
        # Nobody is waiting any more: a non-blocking send finds no receiver.
        res = await gmp.select(gmp.Send(ch, 1), default=True)
        return scope.cancelled_caught, res.index

    assert run(main) == (True, -1)


def test_typed_views_share_the_channel() -> None:
    async def main() -> int:
        ch: gmp.Chan[int] = gmp.Chan(1)
        tx = ch.send_only()
        rx = ch.recv_only()
        await tx.send(5)
        return await rx.recv()

    assert run(main) == 5
