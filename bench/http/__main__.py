"""``python -m bench.http``: gmp.http beside uvicorn, hypercorn, gunicorn, Gin and net/http.

Every server serves /ping, /json and /block (blocks 50 ms) on 127.0.0.1, pinned to CPU 0
with ``taskset``; wrk runs pinned to CPU 1. For each server, in each round:

- ``ping`` and ``json``: ``wrk -c64`` for ``--duration`` s: req/s, p50, p99;
- ``ping32``: ``wrk -c32`` /ping alone (the availability baseline);
- ``avail``: ``wrk -c8`` on /block started first, then ``wrk -c32`` on /ping: /ping's
  req/s (and its ratio to ``ping32``) and p99 while handlers block.

Three gmp rows price the production stack's tracing from the same run: ``gmp-prod``
(no Tracing), ``gmp-prod+trace`` (``Tracing()``: W3C spans, ids in the log lines, no
export) and ``gmp-prod+otel`` (the same with OpenTelemetry export over OTLP/HTTP through
the SDK's batch span processor, to ``bench.http.otlp_sink`` on the client's CPU); the
report gives their req/s ratios and the added µs per request.

The ``idle`` scenario (``--scenario idle``; it runs after the load rounds by default)
prices idle keep-alive connections: ``bench.http.idle`` opens ``--idle-conns`` (10,000)
connections to the server, sends one ``GET /ping`` on each, and reads the server's
``VmRSS`` and ``Threads`` from ``/proc/PID/status`` before and once they are all idle:
KiB per connection and threads at 10k connections, for gmp, uvicorn, Gin and net/http
(or the servers ``--only`` names). The soft ``RLIMIT_NOFILE`` is raised to the hard
limit first, for the client and the servers, which inherit it.

Rounds are interleaved (round 1 of every server, then round 2 ...) so a burst of load
from elsewhere lands on all servers alike; the tables show medians over rounds and the
ratio to uvicorn in the same run. Nothing is asserted; targets print as met / NOT met.
See bench/http/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.http import idle as idle_client
from bench.machine import sample

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY = sys.executable
SERVER_CPU = "0"
CLIENT_CPU = "1"


@dataclass
class Spec:
    name: str
    argv: list[str]  # "{port}" is replaced
    env: dict[str, str] = field(default_factory=dict)
    missing: str | None = None  # why it cannot run here


@dataclass
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _have(module: str) -> bool:
    return (
        subprocess.run([PY, "-c", f"import {module}"], capture_output=True, check=False).returncode
        == 0
    )


def build_go(out: Path) -> dict[str, str | None]:
    """Build the Go servers with Debian's toolchain; returns name -> binary or None."""
    go = shutil.which("go")
    result: dict[str, str | None] = {"go-nethttp": None, "gin": None}
    if go is None:
        return result
    cache = {"GOCACHE": str(out / "gocache"), "GO111MODULE": "off", "GOFLAGS": ""}
    for name, src, gopath in (
        ("go-nethttp", "nethttp", str(out / "gopath")),
        # Gin from Debian's golang-github-gin-gonic-gin-dev (GOPATH mode): the Go module
        # proxy is not reachable from this machine.
        ("gin", "gin", "/usr/share/gocode"),
    ):
        binary = out / name
        r = subprocess.run(
            [go, "build", "-o", str(binary), str(HERE / "go" / src / "main.go")],
            env=dict(os.environ, GOPATH=gopath, **cache),
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode == 0:
            result[name] = str(binary)
        else:
            print(f"[bench.http] building {name} failed:\n{r.stderr.strip()}", file=sys.stderr)
    return result


def _gmp(
    name: str,
    app: str,
    *options: str,
    log: tuple[str, ...] = ("warning",),
    env: dict[str, str] | None = None,
) -> Spec:
    """``python -m gmp.http serve APP`` at procs=1, without the server's access log."""
    argv = [PY, "-m", "gmp.http", "serve", f"bench.http.apps.{app}", *options]
    argv += ["--port", "{port}", "--procs", "1", "--no-access-log"]
    if len(log) == 2:
        argv += ["--log-format", log[0], "--log-level", log[1]]
    else:
        argv += ["--log-level", log[0]]
    return Spec(name, argv, env=dict(env or {}))


GMP_ENGINE = _gmp("gmp-engine", "gmp_engine_app:app")
"""The bare Engine: the production stack's anchor (also ``bench.serve_instructions``')."""

# The production stack logs a JSON line per request, as a service would.
GMP_PROD = _gmp("gmp-prod", "gmp_prod_app:app", log=("json", "info"))


def specs(gobin: dict[str, str | None]) -> list[Spec]:
    apps = "bench.http.apps"
    out = [
        _gmp("gmp", "gmp_app:app"),
        GMP_ENGINE,
        GMP_PROD,
        _gmp(
            "gmp-prod+trace",
            "gmp_prod_trace_app:app",
            log=("json", "info"),
            env={"OTEL_SDK_DISABLED": "true"},
        ),
        _gmp(
            "gmp-prod+otel",
            "gmp_prod_trace_app:app",
            log=("json", "info"),
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{otlp}",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_SERVICE_NAME": "bench",
            },
        ),
        _gmp("gmp+flask", "flask_app:app", "--wsgi"),
        Spec(
            "uvicorn",
            [
                PY,
                "-m",
                "uvicorn",
                f"{apps}.starlette_app:app",
                "--port",
                "{port}",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        ),
        Spec(
            "hypercorn-trio",
            [
                PY,
                "-m",
                "hypercorn",
                "-k",
                "trio",
                "-b",
                "127.0.0.1:{port}",
                "--log-level",
                "warning",
                f"{apps}.starlette_app:app",
            ],
        ),
        Spec(
            "gunicorn+flask",
            [
                PY,
                "-m",
                "gunicorn",
                "-k",
                "gthread",
                "--threads",
                "32",
                "-w",
                "1",
                "-b",
                "127.0.0.1:{port}",
                "--log-level",
                "warning",
                f"{apps}.flask_app:app",
            ],
        ),
    ]
    for name in ("gin", "go-nethttp"):
        binary = gobin.get(name)
        spec = Spec(name, [binary or name, "{port}"], env={"GOMAXPROCS": "1"})
        if binary is None:
            spec.missing = "not built (see stderr)"
        out.append(spec)
    needs = {
        "uvicorn": "uvicorn",
        "hypercorn-trio": "hypercorn",
        "gunicorn+flask": "gunicorn",
        "gmp+flask": "flask",
        "gmp-prod+otel": "opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
    }
    for spec in out:
        mod = needs.get(spec.name)
        if mod and spec.missing is None and not _have(mod):
            spec.missing = f"{mod.split(',')[0]} not installed (pip install -e '.[bench-http]')"
    return out


OTLP_PORT = 0
"""Where ``bench.http.otlp_sink`` listens, once :func:`otlp_sink` started it."""


@contextlib.contextmanager
def otlp_sink() -> Iterator[list[str]]:
    """Run the OTLP/HTTP sink on the client's CPU; yields a list that receives its
    ``requests bytes`` line when it stops."""
    global OTLP_PORT
    OTLP_PORT = _free_port()
    argv = ["taskset", "-c", CLIENT_CPU, PY, "-m", "bench.http.otlp_sink", str(OTLP_PORT)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", OTLP_PORT), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the OTLP sink did not start") from None
            time.sleep(0.05)
    out: list[str] = []
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGTERM)
        text, _ = proc.communicate(timeout=30)
        out.append(text.strip())


@contextlib.contextmanager
def running(spec: Spec) -> Iterator[int]:
    with running_pid(spec) as (port, _):
        yield port


@contextlib.contextmanager
def running_pid(
    spec: Spec, *, wrapper: Sequence[str] = (), start_timeout: float = 30.0
) -> Iterator[tuple[int, int]]:
    """Start a server pinned to the server CPU; yields its port and pid (taskset execs
    the server, so the pid is the server's own). ``wrapper``: a command that execs the
    server in its own process (``valgrind --tool=callgrind ...``)."""
    port = _free_port()
    argv = ["taskset", "-c", SERVER_CPU, *wrapper]
    argv += [a.replace("{port}", str(port)) for a in spec.argv]
    env = {k: v.replace("{otlp}", str(OTLP_PORT)) for k, v in spec.env.items()}
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=dict(os.environ, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{spec.name} exited with {proc.returncode} at start")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{spec.name} did not listen within {start_timeout:g} s"
                    ) from None
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk_start(port: int, path: str, conns: int, duration: float) -> subprocess.Popen[str]:
    argv = [
        "taskset",
        "-c",
        CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "--latency",
        f"http://127.0.0.1:{port}{path}",
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_result(proc: subprocess.Popen[str], timeout: float) -> Wrk:
    out, _ = proc.communicate(timeout=timeout)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    errs = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock_errs = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    n_err = int(errs.group(1)) if errs else 0
    if sock_errs:
        n_err += sum(int(g) for g in sock_errs.groups())
    return Wrk(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), n_err)


def wrk(port: int, path: str, conns: int, duration: float) -> Wrk:
    return wrk_result(wrk_start(port, path, conns, duration), duration + 30)


def measure(spec: Spec, duration: float) -> dict[str, Wrk]:
    res: dict[str, Wrk] = {}
    with running(spec) as port:
        wrk(port, "/ping", 64, 1)  # warm-up (imports, JIT-less caches, Go's GC)
        res["ping"] = wrk(port, "/ping", 64, duration)
        res["json"] = wrk(port, "/json", 64, duration)
        res["ping32"] = wrk(port, "/ping", 32, duration)
        blocker = wrk_start(port, "/block", 8, duration + 2)
        time.sleep(1.0)  # let the blocking load reach steady state first
        res["avail"] = wrk(port, "/ping", 32, duration)
        res["block"] = wrk_result(blocker, duration + 40)
    return res


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def report(
    names: list[str], runs: dict[str, list[dict[str, Wrk]]], missing: dict[str, str]
) -> None:
    def med(name: str, key: str, attr: str) -> float:
        return _median([getattr(r[key], attr) for r in runs.get(name, []) if key in r])

    def fmt(v: float, spec: str) -> str:
        return "-" if v != v else format(v, spec)

    print()
    print(
        f"{'server':16s} {'/ping req/s':>11s} {'p50':>7s} {'p99':>7s} "
        f"{'/json req/s':>11s} {'p50':>7s} {'p99':>7s}   (wrk -c64, medians, ms)"
    )
    for n in names:
        if n in missing:
            print(f"{n:16s} {'-':>11s}   ({missing[n]})")
            continue
        print(
            f"{n:16s} {fmt(med(n, 'ping', 'rps'), ',.0f'):>11s} "
            f"{fmt(med(n, 'ping', 'p50_ms'), '.2f'):>7s} "
            f"{fmt(med(n, 'ping', 'p99_ms'), '.2f'):>7s} "
            f"{fmt(med(n, 'json', 'rps'), ',.0f'):>11s} "
            f"{fmt(med(n, 'json', 'p50_ms'), '.2f'):>7s} "
            f"{fmt(med(n, 'json', 'p99_ms'), '.2f'):>7s}"
        )
    print()
    print(
        f"{'server':16s} {'ping32 req/s':>12s} {'loaded req/s':>12s} {'kept':>6s} "
        f"{'p50':>8s} {'p99':>9s} {'/block req/s':>12s}   "
        "(/ping -c32 while /block -c8 blocks 50 ms)"
    )
    for n in names:
        if n in missing:
            continue
        base, loaded = med(n, "ping32", "rps"), med(n, "avail", "rps")
        kept = _median([r["avail"].rps / r["ping32"].rps for r in runs.get(n, []) if "avail" in r])
        print(
            f"{n:16s} {fmt(base, ',.0f'):>12s} {fmt(loaded, ',.0f'):>12s} "
            f"{fmt(kept * 100, '.0f'):>5s}% {fmt(med(n, 'avail', 'p50_ms'), '.2f'):>8s} "
            f"{fmt(med(n, 'avail', 'p99_ms'), '.2f'):>9s} "
            f"{fmt(med(n, 'block', 'rps'), ',.0f'):>12s}"
        )
    ref = "uvicorn"
    if ref in runs and ref not in missing:
        print()
        print(f"ratios to {ref} in this run (req/s: higher is better; p99: lower is better)")
        for n in names:
            if n in missing or n == ref:
                continue
            r_ping = med(n, "ping", "rps") / med(ref, "ping", "rps")
            r_json = med(n, "json", "rps") / med(ref, "json", "rps")
            r_p99 = med(n, "avail", "p99_ms") / med(ref, "avail", "p99_ms")
            print(
                f"  {n:16s} /ping {r_ping:5.2f}x   /json {r_json:5.2f}x   "
                f"loaded /ping p99 {r_p99:7.4f}x"
            )
    print()
    print("targets (issue 6):")

    def target(label: str, ok: bool | None, detail: str) -> None:
        state = "n/a" if ok is None else ("met" if ok else "NOT met")
        print(f"  {label:58s} {state:8s} {detail}")

    if "gmp" in runs and ref in runs:
        r = med("gmp", "ping", "rps") / med(ref, "ping", "rps")
        target("gmp /ping >= 50% of uvicorn (goal > 100%)", r >= 0.5, f"{r * 100:.0f}%")
    if "gmp" in runs:
        kept = _median([x["avail"].rps / x["ping32"].rps for x in runs["gmp"]])
        p99 = med("gmp", "avail", "p99_ms")
        target(
            "gmp /ping keeps >= 70% of unloaded req/s under blocking",
            kept >= 0.7,
            f"{kept * 100:.0f}%",
        )
        target("gmp /ping p99 <= 10 ms under blocking (goal 5 ms)", p99 <= 10, f"{p99:.2f} ms")
    if "gmp+flask" in runs and "gunicorn+flask" in runs:
        r = med("gmp+flask", "ping", "rps") / med("gunicorn+flask", "ping", "rps")
        better = med("gmp+flask", "ping", "p99_ms") < med("gunicorn+flask", "ping", "p99_ms")
        target(
            "Flask on gmp >= 2x gunicorn-gthread req/s, better p99",
            r >= 2 and better,
            f"{r:.2f}x, p99 {'better' if better else 'worse'}",
        )
    if "gmp-engine" in runs and "gmp" in runs:
        print("targets (issue 7):")
        for key in ("ping", "json"):
            r = med("gmp-engine", key, "rps") / med("gmp", key, "rps")
            target(
                f"framework (Engine, no Logger) /{key} >= 80% of the bare server",
                r >= 0.8,
                f"{r * 100:.0f}%",
            )
    if "gmp-prod" in runs and "gmp-engine" in runs:
        print("targets (issue 8):")
        r = med("gmp-prod", "ping", "rps") / med("gmp-engine", "ping", "rps")
        target("full production stack /ping >= 0.75 of the bare Engine", r >= 0.75, f"{r:.2f}")
    tracing_cost(runs, med)


def tracing_cost(runs: dict[str, list[dict[str, Wrk]]], med: Any) -> None:
    """The tracing rows against the production stack without Tracing, same run.

    The server runs at procs=1 pinned to one CPU and is CPU-bound under wrk -c64, so
    1/req/s is its CPU time per request: the difference of two rows is what the added
    piece costs per request, in µs.
    """
    rows = [n for n in ("gmp-prod", "gmp-prod+trace", "gmp-prod+otel") if runs.get(n)]
    if len(rows) < 2 or "gmp-prod" not in rows:
        return
    print()
    print("tracing cost (issue 16), medians of this run:")
    print(f"  {'row':16s} {'path':6s} {'req/s':>9s} {'x gmp-prod':>10s} {'µs/req added':>13s}")
    for key in ("ping", "json"):
        base = med("gmp-prod", key, "rps")
        for n in rows:
            rps = med(n, key, "rps")
            added = (1 / rps - 1 / base) * 1e6
            print(f"  {n:16s} /{key:5s} {rps:9,.0f} {rps / base:10.3f} {added:+13.1f}")
    if "gmp-prod+trace" in rows and "gmp-prod+otel" in rows:
        for key in ("ping", "json"):
            a, b = med("gmp-prod+trace", key, "rps"), med("gmp-prod+otel", key, "rps")
            print(
                f"  OTel export over Tracing alone, /{key}: x{b / a:.3f}, "
                f"{(1 / b - 1 / a) * 1e6:+.1f} µs/req"
            )


def _rounds(
    args: argparse.Namespace, order: list[Spec], runs: dict[str, list[dict[str, Wrk]]]
) -> None:
    """Interleaved rounds: round 1 of every server, then round 2, each rotated."""
    for rep in range(args.reps):
        rot = order[rep % len(order) :] + order[: rep % len(order)] if order else []
        for spec in rot:
            t0 = time.perf_counter()
            try:
                runs[spec.name].append(measure(spec, args.duration))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"[bench.http] {spec.name} round {rep + 1} failed: {e}", file=sys.stderr)
                continue
            r = runs[spec.name][-1]
            print(
                f"[bench.http] round {rep + 1}/{args.reps} {spec.name:15s} "
                f"ping {r['ping'].rps:8,.0f}  json {r['json'].rps:8,.0f}  "
                f"loaded ping p99 {r['avail'].p99_ms:8.2f} ms  "
                f"({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )


IDLE_SERVERS = ("gmp", "uvicorn", "gin", "go-nethttp")
"""The idle scenario's servers unless ``--only`` names others."""


def idle_spec(spec: Spec, conns: int) -> Spec:
    """The server as the idle scenario runs it: no idle keep-alive timeout closes a
    connection during the measurement, and no connection cap refuses one (Go's servers
    have neither by default)."""
    extra: list[str] = []
    if spec.argv[1:4] == ["-m", "gmp.http", "serve"]:
        extra = ["--keepalive-timeout", "600", "--max-connections", str(conns + 1000)]
    elif spec.name == "uvicorn":
        extra = ["--timeout-keep-alive", "600"]
    elif spec.name == "hypercorn-trio":
        extra = ["--keep-alive", "600"]
    elif spec.name == "gunicorn+flask":
        extra = ["--keep-alive", "600", "--worker-connections", str(conns + 1000)]
    return Spec(spec.name, spec.argv + extra, dict(spec.env), spec.missing)


def measure_idle(spec: Spec, conns: int) -> dict[str, Any]:
    """``bench.http.idle`` on the client's CPU against the server: RSS and threads
    before and at ``conns`` idle keep-alive connections."""
    with running_pid(idle_spec(spec, conns)) as (port, pid):
        argv = ["taskset", "-c", CLIENT_CPU, PY, "-m", "bench.http.idle"]
        r = subprocess.run(
            [*argv, str(port), str(pid), str(conns)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if r.returncode != 0:
        raise RuntimeError(f"bench.http.idle failed: {(r.stderr or r.stdout).strip()[-500:]}")
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def idle_rounds(
    args: argparse.Namespace, order: list[Spec], idle: dict[str, list[dict[str, Any]]]
) -> None:
    """Interleaved and rotated like the load rounds."""
    for rep in range(args.reps):
        rot = order[rep % len(order) :] + order[: rep % len(order)] if order else []
        for spec in rot:
            t0 = time.perf_counter()
            try:
                r = measure_idle(spec, args.idle_conns)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                print(f"[bench.http] idle {spec.name} round {rep + 1} failed: {e}", file=sys.stderr)
                continue
            idle[spec.name].append(r)
            print(
                f"[bench.http] idle round {rep + 1}/{args.reps} {spec.name:15s} "
                f"{r['open']:,} open  {r['kib_per_conn']:6.2f} KiB/conn  "
                f"threads {r['threads_after']}  ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )


def report_idle(
    names: list[str], idle: dict[str, list[dict[str, Any]]], missing: dict[str, str], conns: int
) -> None:
    def med(name: str, key: str) -> float:
        return _median([float(r[key]) for r in idle.get(name, [])])

    def fmt(v: float, spec: str) -> str:
        return "-" if v != v else format(v, spec)

    print()
    print(
        f"{'server':16s} {'open':>7s} {'RSS before':>10s} {'RSS idle':>9s} {'KiB/conn':>9s} "
        f"{'threads':>7s} {'at idle':>7s} {'fds':>7s}   ({conns:,} idle keep-alive "
        "connections, one GET /ping each; medians, RSS in MiB)"
    )
    for n in names:
        if n in missing:
            print(f"{n:16s} {'-':>7s}   ({missing[n]})")
            continue
        if not idle.get(n):
            print(f"{n:16s} {'-':>7s}   (every round failed: see stderr)")
            continue
        print(
            f"{n:16s} {fmt(med(n, 'open'), ',.0f'):>7s} "
            f"{fmt(med(n, 'rss_before_kib') / 1024, '.1f'):>10s} "
            f"{fmt(med(n, 'rss_after_kib') / 1024, '.1f'):>9s} "
            f"{fmt(med(n, 'kib_per_conn'), '.2f'):>9s} "
            f"{fmt(med(n, 'threads_before'), '.0f'):>7s} "
            f"{fmt(med(n, 'threads_after'), '.0f'):>7s} "
            f"{fmt(med(n, 'fds_after'), ',.0f'):>7s}"
        )
        short = [r for r in idle[n] if r["open"] < r["requested"]]
        if short:
            r = short[0]
            print(
                f"{'':16s} only {r['open']:,} of {r['requested']:,} open in a round "
                f"({r['errors']} errors; first: {r['first_error'] or 'closed by the server'})"
            )
    ref = "uvicorn"
    if idle.get(ref):
        print(f"ratios to {ref} in this run (KiB per connection, threads at idle: lower is better)")
        for n in names:
            if n == ref or not idle.get(n):
                continue
            print(
                f"  {n:16s} KiB/conn {med(n, 'kib_per_conn') / med(ref, 'kib_per_conn'):5.2f}x"
                f"   threads {med(n, 'threads_after') / med(ref, 'threads_after'):5.2f}x"
            )


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    ap.add_argument("--reps", type=int, default=3, help="rounds per server (3)")
    ap.add_argument("--only", action="append", help="server name (repeatable)")
    ap.add_argument(
        "--scenario",
        action="append",
        choices=["load", "idle"],
        help="load: the wrk runs; idle: memory and threads at --idle-conns idle keep-alive "
        "connections (repeatable; default both)",
    )
    ap.add_argument(
        "--idle-conns", type=int, default=10_000, help="connections of the idle scenario (10000)"
    )
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 2.0, 1
    scenarios = set(args.scenario or ["load", "idle"])
    for tool in ("wrk", "taskset") if "load" in scenarios else ("taskset",):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install -y wrk (make bench-http does)")
            return 1
    if "idle" in scenarios:
        # Servers and the idle client inherit this: each must hold --idle-conns sockets.
        limit = idle_client.raise_nofile()
        if limit < args.idle_conns + 64:
            print(f"RLIMIT_NOFILE is {limit} (hard): too low for {args.idle_conns} connections")
            return 1
    tmp = Path(tempfile.mkdtemp(prefix="gmp-bench-http-"))
    try:
        built = specs(build_go(tmp))
        all_specs = [s for s in built if s.name in args.only] if args.only else built
        if "load" not in scenarios:
            all_specs = []
        names = [s.name for s in all_specs]
        missing = {s.name: s.missing for s in all_specs if s.missing}
        runs: dict[str, list[dict[str, Wrk]]] = {n: [] for n in names if n not in missing}
        idle_specs = []
        if "idle" in scenarios:
            wanted = args.only or IDLE_SERVERS
            idle_specs = [s for s in built if s.name in wanted]
        idle_names = [s.name for s in idle_specs]
        idle_missing = {s.name: s.missing for s in idle_specs if s.missing}
        idle: dict[str, list[dict[str, Any]]] = {n: [] for n in idle_names if n not in idle_missing}
        before = sample()
        order = [s for s in all_specs if s.missing is None]
        sink_report: list[str] = []
        with contextlib.ExitStack() as stack:
            if any(s.name == "gmp-prod+otel" for s in order):
                sink_report = stack.enter_context(otlp_sink())
            _rounds(args, order, runs)
        idle_rounds(args, [s for s in idle_specs if s.missing is None], idle)
        if sink_report and sink_report[0]:
            requests, nbytes = sink_report[0].split()
            print(
                f"\nOTLP sink: {int(requests):,} export requests, {int(nbytes):,} bytes "
                "(gmp-prod+otel's spans)"
            )
        after = sample()
        if before.busy is not None and after.busy is not None:
            wall = after.wall - before.wall
            other = (after.busy - before.busy - (after.own - before.own)) / wall
            print(
                f"\nother load during the run: ~{max(other, 0):.2f} cores busy outside "
                "this process tree (servers and wrk are children: counted as ours)"
            )
        if names:
            report(names, runs, missing)
        if idle_names:
            report_idle(idle_names, idle, idle_missing, args.idle_conns)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
