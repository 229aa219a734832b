"""Misuse gets a clear error that names the problem."""

from __future__ import annotations

import pytest

import gmp


def test_go_outside_a_g_is_an_error() -> None:
    with pytest.raises(gmp.NotInGError, match=r"gmp.go\(\) works only inside a G"):
        gmp.go(print)


def test_sleep_gosched_syscall_outside_a_g_are_errors() -> None:
    for aw, name in (
        (gmp.sleep(1), "gmp.sleep"),
        (gmp.gosched(), "gmp.gosched"),
        (gmp.syscall(print), "gmp.syscall"),
    ):
        with pytest.raises(gmp.NotInGError, match=name):
            aw.send(None)  # type: ignore[attr-defined]


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="procs must be at least 1"):
        gmp.Runtime(procs=0)
    with pytest.raises(TypeError, match="procs must be an int"):
        gmp.Runtime(procs="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_threads"):
        gmp.Runtime(procs=4, max_threads=2)
    with pytest.raises(ValueError, match="handoff_after"):
        gmp.Runtime(procs=1, handoff_after=-1)
    with gmp.Runtime(procs=1) as rt:
        with pytest.raises(TypeError, match="got int"):
            rt.go(42)  # type: ignore[arg-type]

        async def main() -> None:
            with pytest.raises(TypeError, match="number of seconds"):
                await gmp.sleep("1")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="needs a callable"):
                await gmp.syscall(3)  # type: ignore[arg-type]

        rt.go(main).result(timeout=10)


def test_a_g_joining_itself_is_a_deadlock_error() -> None:
    async def main() -> None:
        me = gmp.current_g()
        with pytest.raises(gmp.DeadlockError, match="cannot join itself"):
            await me.join()

    gmp.run(main, procs=1)


def test_result_inside_a_g_is_refused() -> None:
    async def child() -> int:
        return 1

    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"await handle\.join"):
            gmp.go(child).result()

    gmp.run(main, procs=1)


def test_go_on_a_closed_runtime_and_result_of_an_unfinished_g() -> None:
    rt = gmp.Runtime(procs=1)
    rt.close()
    with pytest.raises(gmp.RuntimeClosedError, match="closed"):
        rt.go(print)


def test_awaiting_a_foreign_awaitable_raises_inside_the_g() -> None:
    class Foreign:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield "not a gmp trap"

    async def main() -> str:
        try:
            await Foreign()
        except TypeError as e:
            return str(e)
        return "no error"

    assert "gmp cannot run" in gmp.run(main, procs=1)


def test_gmp_procs_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMP_PROCS", "3")
    assert gmp.default_procs() == 3
    with gmp.Runtime() as rt:
        assert rt.procs == 3
    monkeypatch.setenv("GMP_PROCS", "zero")
    with pytest.raises(ValueError, match="GMP_PROCS"):
        gmp.default_procs()
