"""The simulated network poller against the threaded runtime, on an echo service.

The runtime serves 8 loopback connections through gmp.net at procs=2 (sims.echo): a
plain thread sends 400 requests, Poisson at 1000/s, and each server G computes 8 SHA-256
rounds over 64 KiB (about 0.3 ms, the GIL released) and replies. The run's trace (every
request's arrival, connection and measured compute) is replayed by the simulator with
``CostModel.python()``, so both see the same arrivals and the same work. The figures
compared say how requests reached their G: found without any M sleeping in between (in
the buffer by the G's own read, or readied by the poll of an M that was running), by the
M blocked in the poller, or by sysmon; and how many polls readied a G per request. Which
path a request takes depends on where every M and G is when it arrives, so these test
that the simulator makes the runtime's poller decisions (netpoll.block,
poll_before_steal, block_in_poll, sysmon_poll_due, place.inject), not its speed.

Tolerances, from 100 runs of this test's workload on the 2-core development machine: 60
under a load average of 4 to 6 (other sessions' tests and benchmarks), 20 of them with
two busy loops on top, and 40 more with two busy loops on an otherwise quiet machine. The
load stretched the compute, so the runtime's shares ranged widely (found without sleeping
0.23-0.99, blocked poller 0.01-0.79, sysmon 0-0.11, polls per request 0.02-0.83), and the
simulator followed each run; runtime minus simulated was -0.060..+0.145 found without
sleeping (median +0.014), -0.120..+0.033 by the blocked poller, -0.038..+0.070 by sysmon,
-0.208..+0.013 polls per request. The test allows 0.20, 0.20, 0.10 and 0.25; without
busy loops the worst differences were 0.11, 0.11, 0.01 and 0.09. What the simulator does
not see is the OS: a thread that wakes late or is descheduled outside the measured
compute, so that more requests wait in their buffers for one poll in the runtime (the
busy loops push every difference that way). The test still tells a wrong model apart: on
the same trace, a simulator without find_runnable's poll sends 0.26 more of the requests
through the blocked poller, and one without a blocked poller sends 0.36 through sysmon.
(Split further, the boundary between a read finding its request at once and a poll
readying the G moved by up to 0.24 under the busy loops: a race of microseconds, not
asserted.)

Latency is not asserted: the runtime's median was 0.2-3.0x the simulated, and its mean up
to 15x in one run (a thread stalled for tens of milliseconds on the loaded machine, a
burst of requests waiting behind it). It is in the failure message.
"""

from __future__ import annotations

import statistics

import pytest

from sims.echo import paths, runtime_echo, simulate_trace

pytestmark = pytest.mark.threaded

CONNS = 8
REQUESTS = 400
PROCS = 2


def test_echo_requests_reach_their_gs_by_the_same_polls_in_the_runtime_as_simulated() -> None:
    real = runtime_echo(conns=CONNS, n=REQUESTS, rate=1000.0, rounds=8, procs=PROCS, seed=1)
    assert len(real.trace) == REQUESTS
    # Every read found its request at once or parked first (a stale edge may wake a G
    # with nothing to read: it parks again).
    assert REQUESTS - real.net.immediate <= real.net.parks

    sim = simulate_trace(real.trace, CONNS, PROCS).netpoll
    assert sim is not None
    assert sim.replies == REQUESTS
    r, s = paths(real.net), paths(sim)
    lat = (
        f"median latency runtime {statistics.median(real.latency) * 1e3:.3f} ms, "
        f"simulated {statistics.median(sim.latency) * 1e3:.3f} ms"
    )
    report = f"runtime   {r}\nsimulated {s}\n{lat}"

    def no_sleep(x: dict[str, float]) -> float:
        return x["immediate"] + x["poll"]

    assert abs(no_sleep(r) - no_sleep(s)) <= 0.20, report
    assert abs(r["block"] - s["block"]) <= 0.20, report
    assert abs(r["sysmon"] - s["sysmon"]) <= 0.10, report
    assert abs(r["found_per_request"] - s["found_per_request"]) <= 0.25, report
