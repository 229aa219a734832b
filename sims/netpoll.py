"""The network poller in the simulator: connections, their messages, and what it counted.

The rules are :mod:`gmp._core.netpoll`'s, called by :mod:`sims.sim` where the threaded
runtime calls them: a G that finds nothing to read commits its wait with
:func:`~gmp._core.netpoll.block` (or retries when readiness is pending), a poll turns
each reported descriptor into :func:`~gmp._core.netpoll.ready`, and the polls happen
where the runtime makes them: find_runnable's poll before stealing (passed to
:func:`~gmp._core.sched.find_runnable` as ``poll``), the last idle M blocked in the poller
(:func:`~gmp._core.netpoll.block_in_poll`) and sysmon after 10 ms
(:func:`~gmp._core.netpoll.sysmon_poll_due`); readied Gs are placed by
:func:`gmp._core.place.inject`.

What stands for the kernel is here. A :class:`SimConn` is the server end of a
connection: the core's :class:`~gmp._core.netpoll.PollDesc`, a receive buffer of
messages, and whether the descriptor sits on epoll's ready list. Its messages come from a
stream of ``(time, payload)`` the workload gives it; a message arriving puts the
descriptor on the ready list (edge-triggered: once until a poll reports it, however many
messages arrive meanwhile), and a poll reports at most :data:`MAX_EVENTS` descriptors, in
the order they became ready, as ``epoll_wait`` does.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs

from gmp._core.netpoll import PollDesc
from sims.metrics import percentile

__all__ = ["EOF", "MAX_EVENTS", "NetpollStats", "SimConn"]

MAX_EVENTS: Final = 128
"""Descriptors one poll reports at most (the runtime's and Go's ``epoll_wait`` batch)."""


class _Eof:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EOF"


EOF: Final = _Eof()
"""The payload of a stream's last event, the peer closing: a read then returns end of
stream (``conn.got is EOF``) instead of parking, now and at every later read."""


class SimConn:
    """The server end of one connection, read by one G.

    ``events`` yields ``(time, payload)`` in nondecreasing time: a message (any payload;
    the echo workload sends its service time) or :data:`EOF`. The simulator registers
    the connection at the first read of it (Go's netpollopen) and delivers the stream
    from then on; a message due before that is in the buffer already.
    """

    __slots__ = ("buf", "edge", "events", "got", "got_at", "last", "pd", "pending", "registered")

    def __init__(self, fd: int, events: Iterable[tuple[float, Any]]) -> None:
        self.pd = PollDesc(fd)
        """The core's wait slots for this descriptor (only READ is used)."""
        self.events: Iterator[tuple[float, Any]] = iter(events)
        self.pending: tuple[float, Any] | None = None
        """The stream's next event, scheduled in the simulator's queue."""
        self.last = 0.0
        """The time of the last event delivered (streams must not go back in time)."""
        self.buf: deque[tuple[float, Any]] = deque()
        """The kernel's receive buffer: ``(arrival, payload)`` not yet read."""
        self.edge = False
        """On epoll's ready list: readiness arrived that no poll has reported yet."""
        self.got: Any = None
        """The payload of the last read (:data:`EOF` at end of stream)."""
        self.got_at = 0.0
        """When that message arrived."""
        self.registered = False

    @property
    def fd(self) -> int:
        return self.pd.fd

    def __repr__(self) -> str:
        return f"<SimConn fd={self.pd.fd} buffered={len(self.buf)} edge={self.edge}>"


@attrs.define(eq=False)
class NetpollStats:
    """What the simulated network poller did, and the messages' latencies.

    A *poll* below is one that readied at least one G, counted where it was made:
    ``poll_*`` by find_runnable before stealing, ``block_*`` by the M blocked in the
    poller, ``sysmon_*`` by sysmon. Every message a G read came either through a G those
    polls readied or straight from the buffer (``immediate``: the read found it without
    parking). Every park is readied exactly once (``parks == readied``), but a readied G
    may find nothing yet (``stale_wakes``) and park again.
    """

    messages: int = 0
    """Messages delivered into receive buffers (end-of-stream not counted)."""
    replies: int = 0
    immediate: int = 0
    """Reads that found a message already buffered and did not park."""
    parks: int = 0
    """Reads that parked on their descriptor (netpollblock committed)."""
    spurious: int = 0
    """Waits that consumed pending readiness but found nothing to read, and retried
    (readiness reported while the G was busy, for a message it had already read)."""
    stale_wakes: int = 0
    """Gs readied that found nothing to read and parked again: the poll reported an edge
    left from a message the G had read before it parked (the runtime's recv retries on
    ``EAGAIN`` in the same way)."""
    poll_found: int = 0
    poll_readied: int = 0
    block_found: int = 0
    block_readied: int = 0
    sysmon_found: int = 0
    sysmon_readied: int = 0
    poller_blocks: int = 0
    """Times an M blocked in the poller."""
    first_arrival: float = math.inf
    last_reply: float = 0.0
    latency: array[float] = attrs.field(factory=lambda: array("d"))
    """Per reply: reply time minus the arrival of the message it answers (seconds)."""

    @property
    def found(self) -> int:
        """Polls that readied at least one G, on every path."""
        return self.poll_found + self.block_found + self.sysmon_found

    @property
    def readied(self) -> int:
        """Gs readied by polls, on every path."""
        return self.poll_readied + self.block_readied + self.sysmon_readied

    def summary(self) -> dict[str, float]:
        """Latency percentiles and throughput (replies per second between the first
        arrival and the last reply), plus every counter."""
        lat = sorted(self.latency)
        span = self.last_reply - self.first_arrival
        out: dict[str, float] = {
            "replies": self.replies,
            "throughput": self.replies / span if span > 0 else math.nan,
            "latency_mean": math.fsum(lat) / len(lat) if lat else math.nan,
            "latency_p50": percentile(lat, 50),
            "latency_p95": percentile(lat, 95),
            "latency_p99": percentile(lat, 99),
        }
        for f in attrs.fields(NetpollStats):
            if f.name not in ("latency", "replies", "first_arrival", "last_reply"):
                out[f.name] = getattr(self, f.name)
        return out
