"""The network poller's decisions (Go's netpoll.go): who parks on a descriptor, who is
readied by readiness, a deadline or a close, and when the scheduler polls.

Go splits the netpoller in two. ``netpoll.go`` is the portable half: a ``pollDesc`` per
file descriptor with one wait slot per direction (``rg``/``wg``), deadlines, and the rules
that make a readiness event, a deadline and a close race without losing a wake-up.
``netpoll_epoll.go`` is the OS half: ``epoll_wait`` and a wake-up fd. This module is the
portable half, pure: no file descriptor is touched and no clock is read. The threaded
runtime (:mod:`gmp.runtime.netpoll`) passes in what epoll reported; the simulator passes
in the readiness events of its workload. Both drivers guard every :class:`PollDesc`
with the scheduler lock, so each function here is one critical section.

A wait slot holds one of three things (Go's ``pdNil``/``pdReady``/a G):

- ``None``: nobody waits and no readiness is pending;
- :data:`READY`: readiness arrived while nobody waited; the next wait consumes it
  instead of parking (edge-triggered epoll reports an edge once, so it must be kept);
- a G: parked on the descriptor until readiness, its deadline, a close or a cancel.

The laws (held by tests/core/test_core_netpoll.py over random interleavings):

1. a G that parks is readied exactly once, by the first of readiness, deadline, close or
   abort (cancel) to reach it, and by nothing after that;
2. readiness that arrives while nobody waits is never lost: the next wait does not park;
3. after a close or an expired deadline a wait never parks, and says why;
4. ``waiters`` counts exactly the parked Gs (Go's ``netpollWaiters``), which is what
   lets find_runnable skip the poll when nobody waits.
"""

from __future__ import annotations

from typing import Final

from gmp._core.g import G
from gmp._core.sched import Sched

__all__ = [
    "ERR_CLOSING",
    "ERR_NONE",
    "ERR_TIMEOUT",
    "READ",
    "READY",
    "SYSMON_POLL_AFTER",
    "WRITE",
    "PollDesc",
    "abort",
    "block",
    "block_in_poll",
    "check_err",
    "close",
    "consume_ready",
    "expire",
    "other_waiter",
    "poll_before_steal",
    "ready",
    "set_deadline",
    "sysmon_poll_due",
]

READ: Final = 0
WRITE: Final = 1

ERR_NONE: Final = 0
ERR_CLOSING: Final = 1
"""The descriptor is being closed (Go's pollErrClosing: "use of closed network connection")."""
ERR_TIMEOUT: Final = 2
"""The direction's deadline has passed (Go's pollErrTimeout, os.ErrDeadlineExceeded)."""

SYSMON_POLL_AFTER: Final = 0.010
"""Sysmon polls the network when nobody has for this long (Go: 10 ms, in sysmon)."""


class _Ready:
    __slots__ = ()

    def __repr__(self) -> str:
        return "READY"


READY: Final = _Ready()
"""The wait slot's "readiness pending" token (Go's pdReady)."""


class PollDesc:
    """One registered descriptor (Go's pollDesc). The driver guards it with its lock.

    ``slot[mode]`` is the wait slot; ``deadline[mode]`` the absolute deadline (None: none);
    ``expired[mode]`` whether it has passed (Go's ``rd < 0``); ``seq[mode]`` counts
    deadline changes, so a timer armed for an older deadline recognises itself as stale
    (Go's ``rseq``/``wseq``). ``timer`` is the driver's handle for the armed deadline.
    """

    __slots__ = ("closing", "deadline", "expired", "fd", "seq", "slot", "timer")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.closing = False
        self.slot: list[G | _Ready | None] = [None, None]
        self.deadline: list[float | None] = [None, None]
        self.expired = [False, False]
        self.seq = [0, 0]
        self.timer: list[object | None] = [None, None]

    def __repr__(self) -> str:
        return f"<PollDesc fd={self.fd} r={self.slot[0]!r} w={self.slot[1]!r}>"


def check_err(pd: PollDesc, mode: int) -> int:
    """Why an operation in ``mode`` must not wait, or ERR_NONE (Go's netpollcheckerr)."""
    if pd.closing:
        return ERR_CLOSING
    if pd.expired[mode]:
        return ERR_TIMEOUT
    return ERR_NONE


def other_waiter(pd: PollDesc, mode: int, g: G) -> bool:
    """Whether a G other than ``g`` already waits on ``pd`` in ``mode``. One waiter per
    direction is the contract (Go's fd read and write locks); a driver refuses the
    second wait before :func:`block`, which treats it as a broken invariant."""
    cur = pd.slot[mode]
    return cur is not None and cur is not READY and cur is not g


def block(sched: Sched, pd: PollDesc, mode: int, g: G) -> bool:
    """The commit of a G that found its descriptor not ready (Go's netpollblock).

    Returns True when ``g`` is now parked in the slot. False: do not park, because
    readiness is already pending (consumed here) or the descriptor is closing or past its
    deadline; the caller retries its operation or reports :func:`check_err`.
    """
    if consume_ready(pd, mode):
        return False
    if pd.closing or pd.expired[mode]:
        return False
    slot = pd.slot
    if slot[mode] is not None:
        raise AssertionError(f"netpoll: two Gs wait on {pd!r} in one direction")
    slot[mode] = g
    sched.npollwait += 1
    return True


def consume_ready(pd: PollDesc, mode: int) -> bool:
    """Take pending readiness, if any, without waiting (the fast path of Go's
    netpollblock: its CAS of pdReady to pdNil). True: the caller retries its operation
    at once, as :func:`block` returning False would have it do."""
    if pd.slot[mode] is READY:
        pd.slot[mode] = None
        return True
    return False


def _take(sched: Sched, pd: PollDesc, mode: int) -> G | None:
    cur = pd.slot[mode]
    if cur is None or cur is READY:
        return None
    pd.slot[mode] = None
    sched.npollwait -= 1
    return cur  # type: ignore[return-value]


def ready(sched: Sched, pd: PollDesc, mode: int) -> G | None:
    """Readiness in ``mode`` (Go's netpollready/netpollunblock with ioready): the parked
    G to make runnable, or None after recording READY for the next wait."""
    g = _take(sched, pd, mode)
    if g is None:
        pd.slot[mode] = READY
    return g


def expire(sched: Sched, pd: PollDesc, mode: int, seq: int) -> G | None:
    """The deadline timer armed at ``seq`` fired (Go's netpolldeadlineimpl). A stale
    timer (the deadline changed since) does nothing. Returns the G to ready, if any."""
    if pd.seq[mode] != seq or pd.closing:
        return None
    pd.expired[mode] = True
    pd.timer[mode] = None
    return _take(sched, pd, mode)


def set_deadline(
    sched: Sched, pd: PollDesc, mode: int, when: float | None, now: float
) -> tuple[int, G | None]:
    """Set the deadline of ``mode`` (Go's poll_runtime_pollSetDeadline).

    Returns ``(seq, g)``: the sequence number the driver arms its timer with (when
    ``when`` is in the future), and a G to ready because the new deadline has already
    passed. A deadline in the past expires at once; None clears the deadline (and its
    expiry: Go lets a connection that timed out be used again after a new deadline).
    The driver stops the timer of the previous deadline (``pd.timer[mode]``) itself.
    """
    pd.seq[mode] += 1
    pd.deadline[mode] = when
    pd.timer[mode] = None
    if when is None or when > now:
        pd.expired[mode] = False
        return pd.seq[mode], None
    pd.expired[mode] = True
    return pd.seq[mode], _take(sched, pd, mode)


def close(sched: Sched, pd: PollDesc) -> list[G]:
    """The descriptor is closing (Go's poll_runtime_pollUnblock): both waiters wake with
    ERR_CLOSING and no later wait parks."""
    pd.closing = True
    out: list[G] = []
    for mode in (READ, WRITE):
        g = _take(sched, pd, mode)
        if g is not None:
            out.append(g)
    return out


def abort(sched: Sched, pd: PollDesc, mode: int, g: G) -> bool:
    """Cancellation takes ``g`` back (trio's abort_fn). False: a waker got it first."""
    if pd.slot[mode] is not g:
        return False
    pd.slot[mode] = None
    sched.npollwait -= 1
    return True


# -- when the scheduler polls (Go's findRunnable, stopm, sysmon) ---------------------------


def poll_before_steal(sched: Sched) -> bool:
    """findRunnable's non-blocking poll, before stealing: only when a G waits on the
    network and no M is already blocked in the poller (Go: ``netpollAnyWaiters() &&
    sched.lastpoll != 0``). A blocked poller reports readiness itself."""
    return sched.npollwait > 0 and not sched.polling


def block_in_poll(sched: Sched, timers_pending: bool) -> bool:
    """Whether an M with nothing to run should block in the poller instead of parking
    on its semaphore (Go's findRunnable tail: ``(netpollAnyWaiters() || pollUntil != 0)
    && sched.lastpoll.Swap(0) != 0``). One M at a time: the caller sets
    ``sched.polling`` while it blocks, and ``sched.lastpoll`` when the poll returns."""
    return not sched.polling and (sched.npollwait > 0 or timers_pending)


def sysmon_poll_due(sched: Sched, now: float) -> bool:
    """Sysmon polls when no M has for :data:`SYSMON_POLL_AFTER` and nobody is blocked in
    the poller (Go's sysmon: ``lastpoll != 0 && lastpoll+10ms < now``)."""
    return not sched.polling and sched.npollwait > 0 and now - sched.lastpoll > SYSMON_POLL_AFTER
