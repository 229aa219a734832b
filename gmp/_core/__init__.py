"""The pure scheduling core: what the scheduler decides, never who executes it.

Nothing in this package starts a thread, reads a clock or sleeps. Time arrives as an
argument (``now``), randomness from an injected :class:`random.Random`. The threaded
runtime (:mod:`gmp.runtime`) drives it under one lock; the simulator (``sims/``)
drives it in virtual time. One policy, two drivers.
"""

from gmp._core.autoscale import Autoscale, Autoscaler, Sample
from gmp._core.g import G, GStatus
from gmp._core.p import P, PStatus
from gmp._core.procresize import MAX_PROCS, Resize, check_procs, live_p, procresize, retire
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
    "MAX_PROCS",
    "STEAL_TRIES",
    "Autoscale",
    "Autoscaler",
    "G",
    "GStatus",
    "P",
    "PStatus",
    "Resize",
    "Sample",
    "Sched",
    "Timer",
    "TimerHeap",
    "check_procs",
    "find_runnable",
    "globrunqget",
    "globrunqput",
    "has_work",
    "live_p",
    "pidleget",
    "pidleput",
    "procresize",
    "random_order",
    "retire",
    "runqempty",
    "runqget",
    "runqput",
    "runqsteal",
]
