"""The demo service behind `make run`: every endpoint answers, and the process starts,
prints its URL and shuts down cleanly on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest
from http_server_helpers import running

from gmp.demo.service import TodoStore, build_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def demo() -> Iterator[httpx.Client]:
    app = build_app(TodoStore(), api_timeout=0.25)
    with (
        running(app, procs=2) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as client,
    ):
        yield client


def test_index_lists_the_routes(demo: httpx.Client) -> None:
    r = demo.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    for route in ("/api/todos/:id", "/api/fanout", "/debug/sched"):
        assert route in r.text


def test_ping(demo: httpx.Client) -> None:
    assert demo.get("/ping").text == "pong"


def test_todos_crud_and_bad_input(demo: httpx.Client) -> None:
    r = demo.post("/api/todos", json={"title": "write docs", "tags": ["docs"]})
    assert r.status_code == 201
    todo = r.json()
    assert todo["title"] == "write docs" and todo["done"] is False and todo["tags"] == ["docs"]
    assert r.headers["location"] == f"/api/todos/{todo['id']}"
    assert demo.get(f"/api/todos/{todo['id']}").json() == todo
    r = demo.put(f"/api/todos/{todo['id']}", json={"title": "write docs", "done": True})
    assert r.status_code == 200 and r.json()["done"] is True
    assert [t["id"] for t in demo.get("/api/todos", params={"done": "true"}).json()] == [todo["id"]]
    assert todo["id"] not in [t["id"] for t in demo.get("/api/todos?done=false").json()]
    bad = demo.post("/api/todos", json={"title": 5, "colour": "red"})
    assert bad.status_code == 400
    assert bad.json()["fields"] == [
        "$.title: expected a string, got int",
        "$: unknown fields: colour",
    ]
    assert demo.get("/api/todos/abc").status_code == 400
    assert demo.delete(f"/api/todos/{todo['id']}").status_code == 204
    gone = demo.get(f"/api/todos/{todo['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"error": f"no todo with id {todo['id']}"}


def test_cpu_routes(demo: httpx.Client) -> None:
    assert demo.get("/api/primes", params={"limit": 1000}).json()["primes"] == 168
    r = demo.get("/api/hash", params={"mb": 1})
    assert r.json()["sha256"] == "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"
    assert demo.get("/api/primes", params={"limit": 10**9}).status_code == 400


def test_blocking_routes(demo: httpx.Client) -> None:
    r = demo.get("/api/report", params={"rows": 70})
    assert r.json()["total"] == sum(x % 7 for x in range(1, 71))
    assert demo.get("/api/slow", params={"ms": 1}).json() == {"slept_ms": 1}


def test_fanout_gathers_every_g(demo: httpx.Client) -> None:
    r = demo.get("/api/fanout", params={"n": 20, "ms": 1}).json()
    assert r["gs"] == 20 and r["sum"] == sum(i * i for i in range(20))


def test_sched_stats(demo: httpx.Client) -> None:
    s = demo.get("/debug/sched").json()
    assert len(s["runtime"]["procs"]) == 2
    assert s["runtime"]["gs_created"] >= 1
    assert s["server"]["requests"] >= 1
    assert "/debug/sched" in demo.get("/debug/page").text


def test_production_kit_is_on(demo: httpx.Client) -> None:
    r = demo.get("/ping", headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"})
    assert r.headers["x-trace-id"] == "ab" * 16
    assert len(r.headers["x-request-id"]) == 24
    assert "ratelimit-remaining" in {k.lower() for k in r.headers}
    assert demo.get("/livez").status_code == 200
    assert demo.get("/readyz").json()["status"] == "ready"
    assert demo.get("/startupz").status_code == 200
    text = demo.get("/metrics").text
    assert 'gmp_http_requests_total{method="GET",route="/ping",status="200"}' in text
    assert "gmp_p_runqueue{" in text


def test_api_deadline_answers_504(demo: httpx.Client) -> None:
    r = demo.get("/api/slow", params={"ms": 400})
    assert r.status_code == 504
    assert "0.25 s" in r.json()["error"]


def test_make_run_command_serves_and_stops_on_sigint() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gmp.demo", "--port", "0", "--procs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found = threading.Event()
    url: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"url=(http://127\.0\.0\.1:\d+/)", line)
            if m and not url:
                url.append(m.group(1))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(30), f"no URL printed: {lines}"
        assert httpx.get(url[0] + "ping", timeout=10).text == "pong"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert any("request" in line and "/ping" in line for line in lines)
