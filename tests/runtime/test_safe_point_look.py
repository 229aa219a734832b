"""The M's own look at its time slice, at safe points that do not reach it.

Under the GIL sysmon is one more thread waiting for the interpreter, and beside Ms that
compute its looks come late (gmp._core.preempt.safe_point_look). So every safe point an
operation passes without parking counts down ``p.safe_points``, and when the count is
spent the M reads the clock and judges the slice itself.

Laws, each checked with sysmon made blind (it looks once a minute), at procs=1:

- **Every inline safe point counts.** A G that only passes safe points of one kind (a
  ``select`` with a default, a send into a buffer with room, a receive or ``recv_ok``
  from a full buffer, an uncontended ``Mutex.lock``, a join of a finished G) is
  preempted once its slice is over: a G it readied into runnext at its start runs
  before it has done all its work. Without the count at that kind of safe point nothing
  preempts it, and that G runs only after it (each case fails if its site's count is
  removed).
- **Preempted, not handed off.** No second M is started: the P stays with its M.

The work is 200,000 operations, a few hundred milliseconds on any build, against a
10 ms slice; nothing here is timed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import gmp

pytestmark = pytest.mark.threaded

OPS = 200_000


async def _select_default(n: int) -> None:
    for _ in range(n):
        await gmp.select(default=True)


async def _send(n: int) -> None:
    ch: gmp.Chan[int] = gmp.Chan(n)
    for i in range(n):
        await ch.send(i)


async def _full(n: int) -> gmp.Chan[int]:
    # Filled before the work starts; the G readied at the start is started after this.
    ch: gmp.Chan[int] = gmp.Chan(n)
    for i in range(n):
        await ch.send(i)
    return ch


async def _recv(n: int) -> None:
    ch = await _full(n)
    _start_witness()
    for _ in range(n):
        await ch.recv()


async def _recv_ok(n: int) -> None:
    ch = await _full(n)
    _start_witness()
    for _ in range(n):
        await ch.recv_ok()


async def _mutex(n: int) -> None:
    mu = gmp.Mutex()
    for _ in range(n):
        await mu.lock()
        mu.unlock()


async def _join_finished(n: int) -> None:
    h = gmp.go(_nothing)
    await h.join()
    _start_witness()
    for _ in range(n):
        await h.join()


async def _nothing() -> None:
    return None


# name -> (work, whether the work starts the witness itself, after its setup)
KINDS: dict[str, tuple[Callable[[int], Awaitable[Any]], bool]] = {
    "select default": (_select_default, False),
    "send into a buffer": (_send, False),
    "recv from a buffer": (_recv, True),
    "recv_ok from a buffer": (_recv_ok, True),
    "uncontended Mutex.lock": (_mutex, False),
    "join of a finished G": (_join_finished, True),
}

_state: dict[str, Any] = {}


def _start_witness() -> None:
    """Start the witness into runnext: on one P it runs only when the worker gives the
    P up (parks, finishes or is preempted)."""

    async def witness() -> None:
        _state["worker_done_when_witness_ran"] = _state["done"]

    gmp.go(witness)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_g_passing_only_safe_points_is_preempted_without_sysmon(kind: str) -> None:
    work, starts_witness = KINDS[kind]
    _state.clear()
    _state["done"] = False

    async def worker() -> None:
        if not starts_witness:
            _start_witness()
        await work(OPS)
        _state["done"] = True

    async def main() -> None:
        await gmp.go(worker).join()

    with gmp.Runtime(procs=1, sysmon_interval=60.0) as rt:
        rt.go(main).result(timeout=60)
        st = rt.stats()
    assert _state["worker_done_when_witness_ran"] is False, (
        f"the witness ran only after the worker's {OPS} operations ({kind}): "
        "no safe point looked at the slice"
    )
    assert sum(p.preemptions for p in st.procs) >= 1
    assert st.handoffs == 0
