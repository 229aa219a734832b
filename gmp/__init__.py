"""gmp: a Go-style M:N scheduling runtime for Python.

Write straight-line code as Gs; Ms (threads) holding Ps (logical processors with local run
queues) run them, with work stealing, a global queue, ``gosched`` and a sysmon that hands
a P away from a thread stuck in a blocking call.
"""

from gmp._core.autoscale import Autoscale
from gmp._version import __version__
from gmp.cancel import (
    CancelScope,
    TaskGroup,
    fail_after,
    fail_at,
    move_on_after,
    move_on_at,
)
from gmp.chan import Chan, Recv, RecvChan, Selected, Send, SendChan, select
from gmp.errors import (
    Cancelled,
    ChannelClosed,
    ChannelPanic,
    ConnClosed,
    DeadlineExceeded,
    DeadlockError,
    GmpError,
    NotInGError,
    RuntimeClosedError,
    ThreadLimitError,
    ThreadLostError,
    TooSlowError,
)
from gmp.runtime.api import current_g, go, gosched, run, sleep, syscall
from gmp.runtime.g import G
from gmp.runtime.runtime import Runtime, TimerHandle, current_runtime, default_procs
from gmp.runtime.stats import PStats, RuntimeStats
from gmp.sync import AtomicInt, Cond, Mutex, Once, RWMutex, Semaphore, WaitGroup
from gmp.trio_bridge import TrioRuntime, open_runtime

__all__ = [
    "AtomicInt",
    "Autoscale",
    "CancelScope",
    "Cancelled",
    "Chan",
    "ChannelClosed",
    "ChannelPanic",
    "Cond",
    "ConnClosed",
    "DeadlineExceeded",
    "DeadlockError",
    "G",
    "GmpError",
    "Mutex",
    "NotInGError",
    "Once",
    "PStats",
    "RWMutex",
    "Recv",
    "RecvChan",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeStats",
    "Selected",
    "Semaphore",
    "Send",
    "SendChan",
    "TaskGroup",
    "ThreadLimitError",
    "ThreadLostError",
    "TimerHandle",
    "TooSlowError",
    "TrioRuntime",
    "WaitGroup",
    "__version__",
    "current_g",
    "current_runtime",
    "default_procs",
    "fail_after",
    "fail_at",
    "go",
    "gosched",
    "move_on_after",
    "move_on_at",
    "open_runtime",
    "run",
    "select",
    "sleep",
    "syscall",
]


def __getattr__(name: str) -> object:
    # gmp.net imports ssl; load it on first use (``gmp.net.listen``) rather than with gmp.
    if name == "net":
        import gmp.net

        return gmp.net
    raise AttributeError(f"module 'gmp' has no attribute {name!r}")
