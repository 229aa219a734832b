"""The G: a unit of work the scheduler moves between queues (Go's ``g``, runtime2.go).

The core knows only a G's identity and status; what a G *is* (a coroutine, a plain
callable, a simulated service time) belongs to the driver, which subclasses :class:`G`.
"""

from __future__ import annotations

import enum


class GStatus(enum.IntEnum):
    """Go's ``_Gidle`` ... ``_Gdead``, reduced to the states the core reasons about."""

    IDLE = 0
    """Created, not yet queued."""
    RUNNABLE = 1
    """On a local run queue, a runnext slot or the global queue."""
    RUNNING = 2
    """Chosen by :func:`~gmp._core.sched.find_runnable`; owned by an M."""
    SYSCALL = 3
    """Running a blocking call; keeps its M and may lose its P (handoff)."""
    WAITING = 4
    """Parked: sleeping on a timer, joining, waiting on a channel or lock."""
    DEAD = 5
    """Finished; never queued again."""


# Module-level aliases: attribute access on the enum class is measurably slower on the
# scheduler's hot path than a global lookup.
IDLE = GStatus.IDLE
RUNNABLE = GStatus.RUNNABLE
RUNNING = GStatus.RUNNING
SYSCALL = GStatus.SYSCALL
WAITING = GStatus.WAITING
DEAD = GStatus.DEAD


class G:
    """Scheduling identity of a G. Drivers subclass it and add their own slots."""

    __slots__ = ("id", "status")

    def __init__(self, gid: int) -> None:
        self.id = gid
        self.status = IDLE

    def __repr__(self) -> str:
        return f"<G {self.id} {self.status.name}>"
