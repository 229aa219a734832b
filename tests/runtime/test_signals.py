"""gmp's threads leave process signals to the main thread (gmp.runtime.signals).

Law: every thread gmp starts (each M, sysmon, the log flusher) blocks SIGINT, SIGTERM and
SIGALRM, and the thread that called ``gmp.run`` blocks none of them, so the kernel hands
a Ctrl-C to the thread that runs Python's handlers. Read from the threads' own
``/proc/self/task/<tid>/status`` (Linux): what the kernel will do, not what gmp meant.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import pytest

import gmp
from gmp.runtime.signals import ASYNC_SIGNALS

pytestmark = [
    pytest.mark.threaded,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not ASYNC_SIGNALS,
        reason="reads thread signal masks from /proc (Linux)",
    ),
]

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)


def _blocked(tid: int) -> set[int]:
    for line in Path(f"/proc/self/task/{tid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return {s for s in WATCHED if mask >> (s - 1) & 1}
    raise AssertionError("no SigBlk line")


def test_gmp_threads_block_process_signals_and_the_caller_does_not() -> None:
    seen: dict[str, set[int]] = {}

    def call() -> None:
        me = threading.current_thread()
        seen[me.name] = _blocked(threading.get_native_id())

    async def main() -> dict[str, set[int]]:
        await gmp.go(call).join()  # a plain call runs on an M's thread
        await gmp.syscall(call)
        tids = {t.name: t.native_id for t in threading.enumerate()}
        return {n: _blocked(t) for n, t in tids.items() if t is not None and n == "gmp-sysmon"}

    sysmon = gmp.run(main, procs=2)
    assert seen and all(name.startswith("gmp-M") for name in seen), seen
    for name, blocked in {**seen, **sysmon}.items():
        assert blocked == set(WATCHED), (name, blocked)
    assert sysmon, "sysmon was not found"
    assert _blocked(threading.get_native_id()) == set(), "the caller's mask changed"


def test_the_log_flusher_blocks_process_signals() -> None:
    import io

    from gmp.observe.log import BufferedLineWriter

    sink = BufferedLineWriter(io.StringIO(), interval=60)
    try:
        sink.write("a line\n")  # the flusher starts with the first line
        flusher = next(t for t in threading.enumerate() if t.name == "log-flusher")
        assert flusher.native_id is not None
        # Its mask is set as its first statement: wait until it has run that far.
        for _ in range(1000):
            if _blocked(flusher.native_id):
                break
            threading.Event().wait(0.001)
        assert _blocked(flusher.native_id) == set(WATCHED)
    finally:
        sink.close()
