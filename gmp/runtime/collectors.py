"""Prometheus metrics for the scheduler, read from ``rt.stats()`` at scrape time.

:class:`SchedulerCollector` is a custom collector (prometheus_client's ``Collector``
protocol): nothing is counted on the hot path; each scrape reads one ``rt.stats()``
snapshot, as Go's ``runtime/metrics`` is read on demand. It lives next to the runtime
it reads (the HTTP server's collector is in :mod:`gmp.http.middleware.metrics`, the
circuit breakers' in :mod:`gmp.resilience.collectors`). It reports:

=================================  =======  ============================================
``gmp_procs``                      gauge    Ps (GOMAXPROCS)
``gmp_p_runqueue{p}``              gauge    Gs in each P's local queue (runnext included)
``gmp_p_steals_total{p}``          counter  successful steals each P made
``gmp_p_handoffs_total{p}``        counter  sysmon retakes of each P from a blocked M
``gmp_global_runqueue``            gauge    Gs in the global queue
``gmp_idle_procs``                 gauge    Ps on the idle list
``gmp_threads``                    gauge    Ms alive; ``gmp_threads_idle`` parked ones
``gmp_threads_created_total``      counter  Ms ever started (Go's ``threads``)
``gmp_gs_alive``                   gauge    Gs not finished
``gmp_gs_created_total``           counter  Gs ever started
``gmp_steals_total``               counter  successful steals
``gmp_handoffs_total``             counter  sysmon retakes of a P from a blocked M
``gmp_preemptions_total``          counter  time slices that ran out (retakes of hogs)
``gmp_sysmon_retakes_total``       counter  the two above together (Go's ``retake``)
``gmp_spills_total``               counter  local queue overflows to the global queue
``gmp_procs_changes_total``        counter  P-count changes (set_procs, autoscaler)
``gmp_threads_crashed_total``      counter  Ms that died of an internal error, replaced
``gmp_netpoll_waiters``            gauge    Gs parked on a socket (Go's netpollWaiters)
``gmp_netpoll_fds``                gauge    descriptors registered with the poller
``gmp_netpoll_readied_total``      counter  Gs readied by the network poller
``gmp_one_core``                   gauge    1 while sysmon keeps the Ms on one CPU
``gmp_one_core_pins_total``        counter  times it pinned them (gmp._core.onecore)
``gmp_uptime_seconds``             gauge    time since the runtime started
=================================  =======  ============================================

Label cardinality is bounded by the P count. The runtime is found at scrape time: the
one passed in, else the runtime of the G doing the scrape (a ``/metrics`` handler), else
nothing is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gmp.errors import NotInGError
from gmp.runtime.runtime import Runtime, current_runtime
from gmp.runtime.stats import RuntimeStats

__all__ = ["SchedulerCollector", "scheduler_metrics"]


class SchedulerCollector(Collector):
    """Scheduler metrics read at scrape time; see the module docstring.

    ``runtime``: a Runtime, or a function returning one (or None); default: the
    scraping G's runtime.
    """

    def __init__(self, runtime: Runtime | Callable[[], Runtime | None] | None = None) -> None:
        self._runtime = runtime

    def _find_runtime(self) -> Runtime | None:
        rt = self._runtime
        if isinstance(rt, Runtime):
            return rt
        if rt is not None:
            return rt()
        try:
            return current_runtime()
        except (NotInGError, RuntimeError):
            return None

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: the P labels are known only at scrape time

    def collect(self) -> Iterator[Metric]:
        rt = self._find_runtime()
        if rt is not None:
            yield from scheduler_metrics(rt.stats())


def scheduler_metrics(st: RuntimeStats) -> Iterator[Metric]:
    """The metric families of one stats snapshot (the table in the module docstring)."""
    g: Any = GaugeMetricFamily
    c: Any = CounterMetricFamily
    yield g("gmp_procs", "Ps (logical processors), Go's GOMAXPROCS", value=len(st.procs))
    runq = GaugeMetricFamily("gmp_p_runqueue", "Gs in the P's local run queue", labels=["p"])
    steals = CounterMetricFamily("gmp_p_steals", "Successful steals this P made", labels=["p"])
    handoffs = CounterMetricFamily(
        "gmp_p_handoffs", "Times sysmon retook this P from a blocked M", labels=["p"]
    )
    for p in st.procs:
        label = [str(p.id)]
        runq.add_metric(label, p.runq)
        steals.add_metric(label, p.steals)
        handoffs.add_metric(label, p.handoffs)
    yield runq
    yield steals
    yield handoffs
    yield g("gmp_global_runqueue", "Gs in the global run queue", value=st.global_queue)
    yield g("gmp_idle_procs", "Ps on the idle list", value=st.idle_procs)
    yield g("gmp_threads", "Ms (OS threads) alive", value=st.threads_alive)
    yield g("gmp_threads_idle", "Ms parked without a P", value=st.idle_threads)
    yield c("gmp_threads_created", "Ms (OS threads) ever started", value=st.threads)
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
        "gmp_threads_crashed",
        "Ms that died of an internal error and were replaced",
        value=st.m_crashes,
    )
    yield g("gmp_netpoll_waiters", "Gs parked on a socket", value=st.netpoll_waiters)
    yield g("gmp_netpoll_fds", "Descriptors registered with the poller", value=st.netpoll_fds)
    yield c("gmp_netpoll_readied", "Gs readied by the network poller", value=st.netpoll_readied)
    yield g(
        "gmp_one_core",
        "1 while sysmon keeps the Ms on one CPU (they take turns on the GIL)",
        value=int(st.one_core_cpu is not None),
    )
    yield c("gmp_one_core_pins", "Times sysmon pinned the Ms to one CPU", value=st.one_core_pins)
    yield g("gmp_uptime_seconds", "Time since the runtime started", value=st.uptime_ms / 1000)
