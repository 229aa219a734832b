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
    does not swallow it by accident.
    """
