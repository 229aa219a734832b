"""Metrics.observe's indexed path against the plain rule it replaces (labels from the
method and route, the series by ``(method, route)``, the bucket by bisection): the same
observations leave the same numbers; and first uses racing from threads agree on one
series with exact counts."""

from __future__ import annotations

import bisect
import math
import threading
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from gmp.http.middleware.metrics import DEFAULT_BUCKETS, KNOWN_METHODS, UNMATCHED, Metrics

BOUNDS = (*map(float, DEFAULT_BUCKETS), math.inf)


def model(
    observations: list[tuple[str, str, int, float]],
) -> dict[tuple[str, str], tuple[dict[int, int], list[int], float]]:
    """What observe must record, computed the plain way."""
    out: dict[tuple[str, str], tuple[dict[int, int], list[int], float]] = {}
    for method, route, status, seconds in observations:
        key = (method if method in KNOWN_METHODS else "_OTHER", route or UNMATCHED)
        statuses, buckets, total = out.get(key, ({}, [0] * len(BOUNDS), 0.0))
        statuses[status] = statuses.get(status, 0) + 1
        buckets[bisect.bisect_left(BOUNDS, seconds)] += 1
        out[key] = (statuses, buckets, total + seconds)
    return out


observations = st.lists(
    st.tuples(
        st.sampled_from(["GET", "POST", "HEAD", "BREW", "get", "PATCH"]),
        st.sampled_from(["/ping", "/users/:id", "", UNMATCHED]),
        st.sampled_from([200, 201, 404, 499, 500]),
        st.one_of(
            st.sampled_from([*BOUNDS, 0.0, -0.0, 1e-7, 0.0005000001, 11.0]),
            st.floats(-1.0, 20.0),
        ),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(observations)
def test_observe_records_what_the_plain_rule_does(obs):
    m = Metrics()
    for o in obs:
        m.observe(*o)
    got = {
        key: (dict(s.statuses), list(s.buckets), s.total) for key, s in sorted(m._series.items())
    }
    assert got == dict(sorted(model(obs).items()))
    # The index holds only known methods, each mapped to its labelled series.
    for route, methods in m._index.items():
        for method, series in methods.items():
            assert method in KNOWN_METHODS
            assert m._series[(method, route or UNMATCHED)] is series


def test_a_nan_duration_counts_as_bisection_puts_it():
    m = Metrics()
    m.observe("GET", "/r", 200, math.nan)
    assert m._series[("GET", "/r")].buckets[0] == 1


def test_first_uses_racing_agree_on_one_series():
    m = Metrics()
    n_threads, per = 8, 2000
    start = threading.Barrier(n_threads)

    def work(k: int) -> None:
        start.wait()
        for i in range(per):
            m.observe(("GET", "POST", "BREW")[i % 3], f"/r{i % 5}", 200 + k % 2, 0.001)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter()
    for (method, route), s in m._series.items():
        counts[method, route] = sum(s.statuses.values())
        assert sum(s.buckets) == counts[method, route]
    assert sum(counts.values()) == n_threads * per
    assert len(counts) == 15  # 3 method labels x 5 routes, no duplicate series
    for route, methods in m._index.items():
        for method, series in methods.items():
            assert m._series[(method, route)] is series
