"""The scheduler behind :class:`gmp.Runtime`: Ms (threads) holding Ps, a sysmon, the core.

:class:`Scheduler` owns every lock-guarded field; :class:`gmp.Runtime` is the public façade
over it, and nothing outside ``gmp/runtime`` takes its lock. One lock (Go's ``sched.lock``,
widened) guards the pure core and every P and M field.
Critical sections are short and never call user code, so the lock is uncontended most of
the time; correctness does not depend on the GIL, only on that lock.
"""

from __future__ import annotations

import inspect
import math
import os
import random
import threading
import time
import types
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gmp._core import g as gcore
from gmp._core.autoscale import Autoscale, Autoscaler
from gmp._core.idle import needs_wakep, runnable_work, spinning_started, spinning_stopped
from gmp._core.onecore import OneCore
from gmp._core.p import P, PStatus
from gmp._core.place import goready, newproc, wake_joiners
from gmp._core.procresize import MAX_PROCS, check_procs, live_p, procresize
from gmp._core.sched import Sched, globrunqput, has_work, pidleget, pidleput
from gmp._core.timers import Timer
from gmp.errors import (
    Cancelled,
    DeadlockError,
    NotInGError,
    RuntimeClosedError,
    ThreadLimitError,
    ThreadLostError,
)
from gmp.observe.log import get_logger
from gmp.observe.schedtrace import parse_gmp_debug
from gmp.runtime import affinity
from gmp.runtime.g import G, call_wakes, cancel_exc
from gmp.runtime.m import M
from gmp.runtime.stats import PStats, RuntimeStats
from gmp.runtime.sysmon import Sysmon
from gmp.runtime.traps import tls

if TYPE_CHECKING:
    from gmp.runtime.netpoll import Poller
    from gmp.runtime.runtime import Runtime

_log = get_logger("gmp.runtime")
_DEAD = gcore.DEAD
_WAITING = gcore.WAITING
_CO_COROUTINE = inspect.CO_COROUTINE
_FunctionType = types.FunctionType

DEFAULT_MAX_THREADS = 10_000
"""Go's default limit on OS threads (debug.SetMaxThreads)."""


def default_procs() -> int:
    """``GMP_PROCS`` if set (like GOMAXPROCS), else the number of CPUs."""
    raw = os.environ.get("GMP_PROCS")
    if raw is not None and raw.strip():
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"GMP_PROCS must be a positive integer, got {raw!r}") from None
        if n < 1:
            raise ValueError(f"GMP_PROCS must be a positive integer, got {raw!r}")
        return n
    return os.cpu_count() or 1


def _check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    v = float(value)
    if v != v or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return v


class Scheduler:
    """Go's ``schedt`` plus the driver: the lock, the core, the Ms, sysmon, the Gs.

    Created by :class:`gmp.Runtime` (``runtime`` is that façade, which
    :func:`current_runtime` returns); Ms, Gs and sysmon hold the scheduler as ``rt``.
    Parameters are the Runtime's, validated here.
    """

    def __init__(
        self,
        runtime: Runtime,
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
        if autoscale is not None and not isinstance(autoscale, Autoscale):
            raise TypeError(f"autoscale must be a gmp.Autoscale, got {type(autoscale).__name__}")
        if procs is None:
            procs = autoscale.min_procs if autoscale is not None else default_procs()
        if isinstance(procs, bool) or not isinstance(procs, int):
            raise TypeError(f"procs must be an int, got {type(procs).__name__}")
        if procs < 1:
            raise ValueError(f"procs must be at least 1, got {procs}")
        if procs > MAX_PROCS:
            raise ValueError(f"procs must be at most {MAX_PROCS}, got {procs}")
        if isinstance(max_threads, bool) or not isinstance(max_threads, int):
            raise TypeError(f"max_threads must be an int, got {type(max_threads).__name__}")
        if max_threads < procs:
            raise ValueError(
                f"max_threads ({max_threads}) must be at least procs ({procs}): "
                "every P needs a thread"
            )
        self.handoff_after = _check_seconds("handoff_after", handoff_after)
        self.sysmon_interval = _check_seconds("sysmon_interval", sysmon_interval)
        if not isinstance(off_cpu_handoff, bool):
            raise TypeError(f"off_cpu_handoff must be a bool, got {type(off_cpu_handoff).__name__}")
        self.off_cpu_handoff = off_cpu_handoff
        if not isinstance(one_core, bool):
            raise TypeError(f"one_core must be a bool, got {type(one_core).__name__}")
        # sysmon's pin decision (gmp._core.onecore), None where pinning cannot help; and
        # the CPUs an M not paired beside a computing G runs on: every allowed CPU, or
        # the one sysmon pinned the Ms to. Written under the lock; replaced, not mutated.
        self.one_core: OneCore | None = OneCore() if one_core and affinity.ENABLED else None
        self.cpus: frozenset[int] = affinity.ALLOWED
        self.timeslice = _check_seconds("timeslice", timeslice)
        self.cancel_grace = _check_seconds("cancel_grace", cancel_grace, allow_zero=True)
        self.shutdown_timeout = (
            None
            if shutdown_timeout is None
            else _check_seconds("shutdown_timeout", shutdown_timeout, allow_zero=True)
        )
        if schedtrace_ms is None:
            schedtrace_ms = parse_gmp_debug().get("schedtrace") or None
        self.schedtrace_ms = schedtrace_ms
        self.max_threads = max_threads
        self.runtime = runtime

        self.lock = threading.Lock()
        self.core = Sched(procs, random.Random(seed))
        self.ms: list[M] = []
        self.idle_ms: list[M] = []
        self.ms_alive = 0
        self.timer_waiter: M | None = None
        self.timer_waiter_deadline = 0.0
        # The network poller, made by the first socket registered (gmp.runtime.netpoll),
        # and its non-blocking poll as find_runnable takes it (None: no poller yet).
        self.poller: Poller | None = None
        self.poll_fn: Callable[[], Any] | None = None
        # Every live G that has parked at least once (Go's allgs, cut down; the M adds a G
        # at its first park, when it sets a wait_reason, and finish removes it). A G that
        # never parked is queued (the global queue, a P's runnext or local queue) or on an
        # M (its curg), where live_gs_locked finds it. Registering every G at spawn cost a
        # set insertion and removal per G, in a set as large as the Gs alive: 0.4 us of a
        # 4.5 us spawn+complete at procs=1 (100k Gs), where most Gs never park.
        self.gs: set[G[Any]] = set()
        # Outside waiters of Gs that finished, run once the lock is released.
        self.ext_ready: list[Callable[[], object]] = []
        self.gs_alive = 0
        self.gs_created = 0
        self.handoffs = 0
        self.thread_limit_hits = 0
        self.procs_changes = 0
        self.autoscale_changes = 0
        self.m_crashes = 0
        # A failed G's report waits to be collected (finish, free-threaded builds only);
        # sysmon reads it without the lock: a stale read delays the collect by one look.
        self.collect_due = False
        # Read by sysmon on every tick without the lock; replaced, never mutated.
        self.autoscaler: Autoscaler | None = None
        if autoscale is not None:
            self._check_autoscale(autoscale)
            if not autoscale.min_procs <= procs <= autoscale.max_procs:
                raise ValueError(
                    f"procs ({procs}) must lie within the autoscale bounds "
                    f"[{autoscale.min_procs}, {autoscale.max_procs}]"
                )
            self.autoscaler = Autoscaler(autoscale)
        # Set by run_main: the program's main G, with deadlock detection and the policy for
        # errors nobody joins. None for a Runtime used directly (the owner is a way in).
        self.program: Program | None = None
        self.stopping = False
        self.closing = False
        self.closed = False
        self._drain_waiters = 0
        self._all_done = threading.Condition(self.lock)
        self.started_at = time.monotonic()
        self.sysmon = Sysmon(self)
        self.sysmon.start()

    # -- public API ----------------------------------------------------------------

    @property
    def procs(self) -> int:
        """The number of live Ps (Go's ``runtime.GOMAXPROCS(0)``)."""
        return self.core.procs

    def procs_limit(self) -> int:
        """The largest P count :meth:`set_procs` accepts: every P may need a thread."""
        return min(MAX_PROCS, self.max_threads)

    def set_procs(self, n: int) -> int:
        """Set the number of Ps to ``n`` while Gs run; return the previous count.

        Go's ``runtime.GOMAXPROCS(n)``, which calls ``procresize`` with the world stopped.
        gmp does not stop the world: growing puts new Ps on the idle list and wakes an M
        if work is queued; shrinking retires the highest-numbered Ps at once (their
        runnext and local queue go to the head of the global queue, their timers to a
        surviving P) and detaches them from their Ms, as sysmon's retake does: a G running
        on a retired P keeps running until it yields, blocks or returns, then its M finds
        it a place (another idle P, else the global queue). No G is lost or run twice.

        ``n`` must be an int from 1 to :meth:`procs_limit` (``max_threads``, at most
        1024 as Go's ``_MaxGomaxprocs``). Raises RuntimeClosedError once the runtime has
        stopped. With an autoscaler the change stands until its next decision, which
        brings a count outside its bounds back inside.
        """
        check_procs(n, self.procs_limit())
        with self.lock:
            if self.stopping:
                raise RuntimeClosedError("this runtime is closed; its P count is fixed")
            old, moved_gs, moved_timers = self._resize_locked(n)
        if old != n:
            _log.debug(
                "procs changed",
                old=old,
                new=n,
                by="set_procs",
                moved_gs=moved_gs,
                moved_timers=moved_timers,
            )
        return old

    def autoscale(self, config: Autoscale | None) -> Autoscale | None:
        """Turn the autoscaler on (or change its policy) with ``config``, off with None.

        Returns the previous policy. The P count is not changed here; sysmon's next sample
        brings it within the new bounds.
        """
        if config is not None:
            if not isinstance(config, Autoscale):
                raise TypeError(f"autoscale must be a gmp.Autoscale, got {type(config).__name__}")
            self._check_autoscale(config)
        with self.lock:
            old = self.autoscaler
            self.autoscaler = None if config is None else Autoscaler(config)
        self._kick_sysmon()  # a sleeping sysmon samples under the new policy
        return None if old is None else old.config

    def _kick_sysmon(self) -> None:
        """Make sysmon look again now: its sleep timeout depends on the P count and the
        autoscaler. The event is sticky, so a sysmon about to sleep returns at once."""
        sm = self.sysmon
        sm.sleeping = False
        sm.wake_event.set()

    def _check_autoscale(self, config: Autoscale) -> None:
        if config.max_procs > self.procs_limit():
            raise ValueError(
                f"autoscale max_procs ({config.max_procs}) exceeds what this runtime allows "
                f"({self.procs_limit()}, from max_threads={self.max_threads})"
            )

    def _resize_locked(self, n: int) -> tuple[int, int, int]:
        """procresize, then the driver's half of it (lock held): detach the Ms of retired
        Ps and wake an M for queued work. Returns (old, moved Gs, moved timers)."""
        core = self.core
        r = procresize(core, n, self.procs_limit())
        if r.old == r.new:
            return r.old, 0, 0
        self.procs_changes += 1
        for p, m in zip(r.retired, r.owners, strict=True):
            if m is None:
                continue
            if m.p is p:
                # Like sysmon's retake: the M finishes its step without a P and then goes
                # through exitsyscall (another idle P, else the G goes to the global queue).
                m.p = None
            if m.nextp is p:
                # Handed to an M that has not run yet: it wakes, finds no P and parks.
                m.nextp = None
            if m.p is None and m.spinning:
                m.spinning = False
                spinning_stopped(core)
        if needs_wakep(core) and (runnable_work(core) or r.moved_timers):
            # New Ps, or work moved off retired ones: start an M (Go's startTheWorld ->
            # wakep). A spinning M that finds work wakes the next one, so this fans out.
            self.wakep()
        if self.autoscaler is not None:
            self._kick_sysmon()  # above the floor now, an idle sysmon must keep sampling
        return r.old, r.moved_gs, r.moved_timers

    def autoscale_to(self, target: int, sample: object) -> None:
        """Apply an autoscaler decision (called by sysmon, lock not held)."""
        with self.lock:
            if self.stopping or self.autoscaler is None:
                return
            old, moved_gs, moved_timers = self._resize_locked(target)
            if old != target:
                self.autoscale_changes += 1
        if old != target:
            _log.info(
                "autoscale changed procs",
                old=old,
                new=target,
                sample=repr(sample),
                moved_gs=moved_gs,
                moved_timers=moved_timers,
            )

    def go(self, fn: Callable[..., Any] | Coroutine[Any, Any, Any], *args: Any) -> G[Any]:
        """Start a G running ``fn(*args)`` (async or plain) or a coroutine object.

        From a G of this runtime the new G goes to the current P's runnext (Go's newproc);
        from any other thread it goes to the global queue and wakes an idle P.
        """
        return self.spawn(fn, args, None, tls.m)

    def spawn(
        self,
        fn: Callable[..., Any] | Coroutine[Any, Any, Any],
        args: tuple[Any, ...],
        name: str | None,
        m: M | None,
        scopes: list[Any] | None = None,
    ) -> G[Any]:
        """Create a G and queue it (Go's newproc); ``m`` is the calling thread's M.

        ``scopes`` are cancel scopes the G starts inside (a TaskGroup's, inherited)."""
        if type(fn) is _FunctionType and fn.__code__.co_flags & _CO_COROUTINE:
            g: G[Any] = G(self, fn(*args), None, (), name)
        else:
            g = self._newg(fn, args, name)
        lock = self.lock
        lock.acquire()
        try:
            if self.stopping:
                self._discard(g)
                raise RuntimeClosedError("this runtime is closed; start Gs on a new Runtime")
            self.gs_created += 1
            g.id = self.gs_created
            self.gs_alive += 1
            if scopes:
                g.scopes = scopes
                for scope in scopes:
                    scope.gs.add(g)
                    if scope.cancel_called:
                        g.scope_cancelled = True
            if newproc(self.core, m.p if m is not None and m.rt is self else None, g):
                self.wakep()
        finally:
            lock.release()
        return g

    def _newg(self, fn: Any, args: tuple[Any, ...], name: str | None) -> G[Any]:
        if isinstance(fn, types.CoroutineType):
            if args:
                raise TypeError(
                    "gmp.go(coroutine) takes no extra arguments; "
                    "pass them to the async function instead"
                )
            return G(self, fn, None, (), name)
        if not callable(fn):
            raise TypeError(
                f"gmp.go() needs an async function, a plain callable or a coroutine, "
                f"got {type(fn).__name__}"
            )
        if inspect.iscoroutinefunction(fn):
            return G(self, fn(*args), None, (), name)
        return G(self, None, fn, args, name)

    @staticmethod
    def _discard(g: G[Any]) -> None:
        if g.coro is not None:
            g.coro.close()

    def stats(self) -> RuntimeStats:
        """A consistent snapshot of every P and the runtime counters."""
        with self.lock:
            return self.stats_locked(time.monotonic())

    def stats_locked(self, now: float) -> RuntimeStats:
        core = self.core
        procs = tuple(
            PStats(
                id=p.id,
                status=p.status.name,
                runq=p.runqsize(),
                runs=p.runs,
                steals=p.steals,
                stolen=p.stolen,
                handoffs=p.handoffs,
                preemptions=p.preemptions,
                timers=p.timers.live(),
            )
            for p in core.ps
        )
        allp = core.allp
        return RuntimeStats(
            procs=procs,
            global_queue=len(core.runq),
            idle_procs=len(core.idle),
            gs_alive=self.gs_alive,
            gs_created=self.gs_created,
            threads=len(self.ms),
            threads_alive=self.ms_alive,
            idle_threads=len(self.idle_ms),
            spinning_threads=core.nmspinning,
            handoffs=self.handoffs,
            steals=sum(p.steals for p in allp),
            spills=core.spills,
            thread_limit_hits=self.thread_limit_hits,
            procs_changes=self.procs_changes,
            autoscale_changes=self.autoscale_changes,
            m_crashes=self.m_crashes,
            autoscale=self.autoscaler is not None,
            uptime_ms=int((now - self.started_at) * 1000),
            netpoll_waiters=core.npollwait,
            netpoll_readied=0 if self.poller is None else self.poller.readied,
            netpoll_fds=0 if self.poller is None else len(self.poller.fds),
            one_core_cpu=next(iter(self.cpus)) if self.cpus != affinity.ALLOWED else None,
            one_core_pins=0 if self.one_core is None else self.one_core.pins,
        )

    def close(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` s for every G, cancel the rest, then join every thread.

        Cancelled Gs see :class:`gmp.Cancelled` at their next checkpoint; they get
        ``cancel_grace`` seconds to unwind. Gs still stuck in a blocking call after that
        are reported (their threads are daemons and cannot be interrupted). Idempotent.
        """
        m = tls.m
        if m is not None and m.rt is self:
            raise RuntimeError(
                "Runtime.close() called from inside one of its own Gs would deadlock"
            )
        if timeout is not None:
            timeout = _check_seconds("timeout", timeout, allow_zero=True)
        with self.lock:
            if self.closed:
                return
            self.closing = True
            if not self._wait_all_done(timeout):
                self._cancel_all_locked()
                self._wait_all_done(self.cancel_grace)
            stuck = self.gs_alive
            self.stopping = True
            idle = list(self.idle_ms)
            for parked in idle:
                if parked.parked:
                    self.idle_ms.remove(parked)
                    parked.wake()
        self.sysmon.stop()
        self.sysmon.thread.join()
        poller = self.poller
        deadline = time.monotonic() + max(self.cancel_grace, 0.5)
        left = []
        for mm in list(self.ms):
            mm.thread.join(max(deadline - time.monotonic(), 0.0))
            if mm.thread.is_alive():
                left.append(mm.id)
        if poller is not None and not left:
            poller.shutdown()
        wakes: list[Callable[[], object]] = []
        with self.lock:
            self.closed = True
            pending = self.live_gs_locked()
            for g in pending:
                wakes.extend(g.ext_waiters or ())
                g.ext_waiters = None
            wakes.extend(self.ext_ready)
            self.ext_ready = []
        call_wakes(wakes)
        if stuck or left:
            _log.warning(
                "runtime closed with Gs that did not finish",
                gs=stuck,
                threads_still_blocked=left,
            )

    def _wait_all_done(self, timeout: float | None) -> bool:
        self._drain_waiters += 1
        try:
            return self._all_done.wait_for(lambda: self.gs_alive == 0, timeout)
        finally:
            self._drain_waiters -= 1

    def _cancel_all_locked(self) -> None:
        """Deliver Cancelled to every live G (lock held; released around abort calls)."""
        for g in self.live_gs_locked():
            if g.status is _DEAD or g.cancel_pending is not None:
                continue
            g.cancel_pending = Cancelled("the runtime is shutting down")
            if g.status is _WAITING:
                self.interrupt(g)
            elif g.status is gcore.RUNNABLE and g.coro is not None:
                g.throw = g.cancel_pending

    def live_gs_locked(self) -> list[G[Any]]:
        """Every live G (lock held): those that parked once (``gs``) and those that never
        did, which are queued or running on an M (see ``gs``)."""
        gs = self.gs
        live = list(gs)
        core = self.core
        others: list[Any] = list(core.runq)
        for p in core.allp:
            if p.runnext is not None:
                others.append(p.runnext)
            others.extend(p.runq)
        others.extend(m.curg for m in self.ms if m.curg is not None)
        live.extend(g for g in others if g not in gs and g.status is not _DEAD)
        return live

    def interrupt(self, g: G[Any]) -> None:
        """Wake a parked G whose cancellation is due (lock held; trio's abort path)."""
        if g.status is not _WAITING:
            return
        exc = cancel_exc(g)
        if exc is None:
            return
        if self.abort_wait(g) and g.status is _WAITING:
            g.abort = None
            g.throw = exc
            self.ready(g)

    def abort_wait(self, g: G[Any]) -> bool:
        """Take parked ``g`` back from what it waits on; True if this call got it.

        Timers and joins are under our lock; any other wait structure has its own lock,
        so its abort callable runs with ours released (lock order: theirs, then ours).
        """
        abort = g.abort
        if abort is None:
            return False
        if isinstance(abort, Timer):
            return abort.cancel()
        if isinstance(abort, G):
            ws = abort.waiters
            if ws is not None and g in ws:
                ws.remove(g)
                return True
            return False
        self.lock.release()
        try:
            return bool(abort())
        finally:
            self.lock.acquire()

    # -- scheduler internals (all called with self.lock held) ---------------------

    def wakep(self) -> None:
        """Give an idle P to a spinning M so queued work starts (Go's wakep/startm)."""
        p = pidleget(self.core)
        if p is None:
            return
        try:
            m = self._mget_or_new()
        except ThreadLimitError:
            pidleput(self.core, p)
            return
        m.spinning = True
        spinning_started(self.core)
        self._start_m_with(m, p)

    def _start_m_with(self, m: M, p: P) -> None:
        m.nextp = p
        p.m = m
        if m.thread.ident is None:
            m.thread.start()
        else:
            m.wake()

    def _mget_or_new(self) -> M:
        while self.idle_ms:
            m = self.idle_ms.pop()
            if m.parked:
                return m
        n = len(self.ms)
        if self.ms_alive >= self.max_threads:
            self.thread_limit_hits += 1
            if self.thread_limit_hits == 1 or self.thread_limit_hits % 1000 == 0:
                _log.error(
                    "thread limit reached: no M for a P whose M is blocked",
                    max_threads=self.max_threads,
                    hits=self.thread_limit_hits,
                    hint="raise Runtime(max_threads=...) or block in fewer Gs at once",
                )
            raise ThreadLimitError(
                f"starting another M would exceed max_threads={self.max_threads}"
            )
        m = M(self, n)
        self.ms.append(m)
        self.ms_alive += 1
        return m

    def handoff(self, p: P, share_cpu: int | None = None) -> bool:
        """Sysmon retake: move ``p`` from its stuck M to another M (Go's handoffp).

        ``share_cpu``: the CPU the stuck M's computing G runs on, already pinned there by
        sysmon; the new M is pinned beside it until that G's step ends
        (gmp.runtime.affinity). Returns whether the P was handed off."""
        old = p.m
        try:
            m = self._mget_or_new()
        except ThreadLimitError:
            return False
        if old is not None:
            old.p = None
            if share_cpu is not None:
                old.partner = m
                m.share_cpu = share_cpu
                if m.native_id is not None:  # a parked M: pin it now; a new one pins itself
                    affinity.pin(m.native_id, {share_cpu})
        p.handoffs += 1
        self.handoffs += 1
        p.status = PStatus.IDLE
        self._start_m_with(m, p)
        return True

    def handoff_or_idle(self, p: P) -> None:
        """A P whose M is gone: hand it on if it has work, else make it idle."""
        if has_work(self.core, p):
            try:
                m = self._mget_or_new()
            except ThreadLimitError:
                return
            p.status = PStatus.IDLE
            self._start_m_with(m, p)
        else:
            pidleput(self.core, p)

    def recover_m(self, m: M, g: G[Any] | None, err: BaseException) -> dict[str, Any]:
        """Self-healing: M ``m`` died from an internal error (lock held).

        Go has nothing to mirror here (a runtime fault there is fatal, ``throw``). gmp keeps
        the process going: the G the M had in hand, unless it is queued or parked (then
        someone else will run or wake it), is finished with :class:`ThreadLostError` so
        its joiners are not stuck; the M's P goes back with its local queue moved to the
        global one, and ``wakep`` starts a replacement M if work is queued. Returns the
        fields the M logs once the lock is released.
        """
        self.m_crashes += 1
        core = self.core
        report: dict[str, Any] = {"m_crashes": self.m_crashes}
        m.lost = None
        m.curg = None
        if self.timer_waiter is m:
            self.timer_waiter = None
        if m.spinning:
            m.spinning = False
            spinning_stopped(core)
        if g is not None and g.status is not _DEAD:
            report["g"] = g.id
            if g.status is _WAITING or self._queued(g):
                report["g_fate"] = "left queued or parked"
            else:
                lost = ThreadLostError(
                    f"{g!r} lost its thread: M{m.id} died from an internal error "
                    f"({type(err).__name__}: {err})"
                )
                lost.__cause__ = err
                self.finish(g, None, lost)
                report["g_fate"] = "finished with ThreadLostError"
        for p in (m.p, m.nextp):
            if p is None or p.m is not m:
                continue
            p.m = None
            p.status = PStatus.IDLE
            if p.runnext is not None:
                globrunqput(core, p.runnext)
                p.runnext = None
            while p.runq:
                globrunqput(core, p.runq.popleft())
            pidleput(core, p)
            report["p"] = p.id
        m.p = m.nextp = None
        if not self.stopping and needs_wakep(core) and runnable_work(core):
            self.wakep()
        return report

    def _queued(self, g: G[Any]) -> bool:
        core = self.core
        if g in core.runq:
            return True
        return any(p.runnext is g or g in p.runq for p in core.ps)

    def add_timer_locked(self, when: float, payload: object) -> Timer:
        """Arm a timer at ``when`` on the calling M's P, or, from outside the runtime, on
        P0 (the scheduler lock held). A callable payload runs when it fires, the lock
        released (a cancel scope's deadline, a route's timeout); a G is made runnable."""
        m = tls.m
        p = m.p if m is not None and m.rt is self else None
        p = live_p(self.core, p) if p is not None else self.core.ps[0]
        return p.timers.add(when, payload)

    def ready(self, g: G[Any]) -> None:
        """Make a parked G runnable (Go's goready): the waker P's runnext, or global."""
        m = tls.m
        if goready(self.core, m.p if m is not None and m.rt is self else None, g):
            self.wakep()

    def finish(self, g: G[Any], value: Any, exc: BaseException | None) -> None:
        """Record a G's outcome and wake whoever waits for it."""
        g.status = _DEAD
        g.value = value
        g.exc = exc
        g.coro = None
        g.ctx = None
        g.abort = None
        scopes = g.scopes
        if scopes is not None:
            g.scopes = None
            for scope in scopes:
                scope.gs.discard(g)
        waiters = g.waiters
        ext = g.ext_waiters
        if waiters is not None:
            g.waiters = None
            m = tls.m
            if wake_joiners(self.core, m.p if m is not None and m.rt is self else None, waiters):
                self.wakep()
        if ext is not None:
            # Woken after the scheduler lock is dropped (flush_wakes): an outside waiter
            # may take its own locks or call into its event loop.
            g.ext_waiters = None
            self.ext_ready.extend(ext)
        if (
            exc is not None
            and waiters is None
            and ext is None
            and not isinstance(exc, Cancelled)  # how a cancelled G unwinds: not a failure
            and g.report is None  # a TaskGroup already took the error
        ):
            from gmp.runtime.g import _FailureReport

            prog = self.program
            # With unjoined_errors="raise", the error ends the program once nobody can
            # join the G any more (its handle is collected), Go's crash on a panic.
            on_lost = prog.lost if prog is not None and prog.raise_unjoined else None
            g.report = _FailureReport(g.id, g.name, exc, on_lost)
            if not affinity.gil_enabled():  # asked only for a failed G
                # Free-threaded CPython frees an object whose last reference another
                # thread dropped only when its owner thread next runs Python (biased
                # reference counting), and the M that made this G may be parked: the
                # report would wait, and unjoined_errors="raise" never end the run
                # (tests/runtime/test_deadlock.py on 3.13t). sysmon collects once for it.
                self.collect_due = True
                self._kick_sysmon()
        self.gs_alive -= 1
        if g.wait_reason:  # it parked once, so it is in gs (M._schedule)
            self.gs.discard(g)
        if self.gs_alive == 0 and self._drain_waiters:
            self._all_done.notify_all()

    def run_main(
        self,
        main: Callable[..., Any] | Coroutine[Any, Any, Any],
        *args: Any,
        unjoined_errors: str = "log",
    ) -> Any:
        """Run ``main(*args)`` as this runtime's program and return its result (the body
        of ``gmp.run``). The calling thread waits; nothing else holds the runtime, so:

        - when every G is parked with no timer, blocking call or outside waiter that
          could wake one, the run is over: :class:`~gmp.DeadlockError` names each parked
          G and what it waits on (Go's "all goroutines are asleep - deadlock!");
        - with ``unjoined_errors="raise"``, an exception escaping a G that nobody joins
          ends the run and is raised here (Go's crash on an unrecovered panic); the
          default, ``"log"``, logs it when the G is collected and goes on.

        A G that calls :func:`gmp.current_runtime` opens the runtime to the outside (a
        thread may call ``rt.go`` with it later), which turns deadlock detection off.
        """
        if unjoined_errors not in ("log", "raise"):
            raise ValueError(f"unjoined_errors must be 'log' or 'raise', got {unjoined_errors!r}")
        prog = Program(unjoined_errors == "raise")
        with self.lock:
            if self.program is not None:
                raise RuntimeError("this runtime already runs a program")
            self.program = prog
        g = self.spawn(main, args, "main", tls.m)
        with self.lock:
            prog.main = g
            if len(self.core.idle) == self.core.procs:
                self.checkdead()  # every M went idle before main was known
                wakes = self.ext_ready
                self.ext_ready = []
            else:
                wakes = []
        call_wakes(wakes)
        if not g.add_waiter(prog.done.set):
            prog.done.set()
        prog.done.wait()
        if prog.error is not None:
            raise prog.error
        return g.outcome()

    def checkdead(self) -> None:
        """Go's checkdead (lock held; every P is idle): if no G can ever run again, end
        the program with a DeadlockError naming the parked Gs."""
        prog = self.program
        if prog is None or prog.open or prog.error is not None or self.stopping:
            return
        main = prog.main
        if main is None or main.status is _DEAD:
            return  # not started yet, or the program is over (main returned)
        core = self.core
        if core.runq or core.fired or self.ext_ready or self.gs_alive == 0:
            return
        if self.gs_alive != len(self.gs):
            return  # a G that never parked is queued or running (see gs)
        if core.npollwait:
            return  # a G waits on the network: readiness may wake it (Go's blocked poller)
        for p in core.allp:
            if p.timers.live():
                return  # a sleep or a deadline will wake someone
        parked = []
        for g in self.gs:
            if g.status is not _WAITING or g.ext_waiters:
                # Running, queued or in a blocking call; or awaited from outside (a
                # thread in result(), a trio task) other than the program's own wait.
                if not (g is prog.main and g.ext_waiters == [prog.done.set]):
                    return
                if g.status is not _WAITING:
                    return
            parked.append(g)
        parked.sort(key=lambda g: g.id)
        lines = [f"  {g!r}: {g.wait_reason or 'park'}" for g in parked[:20]]
        if len(parked) > 20:
            lines.append(f"  ... and {len(parked) - 20} more")
        prog.error = DeadlockError(
            f"all Gs are asleep - deadlock! {len(parked)} parked G(s), nothing left to "
            "wake them (no runnable G, timer or blocking call):\n" + "\n".join(lines)
        )
        self.ext_ready.append(prog.done.set)

    def flush_wakes(self) -> None:
        """Run the outside waiters of finished Gs (lock held on entry and exit; released
        while they run, so none of them is ever called under the scheduler lock)."""
        wakes = self.ext_ready
        if not wakes:
            return
        self.ext_ready = []
        self.lock.release()
        try:
            call_wakes(wakes)
        finally:
            self.lock.acquire()

    def at_func(self, when: float, fn: Callable[[], object]) -> TimerHandle:
        """Call ``fn()`` once at ``when`` (``time.monotonic()``'s clock), on whichever M
        fires the timer, without the scheduler lock. Armed on the calling G's P, or on
        P0 from outside the runtime. Go's ``time.AfterFunc`` with a deadline."""
        if not callable(fn):
            raise TypeError(f"at_func() needs a callable, got {type(fn).__name__}")
        with self.lock:
            if self.stopping:
                raise RuntimeClosedError("this runtime is closed; it fires no more timers")
            t = self.add_timer_locked(float(when), fn)
            self._wake_for_timer_locked()
        return TimerHandle(self, t)

    def _wake_for_timer_locked(self) -> None:
        """Go's wakeNetPoller after a timer armed outside the M loop (at_func, a moved
        scope deadline): the parked Ms sleep until the timers they knew of; one of them
        must look again and sleep until this one instead."""
        if needs_wakep(self.core):
            self.wakep()

    # -- cancel scopes (gmp.cancel): every trap reads g.scope_cancelled, set here ----------

    def scope_enter(self, g: G[Any], scope: Any) -> None:
        """``g`` enters ``scope`` (innermost); arm its deadline unless it is infinite or
        the scope is already cancelled."""
        with self.lock:
            if g.scopes is None:
                g.scopes = [scope]
            else:
                g.scopes.append(scope)
            scope.gs.add(g)
            if scope.cancel_called:  # cancelled before it was entered
                g.scope_cancelled = True
                return
            self._arm_scope_locked(scope)

    @staticmethod
    def _scope_inside_locked(scope: Any) -> bool:
        """Whether the G that entered ``scope`` is inside it now: scope_enter adds it to
        ``scope.gs`` and scope_exit takes it out, both under the lock."""
        g = scope._g
        return g is not None and g in scope.gs

    def _arm_scope_locked(self, scope: Any) -> None:
        deadline = scope._deadline
        if deadline != math.inf:
            scope._timer = self.add_timer_locked(deadline, scope._deadline_reached)

    def scope_exit(self, g: G[Any], scope: Any) -> None:
        """``g`` leaves ``scope``, which must be its innermost; its deadline is disarmed."""
        with self.lock:
            scopes = g.scopes
            if not scopes or scopes[-1] is not scope:
                raise RuntimeError(
                    "cancel scopes exited out of order (an inner scope is still open)"
                )
            scopes.pop()
            if not scopes:
                g.scopes = None
                g.scope_cancelled = False
            elif scope.cancel_called:
                # The cancellation caught here may have been the only one; an outer
                # cancelled scope keeps the checkpoints asking cancel_exc.
                g.scope_cancelled = any(s.cancel_called for s in scopes)
            scope.gs.discard(g)
            timer = scope._timer
            if timer is not None:
                scope._timer = None
                timer.cancel()

    def scope_set_deadline(self, scope: Any, deadline: float) -> None:
        """Move ``scope``'s deadline (trio's ``scope.deadline = ...``): while a G is
        inside and the scope is not cancelled, disarm the old timer and arm the new one.
        Before the entry the value is simply kept (scope_enter arms it); after the exit
        it changes nothing."""
        with self.lock:
            scope._deadline = deadline
            if scope.cancel_called or not self._scope_inside_locked(scope):
                return
            old = scope._timer
            if old is not None:
                scope._timer = None
                old.cancel()
            self._arm_scope_locked(scope)
            if scope._timer is not None:
                self._wake_for_timer_locked()

    def scope_cancel(self, scope: Any) -> bool:
        """Mark ``scope`` cancelled and wake every parked G inside it (trio's
        CancelScope.cancel). False if it was cancelled already."""
        with self.lock:
            return self._scope_cancel_locked(scope)

    def scope_deadline_passed(self, scope: Any) -> bool:
        """The deadline timer's payload (CancelScope._deadline_reached), run without the
        lock after the timer fired: cancel ``scope`` only if it is still entered and its
        deadline, which scope_set_deadline may have moved later meanwhile, has passed."""
        with self.lock:
            if not self._scope_inside_locked(scope) or time.monotonic() < scope._deadline:
                return False
            return self._scope_cancel_locked(scope)

    def _scope_cancel_locked(self, scope: Any) -> bool:
        if scope.cancel_called:
            return False
        scope.cancel_called = True
        timer = scope._timer
        if timer is not None:
            scope._timer = None
            timer.cancel()
        # Every G inside learns through its scope_cancelled hint, set here under our
        # lock. A running G reads the hint without the lock at its next checkpoint: a
        # stale False there only delays delivery to the checkpoint after (the same as
        # reading cancel_called itself, which cancel_exc always did unlocked); a parking
        # G reads it under our lock (M._schedule's Park case), so either it sees True and
        # takes itself back (M._after_park) or it is parked when we get here and
        # interrupt() wakes it.
        for g in list(scope.gs):
            g.scope_cancelled = True
            self.interrupt(g)
        return True

    def after_func(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        """Call ``fn()`` once, ``delay`` seconds from now (Go's ``time.AfterFunc``);
        ``handle.stop()`` cancels it if it has not fired."""
        delay = _check_seconds("delay", delay, allow_zero=True)
        return self.at_func(time.monotonic() + delay, fn)

    def run_fired(self) -> None:
        """Run timer payloads that are not Gs (cancel-scope deadlines), lock released."""
        fired = self.core.fired
        self.core.fired = []
        self.lock.release()
        try:
            for payload in fired:
                try:
                    if callable(payload):
                        payload()
                except Exception:
                    _log.exception("timer callback failed", callback=repr(payload))
        finally:
            self.lock.acquire()

    def timers_pending(self) -> bool:
        """Whether any live P has a timer armed (lock held)."""
        return any(p.timers.next_when() is not None for p in self.core.ps)

    def park_timeout(self, m: M) -> float | None:
        """How long a parking M may sleep: until the earliest timer if nobody else waits."""
        earliest: float | None = None
        for p in self.core.ps:
            w = p.timers.next_when()
            if w is not None and (earliest is None or w < earliest):
                earliest = w
        if earliest is None:
            return None
        if self.timer_waiter is not None and self.timer_waiter_deadline <= earliest:
            return None
        self.timer_waiter = m
        self.timer_waiter_deadline = earliest
        return max(earliest - time.monotonic(), 0.0)

    def netpoller(self) -> Poller:
        """The runtime's network poller, made on first use (Go's netpollGenericInit)."""
        poller = self.poller
        if poller is not None:
            return poller
        from gmp.runtime.netpoll import Poller

        with self.lock:
            if self.stopping:
                raise RuntimeClosedError("this runtime is closed; it polls no more sockets")
            poller = self.poller
        if poller is None:
            made = Poller(self)
            with self.lock:
                if self.poller is None:
                    self.poller = made
                    self.poll_fn = made.poll_nonblocking
                    self.core.lastpoll = time.monotonic()
                    made = None  # type: ignore[assignment]
                poller = self.poller
            if made is not None:
                made.shutdown()
        return poller

    def on_p_busy(self) -> None:
        sm = self.sysmon
        if sm.sleeping:
            sm.sleeping = False
            sm.wake_event.set()


class Program:
    """The state of a ``gmp.run`` program: its main G and how the run ends."""

    __slots__ = ("_lock", "done", "error", "main", "open", "raise_unjoined")

    def __init__(self, raise_unjoined: bool) -> None:
        self.raise_unjoined = raise_unjoined
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.main: G[Any] | None = None
        # A handle to the runtime left the program (current_runtime): outside code may
        # start or wake Gs at any time, so "every G is parked" is no longer a deadlock.
        self.open = False

    def lost(self, exc: BaseException) -> None:
        """A failed G nobody joined was collected: the program ends with its error.
        Runs from a finalizer on any thread, perhaps under the scheduler lock: it takes
        only its own lock and sets an event."""
        with self._lock:
            if self.error is None:
                self.error = exc
        self.done.set()


class TimerHandle:
    """A timer armed by :meth:`Runtime.after_func` (Go's ``*time.Timer``)."""

    __slots__ = ("_rt", "_timer")

    def __init__(self, rt: Scheduler, timer: Timer) -> None:
        self._rt = rt
        self._timer = timer

    def stop(self) -> bool:
        """Cancel the timer; True if this stopped it before it fired (Go's Timer.Stop)."""
        with self._rt.lock:
            return self._timer.cancel()

    @property
    def when(self) -> float:
        """When it fires (or fired), on ``time.monotonic()``'s clock."""
        return self._timer.when

    def __repr__(self) -> str:
        state = "pending" if self._timer.pending else "done"
        return f"<gmp.TimerHandle {state} when={self._timer.when:.6f}>"


def current_runtime() -> Runtime:
    """The runtime of the G calling this (its :class:`gmp.Runtime`); raises NotInGError
    outside a G."""
    m = tls.m
    if m is None or m.curg is None:
        raise NotInGError("gmp.current_runtime() works only inside a G")
    rt = m.rt
    prog = rt.program
    if prog is not None and not prog.open:
        prog.open = True  # a single store, only ever False -> True: no lock needed
    return rt.runtime
