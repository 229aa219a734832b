"""gmp's own threads leave process signals to the main thread.

CPython runs Python signal handlers only in the main thread, but the kernel delivers a
process-directed signal (Ctrl-C's SIGINT, SIGTERM, pytest-timeout's SIGALRM) to any thread
that does not block it. When it lands on an M or on sysmon, the C handler only sets a
flag, and a main thread blocked in a lock wait (``gmp.run`` waiting for main to finish)
is never interrupted to run the handler: Ctrl-C on a run whose main joins a G stuck in a
plain call hung in 4 of 15 runs of tests/runtime/test_ctrl_c.py (none in 15 since).
Go's runtime takes signals on whichever M receives them and forwards them to the program
(``sigsend``); a Python program expects them in its main thread, so gmp's threads block
the asynchronous signals instead and the kernel picks the main thread (or another thread
of the application's) for them. Signals raised by a fault in the thread itself (SIGSEGV and the
like) are never blocked: they go to the faulting thread whatever the mask says.
"""

from __future__ import annotations

import signal

_SYNCHRONOUS = frozenset(
    getattr(signal, name)
    for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT")
    if hasattr(signal, name)
)

ASYNC_SIGNALS = (
    frozenset(signal.valid_signals()) - _SYNCHRONOUS
    if hasattr(signal, "pthread_sigmask")
    else frozenset()
)
"""The signals gmp's threads block (none where threads have no signal mask)."""


def leave_signals_to_main() -> None:
    """Block :data:`ASYNC_SIGNALS` in the calling thread (a thread gmp started)."""
    if ASYNC_SIGNALS:
        signal.pthread_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)
