"""Local run queue operations (Go's runqput, runqget, runqputslow, runqsteal; proc.go).

The local queue is bounded at :data:`LOCAL_QUEUE_CAP` like Go's 256-slot ring. A new or
woken G goes into ``runnext`` so a producer/consumer pair runs back to back; the G it
displaces moves to the tail. On overflow half of the queue (plus the newcomer) moves to
the global queue in one batch, which keeps the global lock off the common path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import repeat, starmap
from typing import TYPE_CHECKING

from gmp._core.g import RUNNABLE, G
from gmp._core.p import P

if TYPE_CHECKING:
    from gmp._core.sched import Sched

LOCAL_QUEUE_CAP = 256
"""Capacity of a P's local ring, as in Go."""


def runqput(sched: Sched, p: P, g: G, next: bool) -> None:
    """Put ``g`` on ``p``'s local queue (Go's runqput).

    With ``next`` the G takes the ``runnext`` slot and the previous occupant is kicked to
    the tail. A full queue spills half of itself and the kicked G to the global queue.
    """
    g.status = RUNNABLE
    if next:
        old = p.runnext
        p.runnext = g
        if old is None:
            return
        g = old
    q = p.runq
    if len(q) < LOCAL_QUEUE_CAP:
        q.append(g)
        return
    runqputslow(sched, p, g)


def popleft_n(q: deque[G], n: int) -> Iterator[G]:
    """The ``n`` oldest Gs of ``q``, taken off it in order as the iterator is consumed:
    ``q.popleft`` called by ``itertools.starmap``, so a batch moves between deques
    without a Python loop or a comprehension's list and frame (a spill of 128 Gs, a
    steal, a global batch)."""
    return starmap(q.popleft, repeat((), n))


def runqputslow(sched: Sched, p: P, g: G) -> None:
    """Move half of a full local queue, oldest first, plus ``g`` to the global queue."""
    q = p.runq
    gq = sched.runq
    gq.extend(popleft_n(q, len(q) // 2))
    gq.append(g)
    sched.spills += 1


def runqget(p: P) -> tuple[G | None, bool]:
    """Take the next local G (Go's runqget): runnext first, then the head of the ring.

    Returns ``(g, inherit)``; ``inherit`` is True for a runnext G, which inherits the
    current time slice and so does not advance ``schedtick``.
    """
    g = p.runnext
    if g is not None:
        p.runnext = None
        return g, True
    q = p.runq
    if q:
        return q.popleft(), False
    return None, False


def runqempty(p: P) -> bool:
    return p.runnext is None and not p.runq


def runqsteal(p: P, victim: P, steal_runnext: bool) -> G | None:
    """Steal half (rounded up) of ``victim``'s local queue into ``p`` (Go's runqsteal).

    The oldest Gs are taken; one is returned to run at once and the rest land on ``p``'s
    queue. ``runnext`` is taken only when ``steal_runnext`` (the last stealing round),
    because the victim is probably about to run it.
    """
    q = victim.runq
    n = len(q) - len(q) // 2
    if n == 0:
        if steal_runnext and victim.runnext is not None:
            g = victim.runnext
            victim.runnext = None
            p.steals += 1
            p.stolen += 1
            return g
        return None
    pq = p.runq
    room = LOCAL_QUEUE_CAP - len(pq)
    if n - 1 > room:
        n = room + 1
    pq.extend(popleft_n(q, n - 1))
    p.steals += 1
    p.stolen += n
    return q.popleft()
