"""Simulated Gs: a core :class:`gmp._core.G` plus a modelled service time or a program.

The core knows a G only by identity and status; the simulator's G adds what the runtime's
G has instead of a coroutine: how long it computes, and optionally a small *program* of
operations (compute, block in a syscall, sleep, gosched, spawn children, join them), the
same traps a coroutine G yields to its M in :mod:`gmp.runtime.traps`, and reads of a
connection that park on the network poller (:mod:`sims.netpoll`).

A plain G (``prog is None``) computes ``service`` seconds and exits: the common case, kept
free of any per-operation overhead because a benchmark run holds a million of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

from gmp._core.g import G

if TYPE_CHECKING:
    from gmp._core.p import P
    from sims.netpoll import SimConn

RUN: Final = 0
"""Compute for ``arg`` seconds while holding a P (a coroutine step)."""
BLOCK: Final = 1
"""A blocking call of ``arg`` seconds (Go's entersyscall/exitsyscall): no CPU, keeps the M,
may lose the P to a handoff."""
SLEEP: Final = 2
"""Park on a timer for ``arg`` seconds (``gmp.sleep``, Go's time.Sleep): no CPU, no M."""
GOSCHED: Final = 3
"""Yield the P (``gmp.gosched``, Go's Gosched): the G goes to the policy's yield queue."""
SPAWN: Final = 4
"""Start the Gs in ``arg`` (Go's newproc); the spawner keeps running."""
JOIN: Final = 5
"""Wait until every child spawned so far has finished (``await h.join()`` for each)."""
CALL: Final = 6
"""A plain callable's blocking body, the G's last step: like BLOCK, but when the call
returns the G is done without needing a P again (the runtime's ``_run_callable``)."""

PASS: Final = 7
"""Pass a token (``arg``, a :class:`Baton`) to the G waiting for it and wait for it to
come back: a send to a waiting receiver, then a receive that parks (the two halves of a
ping-pong). The partner is readied into runnext (goready) and inherits the time slice."""
RELEASE: Final = 8
"""Hand the token (``arg``) to the G waiting for it, if any, without waiting: a pair's
last move, so that its partner can finish."""
NOTE: Final = 9
"""Call ``arg(now)`` with the virtual time at this point of the program (a probe for
tests and plots; costs nothing, and is not a trap)."""
RECV: Final = 10
"""Take the next message of a connection (``arg``, a :class:`sims.netpoll.SimConn`): at
once if its receive buffer holds one, else park on its descriptor until the network
poller readies the G (``await conn.recv(n)`` in gmp.net: Go's netpollblock). The message
is left in ``conn.got`` (:data:`sims.netpoll.EOF` once the peer has closed)."""
REPLY: Final = 11
"""Answer the message last received on ``arg``: records its latency, from its arrival to
now. Costs nothing by itself (model the cost of the send as a ``run`` before it)."""
YIELD: Final = 13
"""``gmp.sleep(0)``: the runtime's Yield trap, a checkpoint that stays on the P (behind
its other local Gs; gmp._core.place.yield_local). Made by :func:`sleep` with a duration of
zero or less, as ``gmp.sleep`` makes it."""
RECV_AGAIN: Final = 12
"""Internal: a G readied by the poller retries its read (not a trap: the runtime's
``Conn.recv`` checks for a safe point on entry only, not after its wait)."""

OP_NAMES: Final = (
    "run",
    "block",
    "sleep",
    "gosched",
    "spawn",
    "join",
    "call",
    "pass",
    "release",
    "note",
    "recv",
    "reply",
    "recv_again",
    "yield",
)

Op: TypeAlias = tuple[int, object]
"""One program step: ``(kind, arg)``; build them with the helpers below."""

Program: TypeAlias = Iterator[Op]


def run(seconds: float) -> Op:
    """Compute for ``seconds`` while holding a P."""
    return (RUN, seconds)


def block(seconds: float) -> Op:
    """A blocking syscall of ``seconds``: the M blocks, its P may be handed off."""
    return (BLOCK, seconds)


def call(seconds: float) -> Op:
    """The blocking body of a plain-callable G (``rt.go(time.sleep, s)``); ends the G."""
    return (CALL, seconds)


def sleep(seconds: float) -> Op:
    """Sleep on a timer for ``seconds`` (the G parks; its M runs other Gs). Zero or less
    is ``gmp.sleep(0)``'s yield (:data:`YIELD`), not a timer, as in the runtime."""
    return (SLEEP, seconds) if seconds > 0 else (YIELD, None)


def gosched() -> Op:
    """Yield the processor, as ``gmp.gosched()`` does."""
    return (GOSCHED, None)


def spawn(children: Sequence[SimG]) -> Op:
    """Start ``children`` from this G (they land on the spawner's P under gmp)."""
    return (SPAWN, children)


def join() -> Op:
    """Wait for every child spawned so far."""
    return (JOIN, None)


class Baton:
    """A token two Gs pass back and forth (an unbuffered channel pair in the runtime)."""

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        self.waiting: SimG | None = None
        """The G parked waiting for the token, if any."""


def pass_token(baton: Baton) -> Op:
    """Give the token to the waiting G (readying it) and park until it comes back."""
    return (PASS, baton)


def release(baton: Baton) -> Op:
    """Give the token to the waiting G, if any, and go on (a pair's last move)."""
    return (RELEASE, baton)


def note(fn: Callable[[float], object]) -> Op:
    """Call ``fn(now)`` at this point of the program."""
    return (NOTE, fn)


def recv(conn: SimConn) -> Op:
    """Take the next message of ``conn``, parking on the network poller while there is
    none; the program reads it from ``conn.got`` after this step."""
    return (RECV, conn)


def reply(conn: SimConn) -> Op:
    """Answer the message last received on ``conn`` (records its latency)."""
    return (REPLY, conn)


class SimG(G):
    """A simulated G.

    A plain slotted subclass of the core's plain slotted :class:`~gmp._core.g.G` (not an
    attrs class: attrs cannot extend a foreign ``__slots__`` base's ``__init__``), built a
    million times per benchmark run, so construction stays one short ``__init__``.

    ``id`` is assigned by the simulator when the G enters the system (arrival or spawn),
    so ids follow entry order whatever the workload does.
    """

    __slots__ = (
        "arrive",
        "asleep",
        "cpu",
        "ideal",
        "joining",
        "lastp",
        "parent",
        "pending",
        "prog",
        "redo",
        "service",
        "start",
    )

    def __init__(self, service: float = 0.0, prog: Program | None = None) -> None:
        super().__init__(0)
        self.service = service
        """CPU seconds of a plain G (``prog is None``)."""
        self.prog = prog
        """The program of a G with behaviour, consumed as it runs."""
        self.arrive = 0.0
        """When it entered the system (arrival or spawn), virtual seconds."""
        self.start = -1.0
        """When it first ran; -1 until then."""
        self.cpu = service
        """CPU seconds consumed (programs: accumulated as RUN steps complete)."""
        self.ideal = service
        """Its running time alone on an idle machine: RUN + BLOCK + SLEEP durations."""
        self.parent: SimG | None = None
        self.pending = 0
        """Children spawned and not yet finished."""
        self.joining = False
        """Parked in JOIN until ``pending`` drops to zero."""
        self.lastp: P | None = None
        """The P it last ran on (placement hint for rival policies)."""
        self.asleep = False
        """Asleep on a policy-kept timer (the core's) and not yet run again."""
        self.redo: Op | None = None
        """The operation a preemption interrupted, to run first when the G runs again."""


def program(ops: Iterator[Op] | Sequence[Op]) -> SimG:
    """A G that runs ``ops`` (a list, or a generator that builds them lazily)."""
    return SimG(0.0, iter(ops))


def blocking_callable(seconds: float) -> SimG:
    """A plain-callable G that blocks for ``seconds`` (``rt.go(time.sleep, seconds)``)."""
    return program([call(seconds)])
