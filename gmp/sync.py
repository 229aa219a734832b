"""Go's sync package for Gs: WaitGroup, Mutex, RWMutex, Once, Cond, Semaphore, atomics.

Every wait parks the G (its thread goes on running other Gs), never the thread, so these
compose with work stealing and handoff. Each primitive guards its state with its own
``threading.Lock`` (correct without the GIL) and parks through :func:`gmp.runtime.park`
(Go's gopark with an unlock function). Misuse raises like Go panics: unlocking an
unlocked mutex, a negative WaitGroup counter, releasing a semaphore past its maximum.
Waits are checkpoints: a cancelled G leaves the queue and raises gmp.Cancelled.

The operations that do not park take their lock with ``acquire``/``release`` in
``try``/``finally`` rather than ``with``: in CPython 3.11 a ``with`` costs about 1k
instructions beyond the lock itself (gmp.runtime.park.ready has the figure).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from gmp.runtime.g import G
from gmp.runtime.park import checkpoint, current, park, raise_if_cancelled, ready, safe_point_due
from gmp.runtime.traps import slice_look, tls

STARVATION_THRESHOLD = 0.001
"""Go's starvationThresholdNs: a waiter blocked longer than 1 ms flips a Mutex into
starvation mode, where unlock hands the lock straight to the oldest waiter."""


class _Waiter:
    """A parked G in one of the queues below (Go's sudog on a semaphore)."""

    __slots__ = ("g", "granted", "lock", "queue", "since")

    def __init__(self, g: G[Any], lock: threading.Lock, queue: deque[_Waiter]) -> None:
        self.g = g
        self.lock = lock
        self.queue = queue
        self.granted = False
        self.since = time.monotonic()

    def commit(self, g: G[Any]) -> bool:
        self.lock.release()
        return True

    def abort(self) -> bool:
        with self.lock:
            try:
                self.queue.remove(self)
            except ValueError:
                return False
            return True


class WaitGroup:
    """Go's sync.WaitGroup: ``add(n)``, ``done()``, ``await wait()``."""

    __slots__ = ("_count", "_lock", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._waiters: deque[_Waiter] = deque()

    def add(self, delta: int = 1) -> None:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"WaitGroup.add() takes an int, got {type(delta).__name__}")
        lock = self._lock
        lock.acquire()
        try:
            count = self._count + delta
            if count < 0:
                raise ValueError("sync: negative WaitGroup counter")
            self._count = count
            woken = list(self._waiters) if count == 0 else []
            if woken:
                self._waiters.clear()
        finally:
            lock.release()
        for w in woken:
            ready(w.g)

    def done(self) -> None:
        self.add(-1)

    @property
    def count(self) -> int:
        return self._count

    async def wait(self) -> None:
        """Park until the counter is zero."""
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        self._lock.acquire()
        if self._count == 0:
            self._lock.release()
            return
        w = _Waiter(g, self._lock, self._waiters)
        self._waiters.append(w)
        await park(w.commit, w.abort, "sync.WaitGroup.Wait")


class Mutex:
    """Go's sync.Mutex, with its starvation mode.

    Normal mode: unlock wakes the oldest waiter, which competes with newcomers (they
    usually win: they are already running). A waiter that fails and has waited more than
    1 ms switches the mutex to starvation mode: unlock then hands ownership straight to
    the oldest waiter and newcomers queue at the tail. The mode ends when a waiter that
    gets the lock waited under 1 ms or was the last one. ``async with mu:`` works.
    """

    __slots__ = ("_handoffs", "_lock", "_locked", "_starving", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locked = False
        self._starving = False
        self._waiters: deque[_Waiter] = deque()
        self._handoffs = 0

    def locked(self) -> bool:
        return self._locked

    @property
    def starving(self) -> bool:
        return self._starving

    def try_lock(self) -> bool:
        lock = self._lock
        lock.acquire()
        try:
            if self._locked or (self._starving and self._waiters):
                return False
            self._locked = True
            return True
        finally:
            lock.release()

    async def lock(self) -> None:
        # current() and safe_point_due(), inlined (as in gmp.chan): the hot path.
        m = tls.m
        g = m.curg if m is not None else None
        if g is None:
            g = current()  # raises NotInGError
        else:
            if g.cancel_pending is not None or g.scope_cancelled:
                raise_if_cancelled(g)  # synchronous: no coroutine for the common case
            p = m.p  # type: ignore[union-attr]
            if p is not None:
                p.safe_points = n = p.safe_points - 1
                if n <= 0 and slice_look(m, p):  # type: ignore[arg-type]
                    await checkpoint(g)
        lk = self._lock
        lk.acquire()
        if not self._locked and not (self._starving and self._waiters):
            self._locked = True
            lk.release()
            return
        w = _Waiter(g, lk, self._waiters)
        self._waiters.append(w)
        while True:
            await park(w.commit, w.abort, "sync.Mutex.Lock")
            if w.granted:
                return  # starvation mode handed us the lock
            lk.acquire()
            if not self._locked and not (self._starving and self._waiters):
                self._locked = True
                lk.release()
                return
            if time.monotonic() - w.since > STARVATION_THRESHOLD:
                self._starving = True
            # Go re-queues a woken waiter at the front (queueLifo).
            self._waiters.appendleft(w)

    def unlock(self) -> None:
        lk = self._lock
        lk.acquire()
        if not self._locked:
            lk.release()
            raise RuntimeError("sync: unlock of unlocked mutex")
        if not self._waiters:
            self._locked = False
            lk.release()
            return
        w = self._waiters.popleft()
        if self._starving:
            w.granted = True  # stays locked: ownership moves to w
            self._handoffs += 1
            if not self._waiters or time.monotonic() - w.since < STARVATION_THRESHOLD:
                self._starving = False
        else:
            self._locked = False
        lk.release()
        ready(w.g)

    async def __aenter__(self) -> Mutex:
        await self.lock()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unlock()


class RWMutex:
    """Go's sync.RWMutex: many readers or one writer; a waiting writer blocks new readers
    (so a stream of readers cannot starve it), and readers that queued behind a writer go
    in together when it unlocks (so writers cannot starve readers either)."""

    __slots__ = ("_lock", "_readers", "_rq", "_wq", "_writer")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._writer = False
        self._rq: deque[_Waiter] = deque()
        self._wq: deque[_Waiter] = deque()

    async def rlock(self) -> None:
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        self._lock.acquire()
        if not self._writer and not self._wq:
            self._readers += 1
            self._lock.release()
            return
        w = _Waiter(g, self._lock, self._rq)
        self._rq.append(w)
        await park(w.commit, self._aborter(w), "sync.RWMutex.RLock")

    def runlock(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if self._readers <= 0:
                raise RuntimeError("sync: RUnlock of unlocked RWMutex")
            self._readers -= 1
            woken = self._grant_locked()
        finally:
            lock.release()
        for w in woken:
            ready(w.g)

    async def lock(self) -> None:
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        self._lock.acquire()
        if not self._writer and self._readers == 0 and not self._wq:
            self._writer = True
            self._lock.release()
            return
        w = _Waiter(g, self._lock, self._wq)
        self._wq.append(w)
        await park(w.commit, self._aborter(w), "sync.RWMutex.Lock")

    def unlock(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if not self._writer:
                raise RuntimeError("sync: Unlock of unlocked RWMutex")
            self._writer = False
            woken = self._grant_locked(readers_first=True)
        finally:
            lock.release()
        for w in woken:
            ready(w.g)

    def _grant_locked(self, readers_first: bool = False) -> list[_Waiter]:
        """Who gets the lock now that it changed hands (lock held)."""
        if self._writer:
            return []
        if readers_first and self._rq:
            woken = list(self._rq)
            self._rq.clear()
            self._readers += len(woken)
            return woken
        if self._readers == 0 and self._wq:
            w = self._wq.popleft()
            self._writer = True
            return [w]
        if not self._wq and self._rq:
            woken = list(self._rq)
            self._rq.clear()
            self._readers += len(woken)
            return woken
        return []

    def _aborter(self, w: _Waiter) -> Callable[[], bool]:
        def abort() -> bool:
            with self._lock:
                try:
                    w.queue.remove(w)
                except ValueError:
                    return False
                woken = self._grant_locked()  # a cancelled writer may unblock readers
            for other in woken:
                ready(other.g)
            return True

        return abort

    def rlocker(self) -> _ReadLocker:
        """An ``async with`` adapter for the read side."""
        return _ReadLocker(self)

    async def __aenter__(self) -> RWMutex:
        await self.lock()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unlock()


class _ReadLocker:
    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    async def __aenter__(self) -> RWMutex:
        await self._rw.rlock()
        return self._rw

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._rw.runlock()


class Semaphore:
    """A counting semaphore; release hands a permit straight to the oldest waiter."""

    __slots__ = ("_lock", "_max", "_value", "_waiters")

    def __init__(self, value: int, *, max_value: int | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"Semaphore value must be an int >= 0, got {value!r}")
        if max_value is not None and max_value < value:
            raise ValueError(f"max_value ({max_value}) must be >= value ({value})")
        self._lock = threading.Lock()
        self._value = value
        self._max = max_value
        self._waiters: deque[_Waiter] = deque()

    @property
    def value(self) -> int:
        return self._value

    async def acquire(self) -> None:
        g = current()
        if safe_point_due(g):
            await checkpoint(g)
        self._lock.acquire()
        if self._value > 0:
            self._value -= 1
            self._lock.release()
            return
        w = _Waiter(g, self._lock, self._waiters)
        self._waiters.append(w)
        await park(w.commit, w.abort, "semaphore acquire")

    def try_acquire(self) -> bool:
        lock = self._lock
        lock.acquire()
        try:
            if self._value > 0:
                self._value -= 1
                return True
            return False
        finally:
            lock.release()

    def release(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            if self._waiters:
                w = self._waiters.popleft()
            else:
                if self._max is not None and self._value >= self._max:
                    raise ValueError(f"semaphore released more than its max_value {self._max}")
                self._value += 1
                return
        finally:
            lock.release()
        ready(w.g)

    async def __aenter__(self) -> Semaphore:
        await self.acquire()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Cond:
    """Go's sync.Cond over a :class:`Mutex`: ``await c.wait()`` with the mutex held."""

    __slots__ = ("_lock", "_waiters", "mutex")

    def __init__(self, mutex: Mutex | None = None) -> None:
        self.mutex = mutex if mutex is not None else Mutex()
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()

    async def wait(self) -> None:
        """Unlock the mutex, park until signalled, lock it again (no lost signal: the
        waiter is queued before the mutex is released)."""
        g = current()
        if not self.mutex.locked():
            raise RuntimeError("sync: Cond.wait() without holding its mutex")
        self._lock.acquire()
        w = _Waiter(g, self._lock, self._waiters)
        self._waiters.append(w)
        try:
            self.mutex.unlock()
        except BaseException:
            self._waiters.remove(w)
            self._lock.release()
            raise
        try:
            await park(w.commit, w.abort, "sync.Cond.Wait")
        finally:
            await _lock_shielded(self.mutex)

    def signal(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            w = self._waiters.popleft() if self._waiters else None
        finally:
            lock.release()
        if w is not None:
            ready(w.g)

    def broadcast(self) -> None:
        lock = self._lock
        lock.acquire()
        try:
            ws = list(self._waiters)
            self._waiters.clear()
        finally:
            lock.release()
        for w in ws:
            ready(w.g)


async def _lock_shielded(mu: Mutex) -> None:
    """Re-take a Cond's mutex even while cancelled (Go's Wait always returns locked)."""
    from gmp.cancel import CancelScope

    with CancelScope(shield=True):
        await mu.lock()


class Once:
    """Go's sync.Once: ``await once.do(fn)`` runs fn exactly once; callers that arrive
    while it runs wait for it. If fn raises, the Once still counts as done (as in Go)."""

    __slots__ = ("_done", "_mu")

    def __init__(self) -> None:
        self._done = False
        self._mu = Mutex()

    @property
    def done(self) -> bool:
        return self._done

    async def do(self, fn: Callable[[], Any | Awaitable[Any]]) -> None:
        if self._done:
            return
        async with self._mu:
            if self.done:  # someone finished it while we waited for the mutex
                return
            try:
                res = fn()
                if inspect.isawaitable(res):
                    await res
            finally:
                self._done = True


class AtomicInt:
    """An integer with atomic load/store/add/swap/compare-and-swap (Go's atomic.Int64).

    Guarded by a lock, so it is atomic on free-threaded CPython too."""

    __slots__ = ("_lock", "_v")

    def __init__(self, value: int = 0) -> None:
        self._v = int(value)
        self._lock = threading.Lock()

    def load(self) -> int:
        return self._v

    def store(self, value: int) -> None:
        lock = self._lock
        lock.acquire()
        try:
            self._v = int(value)
        finally:
            lock.release()

    def add(self, delta: int) -> int:
        lock = self._lock
        lock.acquire()
        try:
            self._v += delta
            return self._v
        finally:
            lock.release()

    def swap(self, value: int) -> int:
        lock = self._lock
        lock.acquire()
        try:
            old, self._v = self._v, int(value)
            return old
        finally:
            lock.release()

    def compare_and_swap(self, old: int, new: int) -> bool:
        lock = self._lock
        lock.acquire()
        try:
            if self._v != old:
                return False
            self._v = int(new)
            return True
        finally:
            lock.release()

    def __repr__(self) -> str:
        return f"AtomicInt({self._v})"
