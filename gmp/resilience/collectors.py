"""Circuit breakers for Prometheus (prometheus_client's custom ``Collector`` protocol).

Lives next to the breaker it reads; ``mount_metrics(app, breakers=[cb])`` registers one,
and a service without HTTP registers it on its own registry the same way.

==========================================  =======  ===================================
``gmp_breaker_state{breaker,state}``        gauge    1 for the current state, else 0
``gmp_breaker_open{breaker}``               gauge    1 while open
``gmp_breaker_rejected_total{breaker}``     counter  calls refused while open
``gmp_breaker_transitions_total``           counter  state changes ``{breaker,from,to}``
==========================================  =======  ===================================

The one-series-per-state encoding of an enum is the usual one (kube-state-metrics'
``kube_pod_status_phase``): ``max by (breaker) (gmp_breaker_state{state="open"})``
graphs it and alerts on it. Labels are bounded by the breakers registered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gmp.resilience.breaker import CircuitBreaker, State, StateChange

__all__ = ["BreakerCollector"]


class BreakerCollector(Collector):
    """Circuit breakers' state read at scrape time, plus transitions recorded by a
    listener as they happen (see the module docstring)."""

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
