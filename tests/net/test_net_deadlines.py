"""Deadlines (Go's SetDeadline family) and cancellation of Gs parked on gmp.net.

A deadline is absolute, on ``time.monotonic()``'s clock. Past it, an operation pending or
started raises ``gmp.DeadlineExceeded`` (a ``TimeoutError``); a new deadline, or None,
makes the connection usable again. A cancel scope or a TaskGroup takes back a G parked on
a socket: it unwinds with ``Cancelled`` and leaves no wait registered behind.
"""

from __future__ import annotations

import time

import pytest
from net_helpers import READ, WRITE, parked, parked_on, poll_waiters, recv_all, recv_exactly, run

import gmp
from gmp import net
from gmp.net import Conn

pytestmark = [pytest.mark.threaded, pytest.mark.timeout(120)]

PROCS = [1, 2]


async def pair() -> tuple[net.Listener, Conn, Conn]:
    """A listener and both ends of one TCP connection made through it."""
    ln = net.listen("127.0.0.1", 0)
    acc = gmp.go(ln.accept)
    client = await net.dial("127.0.0.1", ln.port)
    return ln, client, await acc.join()


def close_all(*things: net.Listener | Conn) -> None:
    for t in things:
        t.close()


# -- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize("procs", PROCS)
def test_read_deadline_raises_and_a_new_deadline_or_none_revives(procs: int) -> None:
    async def main() -> None:
        ln, a, b = await pair()
        when = time.monotonic() + 0.05
        a.set_read_deadline(when)
        with pytest.raises(gmp.DeadlineExceeded, match="i/o timeout") as info:
            await a.recv(10)
        assert time.monotonic() >= when  # not before its time
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(gmp.DeadlineExceeded):
            await a.recv(10)  # still past it: fails at once, as in Go
        assert poll_waiters() == 0

        a.set_read_deadline(time.monotonic() + 60)  # a new deadline
        await b.send_all(b"one")
        assert await recv_exactly(a, 3) == b"one"

        a.set_read_deadline(time.monotonic() + 0.01)
        with pytest.raises(gmp.DeadlineExceeded):
            await a.recv(10)
        a.set_read_deadline(None)  # no deadline
        await b.send_all(b"two")
        assert await recv_exactly(a, 3) == b"two"
        # The write side never had a deadline: it worked all along.
        await a.send_all(b"back")
        assert await recv_exactly(b, 4) == b"back"
        close_all(a, b, ln)

    run(main, procs)


def test_a_deadline_in_the_past_fails_at_once_even_with_data_waiting() -> None:
    async def main() -> None:
        ln, a, b = await pair()
        await b.send_all(b"waiting")
        for setter in (a.set_read_deadline, a.set_deadline):
            setter(time.monotonic() - 1)
            with pytest.raises(gmp.DeadlineExceeded):
                await a.recv(10)
            with pytest.raises(gmp.DeadlineExceeded):
                await a.recv_into(bytearray(10))
            setter(None)
        a.set_write_deadline(0.0)  # long past: time.monotonic() counts up from boot
        with pytest.raises(gmp.DeadlineExceeded):
            await a.send(b"x")
        a.set_deadline(None)
        assert await recv_exactly(a, 7) == b"waiting"  # the data was left unread
        close_all(a, b, ln)

    run(main)


@pytest.mark.parametrize("procs", PROCS)
def test_a_deadline_set_while_parked_applies_to_the_parked_g(procs: int) -> None:
    """Go: a deadline set while a Read blocks applies to that Read. Moving it into the
    past wakes the reader; moving it later disarms the old timer."""

    async def main() -> None:
        ln, a, b = await pair()
        r = gmp.go(a.recv, 10)
        await parked(a, READ)
        a.set_read_deadline(time.monotonic() - 1)
        with pytest.raises(gmp.DeadlineExceeded):
            await r.join()

        first = time.monotonic() + 0.5  # ample time to park before it moves
        a.set_read_deadline(first)
        r = gmp.go(a.recv, 10)
        await parked(a, READ)
        a.set_read_deadline(time.monotonic() + 60)  # later: the first timer is stale
        await gmp.sleep(max(first - time.monotonic(), 0) + 0.05)
        assert parked_on(a, READ)  # the stale timer did not wake it
        await b.send_all(b"late")
        assert await r.join() == b"late"
        close_all(a, b, ln)

    run(main, procs)


def test_set_deadline_and_set_timeout_cover_both_directions() -> None:
    async def main() -> None:
        ln, a, b = await pair()
        a.set_timeout(-1)
        with pytest.raises(gmp.DeadlineExceeded):
            await a.recv(1)
        with pytest.raises(gmp.DeadlineExceeded):
            await a.send_all(b"x")
        a.set_timeout(None)
        a.set_deadline(time.monotonic() + 60)
        await a.send_all(b"ok")
        assert await recv_exactly(b, 2) == b"ok"
        close_all(a, b, ln)

    run(main)


@pytest.mark.parametrize("procs", PROCS)
def test_write_deadline_with_a_peer_that_does_not_read(procs: int) -> None:
    async def main() -> None:
        ln, a, b = await pair()
        flood = b"w" * (64 << 20)  # far more than the socket buffers hold
        a.set_write_deadline(time.monotonic() + 0.1)
        with pytest.raises(gmp.DeadlineExceeded):
            await a.send_all(flood)
        await b.send_all(b"r")  # the read side has its own deadline (none)
        assert await recv_exactly(a, 1) == b"r"

        # The peer drains; with the deadline cleared the writer finishes.
        drained = gmp.go(recv_all, b)
        a.set_write_deadline(None)
        await a.send_all(b"tail")
        a.close_write()
        data = await drained.join()
        # Some of the flood went before the deadline (none, on a slow enough machine).
        assert data.endswith(b"tail") and data[:-4].strip(b"w") == b""
        close_all(a, b, ln)

    run(main, procs)


# -- cancellation -----------------------------------------------------------------------------


async def still_usable(a: Conn, b: Conn) -> None:
    """After a cancelled wait, a new reader parks and is readied as usual."""
    r = gmp.go(a.recv, 10)
    await parked(a, READ)
    await b.send_all(b"again")
    assert await r.join() == b"again"


@pytest.mark.parametrize("procs", PROCS)
def test_move_on_after_takes_back_a_g_parked_in_recv(procs: int) -> None:
    async def main() -> None:
        ln, a, b = await pair()
        with gmp.move_on_after(0.05) as scope:
            await a.recv(10)
            raise AssertionError("recv returned with nothing sent")
        assert scope.cancelled_caught
        assert not parked_on(a, READ) and poll_waiters() == 0  # no wait left behind
        await still_usable(a, b)
        close_all(a, b, ln)

    run(main, procs)


@pytest.mark.parametrize("procs", PROCS)
def test_cancelling_a_scope_wakes_a_parked_reader_and_writer(procs: int) -> None:
    async def main() -> None:
        ln, a, b = await pair()
        scopes = [gmp.CancelScope(), gmp.CancelScope()]
        unwound: list[str] = []

        async def reader() -> None:
            with scopes[0]:
                try:
                    await a.recv(10)
                finally:
                    unwound.append("reader")

        async def writer() -> None:
            with scopes[1]:
                try:
                    await a.send_all(b"w" * (64 << 20))
                finally:
                    unwound.append("writer")

        hs = [gmp.go(reader), gmp.go(writer)]
        await parked(a, READ)
        await parked(a, WRITE)
        for scope in scopes:
            scope.cancel()
        for h in hs:
            await h.join()
        assert sorted(unwound) == ["reader", "writer"]
        assert not parked_on(a, READ) and not parked_on(a, WRITE)
        assert poll_waiters() == 0
        await still_usable(a, b)
        close_all(a, b, ln)

    run(main, procs)


@pytest.mark.parametrize("procs", PROCS)
def test_a_cancelled_task_group_unwinds_its_parked_readers(procs: int) -> None:
    async def main() -> None:
        ln, a, b = await pair()
        unwound: list[str] = []

        async def reader(conn: Conn, name: str) -> None:
            try:
                await conn.recv(10)
            finally:
                unwound.append(name)

        async with gmp.TaskGroup() as tg:
            tg.go(reader, a, "a")
            tg.go(reader, b, "b")
            await parked(a, READ)
            await parked(b, READ)
            tg.cancel_scope.cancel()
        assert sorted(unwound) == ["a", "b"]
        assert poll_waiters() == 0

        # A failing sibling cancels a parked reader; only the failure is reported.
        with pytest.raises(ExceptionGroup) as info:
            async with gmp.TaskGroup() as tg:
                tg.go(reader, a, "a2")
                await parked(a, READ)
                raise ValueError("boom")
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        assert "a2" in unwound and poll_waiters() == 0
        await still_usable(a, b)
        close_all(a, b, ln)

    run(main, procs)


def test_fail_after_around_recv_is_too_slow_error() -> None:
    async def main() -> None:
        ln, a, b = await pair()
        with pytest.raises(gmp.TooSlowError), gmp.fail_after(0.02):
            await a.recv(10)
        assert poll_waiters() == 0
        close_all(a, b, ln)

    run(main)


def test_cancelling_accept_and_dial(full_backlog: int) -> None:
    async def main() -> None:
        ln = net.listen("127.0.0.1", 0)
        with gmp.move_on_after(0.02) as scope:
            await ln.accept()
        assert scope.cancelled_caught and poll_waiters() == 0
        # The dial waits on a port that never answers, until its scope is cancelled.
        with gmp.move_on_after(0.05) as scope:
            await net.dial("127.0.0.1", full_backlog)
        assert scope.cancelled_caught and poll_waiters() == 0
        # The listener still accepts.
        acc = gmp.go(ln.accept)
        conn = await net.dial("127.0.0.1", ln.port)
        close_all(conn, await acc.join(), ln)

    run(main)


def test_run_returning_cancels_gs_parked_on_sockets() -> None:
    """As in Go, main returning ends the program: Gs parked in recv and accept are
    cancelled and the runtime closes."""
    left: list[str] = []

    async def main() -> None:
        ln, a, _ = await pair()

        async def reader() -> None:
            try:
                await a.recv(10)
            finally:
                left.append("reader")

        gmp.go(reader)
        gmp.go(ln.accept)
        await parked(a, READ)
        await parked(ln, READ)

    run(main, 2)
    assert left == ["reader"]
