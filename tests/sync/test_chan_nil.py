"""Go's nil channel (``var c chan T``) and Go's channel panics.

chan.go: chansend and chanrecv on a nil channel park forever (here: until the G is
cancelled); closechan of a nil or closed channel panics, as does a send on a closed
channel. Those panics are ChannelPanic, a different class from the ChannelClosed that
``recv()`` raises at the end of a closed, drained channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import gmp


def run(main: Callable[[], Awaitable[Any]], procs: int = 2) -> Any:
    return gmp.run(main, procs=procs)


NIL_OPS: dict[str, Callable[[gmp.Chan[int]], Awaitable[Any]]] = {
    "send": lambda ch: ch.send(1),
    "recv": lambda ch: ch.recv(),
    "recv_ok": lambda ch: ch.recv_ok(),
}


async def _drain(ch: gmp.Chan[int]) -> list[int]:
    return [v async for v in ch]


@pytest.mark.parametrize("op", [*NIL_OPS, "async for"])
def test_an_operation_on_the_nil_channel_blocks_until_cancelled(op: str) -> None:
    async def main() -> tuple[bool, bool]:
        ch: gmp.Chan[int] = gmp.Chan.nil()
        started = gmp.Chan[None](1)
        cancelled: list[bool] = []

        async def blocked() -> None:
            await started.send(None)
            try:
                if op == "async for":
                    await _drain(ch)
                else:
                    await NIL_OPS[op](ch)
            except gmp.Cancelled:
                cancelled.append(True)
                raise

        async with gmp.TaskGroup() as tg:
            h = tg.go(blocked)
            await started.recv()
            for _ in range(20):  # plenty of chances to run: it stays parked
                await gmp.gosched()
            still_blocked = not h.done()
            tg.cancel_scope.cancel()
        return still_blocked, cancelled == [True]

    assert run(main) == (True, True)


@pytest.mark.parametrize("op", [*NIL_OPS])
def test_a_deadline_ends_a_nil_channel_operation(op: str) -> None:
    async def main() -> bool:
        ch: gmp.Chan[int] = gmp.Chan.nil()
        with gmp.move_on_after(0.02) as scope:
            await NIL_OPS[op](ch)
        return scope.cancelled_caught

    assert run(main, procs=1) is True


def test_an_already_cancelled_g_does_not_park_on_the_nil_channel() -> None:
    async def main() -> bool:
        with gmp.CancelScope() as scope:
            scope.cancel()
            await gmp.Chan.nil().recv()
        return scope.cancelled_caught

    assert run(main, procs=1) is True


def test_closing_the_nil_channel_panics() -> None:
    nil: gmp.Chan[int] = gmp.Chan.nil()
    with pytest.raises(gmp.ChannelPanic, match="close of nil channel"):
        nil.close()
    assert not nil.closed  # still nil, still usable as a never-ready case


def test_the_nil_channel_is_one_value_with_nothing_in_it() -> None:
    nil = gmp.Chan.nil()
    assert nil is gmp.Chan.nil()
    assert nil is not gmp.Chan()
    assert (len(nil), nil.cap, nil.closed) == (0, 0, False)
    assert repr(nil) == "<gmp.Chan nil>"


def test_select_never_fires_a_nil_case() -> None:
    async def main() -> tuple[gmp.Selected, gmp.Selected, list[int]]:
        nil: gmp.Chan[int] = gmp.Chan.nil()
        ready: gmp.Chan[int] = gmp.Chan(1)
        await ready.send(7)
        # Only the real channel can fire, whatever the random poll order.
        got = [await gmp.select(gmp.Recv(nil), gmp.Send(nil, 1), gmp.Recv(ready))]
        nothing = await gmp.select(gmp.Recv(nil), gmp.Send(nil, 1), default=True)
        # A select that parks skips the nil case too, and fires the real one later.
        out: gmp.Chan[int] = gmp.Chan()

        async def late() -> None:
            await out.send(42)

        gmp.go(late)
        values: list[int] = []
        for _ in range(10):
            sel = await gmp.select(gmp.Recv(nil), gmp.Send(nil, 0), gmp.Recv(out))
            values.append(sel.value)
            if sel.index == 2:
                break
        return got[0], nothing, values

    first, nothing, values = run(main)
    assert (first.index, first.value, first.ok) == (2, 7, True)
    assert nothing.index == -1
    assert values == [42]


def test_a_select_on_nil_channels_only_blocks_until_cancelled() -> None:
    async def main() -> bool:
        nil: gmp.Chan[int] = gmp.Chan.nil()
        with gmp.move_on_after(0.02) as scope:
            await gmp.select(gmp.Recv(nil), gmp.Send(nil, 1))
        return scope.cancelled_caught

    assert run(main, procs=1) is True


def test_nil_turns_off_a_finished_input_in_a_select_loop() -> None:
    """Go's merge idiom: when an input closes, set it to nil so its case stops firing."""

    async def main() -> list[int]:
        a: gmp.Chan[int] = gmp.Chan()
        b: gmp.Chan[int] = gmp.Chan()

        async def feed(ch: gmp.Chan[int], values: list[int]) -> None:
            for v in values:
                await ch.send(v)
            ch.close()

        gmp.go(feed, a, [1, 2, 3])
        gmp.go(feed, b, [10, 20])
        got: list[int] = []
        inputs = [a, b]
        while any(ch is not gmp.Chan.nil() for ch in inputs):
            sel = await gmp.select(*(gmp.Recv(ch) for ch in inputs))
            if not sel.ok:
                inputs[sel.index] = gmp.Chan.nil()
                continue
            got.append(sel.value)
        return sorted(got)

    assert run(main) == [1, 2, 3, 10, 20]


# -- panics are not ChannelClosed ----------------------------------------------------


def test_panics_are_channel_panic_and_not_channel_closed() -> None:
    assert not issubclass(gmp.ChannelPanic, gmp.ChannelClosed)
    assert not issubclass(gmp.ChannelClosed, gmp.ChannelPanic)
    assert issubclass(gmp.ChannelPanic, gmp.GmpError)
    assert issubclass(gmp.ChannelPanic, RuntimeError)  # like the other misuse errors

    async def main() -> list[str]:
        ch: gmp.Chan[int] = gmp.Chan(1)
        ch.close()
        caught: list[str] = []
        for attempt in (
            lambda: ch.send(1),
            lambda: gmp.select(gmp.Send(ch, 1)),
        ):
            try:
                await attempt()
            except gmp.ChannelClosed:
                caught.append("ChannelClosed")  # must not happen: a panic is a bug
            except gmp.ChannelPanic as e:
                caught.append(str(e))
        try:
            ch.close()
        except gmp.ChannelPanic as e:
            caught.append(str(e))
        return caught

    assert run(main) == [
        "send on closed channel",
        "send on closed channel",
        "close of closed channel",
    ]


def test_recv_on_a_closed_drained_channel_is_still_channel_closed() -> None:
    """Existing ``except ChannelClosed`` receive loops keep working unchanged."""

    async def main() -> tuple[list[int], str]:
        ch: gmp.Chan[int] = gmp.Chan(3)
        for v in (1, 2, 3):
            await ch.send(v)
        ch.close()
        got: list[int] = []
        try:
            while True:
                got.append(await ch.recv())
        except gmp.ChannelClosed as e:
            return got, str(e)

    got, msg = run(main)
    assert got == [1, 2, 3]
    assert msg == "receive from closed channel"


@pytest.mark.parametrize("how", ["send", "select"])
def test_a_sender_parked_when_the_channel_closes_gets_a_panic(how: str) -> None:
    async def main() -> str:
        ch: gmp.Chan[int] = gmp.Chan()
        parked = gmp.WaitGroup()
        parked.add(1)

        async def sender() -> str:
            parked.done()
            try:
                if how == "send":
                    await ch.send(1)
                else:
                    await gmp.select(gmp.Send(ch, 1))
            except gmp.ChannelPanic as e:
                return type(e).__name__ + ": " + str(e)
            return "sent"

        h = gmp.go(sender)
        await parked.wait()
        # The sender is on its way to parking: close only once it has parked (no receiver
        # can take the value, so "sent" is impossible; the panic is the only outcome).
        while not h.done() and len(ch._sendq) == 0:
            await gmp.gosched()
        ch.close()
        result: str = await h.join()
        return result

    result = run(main)
    assert result.startswith("ChannelPanic: send on closed channel (closed while")
