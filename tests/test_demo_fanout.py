"""``python -m gmp.demo.fanout``: --help, GMP_DEBUG=schedtrace, and its docstring's claims
(the global queue carries the fan-out, a few steals, a handoff per blocking job) checked
against the trace it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from gmp.demo import fanout

SCHED = re.compile(r"SCHED (\d+)ms: .* runqueue=(\d+) gs=\d+ \[([\d ]+)\]")
JOBS = 2000  # enough to overflow the spawner's local queue many times over


def _demo(*args: str, gmp_debug: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GMP_DEBUG"}
    if gmp_debug is not None:
        env["GMP_DEBUG"] = gmp_debug
    return subprocess.run(
        [sys.executable, "-m", "gmp.demo.fanout", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _field(line: str, name: str) -> int:
    m = re.search(rf"\b{name}=(\d+)", line)
    assert m is not None, f"{name}= missing from {line!r}"
    return int(m.group(1))


def test_help_describes_the_arguments_and_the_trace_setting() -> None:
    proc = _demo("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m gmp.demo.fanout")
    for word in ("jobs", "procs", "--schedtrace", "GMP_DEBUG=schedtrace"):
        assert word in proc.stdout


def test_bad_arguments_get_a_usage_error_not_a_traceback() -> None:
    for args, debug in ((["many"], None), (["10", "0"], None), (["10"], "schedtrace=x")):
        proc = _demo(*args, gmp_debug=debug)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert "usage:" in proc.stderr


def test_schedtrace_interval_comes_from_the_flag_then_gmp_debug_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parser = fanout._parser()
    monkeypatch.delenv("GMP_DEBUG", raising=False)
    assert fanout._schedtrace_ms(parser, None) == fanout.DEFAULT_SCHEDTRACE_MS
    monkeypatch.setenv("GMP_DEBUG", "schedtrace=37")
    assert fanout._schedtrace_ms(parser, None) == 37
    assert fanout._schedtrace_ms(parser, 5) == 5
    monkeypatch.setenv("GMP_DEBUG", "scheddetail=1")
    assert fanout._schedtrace_ms(parser, None) == fanout.DEFAULT_SCHEDTRACE_MS


def test_gmp_debug_schedtrace_zero_turns_the_trace_off() -> None:
    proc = _demo(str(JOBS), "2", gmp_debug="schedtrace=0")
    assert proc.returncode == 0, proc.stderr
    assert "schedtrace_ms=0" in proc.stdout
    assert "SCHED" not in proc.stdout  # the demo's own 200 ms default did not override it
    assert "done" in proc.stdout


def test_the_trace_shows_what_the_docstring_claims() -> None:
    proc = _demo(str(JOBS), "2", gmp_debug="schedtrace=10")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert "schedtrace_ms=10" in out[0]
    trace = [m for m in map(SCHED.search, out) if m is not None]
    assert trace, proc.stdout
    # GMP_DEBUG set the interval: the first line comes long before the 200 ms default.
    assert int(trace[0].group(1)) < fanout.DEFAULT_SCHEDTRACE_MS
    # The global queue carries the fan-out: it holds more than a local ring ever can,
    # while every local queue stays within its ring (256) plus runnext.
    assert max(int(m.group(2)) for m in trace) > 256
    assert all(int(q) <= 257 for m in trace for q in m.group(3).split())
    done = next(line for line in out if line.startswith("done"))
    assert _field(done, "jobs") == JOBS
    assert _field(done, "spills") > 0  # local queue overflows, runqputslow
    assert _field(done, "steals") >= 1  # a few steals, not the main path
    assert _field(done, "stolen") < JOBS // 2
    assert _field(done, "handoffs") >= 1  # every 10th job blocks in gmp.syscall
    assert _field(done, "threads") > 2  # handed-off Ps needed more Ms than Ps
    per_p = [line for line in out if re.match(r"P\d+ ", line)]
    assert len(per_p) == 2
    assert sum(_field(line, "runs") for line in per_p) >= JOBS
