"""Exceptions raised by gmp. Each names what was wrong and what to do instead."""

from __future__ import annotations


class GmpError(Exception):
    """Base class of gmp's own errors."""


class NotInGError(GmpError, RuntimeError):
    """A G-only operation (gmp.go, gmp.sleep, ...) was used outside a G."""


class RuntimeClosedError(GmpError, RuntimeError):
    """The runtime was closed: it accepts no new Gs and its unfinished Gs never finish."""


class ThreadLimitError(GmpError, RuntimeError):
    """Starting another M would exceed the runtime's ``max_threads`` (Go's thread limit)."""


class DeadlockError(GmpError, RuntimeError):
    """The operation can never complete (a G joining itself, for example)."""


class Cancelled(BaseException):
    """Raised inside a G at a checkpoint when it is cancelled (trio's ``Cancelled``).

    It derives from BaseException, as trio's does, so ``except Exception`` in user code
    does not swallow it by accident. ``scope`` is the cancel scope that caused it (None
    when the runtime is shutting down); that scope catches it on exit.
    """

    def __init__(self, *args: object, scope: object = None) -> None:
        super().__init__(*args)
        self.scope = scope


class TooSlowError(GmpError):
    """A ``gmp.fail_after`` / ``fail_at`` deadline expired (trio's ``TooSlowError``)."""


class ChannelClosed(GmpError):
    """``recv()`` found the channel closed and drained: Go's ``v, ok := <-ch`` with
    ``ok == false``, as an exception (``recv_ok()`` and ``async for`` report it without
    one). It is how a receive loop learns that the sender is done, not an error.

    Misuse of a channel is :class:`ChannelPanic`, a different class, so an
    ``except ChannelClosed`` that ends a receive loop never hides a sender's bug.
    """


class ChannelPanic(GmpError, RuntimeError):
    """A channel misuse that Go answers with a panic: send on a closed channel (chan.go's
    chansend), close of a closed channel or of a nil channel (closechan). Not a
    :class:`ChannelClosed`: it is a bug in the program, not the end of a stream. Fix the
    ownership: only the sender closes, exactly once, after its last send.
    """


class ThreadLostError(GmpError, RuntimeError):
    """The M (OS thread) running this G died from an internal runtime error.

    The G's outcome is unknown: it may have run partly. The runtime logged the error,
    recovered the thread's P and queued Gs, and started a replacement M.
    """


class DeadlineExceeded(GmpError, TimeoutError):
    """An I/O deadline set with ``Conn.set_deadline`` (or a dial timeout) passed (Go's
    ``os.ErrDeadlineExceeded``, "i/o timeout"). A :class:`TimeoutError`, so ``except
    TimeoutError`` catches it too. The connection stays usable after a new deadline."""


class ConnClosed(GmpError, OSError):
    """The connection or listener was closed by this side before or during the operation
    (Go's ``net.ErrClosed``: "use of closed network connection")."""
