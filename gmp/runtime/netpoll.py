"""The network poller's OS half (Go's netpoll_epoll.go): epoll, a wake-up fd, and the
G-side wait.

One :class:`Poller` per runtime, made when the first descriptor is registered (a
runtime that never touches the network opens no fd). Each descriptor is registered once,
edge-triggered, for both directions (Go's ``netpollopen``: ``EPOLLIN | EPOLLOUT |
EPOLLRDHUP | EPOLLET``), so a wait costs no ``epoll_ctl``: a G that finds its socket not
ready parks in the descriptor's wait slot, and the M that next polls readies it. The
decisions (who parks, who wakes, when to poll) are :mod:`gmp._core.netpoll`'s; this module
does the I/O and the locking:

- :meth:`Poller.poll_nonblocking` is find_runnable's poll (scheduler lock held: a zero
  timeout ``epoll_wait`` costs about a microsecond, less than dropping and retaking the
  lock);
- :meth:`Poller.wait` is the blocking poll of the last idle M (lock released);
- :meth:`Poller.brk` is Go's netpollBreak: an ``eventfd`` write that ends a blocking poll
  when new work needs the M. Only a blocking poll drains it, as in Go, so a non-blocking
  poll on another M cannot swallow the break meant for the blocked one.

Deviation from Go: descriptors are found by number (a dict), not by a pointer stored in
the epoll event. An event read just before a close may then reach a new descriptor that
reuses the number; it can only be a spurious readiness, which a wait treats as Go treats
any: the operation is retried and parks again on ``EAGAIN``.

``selectors`` cannot express edge-triggered interest, so the poller uses ``select.epoll``
directly; platforms without it get a clear error (``gmp.net`` is Linux-only for now).
"""

from __future__ import annotations

import contextlib
import os
import select
import time
import types
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from gmp._core import netpoll as core_np
from gmp._core.netpoll import ERR_CLOSING, ERR_TIMEOUT, READ, WRITE, PollDesc
from gmp._core.place import inject
from gmp.errors import ConnClosed, DeadlineExceeded, RuntimeClosedError
from gmp.runtime.park import current, park
from gmp.runtime.traps import tls

if TYPE_CHECKING:
    from gmp.runtime.g import G
    from gmp.runtime.scheduler import Scheduler

__all__ = ["FD", "Poller", "wait_io"]

_IN = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_OUT = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_HUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_REGISTER = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_MAXEVENTS = 128  # Go reads 128 events per epoll_wait too
_REASONS = ("IO wait (read)", "IO wait (write)")


class FD(PollDesc):
    """A descriptor registered with a runtime's poller (Go's pollDesc plus its owner)."""

    __slots__ = ("commits", "hup", "poller", "refused")

    def __init__(self, poller: Poller, fd: int) -> None:
        super().__init__(fd)
        self.poller = poller
        # epoll reported the peer's end of stream, a hang-up or an error (EPOLLRDHUP,
        # EPOLLHUP, EPOLLERR). Set under the scheduler lock, once, never cleared: from
        # then on a read never waits before trying (gmp.net.Conn.recv), since a read
        # that consumed the FIN leaves the socket readable with no edge to come.
        self.hup = False
        # The G whose wait was refused because another G already waits in the same
        # direction (guarded by the scheduler lock; wait_io reports it).
        self.refused: list[Any] = [None, None]
        sched = poller.rt.core
        refused = self.refused

        def commit(g: Any, mode: int) -> bool:
            if core_np.other_waiter(self, mode, g):
                # A second waiter in one direction: the core would refuse it with an
                # AssertionError inside the M's park, which kills the M and leaves
                # this G parked for good. Do not park; wait_io raises instead.
                refused[mode] = g
                return False
            return core_np.block(sched, self, mode, g)

        # The park commits, made once per descriptor: a wait allocates only its abort.
        self.commits: tuple[Callable[[Any], bool], Callable[[Any], bool]] = (
            lambda g: commit(g, READ),
            lambda g: commit(g, WRITE),
        )


class Poller:
    """Go's netpoll state for one runtime: the epoll fd, the break fd, the descriptors."""

    def __init__(self, rt: Scheduler) -> None:
        if not hasattr(select, "epoll"):  # pragma: no cover - Linux is what CI runs
            raise OSError("gmp's network poller needs epoll (Linux)")
        self.rt = rt
        self.ep = select.epoll()
        self.breakfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.ep.register(self.breakfd, select.EPOLLIN)
        self.fds: dict[int, FD] = {}
        self.break_pending = False  # guarded by rt.lock (Go's netpollWakeSig)
        self.closed = False
        self.polls = 0  # polls that returned at least one G, for stats
        self.readied = 0

    # -- registration (Go's netpollopen / netpollclose) -----------------------------------

    def open(self, fd: int) -> FD:
        """Register ``fd`` (non-blocking) for both directions, edge-triggered."""
        pd = FD(self, fd)
        with self.rt.lock:
            if self.closed:
                raise RuntimeClosedError("this runtime is closed; it polls no more sockets")
            self.fds[fd] = pd
        try:
            self.ep.register(fd, _REGISTER)
        except BaseException:
            with self.rt.lock:
                self.fds.pop(fd, None)
            raise
        return pd

    def close(self, pd: FD) -> None:
        """Unblock both waiters with ERR_CLOSING and forget the descriptor. Call it before
        closing the socket itself (Go's pollDesc.evict then close)."""
        rt = self.rt
        with rt.lock:
            if pd.closing:
                return
            gs = core_np.close(rt.core, pd)
            for mode in (READ, WRITE):
                t = pd.timer[mode]
                if t is not None:
                    t.cancel()  # type: ignore[attr-defined]
                    pd.timer[mode] = None
            if self.fds.get(pd.fd) is pd:
                del self.fds[pd.fd]
            for g in gs:
                rt.ready(g)  # type: ignore[arg-type]
        if not self.closed:
            # Already closed by its owner: epoll forgot it then.
            with contextlib.suppress(OSError, ValueError):
                self.ep.unregister(pd.fd)

    # -- deadlines (Go's poll_runtime_pollSetDeadline) --------------------------------------

    def set_deadline(self, pd: FD, mode: int, when: float | None) -> None:
        """Set ``mode``'s deadline (``time.monotonic()`` clock; None: no deadline)."""
        rt = self.rt
        with rt.lock:
            if pd.closing:
                return
            old = pd.timer[mode]
            if old is not None:
                old.cancel()  # type: ignore[attr-defined]
            seq, g = core_np.set_deadline(rt.core, pd, mode, when, time.monotonic())
            if g is not None:
                rt.ready(g)  # type: ignore[arg-type]
            elif when is not None and not pd.expired[mode]:
                pd.timer[mode] = rt.add_timer_locked(when, _Expire(self, pd, mode, seq))

    def expire(self, pd: FD, mode: int, seq: int) -> None:
        rt = self.rt
        with rt.lock:
            g = core_np.expire(rt.core, pd, mode, seq)
            if g is not None:
                rt.ready(g)  # type: ignore[arg-type]

    # -- polling ---------------------------------------------------------------------------

    def process(self, events: list[tuple[int, int]], blocking: bool) -> list[G[Any]]:
        """Turn epoll events into readied Gs (Go's netpollready). Lock held."""
        sched = self.rt.core
        fds = self.fds
        out: list[Any] = []
        for fd, ev in events:
            pd = fds.get(fd)
            if pd is None:
                if fd == self.breakfd and blocking:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(self.breakfd)
                    self.break_pending = False
                continue
            if ev & _HUP:
                pd.hup = True
            if ev & _IN:
                g = core_np.ready(sched, pd, READ)
                if g is not None:
                    out.append(g)
            if ev & _OUT:
                g = core_np.ready(sched, pd, WRITE)
                if g is not None:
                    out.append(g)
        if out:
            self.polls += 1
            self.readied += len(out)
        return out

    def poll_nonblocking(self) -> G[Any] | None:
        """find_runnable's poll (lock held): ready what is ready, place all Gs but one
        (gmp._core.place.inject) and return that one to run now."""
        rt = self.rt
        core = rt.core
        core.lastpoll = time.monotonic()
        try:
            events = self.ep.poll(0, _MAXEVENTS)
        except OSError:
            return None
        if not events:
            return None
        gs = self.process(events, False)
        if not gs:
            return None
        g = gs[0]
        if len(gs) > 1:
            m = tls.m
            p = m.p if m is not None and m.rt is rt else None
            for _ in range(inject(core, p, gs[1:])):  # type: ignore[arg-type]
                rt.wakep()
        return g

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        """The blocking poll of the last idle M (lock NOT held). ``None``: until a break."""
        try:
            return self.ep.poll(-1 if timeout is None else timeout, _MAXEVENTS)
        except OSError:
            return []

    def poll_from_sysmon(self) -> None:
        """Sysmon's poll when nobody has for 10 ms: ready what is ready, all global, and
        start an M per idle P that got a G (Go's sysmon netpoll + injectglist)."""
        rt = self.rt
        try:
            events = self.ep.poll(0, _MAXEVENTS)
        except OSError:
            return
        with rt.lock:
            core = rt.core
            core.lastpoll = time.monotonic()
            if not events:
                return
            gs = self.process(events, False)
            n = inject(core, None, gs)  # type: ignore[arg-type]
            for _ in range(n):
                rt.wakep()

    def brk(self) -> None:
        """End a blocking poll (Go's netpollBreak). Lock held; one write per break."""
        if not self.break_pending and not self.closed:
            self.break_pending = True
            os.eventfd_write(self.breakfd, 1)

    def shutdown(self) -> None:
        """Close the epoll and break fds (the runtime is closed; every M has exited)."""
        with self.rt.lock:
            if self.closed:
                return
            self.closed = True
        self.ep.close()
        os.close(self.breakfd)


class _Expire:
    """A deadline timer's payload, run by the M that fires it without the lock."""

    __slots__ = ("mode", "pd", "poller", "seq")

    def __init__(self, poller: Poller, pd: FD, mode: int, seq: int) -> None:
        self.poller = poller
        self.pd = pd
        self.mode = mode
        self.seq = seq

    def __call__(self) -> None:
        self.poller.expire(self.pd, self.mode, self.seq)


def _raise_err(pd: PollDesc, err: int) -> None:
    if err == ERR_CLOSING:
        raise ConnClosed(f"use of closed network connection (fd {pd.fd})")
    if err == ERR_TIMEOUT:
        raise DeadlineExceeded("i/o timeout")


@types.coroutine
def wait_io(pd: FD, mode: int) -> Generator[Any, Any, None]:
    """Park the calling G until ``pd`` is ready in ``mode`` (Go's netpollblock via
    poll.FD.waitRead/waitWrite). Raises :class:`ConnClosed` if the descriptor is closed
    and :class:`DeadlineExceeded` past its deadline, before or during the wait; a
    cancellation takes the G back (its abort clears the wait slot). A wake-up may be
    spurious: the caller retries its operation and waits again on ``EAGAIN``."""
    g = current()
    err = core_np.check_err(pd, mode)
    if err:
        _raise_err(pd, err)
    poller = pd.poller
    rt = poller.rt
    if pd.slot[mode] is core_np.READY:
        # Readiness is already pending (Go's netpollblock tries its pdReady -> nil CAS
        # before gopark): consume it without the trip through the M a park costs.
        with rt.lock:
            if core_np.consume_ready(pd, mode):
                return

    def abort() -> bool:
        with rt.lock:
            return core_np.abort(rt.core, pd, mode, g)

    yield from park(pd.commits[mode], abort, _REASONS[mode])
    if pd.refused[mode] is g:
        pd.refused[mode] = None
        what = "reading from" if mode == READ else "writing to"
        raise RuntimeError(
            f"another G is already {what} this connection (fd {pd.fd}); gmp.net allows "
            "one reader and one writer at a time: serialize them with a gmp.Mutex"
        )
    err = core_np.check_err(pd, mode)
    if err:
        _raise_err(pd, err)
