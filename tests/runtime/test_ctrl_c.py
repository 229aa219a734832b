"""Ctrl-C on a stuck ``gmp.run`` exits at the first press with one clean traceback.

Each case runs a program in a subprocess whose main G never finishes (a blocking call, a
long sleep, a computing loop, a join of a G stuck in a plain call), with a
``cancel_grace`` of a minute: before the fix, one Ctrl-C waited out that grace (and as
long again for the threads), and a second press chained a second traceback.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

import gmp
from gmp.runtime import api

PROGRAM = textwrap.dedent(
    """
    import sys
    import threading
    import time

    import gmp

    KIND = sys.argv[1]


    async def main() -> None:
        print("ready", flush=True)
        if KIND == "syscall":
            await gmp.syscall(time.sleep, 600)
        elif KIND == "sleep":
            await gmp.sleep(600)
        elif KIND == "hog":
            while True:
                pass
        elif KIND == "join":
            await gmp.go(threading.Event().wait).join()


    gmp.run(main, procs=2, cancel_grace=60)
    """
)

EXIT_TIMEOUT = 20.0  # far below the 60 s grace the old code waited out


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _start(tmp_path: Path, kind: str) -> tuple[subprocess.Popen[str], Path]:
    prog = tmp_path / "stuck.py"
    prog.write_text(PROGRAM)
    err = tmp_path / "stderr.txt"
    with err.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, str(prog), kind],
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        raise AssertionError("the program never reported that main started") from None
    assert first.strip() == "ready"
    return proc, err


def _interrupt(proc: subprocess.Popen[str], presses: int) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    for _ in range(presses - 1):
        time.sleep(0.2)  # lands while the runtime closes (it takes about 0.6 s here)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {EXIT_TIMEOUT} s after Ctrl-C") from None
    return time.monotonic() - t0


def _assert_one_clean_traceback(proc: subprocess.Popen[str], err: Path) -> None:
    stderr = err.read_text()
    assert proc.returncode == -signal.SIGINT, stderr  # died of SIGINT, as Python does
    assert stderr.count("Traceback (most recent call last):") == 1, stderr
    assert "During handling of the above exception" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr
    assert "gmp.run(main" in stderr  # the traceback starts at the user's call
    assert stderr.rstrip().endswith("KeyboardInterrupt"), stderr


@pytest.mark.parametrize("kind", ["syscall", "sleep", "hog", "join"])
def test_one_ctrl_c_ends_a_stuck_run_with_one_traceback(tmp_path: Path, kind: str) -> None:
    proc, err = _start(tmp_path, kind)
    _interrupt(proc, presses=1)
    _assert_one_clean_traceback(proc, err)


@pytest.mark.parametrize("kind", ["syscall", "hog"])
def test_a_second_ctrl_c_while_closing_adds_no_traceback(tmp_path: Path, kind: str) -> None:
    proc, err = _start(tmp_path, kind)
    _interrupt(proc, presses=2)
    _assert_one_clean_traceback(proc, err)


class _FakeRuntime:
    def __init__(self, close_raises: bool) -> None:
        self.cancel_grace = 60.0
        self.close_raises = close_raises
        self.closed_with: list[Any] = []

    def close(self, timeout: float | None = None) -> None:
        self.closed_with.append(timeout)
        if self.close_raises:
            raise KeyboardInterrupt


def test_closing_after_an_interrupt_shortens_the_grace_and_swallows_a_second_one() -> None:
    for raises in (False, True):
        rt = _FakeRuntime(raises)
        api._close_after_interrupt(rt)  # type: ignore[arg-type]
        assert rt.cancel_grace == api._INTERRUPT_GRACE
        assert rt.closed_with == [0]


def test_a_shorter_cancel_grace_is_kept() -> None:
    rt = _FakeRuntime(False)
    rt.cancel_grace = 0.0
    api._close_after_interrupt(rt)  # type: ignore[arg-type]
    assert rt.cancel_grace == 0.0


def test_without_an_interrupt_run_still_returns_and_closes() -> None:
    async def main() -> int:
        return 7

    assert gmp.run(main, procs=1, cancel_grace=60) == 7
