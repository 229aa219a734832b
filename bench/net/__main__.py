"""``python -m bench.net``: gmp.net's echo beside asyncio streams, uvloop, trio and Go's net.

Every server is a separate process serving echo on 127.0.0.1, one task (or G, or
goroutine) per connection, pinned to CPU 0 with ``taskset``; the load generator runs
pinned to CPU 1. It is ``go/load/main.go`` (stdlib only, built at bench time in GOPATH
mode) when a Go toolchain is present, else ``bench.net.pyload`` (Python, several
processes). For each server, in each round, after a 0.5 s warm-up:

- ``rtt``: one connection, 64-byte ping-pong for ``--duration`` s: round-trip p50, p99;
- ``msgs``: 64 connections, each a 64-byte ping-pong: messages/s (and their p99);
- ``conns``: 16 dialers, each looping connect, send 1 byte, read the echo, close:
  connections/s.

Rounds are interleaved (round 1 of every server, then round 2 ...) and rotated; the
table shows medians over rounds and ratios to asyncio in the same run, with the CPU the
server and the client used (a client near 100% of its CPU while the server is not would
be the bottleneck) and how busy other processes kept the machine. See bench/net/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY = sys.executable
SERVER_CPU = "0"
CLIENT_CPU = "1"
REFERENCE = "asyncio"
RTT_CONNS = 1
MSG_CONNS = 64
DIALERS = 16
WARMUP_S = 0.5


@dataclass
class Spec:
    name: str
    argv: list[str]  # "{port}" is replaced
    env: dict[str, str] = field(default_factory=dict)
    missing: str | None = None  # why it cannot run here


@dataclass
class Load:
    """One run of the load generator against one server."""

    count: int
    errors: int
    elapsed: float
    p50_us: float
    p99_us: float
    server_cpu: float  # CPUs the server used during the run (1.0 = its whole core)
    client_cpu: float  # the same for the load generator
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _have(module: str) -> bool:
    r = subprocess.run([PY, "-c", f"import {module}"], capture_output=True, check=False)
    return r.returncode == 0


def build_go(out: Path) -> tuple[dict[str, str | None], str]:
    """Build the Go echo server and load generator (stdlib only, GOPATH mode: the Go
    module proxy is not needed). Returns name -> binary or None, and why not."""
    go = shutil.which("go")
    built: dict[str, str | None] = {"echo": None, "load": None}
    if go is None:
        return built, "Go toolchain not found (apt-get install golang-go)"
    env = dict(
        os.environ,
        GOPATH=str(out / "gopath"),
        GOCACHE=str(out / "gocache"),
        GO111MODULE="off",
        GOFLAGS="",
    )
    why = ""
    for name in built:
        binary = out / name
        r = subprocess.run(
            [go, "build", "-o", str(binary), str(HERE / "go" / name / "main.go")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode == 0:
            built[name] = str(binary)
        else:
            why = f"go build failed: {r.stderr.strip()}"
            print(f"[bench.net] building {name} failed:\n{r.stderr.strip()}", file=sys.stderr)
    return built, why


def specs(go_echo: str | None, go_missing: str) -> list[Spec]:
    def py(kind: str) -> Spec:
        return Spec(kind, [PY, "-m", "bench.net.servers", kind, "{port}"])

    out = [py("gmp"), py("asyncio"), py("uvloop"), py("trio")]
    go = Spec("go-net", [go_echo or "go-net", "{port}"], env={"GOMAXPROCS": "1"})
    if go_echo is None:
        go.missing = go_missing or "not built (see stderr)"
    out.append(go)
    for spec in out:
        if spec.name in ("uvloop", "trio") and not _have(spec.name):
            spec.missing = f"{spec.name} not installed (pip install -e '.[bench]')"
    return out


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its threads, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def running(spec: Spec) -> Iterator[tuple[int, int]]:
    """Start a server pinned to the server CPU; yields its port and pid."""
    port = _free_port()
    argv = ["taskset", "-c", SERVER_CPU] + [a.replace("{port}", str(port)) for a in spec.argv]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=dict(os.environ, **spec.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"{spec.name} exited with {proc.returncode} at start: {err}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{spec.name} did not listen within 30 s") from None
                time.sleep(0.05)
        yield port, proc.pid  # taskset execs the server: same pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def run_load(
    client: list[str], mode: str, port: int, seconds: float, n: int, server_pid: int
) -> Load:
    argv = ["taskset", "-c", CLIENT_CPU, *client, mode, f"127.0.0.1:{port}", f"{seconds:g}", str(n)]
    srv0, cli0, t0 = _cpu_seconds(server_pid), _children_cpu(), time.perf_counter()
    r = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 90, check=False
    )
    wall = time.perf_counter() - t0
    srv1, cli1 = _cpu_seconds(server_pid), _children_cpu()
    if r.returncode != 0:
        raise RuntimeError(f"load generator {mode} failed ({r.returncode}): {r.stderr.strip()}")
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"load generator output not understood: {r.stdout!r}") from None
    return Load(
        count=int(out["count"]),
        errors=int(out["errors"]),
        elapsed=float(out["elapsed"]),
        p50_us=float(out["p50_us"]),
        p99_us=float(out["p99_us"]),
        server_cpu=(srv1 - srv0) / wall,
        client_cpu=(cli1 - cli0) / wall,
        first_error=str(out.get("first_error", "")),
    )


def measure(spec: Spec, client: list[str], seconds: float) -> dict[str, Load]:
    res: dict[str, Load] = {}
    with running(spec) as (port, pid):
        run_load(client, "msgs", port, WARMUP_S, MSG_CONNS, pid)  # imports, caches, Go's GC
        res["rtt"] = run_load(client, "rtt", port, seconds, RTT_CONNS, pid)
        res["msgs"] = run_load(client, "msgs", port, seconds, MSG_CONNS, pid)
        res["conns"] = run_load(client, "conns", port, seconds, DIALERS, pid)
    return res


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _fmt(v: float, spec: str) -> str:
    return "-" if v != v else format(v, spec)


def report(
    names: list[str], runs: dict[str, list[dict[str, Load]]], missing: dict[str, str]
) -> None:
    def med(name: str, key: str, attr: str) -> float:
        return _median([getattr(r[key], attr) for r in runs.get(name, []) if key in r])

    print()
    print(
        f"{'server':10s} {'rtt p50 µs':>10s} {'p99 µs':>8s} {'msgs/s':>10s} {'p99 µs':>8s} "
        f"{'conns/s':>9s} {'errors':>7s}   (medians; rtt: 1 conn, msgs: {MSG_CONNS} conns, "
        f"conns: {DIALERS} dialers)"
    )
    for n in names:
        if n in missing:
            print(f"{n:10s} {'-':>10s}   ({missing[n]})")
            continue
        errors = sum(r[k].errors for r in runs.get(n, []) for k in r)
        print(
            f"{n:10s} {_fmt(med(n, 'rtt', 'p50_us'), ',.1f'):>10s} "
            f"{_fmt(med(n, 'rtt', 'p99_us'), ',.1f'):>8s} "
            f"{_fmt(med(n, 'msgs', 'rate'), ',.0f'):>10s} "
            f"{_fmt(med(n, 'msgs', 'p99_us'), ',.0f'):>8s} "
            f"{_fmt(med(n, 'conns', 'rate'), ',.0f'):>9s} {errors:>7d}"
        )
    print()
    print(
        f"{'server':10s} {'CPU used by':>11s}  {'rtt':>9s}  {'msgs':>9s}  {'conns':>9s}"
        "   (server / client, in CPUs; each has one)"
    )
    bound: list[str] = []
    for n in names:
        if n in missing or not runs.get(n):
            continue
        cells = []
        for key in ("rtt", "msgs", "conns"):
            s, c = med(n, key, "server_cpu"), med(n, key, "client_cpu")
            cells.append(f"{_fmt(s, '.2f')}/{_fmt(c, '.2f')}")
            if key != "rtt" and c >= 0.9 and s < 0.9:
                bound.append(f"{n} {key}")
        print(f"{n:10s} {'':11s}  {cells[0]:>9s}  {cells[1]:>9s}  {cells[2]:>9s}")
    if bound:
        print(
            "  the client used >= 0.9 of its CPU while the server did not, in: "
            + ", ".join(bound)
            + " (these figures may be the client's limit)"
        )
    ref = REFERENCE
    if runs.get(ref) and ref not in missing:
        print()
        print(f"ratios to {ref} in this run (rtt: lower is better; rates: higher is better)")
        for n in names:
            if n in missing or n == ref or not runs.get(n):
                continue
            r50 = med(n, "rtt", "p50_us") / med(ref, "rtt", "p50_us")
            r99 = med(n, "rtt", "p99_us") / med(ref, "rtt", "p99_us")
            rm = med(n, "msgs", "rate") / med(ref, "msgs", "rate")
            rc = med(n, "conns", "rate") / med(ref, "conns", "rate")
            print(
                f"  {n:10s} rtt p50 {r50:5.2f}x  p99 {r99:5.2f}x   "
                f"msgs/s {rm:5.2f}x   conns/s {rc:5.2f}x"
            )
    for n in names:
        firsts = [r[k].first_error for r in runs.get(n, []) for k in r if r[k].first_error]
        if firsts:
            print(f"  {n}: first error seen: {firsts[0]}")


def _rounds(
    args: argparse.Namespace,
    order: list[Spec],
    client: list[str],
    runs: dict[str, list[dict[str, Load]]],
) -> None:
    """Interleaved rounds: round 1 of every server, then round 2, each rotated."""
    for rep in range(args.reps):
        rot = order[rep % len(order) :] + order[: rep % len(order)] if order else []
        for spec in rot:
            t0 = time.perf_counter()
            try:
                r = measure(spec, client, args.duration)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"[bench.net] {spec.name} round {rep + 1} failed: {e}", file=sys.stderr)
                continue
            runs[spec.name].append(r)
            print(
                f"[bench.net] round {rep + 1}/{args.reps} {spec.name:8s} "
                f"rtt p50 {r['rtt'].p50_us:7.1f} µs  msgs {r['msgs'].rate:9,.0f}/s  "
                f"conns {r['conns'].rate:8,.0f}/s  ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.net", description=__doc__)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per figure (3)")
    ap.add_argument("--reps", type=int, default=3, help="rounds per server (3)")
    ap.add_argument("--only", action="append", help="server name (repeatable)")
    ap.add_argument(
        "--client",
        choices=["auto", "go", "python"],
        default="auto",
        help="load generator: Go when a toolchain is present (auto), or the Python fallback",
    )
    ap.add_argument(
        "--client-procs", type=int, default=4, help="processes of the Python fallback (4)"
    )
    ap.add_argument("--quick", action="store_true", help="1 round of 0.5 s: a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.reps = 0.5, 1
    if shutil.which("taskset") is None:
        print("taskset not found (util-linux)")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="gmp-bench-net-"))
    try:
        gobin, go_missing = build_go(tmp)
        if args.client == "go" and gobin["load"] is None:
            print(f"--client go: the Go load generator is not available ({go_missing})")
            return 1
        if args.client != "python" and gobin["load"] is not None:
            client = [gobin["load"]]
            client_desc = "Go (go/load/main.go, stdlib net, GOMAXPROCS=1)"
        else:
            client = [PY, "-m", "bench.net.pyload", "--procs", str(args.client_procs)]
            client_desc = f"Python fallback (bench.net.pyload, {args.client_procs} processes)"
        all_specs = specs(gobin["echo"], go_missing)
        if args.only:
            all_specs = [s for s in all_specs if s.name in args.only]
        names = [s.name for s in all_specs]
        missing = {s.name: s.missing for s in all_specs if s.missing}
        runs: dict[str, list[dict[str, Load]]] = {n: [] for n in names if n not in missing}
        order = [s for s in all_specs if s.missing is None]
        print(
            f"bench.net: servers on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU}: "
            f"{client_desc}; {args.reps} round(s) x {args.duration:g} s per figure"
        )
        with open("/proc/loadavg") as f:
            print(f"load average before the run: {f.read().split()[0]} (1 min)")
        before = machine.sample()
        _rounds(args, order, client, runs)
        after = machine.sample()
        print(
            f"\nduring the run, {machine.describe(before, after)} "
            "(servers and the load generator are this run's children: counted as ours)"
        )
        report(names, runs, missing)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
