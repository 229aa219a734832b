"""Idle Ps and spinning Ms: when queued work needs an M woken (Go's wakep conditions).

Go keeps two counters beside the idle P list: ``sched.nmspinning`` (Ms looking for work)
and the idle list itself. Queuing work needs a wake-up only when a P is idle *and* no M is
already spinning: a spinning M will find the work, and when it does it wakes the next one
if work remains (``resetspinning``), so wake-ups fan out one at a time instead of
stampeding. tokio's ``idle.rs`` (``notify_should_wakeup``, ``transition_worker_from_
searching``) is the same rule with its own names.

These functions are the only place the rule is written. The threaded runtime calls them
under its scheduler lock; the simulator calls them in virtual time. Each returns whether
the caller must wake an M (``wakep``); the driver owns the Ms, so it does the waking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gmp._core.p import P, PStatus

if TYPE_CHECKING:
    from gmp._core.sched import Sched


def needs_wakep(sched: Sched) -> bool:
    """Go's wakep precondition: a P is idle and no M is spinning to find the new work."""
    return sched.nmspinning == 0 and bool(sched.idle)


def deferred_wake_due(sched: Sched, p: P, seen_runtick: int) -> bool:
    """sysmon's half of :func:`gmp._core.place.goready`'s deferred wake-up: ``p`` holds a G
    in runnext, it is still in the step it was in when ``seen_runtick`` was read (the G
    that readied it has not been back to the scheduler since: it computes, or waits in a
    call that has not been handed off yet), and an M would be woken for queued work.

    The threaded runtime's sysmon asks at every look with the runtick of its previous
    look, so a readied G waits at most two looks (``MAX_DELAY``, 5 ms, apart) for an M
    when its waker keeps running; the simulator asks one sysmon interval after the
    readying. A P in a blocking call past ``handoff_after`` is handed off anyway (its
    runnext counts as work)."""
    return (
        p.runnext is not None
        and p.runtick == seen_runtick
        and p.status is PStatus.RUNNING
        and needs_wakep(sched)
    )


def runnable_work(sched: Sched) -> bool:
    """Whether any queue (global, a runnext slot, a local ring) holds a runnable G."""
    if sched.runq:
        return True
    # A loop, not any(<generator>): it runs on the wake-up path of every spinning M.
    for p in sched.ps:  # noqa: SIM110
        if p.runnext is not None or p.runq:
            return True
    return False


def spinning_started(sched: Sched) -> None:
    """An M was handed an idle P to look for work with (Go's wakep: ``nmspinning++``)."""
    sched.nmspinning += 1


def spinning_stopped(sched: Sched) -> None:
    """A spinning M stopped looking without finding work, or lost its P (stopm)."""
    if sched.nmspinning <= 0:
        raise AssertionError("spinning_stopped: no M was spinning")
    sched.nmspinning -= 1


def resetspinning(sched: Sched) -> bool:
    """A spinning M found work (Go's resetspinning). True: wake another M, because work
    remains queued, a P is idle and nobody else is looking."""
    spinning_stopped(sched)
    return needs_wakep(sched) and runnable_work(sched)
