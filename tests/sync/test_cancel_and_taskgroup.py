"""Cancel scopes (trio's model) and TaskGroup (nursery) semantics for Gs."""

from __future__ import annotations

import time

import pytest

import gmp


def test_move_on_after_cancels_at_the_next_checkpoint() -> None:
    async def main() -> tuple[bool, bool]:
        with gmp.move_on_after(0.02) as scope:
            await gmp.sleep(10)
        with gmp.move_on_after(10) as fast:
            await gmp.sleep(0.001)
        return scope.cancelled_caught, fast.cancelled_caught

    assert gmp.run(main, procs=1) == (True, False)


def test_fail_after_raises_too_slow() -> None:
    async def main() -> None:
        with pytest.raises(gmp.TooSlowError), gmp.fail_after(0.01):
            await gmp.sleep(10)

    gmp.run(main, procs=1)


def test_nested_scopes_unwind_to_the_cancelled_one() -> None:
    async def main() -> tuple[bool, bool, bool]:
        reached = False
        with gmp.CancelScope() as outer:
            with gmp.CancelScope() as inner:
                outer.cancel()
                await gmp.gosched()
            reached = True  # not reached: the Cancelled unwinds to the outer scope
        return inner.cancelled_caught, outer.cancelled_caught, reached

    inner, outer, reached = gmp.run(main, procs=1)
    assert (inner, outer, reached) == (False, True, False)


def test_shield_protects_from_outer_cancellation() -> None:
    async def main() -> list[str]:
        log: list[str] = []
        with gmp.CancelScope() as outer:
            outer.cancel()
            with gmp.CancelScope(shield=True):
                await gmp.sleep(0.01)
                log.append("shielded sleep finished")
            await gmp.gosched()
            log.append("not reached")
        log.append(f"outer caught={outer.cancelled_caught}")
        return log

    assert gmp.run(main, procs=1) == ["shielded sleep finished", "outer caught=True"]


def test_cancel_from_another_g_wakes_a_parked_g() -> None:
    async def main() -> bool:
        scope = gmp.CancelScope()
        ch: gmp.Chan[int] = gmp.Chan()

        async def victim() -> bool:
            with scope:
                await ch.recv()
            return scope.cancelled_caught

        h = gmp.go(victim)
        await gmp.sleep(0.01)
        scope.cancel()
        return await h.join()

    assert gmp.run(main, procs=2) is True


def test_return_from_a_syscall_is_a_checkpoint() -> None:
    async def main() -> tuple[bool, float]:
        t = time.monotonic()
        with gmp.move_on_after(0.01) as scope:
            await gmp.syscall(time.sleep, 0.05)
            await gmp.sleep(0)  # not reached: the syscall's return raised
        return scope.cancelled_caught, time.monotonic() - t

    caught, elapsed = gmp.run(main, procs=1)
    assert caught and elapsed >= 0.05


def test_taskgroup_waits_for_children() -> None:
    async def main() -> list[int]:
        out: list[int] = []

        async def child(i: int) -> None:
            await gmp.sleep(0.001 * i)
            out.append(i)

        async with gmp.TaskGroup() as tg:
            for i in range(10):
                tg.go(child, i)
        return sorted(out)

    assert gmp.run(main, procs=2) == list(range(10))


def test_a_failing_child_cancels_its_siblings_and_raises_an_exception_group() -> None:
    async def main() -> tuple[list[str], list[BaseException]]:
        log: list[str] = []

        async def sibling() -> None:
            try:
                await gmp.sleep(10)
            except gmp.Cancelled:
                log.append("sibling cancelled")
                raise

        async def bad() -> None:
            await gmp.sleep(0.01)
            raise ValueError("child broke")

        try:
            async with gmp.TaskGroup() as tg:
                tg.go(sibling)
                tg.go(sibling)
                tg.go(bad)
                await gmp.sleep(10)  # the body is cancelled too
        except ExceptionGroup as eg:
            return log, list(eg.exceptions)
        return log, []

    log, errors = gmp.run(main, procs=2)
    assert log == ["sibling cancelled", "sibling cancelled"]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def test_a_failing_body_cancels_the_children() -> None:
    async def main() -> list[str]:
        log: list[str] = []

        async def child() -> None:
            try:
                await gmp.sleep(10)
            except gmp.Cancelled:
                log.append("child cancelled")
                raise

        with pytest.raises(ExceptionGroup) as ei:
            async with gmp.TaskGroup() as tg:
                tg.go(child)
                await gmp.sleep(0.01)
                raise KeyError("body")
        assert isinstance(ei.value.exceptions[0], KeyError)
        return log

    assert gmp.run(main, procs=2) == ["child cancelled"]


def test_cancelling_an_enclosing_scope_cancels_taskgroup_children() -> None:
    async def main() -> tuple[bool, int]:
        cancelled = gmp.AtomicInt()

        async def child() -> None:
            try:
                await gmp.sleep(10)
            except gmp.Cancelled:
                cancelled.add(1)
                raise

        with gmp.move_on_after(0.02) as scope:
            async with gmp.TaskGroup() as tg:
                for _ in range(3):
                    tg.go(child)
        return scope.cancelled_caught, cancelled.load()

    assert gmp.run(main, procs=2) == (True, 3)


def test_taskgroup_plain_callable_children_run_with_handoff() -> None:
    async def main() -> list[int]:
        async with gmp.TaskGroup() as tg:
            hs = [tg.go(time.sleep, 0.01) for _ in range(3)] + [tg.go(sum, [1, 2])]
        return [await h.join() for h in hs[3:]]

    assert gmp.run(main, procs=1) == [3]


def test_fire_and_forget_go_still_works_beside_taskgroups() -> None:
    async def main() -> int:
        h = gmp.go(lambda: 5)
        async with gmp.TaskGroup() as tg:
            tg.go(gmp.sleep, 0.001)
        return await h.join()

    assert gmp.run(main, procs=2) == 5
