"""The network poller's rules (gmp._core.netpoll) under every interleaving hypothesis finds.

A state machine owns a few descriptors and a few Gs. Each step is one critical section a
driver could run: a G finds its socket not ready and commits to park (``block``), epoll
reports readiness (``ready``), a deadline is set or its timer fires (``set_deadline``,
``expire``, stale timers included), the descriptor is closed (``close``), a cancellation
takes a G back (``abort``), or a readied G runs and checks why it woke (``check_err``).

The laws, checked after every step:

1. a parked G is readied exactly once, by the first of readiness, deadline, close or
   abort to reach it, and by nothing after that (no lost and no double wake-up);
2. readiness that arrives while nobody waits is never lost: the next ``block`` in that
   direction does not park;
3. after a close, or once a deadline has passed, ``block`` never parks and ``check_err``
   says why (ERR_CLOSING / ERR_TIMEOUT), until a new deadline clears the expiry;
4. ``sched.npollwait`` equals the number of parked Gs (Go's netpollWaiters), so
   find_runnable skips the poll exactly when nobody waits.
"""

from __future__ import annotations

import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gmp._core import G, GStatus, Sched
from gmp._core import netpoll as np
from gmp._core.place import inject

NFD = 2
NG = 6
modes = st.sampled_from([np.READ, np.WRITE])
fds = st.integers(0, NFD - 1)
gs = st.integers(0, NG - 1)


class NetpollMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sched = Sched(2, random.Random(0))
        self.pds = [np.PollDesc(i) for i in range(NFD)]
        self.gs = [G(i) for i in range(NG)]
        # Model: where each G waits (fd, mode) or None; who was readied and not yet run.
        self.waiting: dict[int, tuple[int, int]] = {}
        self.woken: list[int] = []
        self.pending = [[False, False] for _ in range(NFD)]  # model of READY tokens
        self.closed = [False] * NFD
        self.expired = [[False, False] for _ in range(NFD)]
        self.timers: list[tuple[int, int, int]] = []  # (fd, mode, seq) armed
        self.now = 0.0

    def _idle_g(self) -> int | None:
        for i in range(NG):
            if i not in self.waiting and i not in self.woken:
                return i
        return None

    def _wake(self, g: G | None, fd: int, mode: int) -> None:
        if g is None:
            return
        assert self.waiting.get(g.id) == (fd, mode), f"{g} readied from a slot it was not in"
        del self.waiting[g.id]
        assert g.id not in self.woken, f"{g} readied twice"
        self.woken.append(g.id)
        g.status = GStatus.RUNNABLE

    @rule(fd=fds, mode=modes)
    def g_blocks(self, fd: int, mode: int) -> None:
        pd = self.pds[fd]
        if pd.slot[mode] is not None and pd.slot[mode] is not np.READY:
            return  # one waiter per direction (the Conn's contract)
        gi = self._idle_g()
        if gi is None:
            return
        g = self.gs[gi]
        g.status = GStatus.WAITING
        parked = np.block(self.sched, pd, mode, g)
        if self.pending[fd][mode]:
            assert not parked, "readiness recorded while nobody waited was lost"
            self.pending[fd][mode] = False
        elif self.closed[fd] or self.expired[fd][mode]:
            assert not parked, "a closed or expired descriptor parked a G"
            assert np.check_err(pd, mode) == (np.ERR_CLOSING if self.closed[fd] else np.ERR_TIMEOUT)
        else:
            assert parked
        if parked:
            self.waiting[gi] = (fd, mode)
        else:
            g.status = GStatus.RUNNING

    @rule(fd=fds, mode=modes)
    def readiness(self, fd: int, mode: int) -> None:
        g = np.ready(self.sched, self.pds[fd], mode)
        if g is None:
            assert not any(w == (fd, mode) for w in self.waiting.values())
            self.pending[fd][mode] = True
        self._wake(g, fd, mode)

    @rule(fd=fds, mode=modes, delta=st.sampled_from([None, -1.0, 0.0, 1.0, 5.0]))
    def set_deadline(self, fd: int, mode: int, delta: float | None) -> None:
        pd = self.pds[fd]
        when = None if delta is None else self.now + delta
        seq, g = np.set_deadline(self.sched, pd, mode, when, self.now)
        # Timers armed for earlier deadlines stay in the list: they are stale now, and
        # must do nothing when they fire (a driver may fail to stop one in time).
        past = when is not None and when <= self.now
        self.expired[fd][mode] = past
        if when is not None and not past:
            self.timers.append((fd, mode, seq))
        self._wake(g, fd, mode)
        if past and not self.closed[fd]:
            assert np.check_err(pd, mode) == np.ERR_TIMEOUT

    @precondition(lambda self: bool(self.timers))
    @rule(i=st.integers(0, 63))
    def timer_fires(self, i: int) -> None:
        fd, mode, seq = self.timers.pop(i % len(self.timers))
        pd = self.pds[fd]
        current = pd.seq[mode] == seq and not self.closed[fd]
        g = np.expire(self.sched, pd, mode, seq)
        if current:
            self.expired[fd][mode] = True
        else:
            assert g is None, "a stale deadline timer woke a G"
        self._wake(g, fd, mode)

    @rule(fd=fds)
    def close(self, fd: int) -> None:
        woken = np.close(self.sched, self.pds[fd])
        self.closed[fd] = True
        for g in woken:
            self._wake(g, fd, self.waiting[g.id][1])
        assert not any(w[0] == fd for w in self.waiting.values())

    @precondition(lambda self: bool(self.waiting))
    @rule(i=st.integers(0, 63))
    def cancel(self, i: int) -> None:
        gi = sorted(self.waiting)[i % len(self.waiting)]
        fd, mode = self.waiting[gi]
        assert np.abort(self.sched, self.pds[fd], mode, self.gs[gi])
        del self.waiting[gi]
        # A second abort (the G was already taken back) must report failure.
        assert not np.abort(self.sched, self.pds[fd], mode, self.gs[gi])

    @precondition(lambda self: bool(self.woken))
    @rule()
    def woken_g_runs(self) -> None:
        gi = self.woken.pop(0)
        self.gs[gi].status = GStatus.RUNNING

    @rule(n=st.integers(0, 5), has_p=st.booleans())
    def inject_places_everything(self, n: int, has_p: bool) -> None:
        sched = Sched(2, random.Random(0))
        p = sched.ps[0]
        if has_p:
            sched.idle.remove(p)
        batch = [G(100 + i) for i in range(n)]
        starts = inject(sched, p if has_p else None, batch)
        placed = list(sched.runq) + list(p.runq)
        assert sorted(g.id for g in placed) == [g.id for g in batch]
        assert starts == min(len(sched.idle), n)

    @invariant()
    def waiters_counted(self) -> None:
        assert self.sched.npollwait == len(self.waiting)
        for gi, (fd, mode) in self.waiting.items():
            assert self.pds[fd].slot[mode] is self.gs[gi]

    @invariant()
    def poll_decisions(self) -> None:
        s = self.sched
        assert np.poll_before_steal(s) == (len(self.waiting) > 0 and not s.polling)
        assert np.block_in_poll(s, False) == (len(self.waiting) > 0)


TestNetpoll = NetpollMachine.TestCase
TestNetpoll.settings = settings(max_examples=500, stateful_step_count=50, deadline=None)


def test_poll_timing_rules() -> None:
    s = Sched(1, random.Random(0))
    s.lastpoll = 10.0
    assert not np.sysmon_poll_due(s, 11.0), "nobody waits: sysmon must not poll"
    pd = np.PollDesc(0)
    assert np.block(s, pd, np.READ, G(1))
    assert not np.sysmon_poll_due(s, 10.0 + np.SYSMON_POLL_AFTER / 2)
    assert np.sysmon_poll_due(s, 10.0 + np.SYSMON_POLL_AFTER * 2)
    s.polling = True
    assert not np.sysmon_poll_due(s, 100.0), "an M blocked in the poller reports itself"
    assert not np.poll_before_steal(s)
    assert not np.block_in_poll(s, True), "one M blocks in the poller at a time"
    s.polling = False
    assert np.block_in_poll(s, False)
