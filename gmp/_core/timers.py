"""Per-P timer heaps (Go's ``p.timers``, time.go).

A timer carries a payload: a :class:`~gmp._core.g.G` to make runnable when it fires
(``gmp.sleep``), or any other object the driver interprets (deadlines). Cancelling is
lazy, as in Go: the entry stays in the heap, marked, and is dropped when it reaches the
top, so cancel is O(1) and never reorders the heap.
"""

from __future__ import annotations

import heapq

PENDING = 0
FIRED = 1
CANCELLED = 2

_MIN_SWEEP = 64  # below this many entries a heap is never swept


class Timer:
    """One pending wake-up at virtual or real time ``when`` (the driver's clock)."""

    __slots__ = ("payload", "state", "when")

    def __init__(self, when: float, payload: object) -> None:
        self.when = when
        self.payload = payload
        self.state = PENDING

    def cancel(self) -> bool:
        """Stop the timer; True if it had not fired or been cancelled yet (Go's Timer.Stop)."""
        if self.state == PENDING:
            self.state = CANCELLED
            return True
        return False

    @property
    def pending(self) -> bool:
        return self.state == PENDING


class TimerHeap:
    """A min-heap of timers ordered by (when, insertion order)."""

    __slots__ = ("_seq", "_sweep_at", "heap")

    def __init__(self) -> None:
        # Public so drivers can test emptiness / the earliest entry without a call.
        self.heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        """Entries held, cancelled ones not yet dropped included (cheap and conservative)."""
        return len(self.heap)

    def __bool__(self) -> bool:
        return bool(self.heap)

    def add(self, when: float, payload: object) -> Timer:
        t = Timer(when, payload)
        self.push(t)
        return t

    def push(self, t: Timer) -> None:
        """Insert an existing pending timer (used when timers move between Ps)."""
        self._seq += 1
        h = self.heap
        heapq.heappush(h, (t.when, self._seq, t))
        if len(h) > self._sweep_at:
            self.compact()

    def compact(self) -> None:
        """Drop cancelled entries (Go's ``clearDeletedTimers``).

        Lazy cancellation leaves an entry until it reaches the top, which for a deadline
        far ahead (a request timeout cancelled a millisecond after it was set) is a long
        time: thousands of dead entries per second of traffic. :meth:`push` calls this
        when the heap has doubled since the last sweep, so the heap stays within twice
        its live timers plus a constant, at O(1) amortized cost per push. Order is kept:
        entries are compared by ``(when, seq)`` before and after.
        """
        h = self.heap
        live = [e for e in h if e[2].state == PENDING]
        heapq.heapify(live)
        h[:] = live  # the same list object: drivers may hold it
        self._sweep_at = max(_MIN_SWEEP, 2 * len(live))

    def next_when(self) -> float | None:
        """When the earliest live timer fires, or None; drops cancelled entries on top."""
        h = self.heap
        while h:
            t = h[0][2]
            if t.state == PENDING:
                return t.when
            heapq.heappop(h)
        return None

    def pop_due(self, now: float) -> list[object]:
        """Fire every live timer with ``when <= now``, earliest first; return their payloads."""
        h = self.heap
        out: list[object] = []
        while h and h[0][0] <= now:
            t = heapq.heappop(h)[2]
            if t.state == PENDING:
                t.state = FIRED
                out.append(t.payload)
        return out

    def drain(self) -> list[Timer]:
        """Remove and return every live timer (a P being destroyed hands them on)."""
        live = [e[2] for e in self.heap if e[2].state == PENDING]
        self.heap.clear()
        return live

    def live(self) -> int:
        """Number of timers that can still fire (O(n); for stats, not the hot path)."""
        return sum(1 for e in self.heap if e[2].state == PENDING)
