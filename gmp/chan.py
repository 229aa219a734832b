"""Go channels for Gs: ``Chan``, ``select`` with ``Recv``/``Send`` cases.

The shape follows Go's runtime/chan.go and select.go: a channel is a lock, a bounded
buffer and two wait queues of *sudogs* (a parked G plus the value it sends or receives).
A sender that finds a parked receiver hands the value over directly and readies it onto
its own P's runnext (Go's goready), so a ping-pong pair stays on one P; otherwise it
buffers, or parks. ``select`` locks every channel involved in a fixed order (Go's
lockorder), polls the cases in a random order (Go's pollorder), and if none is ready and
there is no default, parks on all of them; the first waker to claim the select wins, and
the G removes its other sudogs when it wakes.

Python shape: ``await ch.send(v)``; ``v = await ch.recv()`` (raises ChannelClosed once the
channel is closed and drained); ``v, ok = await ch.recv_ok()`` (Go's ``v, ok := <-ch``);
``async for v in ch``; ``ch.close()``; ``len(ch)``, ``ch.cap``. ``Chan.nil()`` is Go's nil
channel (``var c chan T``). What Go answers with a panic (send on a closed channel, close
of a closed or nil channel) raises ChannelPanic, which is not a ChannelClosed.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import Any, Generic, NoReturn, Protocol, TypeVar

import attrs

from gmp.errors import ChannelClosed, ChannelPanic
from gmp.runtime.api import native_coroutine
from gmp.runtime.g import G
from gmp.runtime.park import checkpoint, current, park, raise_if_cancelled, ready, safe_point_due
from gmp.runtime.traps import Park, slice_look, tls

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)

_rng = random.Random()


class _Select:
    """One blocked select: the first waker to claim it decides which case fires."""

    __slots__ = ("_claim", "sudogs", "winner")

    def __init__(self) -> None:
        self._claim = threading.Lock()
        self.winner: _Sudog | None = None
        self.sudogs: list[_Sudog] = []

    def claim(self) -> bool:
        """Atomically win this select (Go's selectDone CAS)."""
        return self._claim.acquire(blocking=False)


class _Sudog:
    """A G parked on a channel (Go's sudog).

    A single-channel wait takes ``sel`` and ``case`` from the class (None, 0); a select's
    sudogs are :class:`_SelectSudog`, which has slots for them. Each G has one sudog for
    its single-channel waits (``G.sudog``, made by :func:`_sudog` at the first wait), as
    Go caches sudogs: a G waits on one channel at a time, and once it runs again nobody
    holds its sudog (the waker that dequeued it readied the G last; close and abort work
    under the channel's lock, before the G is readied). The hooks park() needs are bound
    once (``on_commit``, ``on_abort``). A park allocated a sudog and two bound methods
    before: unbuffered ping-pong at procs=1 went from 4.54 to 3.89 us per round trip
    (medians of 7 interleaved runs).
    """

    __slots__ = ("chan", "g", "ok", "on_abort", "on_commit", "value")

    sel: _Select | None = None
    case: int = 0
    # Set by _sudog for a G's own sudog (a select's sudogs never park through them).
    on_commit: Callable[[G[Any]], bool]
    on_abort: Callable[[], bool]

    def __init__(self, g: G[Any], chan: Chan[Any], value: Any) -> None:
        self.g = g
        self.chan = chan
        self.value = value
        self.ok = False

    def claim(self) -> bool:
        """A waker that dequeued this sudog may complete it (always, unless a select
        this sudog belongs to was already won through another channel)."""
        sel = self.sel
        if sel is None:
            return True
        if sel.claim():
            sel.winner = self
            return True
        return False

    # park() hooks for a single-channel wait ---------------------------------------

    def commit(self, g: G[Any]) -> bool:
        self.chan._lock.release()
        return True

    def abort(self) -> bool:
        ch = self.chan
        with ch._lock:
            for q in (ch._recvq, ch._sendq):
                try:
                    q.remove(self)
                except ValueError:
                    continue
                return True
        return False


def _sudog(g: G[Any], chan: Chan[Any], value: Any) -> _Sudog:
    """``g``'s own sudog (see :class:`_Sudog`), made at its first single-channel wait."""
    sg = _Sudog(g, chan, value)
    sg.on_commit = sg.commit
    sg.on_abort = sg.abort
    g.sudog = sg
    return sg


def _enqueue(m: Any, g: G[Any], chan: Chan[Any], q: Any, value: Any, reason: str) -> Park:
    """Queue ``g`` on ``q`` (one of ``chan``'s wait queues, its lock held) with its own
    sudog, refilled, and return the M's Park trap refilled for it: park()'s body, which
    send, recv and recv_ok yield themselves (one frame per operation). Only on the
    path that parks, where the switch costs far more than this call."""
    sg = g.sudog
    if sg is None:
        sg = _sudog(g, chan, value)
    else:
        sg.chan = chan
        sg.value = value
        sg.ok = False
    q.append(sg)
    t: Park = m.parktrap
    t.commit = sg.on_commit
    t.abort = sg.on_abort
    t.reason = reason
    return t


class _SelectSudog(_Sudog):
    """A sudog of a blocked select: the select it belongs to and the case it stands for."""

    __slots__ = ("case", "sel")

    def __init__(self, g: G[Any], chan: Chan[Any], value: Any, sel: _Select, case: int) -> None:
        super().__init__(g, chan, value)
        self.sel = sel
        self.case = case


class Chan(Generic[T]):
    """A Go channel. ``Chan(0)`` is unbuffered (a rendezvous), ``Chan(n)`` buffers n;
    ``Chan.nil()`` is the nil channel."""

    __slots__ = ("__weakref__", "_buf", "_cap", "_closed", "_lock", "_recvq", "_sendq")

    def __init__(self, cap: int = 0) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int):
            raise TypeError(f"Chan capacity must be an int, got {type(cap).__name__}")
        if cap < 0:
            raise ValueError(f"Chan capacity must be >= 0, got {cap}")
        self._cap = cap
        self._buf: deque[T] = deque()
        self._recvq: deque[_Sudog] = deque()
        self._sendq: deque[_Sudog] = deque()
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<gmp.Chan cap={self._cap} len={len(self._buf)}{state}>"

    @staticmethod
    def nil() -> Chan[Any]:
        """Go's nil channel, the zero value of ``var c chan T``: ``send``, ``recv`` and
        ``recv_ok`` on it block until the G is cancelled, ``close`` raises ChannelPanic,
        and a ``select`` case on it never fires (chan.go's chansend and chanrecv park
        forever on a nil channel; closechan panics).

        Why have one: in a ``select`` loop, setting a variable to the nil channel turns
        its case off, Go's idiom for "this input is done" (``Recv(None)`` does the same).
        It is one shared object, as nil is one value: ``ch is Chan.nil()`` tests for it.
        """
        return _NIL

    @property
    def cap(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- operations done with self._lock held; they return a G to ready --------------

    def _try_send_locked(self, value: T) -> _Sudog | bool | None:
        """Complete a send now if possible. Returns the receiver sudog to ready, True if
        buffered, False if the send must block. Raises if closed."""
        if self._closed:
            raise ChannelPanic("send on closed channel")
        rq = self._recvq
        while rq:
            sg = rq.popleft()
            if sg.claim():
                sg.value = value
                sg.ok = True
                return sg
        if len(self._buf) < self._cap:
            self._buf.append(value)
            return True
        return False

    def _try_recv_locked(self) -> tuple[bool, Any, bool, _Sudog | None]:
        """Complete a receive now if possible: (done, value, ok, sender sudog to ready)."""
        buf = self._buf
        sq = self._sendq
        if buf:
            value = buf.popleft()
            while sq:
                sg = sq.popleft()
                if sg.claim():
                    buf.append(sg.value)
                    sg.ok = True
                    return True, value, True, sg
            return True, value, True, None
        while sq:
            sg = sq.popleft()
            if sg.claim():
                sg.ok = True
                return True, sg.value, True, sg
        if self._closed:
            return True, None, False, None
        return False, None, False, None

    # -- Go operations -----------------------------------------------------------------

    # send, recv_ok and recv are generator functions made native coroutines
    # (gmp.runtime.api.native_coroutine): ``await ch.send(v)`` is one frame that yields
    # the M's park trap itself, where an ``async def`` awaiting park() was two frames and
    # a generator object per park, each resumed and suspended on every wake-up. A
    # forgotten ``await`` still warns, as for any coroutine. Unbuffered ping-pong at
    # procs=1, 100k round trips, medians of 5 interleaved runs: 5.53 -> 4.69 us (with
    # goready inlined in gmp._core.place).

    @native_coroutine("Chan.send")
    def send(self, value: T) -> Generator[Any, Any, None]:
        """``ch <- value``: block until a receiver takes it or the buffer has room."""
        # current() and safe_point_due(), inlined: this runs on every channel operation.
        m = tls.m
        g = m.curg if m is not None else None
        if g is None:
            g = current()  # raises NotInGError
        else:
            if g.cancel_pending is not None or g.scope_cancelled:
                raise_if_cancelled(g)  # synchronous: no coroutine for the common case
            p = m.p  # type: ignore[union-attr]
            if p is not None:
                p.safe_points = n = p.safe_points - 1
                if n <= 0 and slice_look(m, p):  # type: ignore[arg-type]
                    yield from checkpoint(g)
        lock = self._lock
        lock.acquire()
        rq = self._recvq
        if rq and rq[0].sel is None and not self._closed:
            # _try_send_locked's first case, inlined: a receiver waits alone (not in a
            # select, so nothing else can claim it); hand the value over.
            sg = rq.popleft()
            sg.value = value
            sg.ok = True
            lock.release()
            ready(sg.g)
            return
        try:
            done = self._try_send_locked(value)
        except BaseException:
            lock.release()
            raise
        if done is not False:
            lock.release()
            if done is not True:
                ready(done.g)  # type: ignore[union-attr]
            return
        # m is this G's M: current() raised otherwise.
        yield _enqueue(m, g, self, self._sendq, value, "chan send")
        sg = g.sudog
        assert sg is not None
        sg.value = None  # the receiver took it; keep no reference while the G runs on
        if not sg.ok:
            raise ChannelPanic("send on closed channel (closed while the sender waited)")

    @native_coroutine("Chan.recv_ok")
    def recv_ok(self) -> Generator[Any, Any, tuple[T | None, bool]]:
        """``v, ok := <-ch``: ``(value, True)``, or ``(None, False)`` once closed and drained."""
        # current() and safe_point_due(), inlined: this runs on every channel operation.
        m = tls.m
        g = m.curg if m is not None else None
        if g is None:
            g = current()  # raises NotInGError
        else:
            if g.cancel_pending is not None or g.scope_cancelled:
                raise_if_cancelled(g)  # synchronous: no coroutine for the common case
            p = m.p  # type: ignore[union-attr]
            if p is not None:
                p.safe_points = n = p.safe_points - 1
                if n <= 0 and slice_look(m, p):  # type: ignore[arg-type]
                    yield from checkpoint(g)
        lock = self._lock
        lock.acquire()
        if self._buf or self._sendq or self._closed:
            done, value, ok, sender = self._try_recv_locked()
            if done:
                lock.release()
                if sender is not None:
                    ready(sender.g)
                return value, ok
        yield _enqueue(m, g, self, self._recvq, None, "chan receive")  # m: as in send
        sg = g.sudog
        assert sg is not None
        value, ok = sg.value, sg.ok
        sg.value = None
        return value, ok

    @native_coroutine("Chan.recv")
    def recv(self) -> Generator[Any, Any, T]:
        """``<-ch``; raises ChannelClosed when the channel is closed and drained."""
        # recv_ok's body, inlined: this is the hot path of every ping-pong.
        # current() and safe_point_due(), inlined: this runs on every channel operation.
        m = tls.m
        g = m.curg if m is not None else None
        if g is None:
            g = current()  # raises NotInGError
        else:
            if g.cancel_pending is not None or g.scope_cancelled:
                raise_if_cancelled(g)  # synchronous: no coroutine for the common case
            p = m.p  # type: ignore[union-attr]
            if p is not None:
                p.safe_points = n = p.safe_points - 1
                if n <= 0 and slice_look(m, p):  # type: ignore[arg-type]
                    yield from checkpoint(g)
        lock = self._lock
        lock.acquire()
        if self._buf or self._sendq or self._closed:
            done, value, ok, sender = self._try_recv_locked()
        else:
            done = False  # _try_recv_locked would find nothing: park at once
        if done:
            lock.release()
            if sender is not None:
                ready(sender.g)
        else:
            yield _enqueue(m, g, self, self._recvq, None, "chan receive")  # m: as in send
            sg = g.sudog
            assert sg is not None
            value, ok = sg.value, sg.ok
            sg.value = None
        if not ok:
            raise ChannelClosed("receive from closed channel")
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the channel: receivers drain the buffer, then see ok=False; parked
        senders raise ChannelPanic. Closing twice raises ChannelPanic (closechan panics)."""
        with self._lock:
            if self._closed:
                raise ChannelPanic("close of closed channel")
            self._closed = True
            waiters = [sg for sg in (*self._recvq, *self._sendq) if sg.claim()]
            self._recvq.clear()
            self._sendq.clear()
        for sg in waiters:
            sg.value = None
            sg.ok = False
            ready(sg.g)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[T]:
        while True:
            value, ok = await self.recv_ok()
            if not ok:
                return
            yield value  # type: ignore[misc]

    def send_only(self) -> SendChan[T]:
        """This channel typed as send-only (Go's ``chan<- T``); a type checker enforces it."""
        return self

    def recv_only(self) -> RecvChan[T]:
        """This channel typed as receive-only (Go's ``<-chan T``)."""
        return self


class _NilChan(Chan[Any]):
    """The nil channel (see :meth:`Chan.nil`). A subclass, so the hot paths of real
    channels pay nothing for it; ``select`` skips it like a ``None`` channel."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<gmp.Chan nil>"

    async def send(self, value: Any) -> None:
        """Block until cancelled (chansend: ``if c == nil { gopark(...) }``)."""
        await _block_until_cancelled("send")

    async def recv_ok(self) -> tuple[Any, bool]:
        """Block until cancelled (chanrecv: ``if c == nil { gopark(...) }``)."""
        await _block_until_cancelled("receive")

    async def recv(self) -> Any:
        """Block until cancelled (chanrecv: ``if c == nil { gopark(...) }``)."""
        await _block_until_cancelled("receive")

    def close(self) -> None:
        """Raise ChannelPanic (closechan: ``if c == nil { panic("close of nil channel") }``)."""
        raise ChannelPanic("close of nil channel")


async def _block_until_cancelled(what: str) -> NoReturn:
    """Park with nobody to wake the G: only its cancellation (the abort) gets it back."""
    raise_if_cancelled(current())
    await park(_commit_parked, _always_abort, f"chan {what} (nil chan)")
    raise AssertionError(f"unreachable: a {what} on a nil channel only ends by cancellation")


def _commit_parked(g: G[Any]) -> bool:
    return True


_NIL: Chan[Any] = _NilChan()


class SendChan(Protocol[T_contra]):
    """Send-only view of a channel (Go's ``chan<- T``)."""

    async def send(self, value: T_contra) -> None: ...

    def close(self) -> None: ...

    def __len__(self) -> int: ...


class RecvChan(Protocol[T_co]):
    """Receive-only view of a channel (Go's ``<-chan T``)."""

    async def recv(self) -> T_co: ...

    async def recv_ok(self) -> tuple[T_co | None, bool]: ...

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    def __len__(self) -> int: ...


# -- select -----------------------------------------------------------------------------


@attrs.frozen
class Recv:
    """A receive case: ``case v, ok := <-ch``. A None or nil channel never fires."""

    chan: Chan[Any] | None


@attrs.frozen
class Send:
    """A send case: ``case ch <- value``. A None or nil channel never fires."""

    chan: Chan[Any] | None
    value: Any


@attrs.frozen
class Selected:
    """Which case fired (``index``; -1 for the default) and, for a receive, what came."""

    index: int
    value: Any = None
    ok: bool = True


DEFAULT = Selected(-1, None, False)


def _commit_all(locks: Sequence[threading.Lock]) -> Any:
    def commit(g: G[Any]) -> bool:
        for lk in reversed(locks):
            lk.release()
        return True

    return commit


async def select(*cases: Recv | Send, default: bool = False) -> Selected:
    """Go's ``select``: wait until one case can proceed and do exactly that one.

    Among ready cases one is chosen uniformly at random. With ``default=True`` it never
    blocks and returns ``Selected(-1)`` when nothing is ready. With no cases (and no
    default), or only None and nil channels, it blocks until cancelled. A send case on a
    closed channel raises ChannelPanic, as Go panics.
    """
    g = current()
    for c in cases:
        if not isinstance(c, Recv | Send):
            raise TypeError(f"select() cases must be gmp.Recv or gmp.Send, got {c!r}")
        if c.chan is not None and not isinstance(c.chan, Chan):
            raise TypeError(f"select() case on a non-channel: {c.chan!r}")
    if safe_point_due(g):
        await checkpoint(g)
    chans = sorted(
        {id(c.chan): c.chan for c in cases if c.chan is not None and c.chan is not _NIL}.values(),
        key=id,
    )
    if not chans:
        if default:
            return DEFAULT
        await park(_commit_all(()), _always_abort, "select (no cases)")  # until cancelled
        raise AssertionError("unreachable: an empty select only ends by cancellation")
    locks = [ch._lock for ch in chans]
    for lk in locks:
        lk.acquire()
    order = list(range(len(cases)))
    if len(order) > 1:
        _rng.shuffle(order)
    to_ready: _Sudog | None = None
    result: Selected | None = None
    try:
        for i in order:
            c = cases[i]
            ch = c.chan
            if ch is None or ch is _NIL:
                continue
            if isinstance(c, Recv):
                done, value, ok, sender = ch._try_recv_locked()
                if done:
                    to_ready = sender
                    result = Selected(i, value, ok)
                    break
            else:
                sent = ch._try_send_locked(c.value)
                if sent is not False:
                    to_ready = sent if sent is not True else None
                    result = Selected(i, None, True)
                    break
    except BaseException:
        for lk in reversed(locks):
            lk.release()
        raise
    if result is not None or default:
        for lk in reversed(locks):
            lk.release()
        if to_ready is not None:
            ready(to_ready.g)
        return result if result is not None else DEFAULT
    # Block on every case.
    sel = _Select()
    for i, c in enumerate(cases):
        ch = c.chan
        if ch is None or ch is _NIL:
            continue
        if isinstance(c, Recv):
            sg = _SelectSudog(g, ch, None, sel, i)
            ch._recvq.append(sg)
        else:
            sg = _SelectSudog(g, ch, c.value, sel, i)
            ch._sendq.append(sg)
        sel.sudogs.append(sg)
    try:
        await park(_commit_all(locks), lambda: _abort_select(sel, chans), "select")
    finally:
        _dequeue_losers(sel, chans)
    winner = sel.winner
    assert winner is not None
    if isinstance(cases[winner.case], Send):
        if not winner.ok:
            raise ChannelPanic("send on closed channel (closed while select waited)")
        return Selected(winner.case, None, True)
    return Selected(winner.case, winner.value, winner.ok)


def _always_abort() -> bool:
    return True


def _abort_select(sel: _Select, chans: Sequence[Chan[Any]]) -> bool:
    # False: a waker won the select first and will ready the G itself.
    return sel.claim()


def _dequeue_losers(sel: _Select, chans: Sequence[Chan[Any]]) -> None:
    """Remove this select's sudogs that did not fire (Go's selectgo pass 3)."""
    for ch in chans:
        with ch._lock:
            for sg in sel.sudogs:
                if sg is sel.winner or sg.chan is not ch:
                    continue
                for q in (ch._recvq, ch._sendq):
                    try:
                        q.remove(sg)
                    except ValueError:
                        continue
                    break
