"""Simulated Ms: worker records standing in for OS threads (Go's ``m``, runtime2.go).

An M holds at most one P and runs one G at a time. It has no stack and no thread; the
simulator moves it between the states the threaded runtime's :class:`gmp.runtime.m.M`
goes through (woken with a P, running, blocked in a syscall, parked) by events.
"""

from __future__ import annotations

import attrs

from gmp._core.p import P
from sims.g import SimG


@attrs.define(eq=False)
class SimM:
    """One simulated worker thread. ``eq=False``: Ms are compared by identity."""

    id: int
    p: P | None = None
    """The P it holds (Go's m.p)."""
    nextp: P | None = None
    """A P handed to it by wakep/handoff, taken when its wake-up event runs (m.nextp)."""
    curg: SimG | None = None
    """The G it is running or blocked in."""
    spinning: bool = False
    """Woken to look for work (Go's m.spinning); at most one at a time."""
    parked: bool = False
    """On the idle M list, asleep (Go's stopm/notesleep)."""
    seg_start: float = 0.0
    """When the current compute segment started (for utilisation accounting)."""
    block_id: int = 0
    """Bumped per blocking call, so a stale sysmon check can tell it is stale."""
    call_ends_g: bool = False
    """The blocking call is a plain callable's whole body: its return ends the G."""
    in_poll: bool = False
    """Parked in the network poller rather than on its semaphore (the last idle M)."""
    poll_wakeup: bool = False
    """In the poller, with its return already scheduled (readiness or a wake-up)."""
