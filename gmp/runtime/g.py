"""The runtime's G: a coroutine or plain callable plus its outcome; also the user's handle.

``gmp.go`` and ``rt.go`` return the G itself, so a spawn allocates one object (plus the
coroutine and its context), like Go's ``newproc`` allocating one ``g``. The handle side
(:meth:`G.join`, :meth:`G.result`) mirrors ``concurrent.futures.Future`` for code outside
the runtime and an awaitable join for code inside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from gmp._core import g as gcore
from gmp.errors import Cancelled, DeadlockError, NotInGError, RuntimeClosedError
from gmp.observe.log import get_logger
from gmp.runtime.traps import PREEMPT_TRAP, Join, slice_look, tls

if TYPE_CHECKING:
    from gmp.runtime.runtime import Runtime
    from gmp.runtime.scheduler import Scheduler

_log = get_logger("gmp.runtime")
_DEAD = gcore.DEAD
_WAITING = gcore.WAITING


class _FailureReport:
    """Logs a G's exception if nobody ever retrieved it (asyncio's "never retrieved").

    Only failed Gs carry one, so the common path pays nothing. It fires when the G is
    garbage: nobody joined it and nobody can any more.
    """

    __slots__ = ("armed", "exc", "gid", "name", "on_lost")

    def __init__(
        self,
        gid: int,
        name: str | None,
        exc: BaseException,
        on_lost: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.gid = gid
        self.name = name
        self.exc = exc
        self.armed = True
        # gmp.run(unjoined_errors="raise"): the program ends with the error instead.
        self.on_lost = on_lost

    def __del__(self) -> None:
        if not self.armed:
            return
        self.armed = False
        if self.on_lost is not None:
            with contextlib.suppress(Exception):
                self.on_lost(self.exc)
            return
        # At interpreter shutdown the logging machinery may already be gone.
        with contextlib.suppress(Exception):
            _log.error(
                "G failed and nobody joined it",
                g=self.gid,
                name=self.name,
                exc_info=(type(self.exc), self.exc, self.exc.__traceback__),
            )


T = TypeVar("T")


class G(gcore.G, Generic[T]):
    """A G of the threaded runtime, and the handle user code holds to it."""

    __slots__ = (
        "abort",
        "args",
        "cancel_pending",
        "coro",
        "ctx",
        "exc",
        "ext_waiters",
        "fn",
        "name",
        "report",
        "rt",
        "scope_cancelled",
        "scopes",
        "send",
        "sudog",
        "throw",
        "value",
        "wait_reason",
        "waiters",
    )

    def __init__(
        self,
        rt: Scheduler,
        coro: Coroutine[Any, Any, Any] | None,
        fn: Callable[..., Any] | None,
        args: tuple[Any, ...],
        name: str | None = None,
    ) -> None:
        self.id = 0
        self.status = gcore.IDLE
        self.rt = rt
        self.coro = coro
        self.fn = fn
        self.args = args
        # A copy of the spawner's contextvars (Go has none; asyncio's Task copies them
        # too), or None when that copy is empty: the M then gives the G a fresh empty
        # Context at its first step (M._schedule). The copy is made either way (there is
        # no cheaper way to see the current context), but an empty one is dropped at
        # once, so a G that has not run yet keeps two objects alive for the cyclic GC
        # instead of three: spawn+complete of 100k Gs at procs=1 went from 5.03 to
        # 4.48 us per G (median of 5 interleaved runs, /tmp micro benchmark).
        ctx = contextvars.copy_context()
        self.ctx: contextvars.Context | None = ctx if len(ctx) else None
        self.name = name
        # What the next step sends or throws into the coroutine.
        self.send: Any = None
        self.throw: BaseException | None = None
        # A cancellation to deliver at the next checkpoint (runtime shutdown).
        self.cancel_pending: BaseException | None = None
        # Cancel scopes this G is inside, outermost first (inherited ones included);
        # None while it is in none, so the checkpoint test stays one attribute load.
        self.scopes: list[Any] | None = None
        # True once one of those scopes is cancelled (set under the scheduler lock by
        # Scheduler.scope_cancel, scope_enter and spawn; recomputed by scope_exit). The
        # checkpoints test it instead of ``scopes``, so a G inside scopes nobody has
        # cancelled (every TaskGroup child, every connection of gmp serve) skips
        # cancel_exc's walk: see Scheduler.scope_cancel for why an unlocked read is safe.
        self.scope_cancelled = False
        # What the G is parked on, so cancellation can take it back (trio's abort_fn):
        # a Timer (sleep), a G (join) or a callable returning True if it got the G back.
        self.abort: Any = None
        # What a parked G waits for (Go's waitReason), for deadlock reports.
        self.wait_reason = ""
        self.value: Any = None
        self.exc: BaseException | None = None
        self.waiters: list[G[Any]] | None = None
        # Callables run once when the G finishes, after the scheduler lock is dropped
        # (add_waiter): threads in result(), trio tasks, the HTTP exchange.
        self.ext_waiters: list[Callable[[], object]] | None = None
        self.report: _FailureReport | None = None
        # The G's sudog for single-channel waits (gmp.chan), made at its first wait and
        # reused by the next ones: a G waits on one channel at a time.
        self.sudog: Any = None

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<gmp.G {self.id}{label} {self.status.name}>"

    # -- handle API --------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The :class:`gmp.Runtime` this G belongs to."""
        return self.rt.runtime

    def done(self) -> bool:
        """True once the G has returned or raised."""
        return self.status is _DEAD

    def add_waiter(self, wake: Callable[[], object]) -> bool:
        """Call ``wake()`` once when this G finishes; False (and no call) if it already has.

        The completion hook for code outside the runtime (a thread, a trio task, an event
        loop), like ``concurrent.futures.Future.add_done_callback`` split in two: the
        caller learns at once whether to wait. ``wake`` runs on the thread that finished
        the G, after the scheduler lock is released; it must not block (hand off to your
        own loop, release a lock, set an event). Read the result with :meth:`outcome`.
        """
        with self.rt.lock:
            if self.status is _DEAD:
                return False
            if self.ext_waiters is None:
                self.ext_waiters = [wake]
            else:
                self.ext_waiters.append(wake)
            return True

    def remove_waiter(self, wake: Callable[[], object]) -> bool:
        """Take back a ``wake`` added by :meth:`add_waiter`; False if it ran or was never
        added (the G finished first: ``wake`` has been or is being called)."""
        with self.rt.lock:
            ws = self.ext_waiters
            if ws is not None and wake in ws:
                ws.remove(wake)
                return True
            return False

    def outcome(self) -> T:
        """The finished G's result, or raise its exception (the G must be done).

        Retrieving a failure here counts as handling it: it is not logged as unjoined."""
        with self.rt.lock:
            if self.status is not _DEAD:
                raise RuntimeError(f"{self!r} has not finished; wait with add_waiter() first")
        return self._outcome()

    def _outcome(self) -> T:
        exc = self.exc
        if exc is not None:
            report = self.report
            if report is not None:
                report.armed = False
                self.report = None
            raise exc
        return self.value  # type: ignore[no-any-return]

    @types.coroutine
    def join(self) -> Generator[Any, Any, T]:
        """Wait for the G from inside another G; return its result or raise its exception.

        Mirrors waiting on a Go channel/WaitGroup for a goroutine's result: the caller
        parks (its thread keeps running other Gs) until this G finishes. Awaitable
        (``await h.join()``); the method is the generator itself, and the outcome is read
        here rather than through :meth:`_outcome` when it is a value: a Python call less
        per join, 0.45 -> 0.39 us for a join of a finished G (100k joins at procs=1).
        """
        if self.status is not _DEAD:
            m = tls.m
            cur = m.curg if m is not None else None
            if cur is None:
                raise NotInGError(
                    "await handle.join() works only inside a G; outside use handle.result()"
                )
            if cur is self:
                raise DeadlockError(f"{self!r} cannot join itself: it would wait forever")
            if self.rt is not cur.rt:
                raise RuntimeError(
                    f"{self!r} belongs to another runtime; join it with handle.result() "
                    "through gmp.syscall"
                )
            yield Join(self)
        else:
            # A join that does not park is still a safe point for the time slice (the
            # cancellation check of a finished join is deliberately skipped, as before).
            m = tls.m
            p = m.p if m is not None and m.curg is not None else None
            if p is not None:
                p.safe_points = n = p.safe_points - 1
                if n <= 0 and slice_look(m, p):  # type: ignore[arg-type]
                    yield PREEMPT_TRAP
        # The outcome was written under the scheduler lock; taking it orders our reads
        # after those writes on free-threaded builds too (an unlocked status check is
        # only a hint). acquire/release, not ``with`` (see gmp.runtime.park.ready).
        lock = self.rt.lock
        lock.acquire()
        try:
            if self.exc is None:
                return self.value  # type: ignore[no-any-return]
            return self._outcome()  # raises, disarming the failure report
        finally:
            lock.release()

    def result(self, timeout: float | None = None) -> T:
        """Block the calling thread until the G finishes (for code outside the runtime).

        Raises TimeoutError after ``timeout`` seconds, RuntimeClosedError if the runtime
        was closed with this G unfinished, and the G's own exception if it raised.
        """
        m = tls.m
        if m is not None and m.curg is not None:
            raise RuntimeError(
                "G.result() blocks its thread; inside a G use `await handle.join()` instead"
            )
        rt = self.rt
        with rt.lock:
            if self.status is _DEAD:
                return self._outcome()
            if rt.closed:
                raise RuntimeClosedError(
                    f"{self!r} never finished: its runtime was closed before it completed"
                )
            waiter = threading.Lock()
            waiter.acquire()
            if self.ext_waiters is None:
                self.ext_waiters = [waiter.release]
            else:
                self.ext_waiters.append(waiter.release)
        if waiter.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return self._outcome()
        self.remove_waiter(waiter.release)
        with rt.lock:
            if self.status is _DEAD:
                return self._outcome()
            if rt.closed:
                raise RuntimeClosedError(
                    f"{self!r} never finished: its runtime was closed before it completed"
                )
        raise TimeoutError(f"{self!r} did not finish within {timeout} s")


def call_wakes(wakes: list[Callable[[], object]]) -> None:
    """Run completion waiters (scheduler lock not held); one failing spares the rest."""
    for wake in wakes:
        try:
            wake()
        except Exception:
            _log.exception("a G's completion waiter failed", waiter=repr(wake))


def cancel_exc(g: G[Any]) -> BaseException | None:
    """The Cancelled to raise in ``g`` at a checkpoint now, or None (trio's
    effectively-cancelled test). Runtime shutdown wins; otherwise the outermost cancelled
    scope not hidden behind a shield, walking outwards from the innermost scope."""
    pending = g.cancel_pending
    if pending is not None:
        return pending
    scopes = g.scopes
    if not scopes:
        return None
    found = None
    for scope in reversed(scopes):
        if scope.cancel_called:
            found = scope
        if scope.shield:
            break
    if found is None:
        return None
    return Cancelled(f"cancelled by {found!r}", scope=found)
