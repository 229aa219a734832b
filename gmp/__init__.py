"""gmp: a Go-style M:N scheduling runtime for Python.

Write straight-line code as Gs; Ms (threads) holding Ps (logical processors with local run
queues) run them, with work stealing, a global queue, ``gosched`` and a sysmon that hands
a P away from a thread stuck in a blocking call.
"""

from gmp.errors import (
    Cancelled,
    DeadlockError,
    GmpError,
    NotInGError,
    RuntimeClosedError,
    ThreadLimitError,
)
from gmp.runtime.api import current_g, go, gosched, run, sleep, syscall
from gmp.runtime.g import G
from gmp.runtime.runtime import Runtime, current_runtime, default_procs
from gmp.runtime.stats import PStats, RuntimeStats

__all__ = [
    "Cancelled",
    "DeadlockError",
    "G",
    "GmpError",
    "NotInGError",
    "PStats",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeStats",
    "ThreadLimitError",
    "current_g",
    "current_runtime",
    "default_procs",
    "go",
    "gosched",
    "run",
    "sleep",
    "syscall",
]
