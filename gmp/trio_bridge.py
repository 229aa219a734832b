"""The way in from trio: run the runtime inside a trio program and await Gs from it.

``async with gmp.open_runtime(procs=4) as rt:`` starts a :class:`gmp.Runtime` and closes
it (waiting for its Gs, in a worker thread so trio's loop never blocks) when the block
ends. ``await rt.call(fn, *args)`` runs ``fn`` as a G and waits for it without blocking
trio's loop: the G's completion wakes the trio task through ``TrioToken.run_sync_soon``.
Cancelling the trio task cancels the G (it sees gmp.Cancelled at its next checkpoint)
and the trio task then raises trio.Cancelled once the G has unwound, so nothing is left
running behind trio's back. A G's exception arrives in trio unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import outcome
import trio

from gmp.cancel import CancelScope
from gmp.errors import RuntimeClosedError
from gmp.runtime.g import G
from gmp.runtime.runtime import Runtime


class _TrioWaiter:
    """A completion waiter on a G (``G.add_waiter``) that wakes a trio task."""

    __slots__ = ("cancel_requested", "g", "raise_cancel", "task", "token")

    def __init__(self, g: G[Any], task: trio.lowlevel.Task, token: trio.lowlevel.TrioToken) -> None:
        self.g = g
        self.task = task
        self.token = token
        self.raise_cancel: Callable[[], Any] | None = None
        self.cancel_requested = False

    def release(self) -> None:
        # Called by the runtime when the G finishes (any thread, no scheduler lock held):
        # hand over to trio's thread, never block here.
        with contextlib.suppress(trio.RunFinishedError):  # trio is gone already
            self.token.run_sync_soon(self._wake)

    def _wake(self) -> None:
        g = self.g
        if self.cancel_requested and self.raise_cancel is not None:
            result: outcome.Outcome[Any] = outcome.capture(self.raise_cancel)
        elif not g.done():
            result = outcome.Error(
                RuntimeClosedError(f"{g!r} never finished: its runtime was closed")
            )
        else:
            result = outcome.capture(g.outcome)
        trio.lowlevel.reschedule(self.task, result)


class TrioRuntime:
    """A runtime seen from trio. ``rt.runtime`` is the underlying :class:`gmp.Runtime`."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def call(self, fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> Any:
        """Run ``fn(*args)`` as a G and return its result (or raise its exception)."""
        rt = self.runtime
        sched = rt._sched
        scope = CancelScope()
        scope._rt = sched
        g = sched.spawn(fn, args, None, None, [scope])
        task = trio.lowlevel.current_task()
        waiter = _TrioWaiter(g, task, trio.lowlevel.current_trio_token())
        if not g.add_waiter(waiter.release):
            await trio.lowlevel.checkpoint()
            return g.outcome()

        def abort(raise_cancel: Callable[[], Any]) -> trio.lowlevel.Abort:
            # trio wants us cancelled: cancel the G, then wait for it to unwind.
            waiter.raise_cancel = raise_cancel
            waiter.cancel_requested = True
            scope.cancel()
            return trio.lowlevel.Abort.FAILED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def go(self, fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G[Any]:
        """Fire-and-forget: start a G and return its handle."""
        return self.runtime.go(fn, *args)

    def stats(self) -> Any:
        return self.runtime.stats()


@asynccontextmanager
async def open_runtime(procs: int | None = None, **options: Any) -> AsyncIterator[TrioRuntime]:
    """Start a runtime for the duration of the block (a trio-friendly ``gmp.Runtime``)."""
    rt = Runtime(procs, **options)
    try:
        yield TrioRuntime(rt)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(rt.close, rt.shutdown_timeout)
