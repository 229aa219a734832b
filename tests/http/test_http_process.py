"""`python -m gmp.http serve` as a real process: real signals, graceful shutdown, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from http_server_helpers import wait_for

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent


class Proc:
    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[dict[str, object]] = []
        self.port = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"event": "raw", "line": line}
            self.lines.append(rec)
            if rec.get("event") == "listening" and not self.port:
                self.port = int(rec["port"])  # type: ignore[arg-type]

    def events(self) -> list[object]:
        return [r.get("event") for r in self.lines]


@contextmanager
def serve(*args: str, app: str = "http_apps:app") -> Iterator[Proc]:
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gmp.http",
            "serve",
            app,
            "--port",
            "0",
            "--log-format",
            "json",
            *args,
        ],
        cwd=HERE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path])),
    )
    proc = Proc(popen)
    try:
        wait_for(
            lambda: proc.port != 0 or popen.poll() is not None,
            timeout=30,
            what="the server to listen",
        )
        assert proc.port, f"server exited: {proc.lines}"
        yield proc
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_request_closes_idle_and_exits_0(tmp_path, sig):
    started, release = tmp_path / "started", tmp_path / "release"
    with serve("--procs", "1", "--shutdown-timeout", "20") as proc:
        base = f"http://127.0.0.1:{proc.port}"
        idle = httpx.Client(base_url=base)
        assert idle.get("/ping").text == "pong"  # an idle keep-alive connection
        result: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: result.append(
                httpx.get(f"{base}/slow?started={started}&release={release}", timeout=30)
            )
        )
        slow.start()
        wait_for(started.exists, timeout=10, what="the slow request to start")
        proc.popen.send_signal(sig)
        wait_for(lambda: "draining" in proc.events(), timeout=10, what="the drain")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/ping", timeout=5)  # not accepting any more
        with pytest.raises(httpx.TransportError):
            idle.get("/ping")  # its idle connection was closed by the drain...
        release.write_text("go")
        slow.join(20)
        assert result and result[0].text == "slow done"  # ...the in-flight one finished
        assert result[0].headers["connection"] == "close"
        assert proc.popen.wait(20) == 0
        idle.close()


def test_access_log_lines_go_through_structlog():
    with serve("--procs", "1") as proc:
        httpx.get(f"http://127.0.0.1:{proc.port}/ping?x=1")
        wait_for(lambda: "request" in proc.events(), what="an access log line")
        (line,) = [r for r in proc.lines if r.get("event") == "request"]
        assert line["method"] == "GET" and line["path"] == "/ping" and line["status"] == 200
        assert line["logger"] == "gmp.http.access" and line["level"] == "info"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0


def test_workers_share_the_port_and_stop_together():
    with serve("--procs", "1", "--workers", "2") as proc:
        wait_for(
            lambda: proc.events().count("listening") == 2, timeout=30, what="both workers listening"
        )
        pids = set()
        for _ in range(40):
            with httpx.Client() as c:  # a new connection each time: the kernel spreads them
                pids.add(c.get(f"http://127.0.0.1:{proc.port}/pid").text)
        assert str(proc.popen.pid) not in pids
        assert 1 <= len(pids) <= 2
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(30) == 0


def test_a_bad_app_path_exits_2_with_a_clear_error():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gmp.http",
            "serve",
            "no_such_module:app",
            "--port",
            "0",
            "--log-format",
            "json",
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr == (
        "gmp serve: error: cannot import module 'no_such_module': no such module "
        f"(looked in {HERE} and sys.path)\n"
    )


def test_serve_wsgi_runs_a_flask_app():
    with serve("--procs", "1", "--wsgi", app="http_flask_app:app") as proc:
        base = f"http://127.0.0.1:{proc.port}"
        assert httpx.get(f"{base}/ping").text == "pong"
        assert httpx.get(f"{base}/json").json()["message"] == "hello"
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(20) == 0
