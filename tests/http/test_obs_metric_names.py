"""/metrics read with prometheus_client's own parser: Prometheus' naming conventions
(prefix, base units, ``_total`` on counters only, help text, no ``_created`` series
doubling the counters), bounded label values
whatever the clients send, and the exposition matching the table in
docs/observability.md series for series, type for type, label for label."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import serving
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gmp.http import Context, Engine
from gmp.http.middleware.metrics import KNOWN_METHODS, UNMATCHED, mount_metrics
from gmp.resilience import CircuitBreaker

pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
PATTERNS = {"/users/:id", "/files/*path", "/metrics"}


def _build() -> Engine:
    app = Engine()
    db = CircuitBreaker("db", failure_ratio=None, consecutive_failures=1)
    mount_metrics(app, breakers=[db, CircuitBreaker("payments")])
    db.allow().failure()  # opens it: one transition to export
    app.get("/users/:id", lambda c: {"id": c.param("id")})
    app.get("/files/*path", lambda c: c.param("path"))

    @app.route("/users/:id", ["PROPFIND"])
    def propfind(c: Context) -> str:
        return "dav"

    return app


@pytest.fixture(scope="module")
def families() -> Iterator[dict[str, tuple[str, str, list[Sample]]]]:
    with serving(_build(), procs=2) as client:
        for i in range(40):
            client.get(f"/users/{i}")
            client.get(f"/files/a/{i}/b")
            client.get(f"/no/such/{i}")
            client.get(f"/{i}")
        assert client.request("PROPFIND", "/users/1").text == "dav"
        text = client.get("/metrics").text
    yield {
        f.name: (f.type, f.documentation, list(f.samples))
        for f in text_string_to_metric_families(text)
    }


def exposed_name(name: str, kind: str) -> str:
    return f"{name}_total" if kind == "counter" else name


def test_names_follow_prometheus_conventions(
    families: dict[str, tuple[str, str, list[Sample]]],
) -> None:
    assert families
    for name, (kind, help_, samples) in families.items():
        assert re.fullmatch(r"gmp_[a-z][a-z0-9_]*[a-z0-9]", name), name
        assert help_.strip(), f"{name} has no help text"
        tokens = set(name.split("_"))
        # base units only, spelled out (promtool's lint reads _m_ or _ms_ as units)
        assert not tokens & {
            "ms",
            "us",
            "ns",
            "m",
            "s",
            "sec",
            "secs",
            "millis",
            "milliseconds",
            "microseconds",
            "minutes",
            "hours",
            "kb",
            "mb",
            "kib",
            "mib",
        }, name
        if kind == "counter":
            assert not name.endswith("_total")  # the parser strips it...
            for s in samples:  # ...and every sample carries it (no _created series)
                assert s.name == f"{name}_total", s.name
        elif kind == "gauge":
            assert not re.search(r"_(total|count|sum|bucket|created)$", name), name
        elif kind == "histogram":
            assert name.endswith("_seconds"), name
            les = {s.labels["le"] for s in samples if s.name.endswith("_bucket")}
            assert "+Inf" in les
        else:
            pytest.fail(f"{name}: unexpected type {kind}")


def test_route_and_method_labels_stay_bounded(
    families: dict[str, tuple[str, str, list[Sample]]],
) -> None:
    _, _, samples = families["gmp_http_requests"]
    routes = {s.labels["route"] for s in samples if s.name.endswith("_total")}
    methods = {s.labels["method"] for s in samples if s.name.endswith("_total")}
    # 160 distinct raw paths were requested
    assert routes == {"/users/:id", "/files/*path", UNMATCHED}
    assert methods == {"GET", "_OTHER"}
    assert methods <= KNOWN_METHODS | {"_OTHER"}
    total = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples
        if s.name.endswith("_total")
    }
    assert total[("GET", UNMATCHED, "404")] == 80
    assert total[("GET", "/users/:id", "200")] == 40
    assert total[("_OTHER", "/users/:id", "200")] == 1
    _, _, durations = families["gmp_http_request_duration_seconds"]
    assert {s.labels["route"] for s in durations} <= PATTERNS | {UNMATCHED}


def documented() -> dict[str, tuple[str, set[str]]]:
    """The series table of docs/observability.md: name -> (type, label names)."""
    rows = re.findall(r"^\| `(gmp_[a-z0-9_]+)` \| (\w+) \|([^|]*)\|", DOC.read_text(), re.M)
    assert rows, "no series table in docs/observability.md"
    return {name: (kind, set(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}


def test_every_series_is_documented_and_every_documented_one_exported(
    families: dict[str, tuple[str, str, list[Sample]]],
) -> None:
    doc = documented()
    exported = {exposed_name(name, kind): kind for name, (kind, _, _) in families.items()}
    assert set(exported) == set(doc), (set(exported) - set(doc), set(doc) - set(exported))
    for name, (kind, _, samples) in families.items():
        doc_kind, doc_labels = doc[exposed_name(name, kind)]
        assert kind == doc_kind, name
        labels = {k for s in samples for k in s.labels if k != "le"}
        assert labels == doc_labels, (name, labels, doc_labels)
