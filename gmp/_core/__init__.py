"""The pure scheduling core: what the scheduler decides, never who executes it.

Nothing in this package starts a thread, reads a clock or sleeps. Time arrives as an
argument (``now``), randomness from an injected :class:`random.Random`. The threaded
runtime (:mod:`gmp.runtime`) drives it under one lock; the simulator (``sims/``)
drives it in virtual time. One policy, two drivers.
"""

from gmp._core.g import G, GStatus
from gmp._core.p import P, PStatus
from gmp._core.runq import LOCAL_QUEUE_CAP, runqempty, runqget, runqput, runqsteal
from gmp._core.sched import (
    GLOBAL_CHECK_INTERVAL,
    STEAL_TRIES,
    Sched,
    find_runnable,
    globrunqget,
    globrunqput,
    has_work,
    pidleget,
    pidleput,
    random_order,
)
from gmp._core.timers import Timer, TimerHeap

__all__ = [
    "GLOBAL_CHECK_INTERVAL",
    "LOCAL_QUEUE_CAP",
    "STEAL_TRIES",
    "G",
    "GStatus",
    "P",
    "PStatus",
    "Sched",
    "Timer",
    "TimerHeap",
    "find_runnable",
    "globrunqget",
    "globrunqput",
    "has_work",
    "pidleget",
    "pidleput",
    "random_order",
    "runqempty",
    "runqget",
    "runqput",
    "runqsteal",
]
