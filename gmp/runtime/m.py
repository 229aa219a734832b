"""The M: an OS thread that must hold a P to run Gs (Go's ``m``, and ``schedule``).

An M loops: find a runnable G for its P (the pure core decides which), step it without
the scheduler lock, then act on the trap the G yielded. When nothing is runnable it puts
its P on the idle list and parks on its own semaphore (Go's stopm/notesleep), so an idle
M costs no interpreter time. When sysmon takes its P during a long step or a blocking
call (handoff), the M finishes that step, then tries to get a P back (Go's exitsyscall):
its old one if idle, any idle one, or else it queues the G globally and parks.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import time
import types
from typing import TYPE_CHECKING, Any

from gmp._core import g as gcore
from gmp._core.idle import resetspinning, spinning_stopped
from gmp._core.netpoll import block_in_poll
from gmp._core.p import PStatus
from gmp._core.place import gopreempt, gosched, inject, requeue, yield_local
from gmp._core.procresize import live_p
from gmp._core.runq import runqput
from gmp._core.sched import (
    GLOBAL_CHECK_INTERVAL,
    entersyscall,
    find_runnable,
    globrunqget,
    pidleget,
    pidleput,
)
from gmp.errors import Cancelled
from gmp.observe.log import get_logger
from gmp.runtime import affinity
from gmp.runtime.g import call_wakes, cancel_exc
from gmp.runtime.signals import leave_signals_to_main
from gmp.runtime.traps import (
    GOSCHED_TRAP,
    YIELD_TRAP,
    Gosched,
    Join,
    Park,
    Preempt,
    Sleep,
    Syscall,
    Trap,
    Yield,
    tls,
)

if TYPE_CHECKING:
    from gmp._core.p import P
    from gmp.runtime.g import G
    from gmp.runtime.scheduler import Scheduler

_log = get_logger("gmp.runtime")
_Context = contextvars.Context

_DEAD = gcore.DEAD
_RUNNABLE = gcore.RUNNABLE
_GLOBAL_CHECK = GLOBAL_CHECK_INTERVAL
_RUNNING = gcore.RUNNING
_WAITING = gcore.WAITING
_SYSCALL = gcore.SYSCALL
_P_RUNNING = PStatus.RUNNING
_P_SYSCALL = PStatus.SYSCALL


def _no_commit(g: Any) -> bool:
    return False


class M:
    """One worker thread. Every field is guarded by the runtime's scheduler lock."""

    __slots__ = (
        "cpuclock",
        "curg",
        "id",
        "in_poll",
        "lost",
        "native_id",
        "nextp",
        "p",
        "parked",
        "parktrap",
        "partner",
        "rt",
        "sema",
        "share_cpu",
        "spinning",
        "thread",
    )

    def __init__(self, rt: Scheduler, mid: int) -> None:
        self.rt = rt
        self.id = mid
        self.p: P | None = None
        # A P handed to this M by wakep/handoff before it wakes (Go's m.nextp).
        self.nextp: P | None = None
        self.curg: G[Any] | None = None
        self.spinning = False
        self.parked = False
        # Blocked in the network poller instead of on ``sema`` (woken by Poller.brk).
        self.in_poll = False
        # Reused by every park of a G on this M (gmp.runtime.park.park).
        self.parktrap = Park(_no_commit, None)
        # The G in hand when an internal error escaped the schedule loop (self-healing).
        self.lost: G[Any] | None = None
        # Go's m.park note: a lock held while the M sleeps; released to wake it.
        self.sema = threading.Lock()
        self.sema.acquire()
        self.thread = threading.Thread(target=self._main, name=f"gmp-M{mid}", daemon=True)
        # This thread's CPU clock, read by sysmon to tell a blocking call that waits from
        # one that computes (gmp._core.preempt.stuck). Set once by the thread itself.
        self.cpuclock: int | None = None
        # The OS thread id, set by the thread under the lock (gmp.runtime.affinity).
        self.native_id: int | None = None
        # The CPU this M is pinned to beside a partner (a handoff from a computing G; a
        # new M pins itself to it when it starts).
        self.share_cpu: int | None = None
        # The M pinned beside this one while this M's G computes; unpinned with it.
        self.partner: M | None = None

    def __repr__(self) -> str:
        return f"<M {self.id} p={None if self.p is None else self.p.id}>"

    def _unshare(self) -> None:
        """The step that had this M pinned beside a partner is over (lock held)."""
        _unshare_m(self)

    # -- thread body -----------------------------------------------------------

    def _main(self) -> None:
        leave_signals_to_main()
        tls.m = self
        self.cpuclock = _thread_cpuclock()
        rt = self.rt
        rt.lock.acquire()
        # Under the lock, so a handoff that pins this M and the end of the step that
        # unpins it see one order (gmp.runtime.affinity).
        self.native_id = threading.get_native_id()
        if self.share_cpu is not None:
            affinity.pin(0, {self.share_cpu})
        elif affinity.ENABLED:
            # A thread starts with the affinity of the one that started it, which may be
            # pinned beside a computing G: take the runtime's (every allowed CPU, or the
            # one sysmon keeps the Ms on, gmp._core.onecore).
            affinity.pin(0, rt.cpus)
        crash: BaseException | None = None
        report: dict[str, Any] = {}
        try:
            self._schedule()
        except BaseException as err:
            # Not a G's exception (those are the G's outcome): the M's own code failed.
            # Recover what it held so the other Gs go on, then let the thread end.
            crash = err
            try:
                report = rt.recover_m(self, self.lost, err)
            except BaseException as again:  # never die holding the lock
                report = {"recovery_failed": repr(again)}
        finally:
            rt.ms_alive -= 1
            if self in rt.idle_ms:
                rt.idle_ms.remove(self)
            if self.spinning:
                self.spinning = False
                spinning_stopped(rt.core)
            p = self.p
            if p is not None and p.m is self:
                self.p = None
                rt.handoff_or_idle(p)
            wakes = rt.ext_ready
            rt.ext_ready = []
            rt.lock.release()
            tls.m = None
            call_wakes(wakes)
        if crash is not None:
            _log.error(
                "M died from an internal error; its P and Gs were recovered",
                m=self.id,
                exc_info=(type(crash), crash, crash.__traceback__),
                **report,
            )

    def _schedule(self) -> None:
        """Go's schedule() loop. Entered and left with the scheduler lock held."""
        rt = self.rt
        lock = rt.lock
        core = rt.core
        mono = time.monotonic
        # Any: the core hands back core Gs; every G in this runtime is a runtime G.
        g: Any = None
        try:
            while True:
                # ---- pick a G (lock held) -------------------------------------------------
                if g is None:
                    if self.partner is not None:
                        self._unshare()
                    p = self.p
                    if p is None:
                        if rt.stopping:
                            return
                        p = self._acquirep()
                        if p is None:
                            if self.spinning:
                                # Our P was retired before we woke: nothing to spin for.
                                self.spinning = False
                                spinning_stopped(core)
                            # Go's findRunnable ends in stopm here: an M that found no
                            # P sleeps until startm hands it one. Only an M that just
                            # gave its P up blocks in the poller (below, via _stopm):
                            # one that came back from the poller without a P and polled
                            # again would wake at every readiness event only to queue
                            # the G for the busy P, taking the GIL from the M running
                            # it each time.
                            self._park(poll=False)
                            continue
                    # Go's runqget, inlined for the common case, then globrunqget when
                    # the local queue is empty: find_runnable's steps 3 and 4 in its
                    # order, for a P with no timer due, no preemption due and not at its
                    # 61st tick. A timer that is not due yet (a request deadline, a
                    # sleeping G) costs one clock read here, not the full path: with a
                    # Timeout(5) on every request the heap is never empty, and sending
                    # every pick through find_runnable cost 2.2 us a request in gmp serve
                    # (/ping at procs=1, 22.8k -> 26.4k req/s). Anything else (and an
                    # empty global queue: polling, stealing) takes the core's full
                    # find_runnable. The global step matters
                    # for gosched, which always sends the G there: one call instead of
                    # find_runnable + runqget + the clock read took a gosched at
                    # procs=1, K=2 from 1.12 to 0.97 us (medians of 5 interleaved runs).
                    g = None
                    th = p.timers.heap
                    if (
                        p.schedtick % _GLOBAL_CHECK
                        and not p.preempt
                        and (not th or th[0][0] > mono())
                    ):
                        g = p.runnext
                        if g is not None:
                            p.runnext = None
                        elif p.runq:
                            g = p.runq.popleft()
                            p.schedtick += 1
                        elif core.runq:
                            g = globrunqget(core, p, 0)
                            p.schedtick += 1
                    if g is not None:
                        p.runs += 1
                        g.status = _RUNNING
                    else:
                        g, _ = find_runnable(core, p, mono(), rt.poll_fn)
                        # Only find_runnable fires timers, and whoever fires them runs
                        # them before the lock is free again: the fast path skips both
                        # tests below.
                        if core.fired:
                            # Non-G timer payloads (cancel-scope deadlines) may take other
                            # locks: run them without ours, then look again (they may
                            # ready Gs). The G found goes back to runnext first, so the
                            # next pick takes it again: held in hand while the lock is
                            # released it would be nowhere close or cancellation look
                            # (Scheduler.live_gs_locked), and a resize that retires our P
                            # meanwhile moves it to a surviving one.
                            if g is not None:
                                runqput(core, p, g, True)
                                g = None
                            rt.run_fired()
                            continue
                        if g is None:
                            self._stopm(p)
                            continue
                    if self.spinning:
                        self._resetspinning()
                else:
                    p = self.p
                    g.status = _RUNNING
                assert p is not None
                p.runtick += 1
                self.curg = g

                # ---- run it (lock released) ------------------------------------------------
                coro = g.coro
                if coro is None:
                    g = self._run_callable(g, p)
                    if rt.ext_ready:
                        rt.flush_wakes()
                    continue
                ctx = g.ctx
                if ctx is None:
                    ctx = g.ctx = _Context()  # its spawner's context was empty (G.__init__)
                exc = g.throw
                lock.release()
                try:
                    if exc is None:
                        value = g.send
                        g.send = None
                        trap = ctx.run(coro.send, value)
                    else:
                        g.throw = None
                        trap = ctx.run(coro.throw, exc)
                except StopIteration as stop:
                    lock.acquire()
                    self.curg = None
                    rt.finish(g, stop.value, None)
                    g = None
                    if rt.ext_ready:
                        rt.flush_wakes()
                    continue
                except BaseException as err:
                    lock.acquire()
                    self.curg = None
                    rt.finish(g, None, err)
                    g = None
                    if rt.ext_ready:
                        rt.flush_wakes()
                    continue
                lock.acquire()
                self.curg = None
                if trap is GOSCHED_TRAP and g.cancel_pending is None and not g.scope_cancelled:
                    # Hot path of _trap's Gosched case, inlined (Go's goschedImpl).
                    # ``p`` is the P the step started on; sysmon may have handed it to
                    # another M while a hog ran, and its flag is then that M's to clear
                    # (_trap reads self.p). Tested only when set, so free otherwise.
                    if p.preempt and self.p is p:
                        p.preempt = False  # leaving for the global tail anyway
                    if gosched(core, g):
                        rt.wakep()
                    g = None
                    continue
                if type(trap) is Park and g.cancel_pending is None:
                    # _trap's Park case, inlined for the uncancelled G (channel, lock waits).
                    g.status = _WAITING
                    g.abort = trap.abort
                    if not g.wait_reason:
                        rt.gs.add(g)  # its first park (Scheduler.gs)
                    g.wait_reason = trap.reason or "park"
                    if trap.commit(g):
                        if not g.scope_cancelled:
                            g = None
                            continue
                        g = self._after_park(g)
                    else:
                        g.abort = None
                        g = self._resume(g)
                    continue
                if trap is YIELD_TRAP and g.cancel_pending is None and not g.scope_cancelled:
                    # _trap's Yield case, inlined: ``sleep(0)``, the checkpoint asyncio
                    # code writes in its loops (11.4k -> 10.2k instructions a sleep(0)
                    # at procs=1, two Gs; callgrind). The P is the M's own now, as in
                    # _trap (sysmon may have handed the step's P on).
                    if yield_local(core, self.p, g):
                        rt.wakep()
                    g = None
                    continue
                g = self._trap(g, p, trap)
        except BaseException:
            self.lost = g if g is not None else self.curg
            raise

    # -- acting on traps (lock held) ---------------------------------------------

    def _trap(self, g: G[Any], oldp: P, trap: Any) -> G[Any] | None:
        """Act on what ``g`` yielded. Returns ``g`` to continue it at once, else None.

        Every trap is a safe point: a pending cancellation is delivered, and a G that
        would go on running after its P's time slice ran out goes to the global tail
        instead (:meth:`_resume`, Go's gopreempt_m), parking traps excepted."""
        rt = self.rt
        core = rt.core
        kind = type(trap)
        if kind is Park:
            g.status = _WAITING
            g.abort = trap.abort
            if not g.wait_reason:
                rt.gs.add(g)  # its first park (Scheduler.gs)
            g.wait_reason = trap.reason or "park"
            if not trap.commit(g):
                # commit said the wait is already over: resume at once (Go's gopark when
                # unlockf returns false). Primitives check cancellation on entry.
                g.abort = None
                return self._resume(g)
            if g.cancel_pending is not None or g.scope_cancelled:
                return self._after_park(g)
            return None
        if not isinstance(trap, Trap):
            g.throw = TypeError(
                f"a G awaited something gmp cannot run ({trap!r}); inside a G await only "
                "gmp operations (use gmp.syscall for blocking calls, the trio bridge for trio)"
            )
            return self._continue(g)
        if g.cancel_pending is not None or g.scope_cancelled:
            # Every trap is a checkpoint: deliver a pending cancellation (trio semantics).
            exc = cancel_exc(g)
            if exc is not None:
                g.throw = exc
                return self._continue(g)
        p = self.p
        if kind is Preempt:
            return self._resume(g)
        if kind is Gosched:
            if p is not None:
                p.preempt = False  # leaving for the global tail anyway
            if gosched(core, g):
                rt.wakep()
            return None
        if kind is Yield:
            if yield_local(core, p, g):
                rt.wakep()
            return None
        if type(trap) is Join:
            target = trap.target
            if target.status is _DEAD:
                return self._resume(g)
            ws = target.waiters
            if ws is None:
                target.waiters = [g]
            else:
                ws.append(g)
            g.status = _WAITING
            g.abort = target
            if not g.wait_reason:
                rt.gs.add(g)  # its first park (Scheduler.gs)
            g.wait_reason = "join"
            return None
        if type(trap) is Sleep:
            g.status = _WAITING
            # Without a P (handed off or retired meanwhile) the timer goes on the P the G
            # ran on, or the survivor that inherited that P's timers if it was retired.
            g.abort = (p or live_p(core, oldp)).timers.add(trap.when, g)
            if not g.wait_reason:
                rt.gs.add(g)  # its first park (Scheduler.gs)
            g.wait_reason = "sleep"
            return None
        if type(trap) is Syscall:
            return self._syscall(g, oldp, trap.fn, trap.args)
        g.throw = TypeError(f"unknown gmp trap {trap!r}")
        return self._continue(g)

    def _after_park(self, g: G[Any]) -> G[Any] | None:
        """Parked while cancelled: take the G back from its wait queue at once."""
        exc = cancel_exc(g)
        if exc is not None and self.rt.abort_wait(g) and g.status is _WAITING:
            g.abort = None
            g.throw = exc
            return self._continue(g)
        return None

    def _continue(self, g: G[Any]) -> G[Any] | None:
        """Resume ``g`` on this M if it still holds a P, else queue it globally."""
        if self.p is not None:
            return g
        if requeue(self.rt.core, g):
            self.rt.wakep()
        return None

    def _resume(self, g: G[Any]) -> G[Any] | None:
        """Resume ``g`` after a trap that did not park it, unless its P's time slice ran
        out: then it goes to the global tail (Go's gopreempt_m) and the P schedules."""
        p = self.p
        if p is None:
            if requeue(self.rt.core, g):
                self.rt.wakep()
            return None
        if p.preempt:
            if gopreempt(self.rt.core, p, g):
                self.rt.wakep()
            return None
        return g

    def _syscall(self, g: G[Any], oldp: P, fn: Any, args: tuple[Any, ...]) -> G[Any] | None:
        """Run a blocking call for a coroutine G (Go's entersyscall ... exitsyscall)."""
        rt = self.rt
        p = self.p
        if p is not None:
            entersyscall(p, g)
        else:
            g.status = _SYSCALL
        self.curg = g
        ctx = g.ctx
        if ctx is None:
            ctx = g.ctx = _Context()
        rt.lock.release()
        try:
            g.send = ctx.run(fn, *args)
        except BaseException as err:
            g.throw = err
        rt.lock.acquire()
        self.curg = None
        if g.cancel_pending is not None or g.scope_cancelled:
            # Returning from a blocking call is a checkpoint; its result is dropped.
            exc = cancel_exc(g)
            if exc is not None:
                g.send = None
                g.throw = exc
        back = self._exitsyscall(g)
        if back is None:
            return None
        # The return from a blocking call is a safe point (Go's exitsyscall checks
        # preemption too); a delivered cancellation is not deferred by it.
        return back if back.throw is not None else self._resume(back)

    def _exitsyscall(self, g: G[Any]) -> G[Any] | None:
        """Go's exitsyscall: keep our P if sysmon left it, else any idle P, else queue g."""
        rt = self.rt
        p = self.p
        if p is not None:
            p.status = _P_RUNNING
            return g
        p = pidleget(rt.core)
        if p is not None:
            self._setp(p)
            return g
        if requeue(rt.core, g):
            rt.wakep()
        return None

    def _run_callable(self, g: G[Any], p: P) -> G[Any] | None:
        """Run a plain-callable G to completion as a syscall G (handoff protects the P)."""
        rt = self.rt
        fn, args = g.fn, g.args
        g.fn = None
        g.args = ()
        cancel = g.throw
        if cancel is None and (g.cancel_pending is not None or g.scope_cancelled):
            cancel = cancel_exc(g)
        if cancel is not None:
            g.throw = None
            self.curg = None
            rt.finish(g, None, cancel)
            return None
        p.status = _P_SYSCALL
        g.status = _SYSCALL
        ctx = g.ctx
        if ctx is None:
            ctx = g.ctx = _Context()
        assert fn is not None
        rt.lock.release()
        try:
            value = ctx.run(fn, *args)
        except BaseException as err:
            rt.lock.acquire()
            self.curg = None
            self._reacquire_after_call()
            rt.finish(g, None, err)
            return None
        rt.lock.acquire()
        self.curg = None
        self._reacquire_after_call()
        if not inspect.isawaitable(value):
            rt.finish(g, value, None)
            return None
        # A callable that returned an awaitable (functools.partial of an async function,
        # a decorator, gmp.sleep itself...): the G goes on as a coroutine G.
        if not isinstance(value, types.CoroutineType | types.GeneratorType):
            value = value.__await__()
        g.coro = value
        return self._continue(g)

    def _reacquire_after_call(self) -> None:
        p = self.p
        if p is not None:
            p.status = _P_RUNNING
            return
        p = pidleget(self.rt.core)
        if p is not None:
            self._setp(p)

    # -- Ps, spinning, parking (lock held) ----------------------------------------------

    def _setp(self, p: P) -> None:
        """Go's acquirep."""
        p.m = self
        p.status = _P_RUNNING
        self.p = p
        self.rt.on_p_busy()

    def _acquirep(self) -> P | None:
        p = self.nextp
        if p is not None:
            self.nextp = None
        else:
            p = pidleget(self.rt.core)
            if p is None:
                return None
        self._setp(p)
        return p

    def _resetspinning(self) -> None:
        """Go's resetspinning: stop spinning and, if work remains, wake another M."""
        rt = self.rt
        self.spinning = False
        if resetspinning(rt.core):
            rt.wakep()

    def _stopm(self, p: P) -> None:
        """Nothing to run: give the P back and park (Go's stopm after findRunnable)."""
        rt = self.rt
        if self.spinning:
            self.spinning = False
            spinning_stopped(rt.core)
        self.p = None
        pidleput(rt.core, p)
        # Everything above happened in the same critical section as find_runnable, so a
        # producer either saw our P busy (and its G was found) or sees it idle now and
        # wakes an M: no lost wake-up.
        if rt.program is not None and len(rt.core.idle) == rt.core.procs:
            rt.checkdead()  # the last P went idle (Go's checkdead in mput)
            if rt.ext_ready:
                rt.flush_wakes()
        self._park()

    def _park(self, poll: bool = True) -> None:
        """Sleep until woken by wakep/handoff or until the earliest timer is due; the
        last idle M sleeps in the network poller instead (Go's findRunnable tail), if it
        just gave up its P (``poll``)."""
        rt = self.rt
        if rt.stopping:
            return
        poller = rt.poller
        if poll and poller is not None and block_in_poll(rt.core, rt.timers_pending()):
            self._pollwait(poller)
            return
        timeout = rt.park_timeout(self)
        self.parked = True
        rt.idle_ms.append(self)
        rt.lock.release()
        got = self.sema.acquire(timeout=-1 if timeout is None else timeout)
        rt.lock.acquire()
        if rt.timer_waiter is self:
            rt.timer_waiter = None
        if self.parked:
            # Timed out and nobody woke us: leave the idle list ourselves.
            self.parked = False
            rt.idle_ms.remove(self)
        elif not got:
            # Woken just as the timeout expired: consume the wake-up.
            self.sema.acquire()

    def _pollwait(self, poller: Any) -> None:
        """Block in the network poller until readiness, the next timer or a break (Go's
        ``netpoll(delay)`` in findRunnable). Readied Gs run here if a P is free (the
        first one in its runnext), the rest are injected (gmp._core.place.inject)."""
        rt = self.rt
        core = rt.core
        timeout = rt.park_timeout(self)
        core.polling = True
        self.parked = True
        self.in_poll = True
        rt.idle_ms.append(self)
        rt.lock.release()
        try:
            events = poller.wait(timeout)
        finally:
            rt.lock.acquire()
            core.polling = False
            core.lastpoll = time.monotonic()
            self.in_poll = False
            if rt.timer_waiter is self:
                rt.timer_waiter = None
            if self.parked:
                # Readiness or a timeout, not a wake-up: leave the idle list ourselves.
                self.parked = False
                rt.idle_ms.remove(self)
        gs = poller.process(events, True)
        if not gs:
            return
        p = self.nextp
        if p is None and not rt.stopping:
            p = pidleget(core)
            if p is not None:
                self.nextp = p
                p.m = self
        if p is not None:
            runqput(core, p, gs[0], True)
            gs = gs[1:]
        for _ in range(inject(core, None, gs)):
            rt.wakep()

    def wake(self) -> None:
        """Unpark this M (lock held). It must be parked."""
        self.parked = False
        if self.in_poll:
            self.rt.poller.brk()  # type: ignore[union-attr]
        else:
            self.sema.release()


__all__ = ["Cancelled", "M"]


def _unshare_m(m: M) -> None:
    """Give the computing M and its partner their CPUs back (lock held): the runtime's
    (every allowed one, or the one sysmon keeps the Ms on)."""
    partner = m.partner
    m.partner = None
    m.share_cpu = None
    cpus = m.rt.cpus
    affinity.pin(0, cpus)
    if partner is not None:
        partner.share_cpu = None
        if partner.native_id is not None:
            affinity.pin(partner.native_id, cpus)


def _thread_cpuclock() -> int | None:
    """The calling thread's CPU-time clock id (``pthread_getcpuclockid``), or None where
    the platform has none."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None
