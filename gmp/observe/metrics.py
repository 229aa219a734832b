"""Prometheus metrics for the scheduler and the HTTP server, through prometheus_client.

:class:`SchedulerCollector` is a custom collector (prometheus_client's ``Collector``
protocol): nothing is counted on the hot path; each scrape reads one ``rt.stats()``
snapshot, as Go's ``runtime/metrics`` is read on demand, and reports:

=================================  =======  ============================================
``gmp_procs``                      gauge    Ps (GOMAXPROCS)
``gmp_p_runqueue{p}``              gauge    Gs in each P's local queue (runnext included)
``gmp_global_runqueue``            gauge    Gs in the global queue
``gmp_idle_procs``                 gauge    Ps on the idle list
``gmp_threads``                    gauge    Ms alive; ``gmp_threads_idle`` parked ones
``gmp_gs_alive``                   gauge    Gs not finished
``gmp_gs_created_total``           counter  Gs ever started
``gmp_steals_total``               counter  successful steals
``gmp_handoffs_total``             counter  sysmon retakes of a P from a blocked M
``gmp_preemptions_total``          counter  time slices that ran out (retakes of hogs)
``gmp_sysmon_retakes_total``       counter  the two above together (Go's ``retake``)
``gmp_spills_total``               counter  local queue overflows to the global queue
``gmp_procs_changes_total``        counter  P-count changes (set_procs, autoscaler)
``gmp_m_crashes_total``            counter  Ms that died of an internal error, replaced
=================================  =======  ============================================

and, when it knows the server, ``gmp_http_inflight``, ``gmp_http_connections_open`` and
``gmp_http_rejected_total`` (503s from backpressure).

The runtime is found at scrape time: the one passed in, else the runtime of the G doing
the scrape (a ``/metrics`` handler), else nothing is reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gmp.errors import NotInGError
from gmp.resilience.breaker import CircuitBreaker, State, StateChange

if TYPE_CHECKING:
    from gmp.http.server import Server
    from gmp.runtime.runtime import Runtime

__all__ = ["BreakerCollector", "SchedulerCollector"]


class SchedulerCollector(Collector):
    """Scheduler (and server) metrics read at scrape time; see the module docstring.

    ``runtime``: a Runtime, or a function returning one (or None); default: the
    scraping G's runtime. ``server``: likewise for the HTTP server; default:
    :func:`gmp.http.current_server` when scraped inside a request.
    """

    def __init__(
        self,
        runtime: Runtime | Callable[[], Runtime | None] | None = None,
        server: Server | Callable[[], Server | None] | None = None,
    ) -> None:
        self._runtime = runtime
        self._server = server

    def _find_runtime(self) -> Runtime | None:
        from gmp.runtime.runtime import Runtime, current_runtime

        rt = self._runtime
        if isinstance(rt, Runtime):
            return rt
        if rt is not None:
            return rt()
        try:
            return current_runtime()
        except (NotInGError, RuntimeError):
            return None

    def _find_server(self) -> Server | None:
        from gmp.http.server import Server, current_server

        srv = self._server
        if isinstance(srv, Server):
            return srv
        if srv is not None:
            return srv()
        return current_server()

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: metrics are known only at scrape time

    def collect(self) -> Iterator[Metric]:
        rt = self._find_runtime()
        if rt is not None:
            yield from _runtime_metrics(rt)
        srv = self._find_server()
        if srv is not None:
            st = srv.stats()
            yield GaugeMetricFamily(
                "gmp_http_inflight", "Handler Gs running or unfinished", value=st.inflight
            )
            yield GaugeMetricFamily(
                "gmp_http_connections_open", "Open client connections", value=st.connections_open
            )
            yield CounterMetricFamily(
                "gmp_http_rejected",
                "Requests answered 503 by backpressure (max_inflight)",
                value=st.rejected,
            )


def _runtime_metrics(rt: Runtime) -> Iterator[Metric]:
    st = rt.stats()
    g: Any = GaugeMetricFamily
    c: Any = CounterMetricFamily
    yield g("gmp_procs", "Ps (logical processors), Go's GOMAXPROCS", value=len(st.procs))
    runq = GaugeMetricFamily("gmp_p_runqueue", "Gs in the P's local run queue", labels=["p"])
    for p in st.procs:
        runq.add_metric([str(p.id)], p.runq)
    yield runq
    yield g("gmp_global_runqueue", "Gs in the global run queue", value=st.global_queue)
    yield g("gmp_idle_procs", "Ps on the idle list", value=st.idle_procs)
    yield g("gmp_threads", "Ms (OS threads) alive", value=st.threads_alive)
    yield g("gmp_threads_idle", "Ms parked without a P", value=st.idle_threads)
    yield g("gmp_gs_alive", "Gs started and not finished", value=st.gs_alive)
    yield c("gmp_gs_created", "Gs ever started", value=st.gs_created)
    yield c("gmp_steals", "Successful work steals between Ps", value=st.steals)
    preemptions = sum(p.preemptions for p in st.procs)
    yield c("gmp_handoffs", "Ps retaken by sysmon from Ms blocked in a call", value=st.handoffs)
    yield c("gmp_preemptions", "Time slices that ran out (hogging Gs)", value=preemptions)
    yield c(
        "gmp_sysmon_retakes",
        "Ps retaken by sysmon (blocked calls and exhausted time slices)",
        value=st.handoffs + preemptions,
    )
    yield c("gmp_spills", "Local run queue overflows to the global queue", value=st.spills)
    yield c("gmp_procs_changes", "Changes of the P count", value=st.procs_changes)
    yield c(
        "gmp_m_crashes", "Ms that died of an internal error and were replaced", value=st.m_crashes
    )


class BreakerCollector(Collector):
    """Circuit breakers' state for Prometheus, read at scrape time, plus transitions.

    ``gmp_breaker_state{breaker,state}`` is 1 for the current state and 0 for the
    others (the usual encoding of an enum); ``gmp_breaker_open`` is 1 while open;
    ``gmp_breaker_rejected_total`` counts fast failures; ``gmp_breaker_transitions_total
    {breaker,from,to}`` counts state changes, recorded by a listener as they happen.
    """

    def __init__(self, breakers: Iterable[CircuitBreaker] = ()) -> None:
        self._lock = threading.Lock()
        self._breakers: list[CircuitBreaker] = []
        self._transitions: dict[tuple[str, str, str], int] = {}
        for b in breakers:
            self.watch(b)

    def watch(self, breaker: CircuitBreaker) -> None:
        """Export ``breaker`` too."""
        with self._lock:
            self._breakers.append(breaker)
        breaker.on_state_change(self._on_change)

    def _on_change(self, change: StateChange) -> None:
        key = (change.breaker, change.from_state.value, change.to_state.value)
        with self._lock:
            self._transitions[key] = self._transitions.get(key, 0) + 1

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            breakers = list(self._breakers)
            transitions = dict(self._transitions)
        state = GaugeMetricFamily(
            "gmp_breaker_state", "1 for the breaker's current state", labels=["breaker", "state"]
        )
        is_open = GaugeMetricFamily("gmp_breaker_open", "1 while open", labels=["breaker"])
        rejected = CounterMetricFamily(
            "gmp_breaker_rejected", "Calls refused while open", labels=["breaker"]
        )
        for b in breakers:
            counts = b.counts()
            for s in State:
                state.add_metric([b.name, s.value], 1.0 if counts.state is s else 0.0)
            is_open.add_metric([b.name], 1.0 if counts.state is State.OPEN else 0.0)
            rejected.add_metric([b.name], counts.rejected)
        trans = CounterMetricFamily(
            "gmp_breaker_transitions", "State changes", labels=["breaker", "from", "to"]
        )
        for (name, frm, to), n in sorted(transitions.items()):
            trans.add_metric([name, frm, to], n)
        yield state
        yield is_open
        yield rejected
        yield trans
