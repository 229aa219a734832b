"""An echo service on the network poller, in the simulator and on the threaded runtime.

``conns`` connections, each served by one G that loops: wait for a request (the read
parks on the network poller until readiness), compute for the request's service time,
send the reply, wait again. Clients send requests as a Poisson process spread uniformly
over the connections, and close after their last one; the G then reads end of stream and
exits. Per request the figure is its latency, from the request's arrival to the reply.

The simulator runs :class:`Echo` through the poller rules of :mod:`gmp._core.netpoll`
(see :mod:`sims.netpoll`). :func:`runtime_echo` runs the same service with real sockets
through :mod:`gmp.net`: a plain thread sends 8-byte requests on loopback at scheduled
times, and each server G computes SHA-256 rounds over a buffer (the GIL is released while
hashing, so it is the work of a request, not the interpreter's). It returns the run as a
trace, the arrival, connection and measured compute time of every request, which
:func:`simulate_trace` replays through the simulator: both then see the same arrivals
and the same work, and differ only in what the scheduler did with them.

``python -m sims.echo [--procs 2] [--conns 8] [--requests 400] [--rate 1000] [--rounds 8]``
prints both side by side; tests/sims/test_sim_echo.py compares them.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import attrs

from sims.cost import CostModel
from sims.g import Op, SimG, program, recv, reply, run
from sims.netpoll import EOF, NetpollStats, SimConn
from sims.sim import SimConfig, SimResult, Simulator
from sims.workloads import Constant, ServiceDist, _non_negative, _positive, make_dist

__all__ = [
    "Echo",
    "RuntimeEcho",
    "paths",
    "runtime_echo",
    "simulate_trace",
]

Trace = tuple[tuple[float, int, float], ...]
"""Requests as ``(arrival, connection, service)``, arrival in seconds from the first."""

SEND: float = 10e-6
"""What the reply's ``send_all`` of 8 bytes costs the G on loopback (medians of 11-13 us
measured by :func:`runtime_echo` at low rates, ``RuntimeEcho.sent``), modelled as
compute before the reply."""


@attrs.frozen
class Echo:
    """``conns`` echo connections and ``n`` requests (see the module docstring).

    Requests arrive as a Poisson process at ``load * procs / service.mean`` per second in
    all (``load`` is the offered CPU load per P), each to a uniformly chosen connection
    (so each connection's requests are a Poisson process of their own); ``reply`` is the
    compute a reply costs beyond the service. ``trace`` replaces the Poisson process with
    given requests, ``(arrival, connection, service)``. A connection's client closes at
    its last request's arrival; its G reads end of stream after serving it, and exits.
    """

    kind: ClassVar[str] = "echo"
    conns: int = 8
    n: int = 1000
    service: ServiceDist = attrs.field(converter=make_dist, factory=lambda: Constant(200e-6))
    load: float = attrs.field(default=0.3, validator=_positive)
    reply: float = attrs.field(default=0.0, validator=_non_negative)
    trace: Trace | None = None

    def __attrs_post_init__(self) -> None:
        if self.conns < 1 or self.n < 0:
            raise ValueError("echo needs conns >= 1 and n >= 0")

    def _requests(self, rng: random.Random, procs: int) -> list[list[tuple[float, Any]]]:
        streams: list[list[tuple[float, Any]]] = [[] for _ in range(self.conns)]
        if self.trace is not None:
            for t, c, s in sorted(self.trace):
                streams[c].append((t, s))
        else:
            rate = self.load * procs / self.service.mean
            t = 0.0
            for _ in range(self.n):
                t += rng.expovariate(rate)
                streams[rng.randrange(self.conns)].append((t, self.service.sample(rng)))
        for stream in streams:
            stream.append((stream[-1][0] if stream else 0.0, EOF))
        return streams

    def _serve(self, conn: SimConn) -> Iterator[Op]:
        while True:
            yield recv(conn)
            if conn.got is EOF:
                return
            yield run(conn.got + self.reply)
            yield reply(conn)

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        for fd, stream in enumerate(self._requests(rng, procs)):
            yield 0.0, program(self._serve(SimConn(fd, stream)))

    def expected_gs(self, procs: int) -> int | None:
        return self.conns


def paths(net: NetpollStats) -> dict[str, float]:
    """How requests reached their G, per request: ``immediate`` (the read found it
    buffered and did not park), readied by find_runnable's poll (``poll``), by the M
    blocked in the poller (``block``) or by sysmon (``sysmon``); and ``found_per_request``,
    polls that readied a G per request (1 when every request needs a poll of its own, less
    when one poll readies several Gs). The readied counts include the wake-up of each G
    that parked before its client closed (at most one per connection)."""
    n = max(net.messages, 1)
    return {
        "immediate": net.immediate / n,
        "poll": net.poll_readied / n,
        "block": net.block_readied / n,
        "sysmon": net.sysmon_readied / n,
        "found_per_request": net.found / n,
    }


def simulate_trace(
    trace: Trace,
    conns: int,
    procs: int,
    cost: CostModel | None = None,
    seed: int = 1,
    send: float = SEND,
) -> SimResult:
    """Replay a run's requests (see :func:`runtime_echo`) through the simulator, each
    reply costing ``send`` more. They start 10 ms in, when every G has parked on its
    connection, as in the runtime."""
    shifted = tuple((t + 0.01, c, s) for t, c, s in trace)
    wl = Echo(conns=conns, n=len(trace), reply=send, trace=shifted)
    cfg = SimConfig(procs=procs, seed=seed, cost=cost if cost is not None else CostModel.python())
    return Simulator(wl, cfg).run()


# -- the threaded runtime ------------------------------------------------------------------

_REQ = struct.Struct("!Q")


@attrs.frozen
class RuntimeEcho:
    """One run of the echo service on the threaded runtime."""

    trace: Trace
    """Every request: arrival (the client's send, seconds from the first), connection
    (the server's accept order), and how long its G computed, measured around the
    hashing (the ``send_all`` after it is :data:`SEND`, and may include a preemption at
    its safe point, which the simulator decides for itself)."""
    latency: tuple[float, ...]
    """Per request, in trace order: reply sent minus arrival, seconds."""
    started: tuple[float, ...]
    """Per request, in trace order: its G read it and began computing, minus arrival."""
    sent: tuple[float, ...]
    """Per request, in trace order: how long sending the reply took, seconds."""
    net: NetpollStats
    """The runtime's poller, counted as the simulator counts (latency empty)."""


def _schedule(n: int, conns: int, rate: float, seed: int) -> list[tuple[float, int]]:
    rng = random.Random(seed)
    t = 0.0
    out = []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append((t, rng.randrange(conns)))
    return out


def runtime_echo(
    conns: int = 8,
    n: int = 400,
    rate: float = 1000.0,
    work: int = 64 * 1024,
    rounds: int = 8,
    procs: int = 2,
    seed: int = 1,
    timeout: float = 60.0,
) -> RuntimeEcho:
    """Run the echo service on a fresh runtime with real sockets (see the module
    docstring). A request costs ``rounds`` SHA-256 passes over ``work`` bytes; ``rate``
    is requests per second in all, Poisson, over ``conns`` connections.

    The poller is counted by wrapping two methods of this runtime's instances (its
    ``Poller.process``, whose caller says which poll it is, and each server descriptor's
    park commit); nothing global is patched."""
    import gmp
    import gmp.net
    from gmp.net._rt import poller as _poller

    schedule = _schedule(n, conns, rate, seed)
    sent_at = [0.0] * n
    served: list[tuple[int, int, float, float, float]] = []  # (idx, conn, t0, t1, t_reply)
    # Per connection, so that each count has one writer: reads that parked (its park
    # commits that did, under the scheduler lock), and reads that found a request at once.
    parks = [0] * conns
    immediate = [0] * conns
    stale = [0] * conns
    accepted = threading.Event()
    client_err: list[BaseException] = []
    net = NetpollStats()
    buf = random.Random(seed).randbytes(work)
    port_box: list[int] = []

    def client() -> None:
        try:
            socks = [socket.create_connection(("127.0.0.1", port_box[0])) for _ in range(conns)]
            for s in socks:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not accepted.wait(timeout):
                raise TimeoutError("the server did not accept every connection")
            counts = [0] * conns
            start = time.perf_counter() + 0.02
            for idx, (dt, c) in enumerate(schedule):
                delay = start + dt - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent_at[idx] = time.perf_counter()
                socks[c].sendall(_REQ.pack(idx))
                counts[c] += 1
            # Read every reply before closing, so the server reads end of stream (a close
            # with unread data would reset the connection instead).
            for s, k in zip(socks, counts, strict=True):
                s.settimeout(timeout)
                want = k * _REQ.size
                got = 0
                while got < want:
                    chunk = s.recv(want - got)
                    if not chunk:
                        raise ConnectionError("the server closed a connection early")
                    got += len(chunk)
                s.close()
        except BaseException as e:  # reported by the caller
            client_err.append(e)
            accepted.set()

    async def serve(conn: gmp.net.Conn, ci: int) -> None:
        with conn:
            while True:
                data = b""
                parked = parks[ci]
                while len(data) < _REQ.size:
                    chunk = await conn.recv(_REQ.size - len(data))
                    if not chunk:
                        return
                    data += chunk
                t0 = time.perf_counter()
                if parks[ci] == parked:
                    immediate[ci] += 1
                elif parks[ci] > parked + 1:
                    stale[ci] += parks[ci] - parked - 1  # woken with nothing to read
                for _ in range(rounds):
                    hashlib.sha256(buf).digest()
                t1 = time.perf_counter()
                await conn.send_all(data)
                served.append((_REQ.unpack(data)[0], ci, t0, t1, time.perf_counter()))

    def count_commits(pd: Any, ci: int) -> None:
        commit = pd.commits[0]

        def counted(g: Any) -> bool:
            parked: bool = commit(g)  # under the scheduler lock
            if parked:
                net.parks += 1
                parks[ci] += 1
            else:
                net.spurious += 1
            return parked

        pd.commits = (counted, pd.commits[1])

    async def main() -> None:
        ln = gmp.net.listen("127.0.0.1", 0)
        poller = _poller("echo")
        process = poller.process

        def counted_process(events: list[tuple[int, int]], blocking: bool) -> list[Any]:
            gs = process(events, blocking)
            if gs:
                k = len(gs)
                if blocking:
                    net.block_found += 1
                    net.block_readied += k
                elif threading.current_thread().name == "gmp-sysmon":
                    net.sysmon_found += 1
                    net.sysmon_readied += k
                else:
                    net.poll_found += 1
                    net.poll_readied += k
            return gs

        poller.process = counted_process  # type: ignore[method-assign]
        port_box.append(ln.port)
        th = threading.Thread(target=client, name="echo-client", daemon=True)
        th.start()
        accepted_conns = []
        with ln:
            for i in range(conns):
                c = await ln.accept()
                count_commits(c._pd, i)
                accepted_conns.append(c)
        hs = [gmp.go(serve, c, i) for i, c in enumerate(accepted_conns)]
        accepted.set()
        for h in hs:
            await h.join()
        # The client thread has read every reply and closed: joining it cannot block.
        await gmp.syscall(th.join, timeout)

    gmp.run(main, procs=procs, seed=seed)
    if client_err:
        raise client_err[0]
    if len(served) != n:
        raise RuntimeError(f"{len(served)} of {n} requests served")
    served.sort()
    t_first = sent_at[0] if n else 0.0
    trace = tuple((sent_at[i] - t_first, ci, t1 - t0) for i, ci, t0, t1, _ in served)
    latency = tuple(tr - sent_at[i] for i, _, _, _, tr in served)
    started = tuple(t0 - sent_at[i] for i, _, t0, _, _ in served)
    sent = tuple(tr - t1 for _, _, _, t1, tr in served)
    net.messages = net.replies = n
    net.immediate = sum(immediate)
    net.stale_wakes = sum(stale)
    return RuntimeEcho(trace, latency, started, sent, net)


def _fmt(d: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in d.items())


def _lat(xs: Sequence[float]) -> str:
    from sims.metrics import percentile

    s = sorted(xs)
    return (
        f"mean {sum(s) / len(s) * 1e3:.3f} ms  p50 {percentile(s, 50) * 1e3:.3f}  "
        f"p95 {percentile(s, 95) * 1e3:.3f}  p99 {percentile(s, 99) * 1e3:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m sims.echo",
        description="An echo service on the network poller: runtime vs its simulated replay.",
    )
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rate", type=float, default=1000.0, help="requests per second in all")
    ap.add_argument("--work", type=int, default=64 * 1024, help="bytes hashed per round")
    ap.add_argument("--rounds", type=int, default=8, help="SHA-256 rounds per request")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    real = runtime_echo(
        args.conns, args.requests, args.rate, args.work, args.rounds, args.procs, args.seed
    )
    sim = simulate_trace(real.trace, args.conns, args.procs)
    assert sim.netpoll is not None
    out = sys.stdout
    svc = sorted(s for _, _, s in real.trace)
    out.write(
        f"{args.requests} requests at {args.rate:g}/s on {args.conns} connections, "
        f"procs={args.procs}; compute median {svc[len(svc) // 2] * 1e6:.0f} us\n"
    )
    out.write(f"runtime   paths: {_fmt(paths(real.net))}\n")
    out.write(f"simulated paths: {_fmt(paths(sim.netpoll))}\n")
    out.write(f"runtime   latency: {_lat(real.latency)}\n")
    out.write(f"simulated latency: {_lat(sim.netpoll.latency)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
