"""Without the ``otel`` extra, Tracing is what it was: nothing of OpenTelemetry is even
looked up unless asked for; asked for by the environment, it warns and serves on; asked
for in code, it says which extra to install. OpenTelemetry is hidden from a fresh
interpreter by a meta-path finder that records every attempt to import it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

HTTP_TESTS = Path(__file__).resolve().parent.parent / "http"

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, os, sys, urllib.request

    attempts = []

    class HideOpenTelemetry(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                attempts.append(name)
                raise ImportError(f"No module named {name!r} (hidden by the test)")
            return None

    sys.meta_path.insert(0, HideOpenTelemetry())
    for k in list(os.environ):
        if k.startswith("OTEL_"):
            del os.environ[k]

    from structlog.testing import capture_logs
    from http_server_helpers import running
    from gmp.http import Engine, Tracing

    out = {}

    def serve(tracing):
        app = Engine()
        app.use(tracing)
        app.get("/ping", lambda c: c.string(200, "pong"))
        with running(app) as server:
            url = f"http://127.0.0.1:{server.port}/ping"
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status, r.headers["x-trace-id"] is not None

    plain = Tracing()
    out["plain"] = {"backend": plain.backend is None, "served": serve(plain),
                    "attempts": list(attempts)}

    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    with capture_logs() as logs:
        env = Tracing()
    out["env"] = {"backend": env.backend is None, "served": serve(env),
                  "warned": [e["event"] for e in logs if e["log_level"] == "warning"],
                  "attempted": bool(attempts)}

    try:
        Tracing(exporter=object())
    except ImportError as e:
        out["explicit"] = str(e)
    out["loaded"] = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    print(json.dumps(out))
    """
)


def test_without_the_extra_nothing_is_imported_and_nothing_changes() -> None:
    import os

    path = os.pathsep.join(p for p in (str(HTTP_TESTS), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=50,
        env={**_base_env(), **env},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["plain"] == {"backend": True, "served": [200, True], "attempts": []}
    assert out["env"]["backend"] is True
    assert out["env"]["served"] == [200, True]
    assert out["env"]["attempted"] is True
    [warning] = out["env"]["warned"]
    assert "pip install 'gmp-runtime[otel]'" in warning
    assert "pip install 'gmp-runtime[otel]'" in out["explicit"]
    assert out["loaded"] == []


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
