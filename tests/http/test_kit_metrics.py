"""Metrics and /metrics through real HTTP (parsed with prometheus_client's own parser):
exact request counts per route pattern and status, the latency histogram, the scheduler's
and the server's gauges; two engines side by side; and /debug/sched."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_helpers import gmp_threads
from http_server_helpers import running, wait_for
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

import gmp
from gmp.http import ClientDisconnected, Context, Engine, Server
from gmp.http.debug import mount_debug
from gmp.http.middleware.metrics import Metrics, mount_metrics

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

WAIT = 10.0
PROCS = 2

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


parked = threading.Event()
unpark = threading.Event()


def build() -> tuple[Engine, Metrics]:
    app = Engine.default()
    metrics = mount_metrics(app)
    mount_debug(app)
    app.get("/users/:id", lambda c: {"id": c.param("id")})

    @app.get("/async/:id")
    async def _async(c: Context) -> dict[str, Any]:
        await gmp.sleep(0)
        return {"id": c.param("id")}

    @app.get("/created")
    def _created(c: Context) -> None:
        c.json(201, {})

    @app.get("/boom")
    def _boom(c: Context) -> None:
        raise RuntimeError("boom")

    @app.get("/gone")
    def _gone(c: Context) -> None:
        raise ClientDisconnected("the client connection is gone")

    @app.get("/park")
    def _park(c: Context) -> str:
        parked.set()
        unpark.wait(WAIT)
        return "unparked"

    return app, metrics


APP, METRICS = build()


class Served:
    def __init__(self, server: Server, client: httpx.Client) -> None:
        self.server = server
        self.client = client

    def scrape(self) -> Samples:
        return scrape(self.client)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    before = gmp_threads()
    with (
        running(APP, procs=PROCS) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=WAIT) as client,
    ):
        yield Served(server, client)
    wait_for(lambda: not (gmp_threads() - before), what="the server's threads to stop")


def scrape(client: httpx.Client) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def requests_total(samples: Samples, method: str, route: str, status: int) -> float:
    return value(samples, "gmp_http_requests_total", method=method, route=route, status=str(status))


# -- the endpoint ----------------------------------------------------------------------


def test_metrics_content_type_and_format(served):
    r = served.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["gmp_http_requests"].type == "counter"
    assert families["gmp_http_request_duration_seconds"].type == "histogram"
    assert families["gmp_procs"].type == "gauge"
    assert families["gmp_gs_created"].type == "counter"


# -- request counters and the histogram ------------------------------------------------


def test_requests_counted_by_route_pattern_and_status(served):
    client = served.client
    before = served.scrape()
    for path in ("/users/1", "/users/2", "/users/abc"):
        assert client.get(path).status_code == 200
    assert client.get("/async/9").status_code == 200
    assert client.get("/created").status_code == 201
    assert client.get("/created").status_code == 201
    assert client.get("/boom").status_code == 500
    assert client.get("/nope").status_code == 404
    assert client.get("/nope/either").status_code == 404
    assert client.post("/users/1").status_code == 405
    client.get("/gone")  # Recovery: no 500, the access log says 499
    after = served.scrape()

    def delta(method: str, route: str, status: int) -> float:
        return requests_total(after, method, route, status) - requests_total(
            before, method, route, status
        )

    assert delta("GET", "/users/:id", 200) == 3
    assert delta("GET", "/async/:id", 200) == 1
    assert delta("GET", "/created", 201) == 2
    assert delta("GET", "/boom", 500) == 1  # an exception Recovery answered
    assert delta("GET", "<unmatched>", 404) == 2
    assert delta("POST", "<unmatched>", 405) == 1
    assert delta("GET", "/gone", 499) == 1  # as the access log has it, not a 5xx
    assert delta("GET", "/gone", 500) == 0
    assert delta("GET", "/metrics", 200) == 1  # the first scrape, counted once it ended
    routes = {dict(labels)["route"] for labels in series(after, "gmp_http_requests_total")}
    assert not any(r.startswith("/users/") and r != "/users/:id" for r in routes)
    assert "/nope" not in routes

    def hdelta(suffix: str, **labels: str) -> float:
        name = "gmp_http_request_duration_seconds" + suffix
        return value(after, name, **labels) - value(before, name, **labels)

    assert hdelta("_count", method="GET", route="/users/:id") == 3
    assert hdelta("_bucket", method="GET", route="/users/:id", le="+Inf") == 3
    assert hdelta("_count", method="GET", route="<unmatched>") == 2
    assert hdelta("_count", method="POST", route="<unmatched>") == 1
    assert hdelta("_sum", method="GET", route="/users/:id") > 0
    # Buckets are cumulative and end at the count.
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for labels, v in series(after, "gmp_http_request_duration_seconds_bucket").items()
        if dict(labels)["route"] == "/users/:id"
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == value(
        after, "gmp_http_request_duration_seconds_count", method="GET", route="/users/:id"
    )


def test_each_metrics_middleware_has_its_own_registry():
    a, b = Metrics(), Metrics()
    assert a.registry is not b.registry
    # Two on one registry would expose the same series twice: refused, as prometheus_client
    # refuses two Counters of one name.
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(a.registry)


def test_histogram_buckets_follow_prometheus_le_rules():
    """A duration equal to a bound counts in that bound's bucket (``le``: less or equal);
    buckets are cumulative, end with +Inf, and are labelled as prometheus_client labels
    them; a method outside HTTP's set is ``_OTHER``."""
    m = Metrics(buckets=(0.5, 1, 2))
    families = {f.name: f for f in m.registry.collect()}
    assert families["gmp_http_request_duration_seconds"].samples == []

    for seconds, method in ((1.0, "GET"), (0.2, "GET"), (3.0, "BREW")):
        m.observe(method, "/r", 200, seconds)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in m.registry.collect()
        for s in f.samples
    }

    def bucket(method: str, le: str) -> float:
        key = (("le", le), ("method", method), ("route", "/r"))
        return samples[("gmp_http_request_duration_seconds_bucket", key)]

    assert [bucket("GET", le) for le in ("0.5", "1.0", "2.0", "+Inf")] == [1, 2, 2, 2]
    assert [bucket("_OTHER", le) for le in ("0.5", "1.0", "2.0", "+Inf")] == [0, 0, 0, 1]
    counted = (("method", "GET"), ("route", "/r"), ("status", "200"))
    assert samples[("gmp_http_requests_total", counted)] == 2
    with pytest.raises(ValueError, match="distinct"):
        Metrics(buckets=(1, 1.0))


def test_two_engines_in_one_process_do_not_collide(served):
    other = Engine()
    other_metrics = mount_metrics(other, scheduler=False)
    other.get("/users/:id", lambda c: "other")
    other.get("/only-here", lambda c: "here")
    assert other_metrics.registry is not METRICS.registry
    with (
        running(other) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=WAIT) as client,
    ):
        before = served.scrape()
        assert client.get("/only-here").status_code == 200
        assert client.get("/users/5").status_code == 200
        mine = scrape(client)
        after = served.scrape()
    assert requests_total(mine, "GET", "/only-here", 200) == 1
    assert requests_total(mine, "GET", "/users/:id", 200) == 1
    assert "gmp_procs" not in {name for name, _ in mine}  # scheduler=False
    # The first engine's counters did not move for the second's requests.
    assert requests_total(after, "GET", "/only-here", 200) == 0
    assert requests_total(after, "GET", "/users/:id", 200) == requests_total(
        before, "GET", "/users/:id", 200
    )


# -- scheduler and server metrics --------------------------------------------------------


def test_scheduler_metrics_are_plausible(served):
    first = served.scrape()
    base = served.client.base_url
    for i in range(5):
        httpx.get(base.join(f"/users/{i}"))  # a new connection each
    with httpx.Client(base_url=base, timeout=WAIT) as fresh:
        second = scrape(fresh)
    assert value(second, "gmp_procs") == PROCS
    runq = series(second, "gmp_p_runqueue")
    assert sorted(dict(labels)["p"] for labels in runq) == [str(i) for i in range(PROCS)]
    assert all(v >= 0 for v in runq.values())
    # Every connection is a G: the five requests' and the second scrape's.
    assert value(second, "gmp_gs_created_total") >= value(first, "gmp_gs_created_total") + 6
    assert value(second, "gmp_gs_alive") >= 1  # the scrape's own G
    assert value(second, "gmp_threads") >= 1
    assert value(second, "gmp_global_runqueue") >= 0
    assert 0 <= value(second, "gmp_idle_procs") <= PROCS
    for name in (
        "gmp_steals_total",
        "gmp_handoffs_total",
        "gmp_preemptions_total",
        "gmp_sysmon_retakes_total",
        "gmp_spills_total",
        "gmp_procs_changes_total",
        "gmp_threads_crashed_total",
        "gmp_threads_idle",
        "gmp_one_core",
        "gmp_one_core_pins_total",
    ):
        assert (name, ()) in second, name
    assert value(second, "gmp_threads_crashed_total") == 0
    assert value(second, "gmp_sysmon_retakes_total") >= value(second, "gmp_handoffs_total")
    assert value(second, "gmp_http_inflight") == 1  # only the scrape is running
    assert value(second, "gmp_http_connections_open") >= 1
    assert value(second, "gmp_http_rejected_total") == 0


def test_inflight_counts_a_parked_handler(served):
    parked.clear()
    unpark.clear()
    t = threading.Thread(target=lambda: served.client.get("/park"))
    t.start()
    try:
        assert parked.wait(WAIT)
        samples = served.scrape()
        assert value(samples, "gmp_http_inflight") == 2
        assert value(samples, "gmp_http_connections_open") >= 2
    finally:
        unpark.set()
        t.join(WAIT)
    wait_for(lambda: served.server.stats().inflight == 0, what="the parked handler to end")
    assert value(served.scrape(), "gmp_http_inflight") == 1


# -- /debug/sched --------------------------------------------------------------------


def test_debug_sched_json(served):
    served.client.get("/users/1")
    r = served.client.get("/debug/sched")
    assert r.status_code == 200
    body = r.json()
    rt = body["runtime"]
    assert len(rt["procs"]) == PROCS
    assert [p["id"] for p in rt["procs"]] == list(range(PROCS))
    for p in rt["procs"]:
        assert {"status", "runq", "runs", "steals", "handoffs", "preemptions", "timers"} <= set(p)
    assert rt["gs_created"] >= 2
    assert rt["gs_alive"] >= 1
    assert rt["threads_alive"] >= 1
    assert rt["m_crashes"] == 0
    srv = body["server"]
    assert srv["requests"] >= 2
    assert srv["inflight"] == 1
    assert srv["connections_open"] >= 1
    assert srv["rejected"] == 0


def test_debug_sched_schedtrace_line(served):
    r = served.client.get("/debug/sched?format=schedtrace")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    line = r.text
    assert line.endswith("\n")
    assert re.fullmatch(
        rf"SCHED \d+ms: gomaxprocs={PROCS} idleprocs=\d+ threads=\d+ spinningthreads=\d+ "
        r"idlethreads=\d+ runqueue=\d+ gs=\d+ \[\d+ \d+\] steals=\[\d+ \d+\] "
        r"handoffs=\[\d+ \d+\]\n",
        line,
    ), line
