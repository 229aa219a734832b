"""The pure scheduling core: what the scheduler decides, never who executes it.

Nothing in this package starts a thread, reads a clock or sleeps. Time arrives as an
argument (``now``), randomness from an injected :class:`random.Random`. The threaded
runtime (:mod:`gmp.runtime`) drives it under one lock; the simulator (``sims/``)
drives it in virtual time. One policy, two drivers.
"""

from gmp._core.autoscale import Autoscale, Autoscaler, Sample
from gmp._core.g import G, GStatus
from gmp._core.idle import (
    needs_wakep,
    resetspinning,
    runnable_work,
    spinning_started,
    spinning_stopped,
)
from gmp._core.p import P, PStatus
from gmp._core.place import (
    gopreempt,
    goready,
    gosched,
    newproc,
    preempt_due,
    requeue,
    wake_joiners,
    yield_local,
)
from gmp._core.preempt import hog_after, slice_expired, slice_observe, stuck
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
    "gopreempt",
    "goready",
    "gosched",
    "has_work",
    "hog_after",
    "live_p",
    "needs_wakep",
    "newproc",
    "pidleget",
    "pidleput",
    "preempt_due",
    "procresize",
    "random_order",
    "requeue",
    "resetspinning",
    "retire",
    "runnable_work",
    "runqempty",
    "runqget",
    "runqput",
    "runqsteal",
    "slice_expired",
    "slice_observe",
    "spinning_started",
    "spinning_stopped",
    "stuck",
    "wake_joiners",
    "yield_local",
]
