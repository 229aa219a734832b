"""A forgotten ``await`` is not silent: gmp.sleep, gmp.gosched and gmp.syscall return real
coroutines, so CPython warns when one is dropped unawaited, as it does for any coroutine."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

import pytest

import gmp
from gmp.runtime import api


def _run_recording(main: Callable[[], Coroutine[Any, Any, Any]]) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gmp.run(main, procs=1)
    return [w for w in caught if issubclass(w.category, RuntimeWarning)]


def _line_of(fn: Callable[..., Any], marker: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if marker in line)


@pytest.mark.parametrize("name", ["sleep", "gosched", "syscall"])
def test_a_dropped_awaitable_warns_at_the_callers_line(name: str) -> None:
    ran: list[bool] = []

    async def main() -> None:
        if name == "sleep":
            gmp.sleep(0.5)  # type: ignore[unused-coroutine]  # forgotten
        elif name == "gosched":
            gmp.gosched()  # type: ignore[unused-coroutine]  # forgotten
        else:
            gmp.syscall(ran.append, True)  # type: ignore[unused-coroutine]  # forgotten

    caught = _run_recording(main)
    assert [str(w.message) for w in caught] == [f"coroutine 'gmp.{name}' was never awaited"]
    assert caught[0].filename == __file__
    assert caught[0].lineno == _line_of(main, f"gmp.{name}(")
    assert ran == []  # a forgotten syscall never runs its function


def test_a_forgotten_sleep_does_not_sleep() -> None:
    async def main() -> float:
        t0 = time.monotonic()
        gmp.sleep(30)  # type: ignore[unused-coroutine]  # returns at once
        return time.monotonic() - t0

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert gmp.run(main, procs=1) < 30


def test_awaited_ones_and_ones_the_runtime_starts_do_not_warn() -> None:
    async def main() -> int:
        await gmp.sleep(0.001)
        await gmp.sleep(0)
        await gmp.gosched()
        got: int = await gmp.syscall(len, "abc")
        await gmp.go(gmp.sleep, 0.001).join()
        await gmp.go(gmp.gosched).join()
        await gmp.go(gmp.sleep(0)).join()
        async with gmp.TaskGroup() as tg:
            tg.go(gmp.sleep, 0.001)
            tg.go(gmp.gosched)
        return got

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert gmp.run(main, procs=2) == 3
        with gmp.Runtime(procs=1) as rt:
            # Made outside any G, awaited by the G the runtime starts with it.
            assert rt.go(gmp.sleep(0.001)).result(timeout=10) is None
            assert rt.go(gmp.syscall(sum, [1, 2])).result(timeout=10) == 3


def test_they_are_native_coroutines() -> None:
    async def main() -> list[bool]:
        made = [gmp.sleep(0), gmp.gosched(), gmp.syscall(len, "")]
        kinds = [inspect.iscoroutine(c) for c in made]
        for c in made:
            await c
        return kinds

    assert gmp.run(main, procs=1) == [True, True, True]
    assert inspect.iscoroutinefunction(gmp.gosched)


def test_bad_arguments_raise_at_the_call_not_at_the_await() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="number of seconds, got str"):
            gmp.sleep("1")  # type: ignore[arg-type, unused-coroutine]
        with pytest.raises(TypeError, match="number of seconds, got bool"):
            gmp.sleep(True)  # type: ignore[unused-coroutine]
        with pytest.raises(ValueError, match="NaN"):
            gmp.sleep(float("nan"))  # type: ignore[unused-coroutine]
        with pytest.raises(TypeError, match="needs a callable, got int"):
            gmp.syscall(3)  # type: ignore[arg-type, unused-coroutine]

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no coroutine was made, none warns
        gmp.run(main, procs=1)
    with pytest.raises(TypeError, match="number of seconds"):
        gmp.sleep("1")  # type: ignore[arg-type, unused-coroutine]  # outside a G too


def test_the_wrapper_used_where_reflagged_code_does_not_run_behaves_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api, "_REFLAG_WORKS", False)

    @api._native_coroutine("gmp.probe")
    def probe(x: int) -> Generator[Any, Any, int]:
        got: int = yield ("trap", x)
        return got + 1

    coro = probe(5)
    assert inspect.iscoroutine(coro)
    assert coro.send(None) == ("trap", 5)
    with pytest.raises(StopIteration) as stop:
        coro.send(1)
    assert stop.value.value == 2
    with pytest.warns(RuntimeWarning, match="coroutine 'gmp.probe' was never awaited"):
        probe(1)  # type: ignore[unused-coroutine]
        del coro


PROGRAM = textwrap.dedent(
    """
    import gmp

    async def main() -> None:
        gmp.sleep(0.5)
        print("main went on", flush=True)

    gmp.run(main, procs=1)
    print("run returned", flush=True)
    """
)


def _run_program(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    prog = tmp_path / "forgot.py"
    prog.write_text(PROGRAM)
    return subprocess.run(
        [sys.executable, *flags, str(prog)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_under_dev_mode_the_warning_names_the_line(tmp_path: Path) -> None:
    proc = _run_program(tmp_path, "-X", "dev")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["main went on", "run returned"]
    assert "forgot.py:5: RuntimeWarning: coroutine 'gmp.sleep' was never awaited" in proc.stderr
    assert "gmp.sleep(0.5)" in proc.stderr


def test_under_w_error_it_is_an_error_reported_at_gc_time(tmp_path: Path) -> None:
    # As for any coroutine: the warning is raised where the object dies, inside a
    # finaliser, so Python reports it ("Exception ignored in") and the program goes on.
    proc = _run_program(tmp_path, "-W", "error")
    assert proc.returncode == 0, proc.stderr
    assert "Exception ignored in: <coroutine object gmp.sleep" in proc.stderr
    assert "RuntimeWarning: coroutine 'gmp.sleep' was never awaited" in proc.stderr
