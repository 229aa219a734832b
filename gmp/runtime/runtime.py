"""The public runtime: :class:`Runtime`, a thin façade over the scheduler.

Everything the scheduler guards with its lock lives in :class:`~gmp.runtime.scheduler.
Scheduler` (Go's ``schedt``, the Ms, sysmon); :class:`Runtime` is what user code holds:
start Gs, size the Ps, read statistics, arm timers, close. Ms, Gs and sysmon never see
the façade; :func:`current_runtime` hands it out from inside a G.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

from gmp._core.autoscale import Autoscale
from gmp.runtime.g import G
from gmp.runtime.scheduler import (
    DEFAULT_MAX_THREADS,
    Scheduler,
    TimerHandle,
    current_runtime,
    default_procs,
)
from gmp.runtime.stats import RuntimeStats

T = TypeVar("T")

__all__ = [
    "DEFAULT_MAX_THREADS",
    "Runtime",
    "TimerHandle",
    "current_runtime",
    "default_procs",
]


class Runtime:
    """A Go-style M:N runtime: ``procs`` Ps, Ms created on demand, one sysmon thread.

    Use it as a context manager (leaving the block waits for the Gs, then cancels what is
    left) or call :meth:`close`. ``rt.go(fn, *args)`` starts a G from any thread.

    Parameters mirror Go's knobs: ``procs`` is GOMAXPROCS (default ``GMP_PROCS`` or the CPU
    count); ``max_threads`` is debug.SetMaxThreads; ``handoff_after`` is how long an M may
    block in a call before sysmon hands its P to another M (a computing coroutine is
    preempted at its next await after ``timeslice``, and handed off only if it reaches none
    for two more slices); ``off_cpu_handoff`` lets sysmon read the blocked M's thread CPU
    clock and hand off a call that waits (off the CPU) at its next tick instead of after
    ``handoff_after``, which then bounds only calls that compute; ``timeslice`` is Go's
    forcePreemptNS; ``schedtrace_ms`` is GODEBUG=schedtrace (default from ``GMP_DEBUG``);
    ``seed`` makes stealing order reproducible. ``autoscale`` (an :class:`~gmp.Autoscale`)
    lets sysmon add and remove Ps between its bounds; ``procs`` then defaults to its
    ``min_procs``. :meth:`set_procs` changes the P count by hand. ``one_core`` lets sysmon
    keep the Ms on one CPU while two or more Ps run Python that takes turns on the GIL
    (measured, and tried again; :mod:`gmp._core.onecore`); it does nothing without the
    GIL, off Linux, or with one allowed CPU.
    """

    __slots__ = ("__weakref__", "_sched")

    def __init__(
        self,
        procs: int | None = None,
        *,
        max_threads: int = DEFAULT_MAX_THREADS,
        handoff_after: float = 0.003,
        off_cpu_handoff: bool = True,
        sysmon_interval: float = 0.001,
        timeslice: float = 0.010,
        shutdown_timeout: float | None = 10.0,
        cancel_grace: float = 2.0,
        schedtrace_ms: int | None = None,
        seed: int | None = None,
        autoscale: Autoscale | None = None,
        one_core: bool = True,
    ) -> None:
        self._sched = Scheduler(
            self,
            procs,
            max_threads=max_threads,
            handoff_after=handoff_after,
            off_cpu_handoff=off_cpu_handoff,
            sysmon_interval=sysmon_interval,
            timeslice=timeslice,
            shutdown_timeout=shutdown_timeout,
            cancel_grace=cancel_grace,
            schedtrace_ms=schedtrace_ms,
            seed=seed,
            autoscale=autoscale,
            one_core=one_core,
        )

    def __repr__(self) -> str:
        state = "closed" if self._sched.closed else "running"
        return f"<gmp.Runtime procs={self.procs} {state}>"

    # -- Gs ----------------------------------------------------------------------------

    @overload
    def go(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> G[T]: ...
    @overload
    def go(self, fn: Coroutine[Any, Any, T]) -> G[T]: ...
    @overload
    def go(self, fn: Callable[..., T], *args: Any) -> G[T]: ...
    def go(self, fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G[Any]:
        """Start a G running ``fn(*args)`` (async or plain) or a coroutine object.

        From a G of this runtime the new G goes to the current P's runnext (Go's newproc);
        from any other thread it goes to the global queue and wakes an idle P.
        """
        return self._sched.go(fn, *args)

    def run_main(
        self,
        main: Callable[..., Any] | Coroutine[Any, Any, Any],
        *args: Any,
        unjoined_errors: str = "log",
    ) -> Any:
        """Run ``main(*args)`` as the program and wait for it (the body of ``gmp.run``):
        a deadlock raises :class:`~gmp.DeadlockError`; see ``Scheduler.run_main``."""
        return self._sched.run_main(main, *args, unjoined_errors=unjoined_errors)

    # -- Ps ----------------------------------------------------------------------------

    @property
    def procs(self) -> int:
        """The number of live Ps (Go's ``runtime.GOMAXPROCS(0)``)."""
        return self._sched.core.procs

    def procs_limit(self) -> int:
        """The largest P count :meth:`set_procs` accepts: every P may need a thread."""
        return self._sched.procs_limit()

    def set_procs(self, n: int) -> int:
        """Set the number of Ps to ``n`` while Gs run; return the previous count (Go's
        ``runtime.GOMAXPROCS(n)``, without stopping the world: see ``Scheduler.set_procs``).
        ``n`` must be an int from 1 to :meth:`procs_limit`."""
        return self._sched.set_procs(n)

    def autoscale(self, config: Autoscale | None) -> Autoscale | None:
        """Turn the autoscaler on (or change its policy) with ``config``, off with None;
        returns the previous policy."""
        return self._sched.autoscale(config)

    # -- timers --------------------------------------------------------------------------

    def after_func(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        """Call ``fn()`` once, ``delay`` seconds from now, on an M of this runtime and
        without its lock (Go's ``time.AfterFunc``); ``handle.stop()`` cancels it."""
        return self._sched.after_func(delay, fn)

    def at_func(self, when: float, fn: Callable[[], object]) -> TimerHandle:
        """:meth:`after_func` with a deadline on ``time.monotonic()``'s clock."""
        return self._sched.at_func(when, fn)

    # -- observing and closing ---------------------------------------------------------

    def stats(self) -> RuntimeStats:
        """A consistent snapshot of every P and the runtime counters."""
        return self._sched.stats()

    def close(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` s for every G, cancel the rest, then join every thread.

        Cancelled Gs see :class:`gmp.Cancelled` at their next checkpoint; they get
        ``cancel_grace`` seconds to unwind. Gs still stuck in a blocking call after that
        are reported (their threads are daemons and cannot be interrupted). Idempotent.
        """
        self._sched.close(timeout)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has finished."""
        return self._sched.closed

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sched.close(self._sched.shutdown_timeout)

    # -- configuration (read-only but cancel_grace) ----------------------------------------

    @property
    def handoff_after(self) -> float:
        return self._sched.handoff_after

    @property
    def timeslice(self) -> float:
        return self._sched.timeslice

    @property
    def sysmon_interval(self) -> float:
        return self._sched.sysmon_interval

    @property
    def max_threads(self) -> int:
        return self._sched.max_threads

    @property
    def shutdown_timeout(self) -> float | None:
        return self._sched.shutdown_timeout

    @property
    def schedtrace_ms(self) -> int | None:
        return self._sched.schedtrace_ms

    @property
    def cancel_grace(self) -> float:
        """Seconds cancelled Gs get to unwind at close; settable (``gmp.run`` shortens it
        after Ctrl-C)."""
        return self._sched.cancel_grace

    @cancel_grace.setter
    def cancel_grace(self, value: float) -> None:
        self._sched.cancel_grace = value
