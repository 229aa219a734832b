"""Cancel scopes, deadlines and TaskGroups for Gs: trio's model on gmp's runtime.

A :class:`CancelScope` is entered with a plain ``with`` inside a G (like trio's). When it
is cancelled (``scope.cancel()`` or its deadline passes), every G inside it (the G that
entered it and the children of TaskGroups opened inside it) gets :class:`gmp.Cancelled`
at its next checkpoint: a sleep, a channel or lock wait, ``gosched``, the return from a
``gmp.syscall``. A G parked at that moment is woken at once (its wait is aborted). The
scope catches its own Cancelled on exit; ``shield=True`` hides outer cancellations from
the scope's contents. Mirrors trio's ``CancelScope``, ``move_on_after``, ``fail_after``.

:class:`TaskGroup` is trio's nursery (and asyncio's TaskGroup): it waits for its
children; when one fails it cancels the others and the body, then raises every failure
in an ExceptionGroup.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from gmp.errors import Cancelled, TooSlowError
from gmp.runtime.g import G
from gmp.runtime.park import current, park, raise_if_cancelled, ready
from gmp.runtime.scheduler import Scheduler
from gmp.runtime.traps import tls


class CancelScope:
    """A region of a G (and its TaskGroup children) that can be cancelled as a unit."""

    __slots__ = (
        "_deadline",
        "_entry",
        "_g",
        "_rt",
        "_timer",
        "cancel_called",
        "cancelled_caught",
        "gs",
        "shield",
    )

    def __init__(self, *, deadline: float = math.inf, shield: bool = False) -> None:
        self._deadline = _check_deadline(deadline)
        self.shield = bool(shield)
        self.cancel_called = False
        self.cancelled_caught = False
        # Gs currently inside this scope; guarded by the runtime's scheduler lock.
        self.gs: set[G[Any]] = set()
        self._g: G[Any] | None = None
        self._rt: Scheduler | None = None
        # The deadline's timer: written under the scheduler lock only (Scheduler.
        # scope_enter, scope_exit, scope_cancel, scope_set_deadline), so a deadline moved
        # from another thread never races the entry, the exit or the timer firing.
        self._timer: Any = None
        # Orders entry against a cancel() that finds the scope not entered yet: without
        # it, cancel() could read _rt as None, the G enter and park, and only then
        # cancel() record cancel_called, waking nobody (a lost wakeup).
        self._entry = threading.Lock()

    def __repr__(self) -> str:
        state = "cancelled" if self.cancel_called else "active"
        return f"<gmp.CancelScope {state} deadline={self._deadline}>"

    @property
    def deadline(self) -> float:
        """Absolute deadline on ``time.monotonic()``'s clock (inf: none).

        Assignable, as trio's is, from any G or thread: before the scope is entered
        (armed at entry), while a G is inside it (the old deadline is disarmed and the
        new one armed; one already past cancels the scope as soon as an M runs its
        timers), or after (no effect). A cancelled scope stays cancelled. The idle
        timeout idiom: ``scope.deadline = time.monotonic() + idle`` after each message.
        """
        return self._deadline

    @deadline.setter
    def deadline(self, value: float) -> None:
        value = _check_deadline(value)
        with self._entry:
            rt = self._rt
            if rt is None:  # not entered: scope_enter arms what it finds
                self._deadline = value
                return
        rt.scope_set_deadline(self, value)

    def __enter__(self) -> CancelScope:
        g = current()
        if self._g is not None:
            raise RuntimeError("a CancelScope can be entered only once")
        rt = g.rt
        with self._entry:
            self._g = g
            self._rt = rt
        rt.scope_enter(g, self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        g = self._g
        rt = self._rt
        assert g is not None and rt is not None
        if current() is not g:
            raise RuntimeError("a CancelScope must be exited by the G that entered it")
        rt.scope_exit(g, self)
        if isinstance(exc, Cancelled) and exc.scope is self:
            self.cancelled_caught = True
            return True
        return False

    def _deadline_reached(self) -> None:
        # The timer's payload (armed only once entered, so _rt is set), run without the
        # scheduler lock after the timer fired: the deadline may have moved later
        # meanwhile, so the scheduler checks it again under its lock before cancelling.
        rt = self._rt
        assert rt is not None
        rt.scope_deadline_passed(self)

    def cancel(self) -> None:
        """Cancel every G inside the scope; parked ones wake with Cancelled at once.

        Safe to call from any G or thread, any number of times (trio's cancel()).
        """
        with self._entry:
            rt = self._rt
            if rt is None:
                # Not entered yet: it will be born cancelled (its G checks at its next
                # checkpoint; it cannot be parked inside a scope it has not entered).
                self.cancel_called = True
                return
        rt.scope_cancel(self)


def _check_deadline(deadline: object) -> float:
    if isinstance(deadline, bool) or not isinstance(deadline, int | float):
        raise TypeError(f"deadline must be a number, got {type(deadline).__name__}")
    if math.isnan(deadline):
        raise ValueError("deadline must not be NaN")
    return float(deadline)


def move_on_at(deadline: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled at ``deadline`` (time.monotonic()); leaving it early is fine."""
    return CancelScope(deadline=deadline, shield=shield)


def move_on_after(seconds: float, *, shield: bool = False) -> CancelScope:
    """A scope cancelled ``seconds`` from now; check ``scope.cancelled_caught`` after."""
    return CancelScope(deadline=time.monotonic() + _seconds(seconds), shield=shield)


class _FailScope:
    """``fail_after``: like ``move_on_after``, but raises TooSlowError if it expired."""

    __slots__ = ("scope",)

    def __init__(self, deadline: float, shield: bool) -> None:
        self.scope = CancelScope(deadline=deadline, shield=shield)

    def __enter__(self) -> CancelScope:
        return self.scope.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.scope.__exit__(exc_type, exc, tb):
            raise TooSlowError(f"deadline passed ({self.scope.deadline:.6f} monotonic)")


def fail_at(deadline: float, *, shield: bool = False) -> _FailScope:
    """A scope that raises TooSlowError if ``deadline`` passes inside it."""
    return _FailScope(deadline, shield)


def fail_after(seconds: float, *, shield: bool = False) -> _FailScope:
    """A scope that raises TooSlowError if it is still open ``seconds`` from now."""
    return _FailScope(time.monotonic() + _seconds(seconds), shield)


def _seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"expected a number of seconds, got {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative number of seconds, got {seconds!r}")
    return float(seconds)


_OBSERVED = object()
"""Marks a child G whose failure its TaskGroup reports (so it is not logged as lost)."""


class TaskGroup:
    """Structured concurrency for Gs (trio's nursery, asyncio's TaskGroup).

    ``async with gmp.TaskGroup() as tg: tg.go(fn, *args)`` runs each child as a G inside
    the group's cancel scope. Leaving the block waits for every child. The first failure
    (of a child or of the body) cancels the rest; all failures are raised together as an
    ExceptionGroup. Cancelling an enclosing scope cancels the children too.
    """

    __slots__ = (
        "_closed",
        "_errors",
        "_lock",
        "_parent",
        "_remaining",
        "_rt",
        "_scope",
        "_waiter",
    )

    def __init__(self) -> None:
        self._scope = CancelScope()
        self._errors: list[BaseException] = []
        self._remaining = 0
        self._closed = False
        self._parent: G[Any] | None = None
        self._rt: Scheduler | None = None
        self._waiter: G[Any] | None = None
        # Guards _remaining, _errors and _waiter (a primitive's own lock: taken before
        # the scheduler's, released by the park commit, as gmp.runtime.park describes).
        self._lock = threading.Lock()

    @property
    def cancel_scope(self) -> CancelScope:
        return self._scope

    async def __aenter__(self) -> TaskGroup:
        g = current()
        self._parent = g
        self._rt = g.rt
        self._scope.__enter__()
        return self

    def go(self, fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G[Any]:
        """Start a child G in this group; returns its handle."""
        rt = self._rt
        parent = self._parent
        if rt is None or parent is None:
            raise RuntimeError("TaskGroup.go() before `async with TaskGroup()`")
        if self._closed:
            raise RuntimeError("TaskGroup.go() after the group finished")
        if not callable(fn) and not isinstance(fn, Coroutine):
            raise TypeError(
                f"TaskGroup.go() needs an async function, a plain callable or a coroutine, "
                f"got {type(fn).__name__}"
            )
        m = tls.m
        # The parent's scopes change only in the parent itself (entering and leaving
        # scopes), and this runs in the parent or before it parks in __aexit__.
        scopes = list(parent.scopes or ())
        with self._lock:
            self._remaining += 1
        try:
            g = rt.spawn(_child, (self, fn, args), None, m if m is not None else None, scopes)
        except BaseException:
            with self._lock:
                self._remaining -= 1
            raise
        g.report = _OBSERVED  # type: ignore[assignment]
        return g

    def _child_failed(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
        self._scope.cancel()

    def _child_done(self) -> None:
        with self._lock:
            self._remaining -= 1
            waiter = self._waiter
            if self._remaining != 0 or waiter is None:
                return
            self._waiter = None
        ready(waiter)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._rt is not None
        if exc is not None and not isinstance(exc, Cancelled):
            with self._lock:
                self._errors.append(exc)
            self._scope.cancel()
        # Wait for every child. The wait cannot be aborted: cancelling the parent only
        # cancels the children, whose completion ends the wait (trio's nursery).
        self._lock.acquire()
        if self._remaining == 0:
            self._lock.release()
        else:
            self._waiter = current()
            await park(self._commit_wait, self._abort_wait, "TaskGroup: waiting for its children")
        self._closed = True
        swallowed = self._scope.__exit__(exc_type, exc, tb)
        if self._errors:
            group: BaseException
            if all(isinstance(e, Exception) for e in self._errors):
                group = ExceptionGroup("errors in gmp.TaskGroup", self._errors)  # type: ignore[type-var]
            else:
                group = BaseExceptionGroup("errors in gmp.TaskGroup", self._errors)
            raise group
        if exc is None or swallowed:
            # Leaving the group is a checkpoint: an enclosing cancellation that reached
            # the children while we waited is raised here (trio's nursery does the same).
            raise_if_cancelled(current())
        return swallowed

    def _commit_wait(self, g: G[Any]) -> bool:
        # After the parent G is off its stack: the last child may now take _lock, find
        # the waiter and ready it.
        self._lock.release()
        return True

    def _abort_wait(self) -> bool:
        # The parent is being cancelled: pass it on to the children, keep waiting.
        self._scope.cancel()
        return False


async def _child(tg: TaskGroup, fn: Any, args: tuple[Any, ...]) -> Any:
    """The body of every TaskGroup child: run ``fn``, report a failure, count down.

    Plain callables run through ``gmp.syscall`` so a blocking child keeps sysmon's
    handoff protection; a Cancelled child is not a failure.
    """
    from gmp.runtime.api import syscall

    try:
        if isinstance(fn, Coroutine):
            return await fn
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        res = await syscall(fn, *args)
        if inspect.isawaitable(res):
            return await res
        return res
    except Cancelled:
        raise
    except BaseException as e:
        tg._child_failed(e)
        raise
    finally:
        tg._child_done()
