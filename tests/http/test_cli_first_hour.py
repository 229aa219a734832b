"""The first hour of a new user, through the real `gmp` command and real servers.

Each test is one item a new user runs into: probes that a rate limit must not refuse,
exactly one access line per request, the app's kind detected at startup, one-line
startup errors, --version and --help, --reload, --log-config and worker-named lines.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from engine_helpers import serve
from http_server_helpers import wait_for

from gmp.http import Engine, RateLimit, mount_debug, mount_health, mount_metrics
from gmp.resilience import KeyedLimiter, TokenBucket

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))


def gmp(*args: str, cwd: Path = HERE, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gmp.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


class Proc:
    """A `gmp serve` process; its JSON log lines collected as they come."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"event": "raw", "line": line}
            with self.lock:
                self.lines.append(rec)

    def records(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.lines if r.get("event") == event]

    def port(self) -> int:
        listening = self.records("listening")
        return int(listening[-1]["port"]) if listening else 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.reader.join(10)


@contextmanager
def serving(*args: str, cwd: Path = HERE, listeners: int = 1) -> Iterator[Proc]:
    popen = subprocess.Popen(
        [sys.executable, "-m", "gmp.cli", "serve", *args, "--log-format", "json"],
        cwd=cwd,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    proc = Proc(popen)
    try:
        wait_for(
            lambda: len(proc.records("listening")) >= listeners or popen.poll() is not None,
            timeout=30,
            what="the server to listen",
        )
        assert proc.port(), f"server exited: {proc.lines}"
        yield proc
    finally:
        proc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a rate limit never refuses probes, metrics or debug pages --------------------------


def test_rate_limit_exempts_probes_metrics_and_debug_and_honours_skip_paths():
    app = Engine()
    mount_metrics(app)
    app.use(RateLimit(KeyedLimiter(lambda: TokenBucket(rate=0.001, burst=2)), skip_paths=["/free"]))
    app.get("/ping", lambda c: "pong")
    app.get("/free", lambda c: "free")
    mount_health(app, prefix="/ops")  # a custom prefix: registered as operational too
    mount_debug(app)
    with serve(app) as (_, client):
        codes = [client.get("/ping").status_code for _ in range(5)]
        assert codes == [200, 200, 429, 429, 429]
        for path in ("/ops/livez", "/ops/readyz", "/ops/startupz", "/metrics", "/debug/sched"):
            for _ in range(3):
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code)
                assert "ratelimit-limit" not in r.headers
        assert [client.get("/free").status_code for _ in range(3)] == [200, 200, 200]
        assert client.get("/ping").status_code == 429


def test_rate_limit_can_limit_operational_routes_when_asked():
    app = Engine()
    app.use(RateLimit(TokenBucket(rate=0.001, burst=1), exempt_operational=False))
    mount_health(app)
    with serve(app) as (_, client):
        assert [client.get("/livez").status_code for _ in range(2)] == [200, 429]


def test_skip_paths_must_be_a_list():
    with pytest.raises(TypeError, match="list of paths"):
        RateLimit(TokenBucket(1, 1), skip_paths="/livez")


# -- exactly one access line per request ------------------------------------------------


def test_engine_default_under_gmp_serve_logs_each_request_once_with_its_size():
    with serving("newuser_apps:engine", "--port", "0", "--log-flush-interval", "0") as proc:
        base = f"http://127.0.0.1:{proc.port()}"
        sizes = {}
        for path in ("/d", "/s", "/nope", "/d"):
            r = httpx.get(base + path)
            sizes[path] = len(r.content)
        wait_for(lambda: len(proc.records("request")) >= 4, timeout=10, what="access lines")
        proc.stop()
    lines = proc.records("request")
    assert [line["path"] for line in lines] == ["/d", "/s", "/nope", "/d"]
    for line in lines:
        assert line["bytes"] == sizes[line["path"]], line
        assert line["request_id"]  # the Logger's line, not the server's
    assert lines[2]["status"] == 404
    stamps = [r["timestamp"] for r in proc.lines if "timestamp" in r]
    assert stamps and all(s.endswith("Z") and "T" in s for s in stamps)  # one format


def test_workers_name_themselves_in_every_line():
    with serving(
        "newuser_apps:engine", "--port", "0", "--workers", "2", "--procs", "1", listeners=2
    ) as proc:
        proc.stop()
    named = [r for r in proc.lines if r.get("event") != "raw"]
    assert named and all("worker" in r for r in named), named
    listening = {r["worker"] for r in proc.records("listening")}
    assert listening == {"w1", "w2"}
    assert proc.records("supervising workers")[0]["worker"] == "supervisor"


# -- the app's kind is detected at startup ---------------------------------------------


def test_a_flask_app_without_wsgi_is_served_as_wsgi():
    with serving("newuser_apps:flask_app", "--port", "0") as proc:
        r = httpx.get(f"http://127.0.0.1:{proc.port()}/f")
        assert (r.status_code, r.text) == (200, "from flask")
    assert proc.records("serving a WSGI application (detected; --wsgi is implied)")


@pytest.mark.parametrize(
    ("app", "flag", "message"),
    [
        (
            "newuser_apps:engine",
            "--wsgi",
            "--wsgi given, but newuser_apps:engine is a gmp app (Engine), not WSGI: drop --wsgi",
        ),
        (
            "newuser_apps:handler",
            "--wsgi",
            "--wsgi given, but newuser_apps:handler is a gmp app (function), not WSGI: drop --wsgi",
        ),
        (
            "newuser_apps:asgi_app",
            None,
            "newuser_apps:asgi_app is an ASGI application; gmp serves gmp handlers, "
            "Engines and WSGI apps only (run ASGI apps with uvicorn or hypercorn)",
        ),
        (
            "newuser_apps:not_an_app",
            None,
            "newuser_apps:not_an_app is a int, not an app: point MODULE:APP at an Engine, "
            "a handler function or a WSGI application",
        ),
        (
            "newuser_apps:missing",
            None,
            "module 'newuser_apps' has no attribute 'missing'",
        ),
    ],
)
def test_the_wrong_kind_of_app_is_one_line_at_startup(app, flag, message):
    r = gmp("serve", app, "--port", "0", *([flag] if flag else []))
    assert r.returncode == 2
    assert r.stderr == f"gmp serve: error: {message}\n"


# -- startup errors: one line, plus the user's own traceback ---------------------------


def test_port_in_use_is_one_line():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = gmp("serve", "newuser_apps:engine", "--port", str(port))
    assert r.returncode == 2
    assert r.stderr == (
        f"gmp serve: error: cannot listen on 127.0.0.1:{port}: the address is in use "
        f"(another server has the port); choose another with --port or stop that server\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--procs", "0"], "--procs must be at least 1, got 0"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
        (["--port", "70000"], "--port must be from 0 to 65535 (0: any free port), got 70000"),
        (["--max-inflight", "0"], "--max-inflight must be at least 1, got 0"),
        (["--handoff-after", "0"], "--handoff-after must be more than 0, got 0.0"),
        (
            ["--reload", "--workers", "2"],
            "--reload runs one process: it cannot be used with --workers",
        ),
        (["--log-config", "/nonexistent.json"], "--log-config: no such file: /nonexistent.json"),
    ],
)
def test_bad_settings_are_one_line(args, message):
    r = gmp("serve", "newuser_apps:engine", *args)
    assert r.returncode == 2
    assert r.stderr == f"gmp serve: error: {message}\n"


def test_an_exception_while_importing_the_app_shows_the_users_traceback(tmp_path):
    (tmp_path / "broken.py").write_text(
        "import json\n\ndef setup():\n    return 1 / 0\n\nsetup()\n"
    )
    r = gmp("serve", "broken:app", cwd=tmp_path)
    assert r.returncode == 2
    first, *rest = r.stderr.splitlines()
    assert (
        first == "gmp serve: error: importing 'broken' failed: ZeroDivisionError: division by zero"
    )
    tb = "\n".join(rest)
    assert tb.startswith("Traceback (most recent call last):")
    assert f'File "{tmp_path / "broken.py"}", line 6, in <module>' in tb
    assert "return 1 / 0" in tb
    assert "importlib" not in tb and "gmp/http/cli.py" not in tb


# -- --version, --help ------------------------------------------------------------------


def test_version():
    from gmp._version import __version__

    r = gmp("--version")
    assert r.returncode == 0
    assert r.stdout == f"gmp {__version__} (gmp-runtime)\n"


def test_serve_help_shows_defaults_and_names_engine_apps():
    r = gmp("serve", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())  # argparse wraps lines
    assert "gmp.http.Engine" in text
    assert "--port PORT port (0: any free port) (default: 8000)" in text
    assert "(default: 0.001)" in text.split("--handoff-after HANDOFF_AFTER")[-1][:120]
    assert "--reload" in text and "--log-config FILE" in text
    assert "ASGI" in text and "HTTP/2" in text


# -- --reload and --log-config ----------------------------------------------------------


def test_reload_restarts_the_server_when_the_app_changes(tmp_path):
    pytest.importorskip("watchfiles")
    app_file = tmp_path / "live.py"
    source = "from gmp.http import Engine\napp = Engine()\napp.get('/v', lambda c: {!r})\n"
    app_file.write_text(source.format("v1"))
    port = free_port()
    with serving(
        "live:app", "--port", str(port), "--reload", "--reload-dir", str(tmp_path), cwd=tmp_path
    ) as proc:
        base = f"http://127.0.0.1:{port}/v"
        assert httpx.get(base).text == "v1"
        app_file.write_text(source.format("v2"))

        def reloaded() -> bool:
            try:
                return httpx.get(base, timeout=2).text == "v2"
            except httpx.HTTPError:
                return False  # between the old process and the new one

        wait_for(reloaded, timeout=30, what="the reloaded app")
        assert proc.records("files changed; restarting")


def test_log_config_routes_lines_through_stdlib_logging(tmp_path):
    out = tmp_path / "access.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(name)s %(message)s"},
            "bare": {"format": "%(message)s"},
        },
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(out), "formatter": "plain"},
            "stderr": {"class": "logging.StreamHandler", "formatter": "bare"},
        },
        "loggers": {"gmp.http.access": {"handlers": ["file"], "level": "INFO", "propagate": False}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }
    cfg = tmp_path / "logging.json"
    cfg.write_text(json.dumps(config))
    with serving("newuser_apps:engine", "--port", "0", "--log-config", str(cfg)) as proc:
        assert httpx.get(f"http://127.0.0.1:{proc.port()}/d").status_code == 200
        wait_for(
            lambda: out.exists() and "/d" in out.read_text(),
            timeout=10,
            what="the access line in the configured file",
        )
    (line,) = out.read_text().splitlines()
    name, _, rendered = line.partition(" ")
    assert name == "gmp.http.access"
    assert json.loads(rendered)["path"] == "/d"
    assert not proc.records("request")  # not on stderr: the configuration sent it away
