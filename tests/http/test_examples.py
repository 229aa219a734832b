"""Every program in examples/ runs and prints what its docstring promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# example -> (arguments, a pattern every run's stdout must match)
EXPECTED = {
    "worker_pool.py": ([], r"^accepted (\d+), rejected (\d+), done \1$"),
    "pipeline.py": ([], r"^sum of squares 1\.\.1000 = 333833500$"),
    "fanout.py": ([], r"^32 calls of 50 ms: sum 496 in \d+ ms$"),
    "http_service.py": (
        ["--self-test"],
        r"^\(201, \{'id': 1\}\)\n\(200, \{'name': 'gopher', 'qty': 2\}\)\n"
        r"\(404, \{'error': 'no such item'\}\)\n"
        r"\(400, \{'error': 'invalid request body', 'fields': \['\$\.name: expected a string, "
        r"got int'\]\}\)\n200$",
    ),
    "echo_server.py": (
        ["--self-test"],
        r"^(client [012] line [012]\n){9}last words$",
    ),
    "trio_bridge.py": ([], r"^sum 499500; trio ticked [1-9]\d* times while the G blocked$"),
    "simulation.py": (
        [],
        r"^   gmp: p99 latency [\d.]+ ms \(virtual time\)\n"
        r"global: p99 latency [\d.]+ ms \(virtual time\)$",
    ),
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name):
    args, pattern = EXPECTED[name]
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert r.returncode == 0, r.stderr
    assert re.match(pattern, r.stdout.rstrip("\n")), r.stdout
