"""`gmp serve` watched the way operators watch it: a real Prometheus (Debian's
``prometheus`` package) scrapes its ``/metrics`` every 500 ms while a bounded load runs,
and the series are read back through Prometheus' HTTP API (request rate, latency
quantiles, per-P run queues, steals, handoffs, Gs alive, bounded route labels); every
query of the Grafana dashboards in ``dashboards/`` is rendered against it and must
return data; and the access log's JSON lines carry stable keys and the trace's ids.

Every wait polls a condition with a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import gmp
from gmp.http import (
    Breaker,
    Context,
    Engine,
    Logger,
    RateLimit,
    Recovery,
    RequestID,
    Timeout,
    Tracing,
    mount_metrics,
)
from gmp.resilience import CircuitBreaker, KeyedLimiter, TokenBucket

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
SCRAPE = 0.5
RATE_WINDOW = "3s"
"""What the dashboards' ``$__rate_interval`` becomes here: Grafana's floor is four
scrape intervals (2 s); one more keeps two samples in every window."""
WAIT = 30.0
PROCS = 2
ROUTES = {"/users/:id", "/block", "/fanout", "/limited", "/slow", "/guarded/fail", "/metrics"}

# -- the application `gmp serve` runs (test_obs_serve:app) ----------------------------

dependency = CircuitBreaker("dependency", failure_ratio=None, consecutive_failures=1, cooldown=1)


def _build() -> Engine:
    app = Engine()
    app.use(Tracing(), RequestID(), Logger(), Recovery())
    mount_metrics(app, breakers=[dependency])

    @app.get("/users/:id")
    def user(c: Context) -> dict[str, Any]:
        return {"id": c.param("id")}

    @app.get("/block")
    def block(c: Context) -> str:
        time.sleep(0.02)  # a blocking call: sysmon hands the P on when Gs wait behind it
        return "done"

    @app.get("/fanout")
    async def fanout(c: Context) -> dict[str, int]:
        async def part(i: int) -> int:
            total = sum(range(2000))
            await gmp.sleep(0)
            return total + i

        handles = [gmp.go(part, i) for i in range(16)]  # queued on this P: others steal
        return {"n": len([await h.join() for h in handles])}

    app.get("/limited", RateLimit(KeyedLimiter(lambda: TokenBucket(rate=2, burst=2))), user)

    @app.get("/slow", Timeout(0.01))
    async def slow(c: Context) -> None:
        await gmp.sleep(5)

    @app.get("/guarded/fail", Breaker(dependency))
    def fail(c: Context) -> None:
        c.string(502, "bad gateway")

    return app


app = _build()

# -- helpers -----------------------------------------------------------------------------


def wait_for(cond: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll ``cond()`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A `gmp serve` process; its JSON log lines are collected as they come."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"event": "unparsed", "line": line}
            with self._lock:
                self.raw.append(line)
                self.lines.append(rec)
            if rec.get("event") == "listening" and not self.port:
                self.port = int(rec["port"])

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.lines)


@contextmanager
def gmp_serve() -> Iterator[Served]:
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gmp.http",
            "serve",
            "test_obs_serve:app",
            "--port",
            "0",
            "--procs",
            str(PROCS),
            "--log-format",
            "json",
            "--log-flush-interval",
            "0.05",
        ],
        cwd=HERE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])},
    )
    served = Served(popen)
    try:
        wait_for(lambda: served.port or popen.poll() is not None, "gmp serve to listen")
        assert served.port, f"gmp serve exited: {served.records()}"
        yield served
    finally:
        popen.terminate()
        try:
            popen.wait(20)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)


class Load:
    """A bounded request mix from a few threads: every route, misses under many raw
    paths, a WebDAV method (labelled _OTHER); stops when told, after ``max_seconds`` or
    ``max_requests`` per thread, whichever comes first."""

    PATHS = (
        "/users/{i}",
        "/block",
        "/users/{i}",
        "/fanout",
        "/no/such/{i}",
        "/limited",
        "/slow",
        "/guarded/fail",
    )

    def __init__(self, port: int, threads: int = 3) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.stop = threading.Event()
        self.counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(threads)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(WAIT)

    def _run(self, k: int, max_seconds: float = 90.0, max_requests: int = 50_000) -> None:
        deadline = time.monotonic() + max_seconds
        with httpx.Client(base_url=self.base, timeout=10) as client:
            for n in range(max_requests):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                path = self.PATHS[n % len(self.PATHS)].format(i=(n * 7 + k) % 100)
                method = "PROPFIND" if n % 50 == 49 else "GET"
                try:
                    status = client.request(method, path).status_code
                except httpx.HTTPError:
                    continue  # the server is stopping
                with self._lock:
                    self.counts[status] = self.counts.get(status, 0) + 1


class Prometheus:
    """Debian's prometheus on loopback, scraping ``target`` every ``SCRAPE`` s."""

    def __init__(self, tmp: Path, target: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {int(SCRAPE * 1000)}ms\n"
            f"  scrape_timeout: {int(SCRAPE * 800)}ms\n"
            "scrape_configs:\n"
            "  - job_name: gmp\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.log = (tmp / "prometheus.log").open("w")
        self.popen = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.base, timeout=10)

    def ready(self) -> bool:
        assert self.popen.poll() is None, "prometheus exited; see prometheus.log"
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/query", params={"query": expr})
        body = r.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__")): float(
                s["value"][1]
            )
            for s in self.query(expr)
        }

    def close(self) -> None:
        self.client.close()
        self.popen.terminate()
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        self.log.close()


PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="needs a Prometheus server on PATH: apt-get install prometheus "
    "(Debian's package; `make test` installs it when run as root)",
)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with gmp_serve() as s:
        yield s


@pytest.fixture(scope="module")
def observed(
    served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, Prometheus, Load]]:
    if PROMETHEUS is None:
        pytest.skip("needs prometheus")
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{served.port}")
    try:
        wait_for(prom.ready, "prometheus to be ready")
        with Load(served.port) as load:
            wait_for(lambda: prom.values('up{job="gmp"} == 1'), "a first scrape")
            yield served, prom, load
    finally:
        prom.close()


def finite(values: dict[Any, float]) -> dict[Any, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


def one(values: dict[Any, float]) -> float:
    """The value of a query that must return exactly one series."""
    [value] = values.values()
    return value


# -- Prometheus ---------------------------------------------------------------------------


@needs_prometheus
def test_prometheus_scrapes_gmp_serve(observed: tuple[Served, Prometheus, Load]) -> None:
    _, prom, _ = observed
    [target] = prom.client.get("/api/v1/targets").json()["data"]["activeTargets"]
    assert target["health"] == "up", target["lastError"]
    assert target["lastError"] == ""
    assert prom.values('up{job="gmp"}') == {
        (("instance", target["labels"]["instance"]), ("job", "gmp")): 1.0
    }


@needs_prometheus
def test_request_rate_and_latency_quantiles(observed: tuple[Served, Prometheus, Load]) -> None:
    _, prom, _ = observed
    rate = wait_for(
        lambda: finite(
            prom.values(
                "sum by (route) (rate("
                f'gmp_http_requests_total{{route="/users/:id"}}[{RATE_WINDOW}]))'
            )
        ),
        "a request rate",
    )
    assert one(rate) > 0
    q = (
        "histogram_quantile({}, sum by (le) (rate("
        'gmp_http_request_duration_seconds_bucket{{route="/users/:id"}}[{}])))'
    )
    p50 = wait_for(lambda: finite(prom.values(q.format(0.5, RATE_WINDOW))), "a p50")
    p99 = wait_for(lambda: finite(prom.values(q.format(0.99, RATE_WINDOW))), "a p99")
    assert 0 < one(p50) <= one(p99) <= 10
    # the blocking route's latency is at least its 20 ms sleep
    block = wait_for(
        lambda: finite(
            prom.values(
                "histogram_quantile(0.5, sum by (le) (rate("
                f'gmp_http_request_duration_seconds_bucket{{route="/block"}}[{RATE_WINDOW}])))'
            )
        ),
        "the blocking route's p50",
    )
    assert one(block) >= 0.01


@needs_prometheus
def test_scheduler_series(observed: tuple[Served, Prometheus, Load]) -> None:
    _, prom, _ = observed
    runq = prom.values("gmp_p_runqueue")
    assert sorted(dict(k)["p"] for k in runq) == [str(i) for i in range(PROCS)]
    assert all(v >= 0 for v in runq.values())
    assert prom.values("gmp_procs") and list(prom.values("gmp_procs").values()) == [PROCS]
    assert one(prom.values("gmp_gs_alive")) >= 1
    assert one(prom.values("gmp_global_runqueue")) >= 0
    assert prom.values("gmp_steals_total") and prom.values("rate(gmp_steals_total[3s])")
    assert len(prom.values("gmp_p_steals_total")) == PROCS
    # Blocking handlers with requests queued behind them: sysmon hands their Ps on.
    wait_for(lambda: any(v > 0 for v in prom.values("gmp_handoffs_total").values()), "a handoff")
    created = prom.values(f"rate(gmp_gs_created_total[{RATE_WINDOW}])")
    assert one(created) > 0
    assert one(prom.values("gmp_threads")) >= 1


@needs_prometheus
def test_route_labels_stay_bounded(observed: tuple[Served, Prometheus, Load]) -> None:
    _, prom, _ = observed
    wait_for(
        lambda: prom.values('gmp_http_requests_total{route="<unmatched>", method="_OTHER"}'),
        "an unknown method counted",
    )
    routes = {dict(k)["route"] for k in prom.values("gmp_http_requests_total")}
    assert routes <= {*ROUTES, "<unmatched>"}, routes
    assert {"/users/:id", "<unmatched>"} <= routes
    methods = {dict(k)["method"] for k in prom.values("gmp_http_requests_total")}
    assert methods <= {"GET", "_OTHER"}
    # a hundred raw user paths and a hundred misses were requested, yet:
    series = prom.values("count(gmp_http_requests_total)")
    assert one(series) <= len(ROUTES) * 4 + 8


@needs_prometheus
def test_promtool_accepts_the_exposition(observed: tuple[Served, Prometheus, Load]) -> None:
    served, _, _ = observed
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    text = httpx.get(f"http://127.0.0.1:{served.port}/metrics", timeout=10).text
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((path.name, f"{panel['title']} [{target['refId']}]", target["expr"]))
    return out


def render(expr: str) -> str:
    """A dashboard query as Grafana would send it with every job and instance chosen."""
    return (
        expr.replace("$__rate_interval", RATE_WINDOW)
        .replace("$job", ".*")
        .replace("$instance", ".*")
    )


def test_dashboards_have_queries() -> None:
    queries = dashboard_queries()
    assert DASHBOARDS and len(queries) >= 10
    for _, _, expr in queries:
        assert "$" not in render(expr), expr


@needs_prometheus
@pytest.mark.parametrize(("board", "panel", "expr"), dashboard_queries())
def test_every_dashboard_query_returns_data(
    observed: tuple[Served, Prometheus, Load], board: str, panel: str, expr: str
) -> None:
    _, prom, _ = observed
    got = wait_for(lambda: finite(prom.values(render(expr))), f"{board}: {panel} to return data")
    assert got


@needs_prometheus
def test_dashboard_variables_find_the_target(observed: tuple[Served, Prometheus, Load]) -> None:
    _, prom, _ = observed
    for path in DASHBOARDS:
        for var in json.loads(path.read_text())["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
            assert m, var["query"]
            selector = m.group(1).replace("$job", ".*")
            r = prom.client.get(f"/api/v1/label/{m.group(2)}/values", params={"match[]": selector})
            assert r.json()["data"], (path.name, var["name"])


# -- the access line ---------------------------------------------------------------------

ACCESS_KEYS = {
    "timestamp",
    "level",
    "logger",
    "event",
    "method",
    "path",
    "route",
    "status",
    "ms",
    "bytes",
    "client",
    "request_id",
    "trace_id",
    "span_id",
}


def test_access_lines_are_json_with_stable_keys_and_trace_ids(served: Served) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=10) as client:
        ok = client.get("/users/42?x=1", headers={"traceparent": parent, "x-request-id": "obs-1"})
        miss = client.get("/no/such/page", headers={"x-request-id": "obs-2"})
    assert ok.status_code == 200 and miss.status_code == 404

    def access(rid: str) -> list[dict[str, Any]]:
        return [
            r
            for r in served.records()
            if r.get("logger") == "gmp.http.access" and r.get("request_id") == rid
        ]

    [line] = wait_for(lambda: access("obs-1"), "the access line")
    [missed] = wait_for(lambda: access("obs-2"), "the miss's access line")
    for rec in (line, missed):
        assert set(rec) == ACCESS_KEYS, sorted(set(rec) ^ ACCESS_KEYS)
    span = ok.headers["traceresponse"].split("-")
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" == span[1]
    assert line["span_id"] == span[2]
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET",
        "/users/42",
        "/users/:id",
        200,
    )
    assert missed["route"] == "" and missed["status"] == 404 and missed["level"] == "warning"
    assert missed["trace_id"] == miss.headers["x-trace-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    # one JSON object per line: every line the server wrote parsed
    assert not [r for r in served.records() if r.get("event") == "unparsed"]
