"""The simulator's network poller: Gs parked on connections, readiness from a workload,
the three polls of the runtime (find_runnable's, the blocked poller's, sysmon's), on
hand-computed timelines and on an echo workload's invariants."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest

from gmp._core.netpoll import SYSMON_POLL_AFTER
from sims import CostModel, SimConfig, SimulationError, Simulator, simulate
from sims.echo import Echo, paths
from sims.g import Op, SimG, note, program, recv, reply, run, sleep
from sims.netpoll import EOF, MAX_EVENTS, NetpollStats, SimConn


def _serve(conn: SimConn, extra: float = 0.0) -> Iterator[Op]:
    while True:
        yield recv(conn)
        if conn.got is EOF:
            return
        yield run(conn.got + extra)
        yield reply(conn)


class _Conns:
    """One echo G per stream; a stream is ``[(time, service), ...]`` (EOF appended)."""

    def __init__(self, streams: Sequence[Sequence[tuple[float, Any]]], eof: bool = True) -> None:
        self.streams = streams
        self.eof = eof

    def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
        for fd, s in enumerate(self.streams):
            evs = list(s)
            if self.eof:
                evs.append((evs[-1][0] if evs else 0.0, EOF))
            yield 0.0, program(_serve(SimConn(fd, evs)))

    def expected_gs(self, procs: int) -> int:
        return len(self.streams)


def _run(
    streams: Sequence[Sequence[tuple[float, Any]]],
    procs: int = 1,
    cost: CostModel | None = None,
    **kw: Any,
) -> NetpollStats:
    cfg = SimConfig(procs=procs, seed=1, cost=cost if cost is not None else CostModel.zero(), **kw)
    net = Simulator(_Conns(streams), cfg).run().netpoll
    assert net is not None
    return net


def test_a_request_on_an_idle_runtime_is_delivered_by_the_blocked_poller() -> None:
    """Zero costs: the last idle M blocks in the poller, readiness returns it at once and
    the G computes right away, so latency is the service time exactly."""
    net = _run([[(0.010, 1e-3), (0.020, 2e-3)]])
    assert list(net.latency) == pytest.approx([1e-3, 2e-3])
    # End of stream comes with the last request: the G reads it without parking.
    assert (net.block_found, net.block_readied) == (2, 2)
    assert net.poll_found == net.sysmon_found == net.immediate == net.spurious == 0
    assert net.parks == 2
    assert net.poller_blocks == 2  # before each request (none once every G has exited)


def test_the_blocked_poller_wakes_after_the_wake_latency_and_the_g_pays_its_switch() -> None:
    cost = CostModel()
    net = _run([[(0.010, 1e-3)]], cost=cost)
    expected = cost.wake + cost.runq_op + cost.switch + 1e-3
    assert net.latency[0] == pytest.approx(expected)


def test_a_request_behind_a_busy_p_is_found_by_find_runnables_poll() -> None:
    """procs=1: G0 computes 5 ms from t=10 ms; G1's request at t=11 ms waits until G0
    parks again, and that M's find_runnable polls before it would steal or sleep."""
    cost = CostModel.zero()
    net = _run([[(0.010, 5e-3)], [(0.011, 1e-3)]], cost=cost)
    assert net.latency[0] == pytest.approx(5e-3)
    assert net.latency[1] == pytest.approx(0.015 - 0.011 + 1e-3)
    assert net.poll_found >= 1 and net.poll_readied >= 1


def test_readiness_for_a_g_that_is_busy_is_kept_and_costs_one_spurious_retry() -> None:
    """procs=2: both requests at 10 ms come from one blocked poll; G1 finishes at 13 ms
    and its M polls, reporting G0's second request (12 ms) while G0 computes: nobody
    waits, so the slot records readiness (Go's pdReady). G0's next read finds the message
    without parking; the read after it consumes the readiness, finds nothing, and parks
    (the runtime's recv loop)."""
    streams = [[(0.010, 5e-3), (0.012, 1e-3), (0.030, 1e-3)], [(0.010, 3e-3), (0.040, 1e-3)]]
    net = _run(streams, procs=2)
    assert net.poll_found == 0  # the poll at 13 ms readied nobody: it recorded readiness
    assert (net.block_found, net.block_readied) == (3, 4)  # the burst, 30 ms, 40 ms
    assert net.immediate == 1
    assert net.spurious == 1
    assert net.stale_wakes == 0
    assert list(net.latency) == pytest.approx([3e-3, 5e-3, 0.016 - 0.012, 1e-3, 1e-3])


def test_a_stale_edge_readies_a_g_that_then_parks_again() -> None:
    """procs=1: G0's second request arrives while it computes the first and nobody polls
    meanwhile. G0 reads it without parking, then parks; the M's poll then reports the
    old edge and readies G0, which finds nothing and parks again."""
    net = _run([[(0.010, 5e-3), (0.012, 1e-3), (0.030, 1e-3)]], procs=1)
    assert net.immediate == 1
    assert net.stale_wakes == 1
    assert net.parks == net.readied == 3


def test_one_blocked_poll_readies_a_burst_and_injects_all_but_one() -> None:
    """Four requests at the same instant on four Ps: one blocked poll reports the four
    descriptors; the polling M runs the first from its P's runnext, the other three go to
    the global queue and an M is started for each idle P (place.inject)."""
    streams = [[(0.010, 1e-3)] for _ in range(4)]
    res = Simulator(_Conns(streams), SimConfig(procs=4, seed=1, cost=CostModel.zero())).run()
    net = res.netpoll
    assert net is not None
    assert (net.block_found, net.block_readied) == (1, 4)
    assert net.poll_found == net.sysmon_found == 0
    assert list(net.latency) == pytest.approx([1e-3] * 4)  # all four in parallel
    assert sorted(res.metrics.per_p_busy) == pytest.approx([1e-3] * 4)


def test_a_poll_reports_at_most_max_events_descriptors() -> None:
    n = MAX_EVENTS + 10
    net = _run([[(0.010, 1e-5)] for _ in range(n)], procs=1)
    assert net.replies == n
    # The blocked poll took MAX_EVENTS of them; find_runnable's poll the rest, once the
    # local queue ran dry (1.28 ms later).
    assert (net.block_found, net.block_readied) == (1, MAX_EVENTS)
    assert (net.poll_found, net.poll_readied) == (1, 10)
    # With 10 ms of work queued locally instead, nobody polls for 10 ms: sysmon does.
    net = _run([[(0.010, 1e-4)] for _ in range(n)], procs=1)
    assert (net.block_found, net.block_readied) == (1, MAX_EVENTS)
    assert (net.sysmon_found, net.sysmon_readied) == (1, 10)


def test_sysmon_polls_when_nobody_has_for_10_ms() -> None:
    """procs=2: G0 computes 50 ms; G1's request arrives 1 ms in. No M is in the poller
    (the one that was took G0) and the other M sleeps on its semaphore, so only sysmon's
    poll, at its first look more than 10 ms after the last poll, readies G1, which then
    runs on the idle P."""
    cfg_cost = CostModel.zero()
    net = _run([[(0.010, 50e-3)], [(0.011, 1e-3)]], procs=2, cost=cfg_cost)
    assert (net.sysmon_found, net.sysmon_readied) == (1, 1)
    sysmon_at = 0.010 + SYSMON_POLL_AFTER + 1e-3  # looks are 1 ms apart with zero costs
    assert net.latency[0] == pytest.approx(sysmon_at - 0.011 + 1e-3)
    assert net.latency[1] == pytest.approx(50e-3)


def test_a_wakep_breaks_the_blocked_poller() -> None:
    """A G that sleeps on a timer while another waits on the network: the last idle M
    blocks in the poller; the timer's wakep takes that M out of it (netpollBreak)."""

    woke: list[float] = []

    class W:
        def arrivals(self, rng: random.Random, procs: int) -> Iterator[tuple[float, SimG]]:
            yield 0.0, program(_serve(SimConn(0, [(0.050, 1e-3), (0.050, EOF)])))
            yield 0.0, program([sleep(0.020), note(woke.append), run(1e-3)])

        def expected_gs(self, procs: int) -> int:
            return 2

    res = simulate(W(), "gmp", SimConfig(procs=1, seed=1, cost=CostModel.zero()))
    net = res.netpoll
    assert net is not None
    assert woke == [pytest.approx(0.020)]
    assert net.replies == 1 and list(net.latency) == pytest.approx([1e-3])
    assert net.poller_blocks == 2  # from the start, and after the timer's G


def test_rival_policies_refuse_connections() -> None:
    with pytest.raises(SimulationError, match="network poller"):
        simulate(Echo(conns=2, n=10), "global", SimConfig(procs=2, seed=1))


def test_a_stream_that_goes_back_in_time_is_refused() -> None:
    with pytest.raises(SimulationError, match="back in time"):
        _run([[(0.010, 1e-3), (0.005, 1e-3)]])


def test_a_connection_closed_without_requests_ends_its_g() -> None:
    net = _run([[]])
    assert net.replies == 0 and net.messages == 0


def test_a_g_left_waiting_for_a_message_that_never_comes_fails_the_run() -> None:
    sim = Simulator(_Conns([[(0.010, 1e-3)]], eof=False), SimConfig(procs=2, seed=1))
    with pytest.raises(SimulationError, match="never finished"):
        sim.run()


@pytest.mark.parametrize("procs", [1, 2, 4])
@pytest.mark.parametrize("load", [0.2, 0.6, 0.95])
def test_echo_answers_every_request_once(procs: int, load: float) -> None:
    wl = Echo(conns=16, n=3000, service={"dist": "exp", "mean": 200e-6}, load=load)
    sim = Simulator(wl, SimConfig(procs=procs, seed=3, cost=CostModel.python()))
    res = sim.run()
    net = res.netpoll
    assert net is not None
    assert net.messages == net.replies == 3000 == len(net.latency)
    assert min(net.latency) > 0
    assert sim.sched.npollwait == 0 and not sim.sched.polling
    # Every G that parked was readied exactly once (no deadline or close here), and every
    # read was immediate or came after a wake (at most one per G is for its end of stream).
    assert net.parks == net.readied
    reads_after_a_wake = net.readied - net.stale_wakes
    assert net.messages <= net.immediate + reads_after_a_wake <= net.messages + wl.conns
    assert res.metrics.gs == wl.conns
    fr = paths(net)
    total = fr["immediate"] + fr["poll"] + fr["block"] + fr["sysmon"]
    assert 1.0 <= total <= 1.0 + (wl.conns + net.stale_wakes) / net.messages


def test_echo_is_deterministic_for_a_seed_and_the_futile_search_skip_changes_nothing() -> None:
    wl = Echo(conns=8, n=2000, load=0.5)

    def go(skip: bool) -> tuple[tuple[float, ...], dict[str, float]]:
        cfg = SimConfig(procs=1, seed=5, cost=CostModel.python(), skip_futile_search=skip)
        net = simulate(wl, "gmp", cfg).netpoll
        assert net is not None
        return tuple(net.latency), net.summary()

    a, b, c = go(True), go(True), go(False)
    assert a == b
    assert a == c  # procs=1 steals nothing, so skipping draws no fewer random numbers


def test_more_load_means_fewer_polls_per_request_and_more_found_without_sleeping() -> None:
    def fr(load: float) -> dict[str, float]:
        net = simulate(
            Echo(conns=16, n=4000, load=load),
            "gmp",
            SimConfig(procs=2, seed=1, cost=CostModel.python()),
        ).netpoll
        assert net is not None
        return paths(net)

    low, high = fr(0.05), fr(0.8)
    assert low["block"] > 0.9
    assert high["block"] < low["block"]
    assert high["found_per_request"] < low["found_per_request"]
    assert high["poll"] + high["immediate"] > low["poll"] + low["immediate"]


def test_netpoll_stats_summary_has_latency_percentiles_and_throughput() -> None:
    net = simulate(
        Echo(conns=4, n=500, load=0.3), "gmp", SimConfig(procs=2, seed=1, cost=CostModel())
    ).netpoll
    assert net is not None
    s = net.summary()
    assert s["replies"] == 500
    assert 0 < s["latency_p50"] <= s["latency_p95"] <= s["latency_p99"]
    assert s["throughput"] > 0
    assert {f.name for f in attrs.fields(NetpollStats)} - {
        "latency",
        "replies",
        "first_arrival",
        "last_reply",
    } <= set(s)
