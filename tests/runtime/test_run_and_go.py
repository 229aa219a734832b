"""gmp.run, rt.go, gmp.go, join/result: the basic contract of a G."""

from __future__ import annotations

import contextvars
import functools
import threading

import pytest

import gmp


def test_run_returns_the_result_of_an_async_main() -> None:
    async def main(a: int, b: int) -> int:
        return a + b

    assert gmp.run(main, 2, 3, procs=1) == 5


def test_run_accepts_a_plain_callable_main() -> None:
    assert gmp.run(lambda: threading.current_thread().name, procs=1).startswith("gmp-M")


def test_run_reraises_the_exception_of_main() -> None:
    async def main() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        gmp.run(main, procs=2)


def test_join_returns_child_results_in_any_order() -> None:
    async def child(i: int) -> int:
        await gmp.sleep(0.001 * (i % 3))
        return i * i

    async def main() -> list[int]:
        hs = [gmp.go(child, i) for i in range(50)]
        return [await h.join() for h in reversed(hs)]

    assert gmp.run(main, procs=2) == [i * i for i in reversed(range(50))]


def test_join_reraises_the_child_exception() -> None:
    async def child() -> None:
        raise ValueError("child failed")

    async def main() -> str:
        h = gmp.go(child)
        with pytest.raises(ValueError, match="child failed"):
            await h.join()
        return "survived"

    assert gmp.run(main, procs=1) == "survived"


def test_plain_callable_gs_and_coroutine_objects_both_run() -> None:
    async def coro_fn(x: int) -> int:
        return x + 1

    async def main() -> tuple[int, int, int, int]:
        a = gmp.go(sum, [1, 2, 3])
        b = gmp.go(coro_fn(41))
        c = gmp.go(functools.partial(coro_fn, 9))
        d = gmp.go(lambda: coro_fn(0))  # a callable returning a coroutine keeps going
        return (await a.join(), await b.join(), await c.join(), await d.join())

    assert gmp.run(main, procs=2) == (6, 42, 10, 1)


def test_rt_go_from_outside_and_result_with_timeout() -> None:
    async def slow() -> str:
        await gmp.sleep(0.05)
        return "done"

    with gmp.Runtime(procs=2) as rt:
        h = rt.go(slow)
        with pytest.raises(TimeoutError):
            h.result(timeout=0)
        assert h.result(timeout=10) == "done"
        assert h.done()


def test_each_g_runs_in_a_copy_of_its_spawners_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def child() -> str:
        seen = var.get()
        var.set("child")
        return seen

    async def main() -> tuple[str, str, str]:
        var.set("parent")
        h = gmp.go(child)
        seen = await h.join()
        return seen, var.get(), await gmp.go(child).join()

    token = var.set("outside")
    try:
        assert gmp.run(main, procs=2) == ("parent", "parent", "parent")
        assert var.get() == "outside"
    finally:
        var.reset(token)


def test_a_hundred_thousand_gs_complete_exactly_once() -> None:
    n = 100_000

    async def work(i: int) -> int:
        return i

    async def main() -> list[int]:
        hs = [gmp.go(work, i) for i in range(n)]
        return [await h.join() for h in hs]

    for procs in (1, 2, 4):
        with gmp.Runtime(procs=procs) as rt:
            out = rt.go(main).result(timeout=120)
            assert out == list(range(n))
            assert rt.stats().gs_created == n + 1
            assert rt.stats().gs_alive == 0


def test_many_external_spawns_complete_exactly_once() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            seen.append(i)

    with gmp.Runtime(procs=4) as rt:
        hs = [rt.go(record, i) for i in range(20_000)]
        for h in hs:
            h.result(timeout=60)
    assert sorted(seen) == list(range(20_000))
