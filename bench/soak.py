"""``python -m bench.soak``: a bounded soak of ``gmp serve`` under mixed load.

    make soak                                                  # 5 minutes, holds the lock
    flock /tmp/gmp-bench.lock .venv/bin/python -m bench.soak   # the same, by hand
    .venv/bin/python -m bench.soak --duration 30               # a short run

The server runs as a subprocess, ``python -m gmp.http serve bench.soak_app:app`` on
127.0.0.1, and this script talks to it over raw sockets only: it knows the command line
and HTTP on the wire, nothing of the server's insides. Client threads of these kinds run
at once:

- ``ping``: keep-alive ``GET /ping`` in a loop; ``ping-new``: a new connection per
  request (``Connection: close``); ``block``: keep-alive ``GET /block``, a plain ``def``
  handler sleeping 50 ms; ``stream``: keep-alive ``GET /stream``, chunks with pauses
  between them; each keep-alive connection ends with a ``Connection: close`` request;
- ``slow``: a request sent a few bytes at a time, its answer read a few bytes at a time,
  on any of the three routes, one to four per connection;
- ``drop-idle`` (connect, close), ``drop-half`` (half a request, close) and ``drop-mid``
  (close while /block runs or while /stream is being sent); half close with a reset;
- ``ping (wrk)``: with ``wrk`` on the PATH, ``wrk -t1 -c8`` on /ping through the soak
  phase, one run per sample (``--no-wrk`` leaves it out).

Phases: (1) the server starts and is sampled idle; (2) ``--duration`` seconds of mixed
load, the server's RSS, open descriptors and threads read from ``/proc/<pid>`` every
``--interval`` seconds; (3) the clients stop and the server is sampled idle again once
its descriptor count settles: the descriptor leak check compares the two idle samples,
so connections open at the moment of a sample do not count; (4) the load starts again
and after ``--sigterm-after`` seconds the server gets SIGTERM while it runs. A request
whose first bytes were in the server's socket before the signal is in flight: graceful
shutdown must answer it in full (with ``Connection: close``) before the process exits.

A failure is a connection error, a timeout, an early close, or a status or body other
than the expected one, for a request the client carried out normally; the deliberate
drops are not failures, and neither are requests begun after the signal (refused once
the server stops listening). Exit status: 1 if a request failed, a request in flight at
SIGTERM was lost, an answer begun well after SIGTERM kept the connection alive, the idle
descriptor count grew by more than ``--fd-bound``, or the server did not exit 0 by
itself; 2 when the server cannot be started; 3 when the hard bound (``--duration`` +
60 s of wall-clock time) passed, after killing the server. Nothing here runs in
``make test``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.soak_app import BLOCKED, PONG, STREAM_BODY

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
APP = "bench.soak_app:app"
HOST = "127.0.0.1"
EXPECTED = {"/ping": PONG, "/block": BLOCKED, "/stream": STREAM_BODY}
HARD_MARGIN = 60.0
"""Seconds of wall-clock time past ``--duration`` after which everything is killed."""
LATE = 0.25
"""An answer whose head arrives this long after SIGTERM was written after the shutdown
began, so it must say ``Connection: close``."""

_children: list[subprocess.Popen[bytes]] = []
"""Processes to kill if the hard bound passes (the server, a running wrk)."""


def say(text: str) -> None:
    """Progress, on stderr (the report goes to stdout)."""
    print(f"[soak] {text}", file=sys.stderr, flush=True)


# -- the record of every request ------------------------------------------------------


class Failed(Exception):
    """A request did not get the answer it should have; ``reason`` says how, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Attempt:
    """One request (or one deliberate drop) from a client thread; times are monotonic."""

    kind: str
    path: str
    started: float
    sent_at: float | None = None  # the first bytes were in the kernel (send returned)
    head_at: float | None = None  # the response head was parsed
    ended: float = 0.0
    status: int | None = None
    conn_close: bool = False  # the answer said Connection: close
    received: int = 0  # response bytes received
    new_conn: bool = False  # the first request on its connection
    outcome: str = ""  # "ok", "failed" or "dropped" (deliberately)
    reason: str = ""


@dataclass(slots=True)
class KindTally:
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class Tally:
    """Outcomes by kind, and what happened to requests around the SIGTERM."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: dict[str, KindTally] = {}
        self.t0 = time.monotonic()  # when the load began
        self.kill_at: float | None = None  # set just before SIGTERM is sent
        self.first_failures: list[Attempt] = []
        # requests sent before SIGTERM whose outcome came after it, by kind
        self.in_flight: Counter[str] = Counter()
        self.drained: Counter[str] = Counter()
        self.drained_close = 0
        self.in_flight_dropped = 0  # drop-mid clients that closed on purpose
        self.kept_alive: list[Attempt] = []
        self.lost: list[Attempt] = []
        self.after: Counter[str] = Counter()  # requests begun after SIGTERM, by outcome

    def kind(self, kind: str) -> KindTally:
        t = self.kinds.get(kind)
        if t is None:
            t = self.kinds[kind] = KindTally()
        return t

    def add(self, a: Attempt) -> None:
        kill = self.kill_at
        with self.lock:
            if kill is not None and a.ended >= kill:
                if a.sent_at is None or a.sent_at >= kill:
                    self.after[a.outcome if a.outcome != "failed" else a.reason] += 1
                    return
                self.in_flight[a.kind] += 1
                if a.outcome == "failed":
                    self.lost.append(a)
                    return
                if a.outcome == "dropped":
                    self.in_flight_dropped += 1
                elif a.outcome == "ok":
                    self.drained[a.kind] += 1
                    if a.conn_close:
                        self.drained_close += 1
                    elif a.head_at is not None and a.head_at > kill + LATE:
                        self.kept_alive.append(a)
            t = self.kind(a.kind)
            if a.outcome == "ok":
                t.ok += 1
            elif a.outcome == "dropped":
                t.dropped += 1
            else:
                t.failed += 1
                t.reasons[a.reason] += 1
                if len(self.first_failures) < 10:
                    self.first_failures.append(a)

    def add_counts(self, kind: str, ok: int, failed: Counter[str]) -> None:
        with self.lock:
            t = self.kind(kind)
            t.ok += ok
            t.failed += sum(failed.values())
            t.reasons.update(failed)

    def totals(self) -> tuple[int, int]:
        with self.lock:
            return (
                sum(t.ok for t in self.kinds.values()),
                sum(t.failed for t in self.kinds.values()),
            )


def _os_reason(e: OSError) -> str:
    if isinstance(e, TimeoutError):
        return "timeout"
    if e.errno is not None:
        return errno.errorcode.get(e.errno, f"errno {e.errno}")
    return type(e).__name__


# -- a raw HTTP/1.1 client --------------------------------------------------------------


def request_bytes(path: str, *, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: gmp-soak\r\n{extra}\r\n".encode()


class Client:
    """One connection over a blocking socket. ``slow`` sends 2-8 bytes at a time with
    5-20 ms between them and reads 8-48 bytes at a time with 1-6 ms between reads."""

    def __init__(self, port: int, timeout: float, rng: random.Random, *, slow: bool) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.rng = rng
        self.slow = slow
        self.buf = bytearray()
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self, *, reset: bool = False) -> None:
        if reset:  # SO_LINGER 0: close sends RST instead of FIN
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def send(self, a: Attempt, data: bytes) -> None:
        """Send ``data``; ``a.sent_at`` is when the first bytes were in the kernel."""
        if not self.slow:
            self.sock.sendall(data)
            a.sent_at = time.monotonic()
            return
        i = 0
        while i < len(data):
            n = self.rng.randint(2, 8)
            self.sock.sendall(data[i : i + n])
            if a.sent_at is None:
                a.sent_at = time.monotonic()
            i += n
            if i < len(data):
                time.sleep(self.rng.uniform(0.005, 0.02))

    def _fill(self, a: Attempt) -> bool:
        data = self.sock.recv(self.rng.randint(8, 48) if self.slow else 65536)
        if not data:
            return False
        self.buf += data
        a.received += len(data)
        if self.slow:
            time.sleep(self.rng.uniform(0.001, 0.006))
        return True

    def _need(self, a: Attempt) -> None:
        if not self._fill(a):
            raise Failed("closed mid-response" if a.received else "closed before any answer")

    def _line(self, a: Attempt) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > 4096:
                raise Failed("chunk size line too long")
            self._need(a)
        line = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return line

    def _exact(self, a: Attempt, n: int) -> bytes:
        while len(self.buf) < n:
            self._need(a)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self, a: Attempt) -> dict[str, str]:
        """Read and parse the status line and headers into ``a``; returns the headers."""
        while (i := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > 65536:
                raise Failed("response head too long")
            self._need(a)
        lines = bytes(self.buf[:i]).decode("latin-1").split("\r\n")
        del self.buf[: i + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Failed("malformed status line")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise Failed("malformed header line")
            headers[name.strip().lower()] = value.strip()
        a.head_at = time.monotonic()
        a.status = int(parts[1])
        a.conn_close = "close" in headers.get("connection", "").lower()
        return headers

    def read_body(self, a: Attempt, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                try:
                    size = int(self._line(a).split(b";")[0], 16)
                except ValueError:
                    raise Failed("bad chunk size") from None
                if size == 0:
                    while self._line(a):  # trailers, up to the empty line
                        pass
                    return bytes(body)
                body += self._exact(a, size)
                if self._exact(a, 2) != b"\r\n":
                    raise Failed("bad chunk framing")
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise Failed("bad Content-Length") from None
            return self._exact(a, length)
        while self._fill(a):  # delimited by the close
            pass
        rest = bytes(self.buf)
        self.buf.clear()
        return rest

    def exchange(self, a: Attempt, *, close: bool = False) -> None:
        """One request and its whole answer, checked against the app's constants."""
        self.send(a, request_bytes(a.path, close=close))
        headers = self.read_head(a)
        body = self.read_body(a, headers)
        if a.status != 200:
            raise Failed(f"status {a.status}")
        if body != EXPECTED[a.path]:
            raise Failed(f"wrong body on {a.path} ({len(body)} bytes)")


# -- client behaviours --------------------------------------------------------------------


@dataclass
class Ctx:
    port: int
    tally: Tally
    stop: threading.Event
    timeout: float = 5.0


class Behaviour:
    """What one client thread does, one attempt at a time."""

    def __init__(self, ctx: Ctx, rng: random.Random) -> None:
        self.ctx = ctx
        self.rng = rng

    def next(self) -> Attempt:
        raise NotImplementedError

    def step(self, a: Attempt) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the connection (after a failure, or at the end)."""


class KeepAlive(Behaviour):
    """Requests on one connection after another; the last on each says Connection: close."""

    def __init__(
        self,
        ctx: Ctx,
        rng: random.Random,
        kind: str,
        paths: Sequence[str],
        per_conn: tuple[int, int],
        *,
        slow: bool = False,
    ) -> None:
        super().__init__(ctx, rng)
        self.kind = kind
        self.paths = paths
        self.per_conn = per_conn
        self.slow = slow
        self.client: Client | None = None
        self.left = 0

    def next(self) -> Attempt:
        return Attempt(self.kind, self.rng.choice(self.paths), time.monotonic())

    def step(self, a: Attempt) -> None:
        if self.client is None:
            a.new_conn = True
            self.client = Client(self.ctx.port, self.ctx.timeout, self.rng, slow=self.slow)
            self.left = self.rng.randint(*self.per_conn)
        self.left -= 1
        self.client.exchange(a, close=self.left <= 0)
        if a.conn_close:
            self.reset()

    def reset(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class NewConnection(Behaviour):
    """``GET /ping`` with Connection: close on a new connection each time."""

    def next(self) -> Attempt:
        return Attempt("ping-new", "/ping", time.monotonic())

    def step(self, a: Attempt) -> None:
        a.new_conn = True
        client = Client(self.ctx.port, self.ctx.timeout, self.rng, slow=False)
        try:
            client.exchange(a, close=True)
        finally:
            client.close()


class Drop(Behaviour):
    """Connections opened and dropped: with no request, after half a request, or in the
    middle of an answer (while /block runs, or after the head of /stream)."""

    def next(self) -> Attempt:
        kind = self.rng.choice(("drop-idle", "drop-half", "drop-mid"))
        path = self.rng.choice(("/block", "/stream")) if kind == "drop-mid" else "/ping"
        return Attempt(kind, path, time.monotonic())

    def step(self, a: Attempt) -> None:
        rng = self.rng
        a.new_conn = True
        client = Client(self.ctx.port, self.ctx.timeout, rng, slow=False)
        try:
            if a.kind == "drop-idle":
                time.sleep(rng.uniform(0, 0.02))
            elif a.kind == "drop-half":
                data = request_bytes(a.path)
                client.sock.sendall(data[: rng.randint(1, len(data) - 1)])
                time.sleep(rng.uniform(0, 0.02))
            elif a.path == "/stream":
                client.send(a, request_bytes(a.path))
                client.read_head(a)
                if a.status != 200:
                    raise Failed(f"status {a.status}")
            else:
                client.send(a, request_bytes(a.path))
                time.sleep(rng.uniform(0, 0.03))  # the 50 ms handler is still running
            a.outcome = "dropped"
        finally:
            client.close(reset=rng.random() < 0.5)


MIX: list[tuple[int, Callable[[Ctx, random.Random], Behaviour]]] = [
    (3, lambda c, r: KeepAlive(c, r, "ping", ["/ping"], (200, 1000))),
    (1, NewConnection),
    (4, lambda c, r: KeepAlive(c, r, "block", ["/block"], (20, 100))),
    (2, lambda c, r: KeepAlive(c, r, "stream", ["/stream"], (20, 100))),
    (4, lambda c, r: KeepAlive(c, r, "slow", ["/ping", "/block", "/stream"], (1, 4), slow=True)),
    (2, Drop),
]
"""(threads, behaviour) of the mixed load."""


def _run_client(ctx: Ctx, behaviour: Behaviour) -> None:
    while not ctx.stop.is_set():
        a = behaviour.next()
        try:
            behaviour.step(a)
            if not a.outcome:
                a.outcome = "ok"
        except Failed as e:
            a.outcome, a.reason = "failed", e.reason
        except OSError as e:
            a.outcome, a.reason = "failed", _os_reason(e)
        a.ended = time.monotonic()
        ctx.tally.add(a)
        if a.outcome == "failed":
            behaviour.reset()
            # after SIGTERM connections are refused at once: do not spin
            time.sleep(0.01 if ctx.tally.kill_at is not None else 0.05)
    behaviour.reset()


def start_clients(ctx: Ctx, seed: int) -> list[threading.Thread]:
    threads = []
    n = 0
    for count, make in MIX:
        for _ in range(count):
            n += 1
            behaviour = make(ctx, random.Random(seed * 1000 + n))
            t = threading.Thread(
                target=_run_client, args=(ctx, behaviour), name=f"soak-{n}", daemon=True
            )
            t.start()
            threads.append(t)
    return threads


def stop_clients(ctx: Ctx, threads: list[threading.Thread]) -> None:
    ctx.stop.set()
    deadline = time.monotonic() + ctx.timeout + 3
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        say(f"client threads still running after {ctx.timeout + 3:.0f} s: {stuck}")


# -- wrk, for the fast path ---------------------------------------------------------------


def run_wrk(wrk: str, port: int, seconds: int, conns: int, tally: Tally) -> None:
    """One ``wrk`` run on /ping; its counts go to the ``ping (wrk)`` kind."""
    argv = [wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s"]
    argv.append(f"http://{HOST}:{port}/ping")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _children.append(proc)
    try:
        out, _ = proc.communicate(timeout=seconds + 20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    finally:
        _children.remove(proc)
    text = out.decode(errors="replace")
    done = re.search(r"(\d+) requests in", text)
    failed: Counter[str] = Counter()
    if done is None:
        failed["wrk output not understood"] += 1
        say(f"wrk output not understood:\n{text}")
        tally.add_counts("ping (wrk)", 0, failed)
        return
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non2xx:
        failed["non-2xx status"] += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            if int(value):
                failed[f"socket error: {name}"] += int(value)
    tally.add_counts("ping (wrk)", int(done.group(1)) - sum(failed.values()), failed)


# -- the server process and /proc -------------------------------------------------------


@dataclass
class Sample:
    t: float  # seconds since the load began
    phase: str
    rss_mib: float
    fds: int
    threads: int
    ok: int
    failed: int


def proc_stats(pid: int) -> tuple[float, int, int]:
    """RSS in MiB, open descriptors and threads of ``pid``, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
    if rss is None or threads is None:
        raise RuntimeError(f"/proc/{pid}/status without VmRSS or Threads")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(rss.group(1)) / 1024, fds, int(threads.group(1))


class ServerGone(Exception):
    """The server process exited when it should not have."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(
    procs: int, port: int, extra: list[str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    argv = [PY, "-m", "gmp.http", "serve", APP, "--host", HOST, "--port", str(port)]
    argv += ["--procs", str(procs), "--no-access-log", "--log-level", "warning", *extra]
    say("starting: " + " ".join(argv[1:]))
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C in the terminal is ours; we signal the server
    )
    _children.append(proc)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} at start")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not listen within 15 s") from None
            time.sleep(0.05)


def settle_fds(pid: int, target: int | None, limit: float) -> int:
    """Wait until the descriptor count is at most ``target`` or unchanged for 1.5 s
    (connections the clients closed are closed by the server too); returns it."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while True:
        fds = proc_stats(pid)[1]
        now = time.monotonic()
        if target is not None and fds <= target:
            return fds
        if fds != last:
            last, since = fds, now
        elif now - since >= 1.5:
            return fds
        if now > deadline:
            return fds
        time.sleep(0.1)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _hard_stop() -> None:
    say(f"the hard bound (duration + {HARD_MARGIN:.0f} s) passed: killing the server, exiting 3")
    for proc in list(_children):
        _kill(proc)
    sys.stdout.flush()
    os._exit(3)


# -- the report ---------------------------------------------------------------------------


def _mib(x: float) -> str:
    return f"{x:+.1f} MiB"


def report(
    samples: list[Sample],
    tally: Tally,
    *,
    fd_bound: int,
    exit_code: int | None,
    exit_seconds: float | None,
    killed: bool,
    log_lines: list[str],
    died: str | None,
) -> list[str]:
    """Print the tables and the summary; returns the reasons the run failed."""
    problems: list[str] = []
    print()
    print(
        f"{'t (s)':>7s}  {'phase':<8s} {'RSS MiB':>8s} {'fds':>5s} {'threads':>7s} "
        f"{'ok':>10s} {'failed':>7s} {'req/s':>8s}"
    )
    prev: Sample | None = None
    for s in samples:
        rate = ""
        if prev is not None and s.phase == "load" and s.t > prev.t:
            rate = f"{(s.ok + s.failed - prev.ok - prev.failed) / (s.t - prev.t):,.0f}"
        print(
            f"{s.t:7.0f}  {s.phase:<8s} {s.rss_mib:8.1f} {s.fds:5d} {s.threads:7d} "
            f"{s.ok:10,d} {s.failed:7,d} {rate:>8s}"
        )
        prev = s

    print()
    print(f"{'kind':<12s} {'ok':>10s} {'failed':>7s} {'dropped':>8s}  failure reasons")
    for kind in sorted(tally.kinds):
        t = tally.kinds[kind]
        reasons = ", ".join(f"{r} x{n}" for r, n in t.reasons.most_common(4))
        print(f"{kind:<12s} {t.ok:10,d} {t.failed:7,d} {t.dropped:8,d}  {reasons}")
    ok, failed = tally.totals()
    dropped = sum(t.dropped for t in tally.kinds.values())
    print(f"{'all':<12s} {ok:10,d} {failed:7,d} {dropped:8,d}")

    print()
    loaded = [s for s in samples if s.phase == "load"]
    idle = [s for s in samples if s.phase.startswith("idle")]
    if len(loaded) >= 2:
        a, b = loaded[0], loaded[-1]
        pct = (b.rss_mib / a.rss_mib - 1) * 100
        print(
            f"RSS, first to last loaded sample ({a.t:.0f} s -> {b.t:.0f} s): {a.rss_mib:.1f} -> "
            f"{b.rss_mib:.1f} MiB ({_mib(b.rss_mib - a.rss_mib)}, {pct:+.1f}%)"
        )
        if len(loaded) >= 3:
            m = loaded[len(loaded) // 2]
            print(
                f"  second half ({m.t:.0f} s -> {b.t:.0f} s): {_mib(b.rss_mib - m.rss_mib)}; "
                f"threads {a.threads} -> {b.threads}"
            )
        print(f"fds, first to last loaded sample: {a.fds} -> {b.fds} ({b.fds - a.fds:+d})")
    if len(idle) == 2:
        grow = idle[1].fds - idle[0].fds
        print(
            f"fds idle, before and after the load: {idle[0].fds} -> {idle[1].fds} "
            f"({grow:+d}; bound +{fd_bound}); RSS idle {idle[0].rss_mib:.1f} -> "
            f"{idle[1].rss_mib:.1f} MiB"
        )
        if grow > fd_bound:
            problems.append(f"open descriptors grew by {grow} (bound {fd_bound})")
    if failed:
        kinds = sorted(tally.kinds.items())
        by_kind = ", ".join(f"{k} {t.failed:,d}" for k, t in kinds if t.failed)
        print(f"failed requests: {failed:,d} ({by_kind}); the first ones:")
        for f in tally.first_failures:
            print(
                f"  {f.kind} {f.path}: {f.reason} (begun {f.started - tally.t0:.3f} s into "
                f"the load, {f.received} response bytes)"
            )
        problems.append(f"{failed:,d} requests failed")
    else:
        print("failed requests: 0")
    if died:
        problems.append(died)

    print()
    kill = tally.kill_at
    if kill is None:
        print("SIGTERM: not sent")
        problems.append("SIGTERM was not sent")
    else:
        n = sum(tally.in_flight.values())
        by_kind = ", ".join(f"{k} {v}" for k, v in sorted(tally.in_flight.items()))
        drained = sum(tally.drained.values())
        print(f"SIGTERM with the load running: {n} requests in flight ({by_kind})")
        print(
            f"  answered in full: {drained} ({tally.drained_close} with Connection: close); "
            f"dropped by the client on purpose: {tally.in_flight_dropped}; "
            f"lost: {len(tally.lost)}"
        )
        for x in tally.lost[:10]:
            sent = f"{(kill - x.sent_at) * 1000:.1f} ms" if x.sent_at is not None else "?"
            print(
                f"  lost: {x.kind} {x.path} sent {sent} before SIGTERM, {x.reason}, "
                f"{x.received} response bytes, {(x.ended - kill) * 1000:.0f} ms after it"
                + (", first request of a new connection" if x.new_conn else "")
            )
        if any(x.new_conn and not x.received for x in tally.lost):
            print(
                "  (a new connection reset without an answer may never have been accepted: "
                "still in the listen queue when the listener closed)"
            )
        if tally.lost:
            problems.append(f"{len(tally.lost)} requests in flight at SIGTERM were lost")
        for x in tally.kept_alive[:5]:
            assert x.head_at is not None
            print(
                f"  kept alive: {x.kind} {x.path} answered {(x.head_at - kill) * 1000:.0f} ms "
                f"after SIGTERM without Connection: close"
            )
        if tally.kept_alive:
            problems.append(
                f"{len(tally.kept_alive)} answers begun after SIGTERM kept the connection alive"
            )
        after = ", ".join(f"{k} {v}" for k, v in tally.after.most_common())
        print(f"  begun after SIGTERM (not judged): {sum(tally.after.values())} ({after})")
        if killed:
            print("  the server did not exit by itself: killed")
            problems.append("the server did not exit after SIGTERM")
        elif exit_seconds is not None:
            print(f"  server exit code {exit_code}, {exit_seconds:.2f} s after SIGTERM")
            if exit_code != 0:
                problems.append(f"the server exited with {exit_code}")

    if log_lines:
        print()
        print(f"server log ({len(log_lines)} lines at warning or above), the last ones:")
        for line in log_lines[-12:]:
            print("  " + line)
    print()
    print("result: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    return problems


# -- the run ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=300.0, help="seconds of mixed load")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--procs", type=int, default=2, help="the server's --procs")
    p.add_argument("--port", type=int, default=0, help="the server's port (0: a free one)")
    p.add_argument("--sigterm-after", type=float, default=3.0, help="seconds of load first")
    p.add_argument("--fd-bound", type=int, default=4, help="idle descriptor growth allowed")
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for gmp serve, e.g. --server-arg=--shutdown-timeout=2 "
        "(repeatable; one process only: --workers would sample the supervisor)",
    )
    p.add_argument("--no-wrk", dest="wrk", action="store_false", help="do not run wrk")
    p.add_argument("--wrk-connections", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.duration <= 0 or args.interval <= 0:
        p.error("--duration and --interval must be positive")
    if sys.platform != "linux":
        p.error("the soak reads /proc: Linux only")

    started = time.monotonic()
    watchdog = threading.Timer(args.duration + HARD_MARGIN, _hard_stop)
    watchdog.daemon = True
    watchdog.start()
    wrk = shutil.which("wrk") if args.wrk else None
    log = tempfile.NamedTemporaryFile(prefix="gmp-soak-", suffix=".log", delete=False)  # noqa: SIM115
    port = args.port or _free_port()
    try:
        server = start_server(args.procs, port, args.server_arg, log)
    except RuntimeError as e:
        log.flush()
        say(f"{e}; its output:\n{Path(log.name).read_text(errors='replace')}")
        for proc in _children:
            _kill(proc)
        return 2
    pid = server.pid
    tally = Tally()
    samples: list[Sample] = []
    died: str | None = None
    t0 = time.monotonic()

    def sample(phase: str) -> Sample:
        rss, fds, threads = proc_stats(pid)
        ok, failed = tally.totals()
        s = Sample(time.monotonic() - t0, phase, rss, fds, threads, ok, failed)
        samples.append(s)
        say(
            f"{s.t:6.0f} s {phase:<7s} RSS {rss:6.1f} MiB  fds {fds:4d}  threads {threads:3d}  "
            f"ok {ok:,d}  failed {failed:,d}"
        )
        return s

    load = os.getloadavg()[0]
    print(
        f"soak of gmp serve {APP} (--procs {args.procs}"
        + "".join(f" {a}" for a in args.server_arg)
        + f"): {args.duration:g} s of mixed load from {sum(n for n, _ in MIX)} client threads"
        + (f" and wrk -c{args.wrk_connections} on /ping" if wrk else " (no wrk)")
        + f", samples every {args.interval:g} s, SIGTERM after {args.sigterm_after:g} s more"
        + f" of load; load average before: {load:.2f}",
        flush=True,
    )
    say(f"server pid {pid}, port {port}")
    exit_code: int | None = None
    exit_seconds: float | None = None
    killed = False
    running: list[tuple[Ctx, list[threading.Thread]]] = []

    def clients(seed: int) -> None:
        ctx = Ctx(port, tally, threading.Event())
        running.append((ctx, start_clients(ctx, seed)))

    def stop_all() -> None:
        while running:
            stop_clients(*running.pop())

    try:
        base_fds = settle_fds(pid, None, 5.0)
        sample("idle")
        # (2) the soak
        t0 = tally.t0 = time.monotonic()
        samples[0].t = 0.0
        clients(args.seed)
        end = t0 + args.duration
        while (now := time.monotonic()) < end - 0.05:
            target = min(now + args.interval, end)
            if wrk is not None and int(target - now) >= 1:
                run_wrk(wrk, port, int(target - now), args.wrk_connections, tally)
            time.sleep(max(0.0, target - time.monotonic()))
            if server.poll() is not None:
                raise ServerGone
            sample("load")
        # (3) quiet again: what the server still holds now, it leaked
        stop_all()
        settle_fds(pid, base_fds, 8.0)
        sample("idle")
        # (4) load again, then SIGTERM in the middle of it
        clients(args.seed + 1)
        time.sleep(args.sigterm_after)
        sample("sigterm")
        if server.poll() is not None:
            raise ServerGone
        tally.kill_at = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        limit = min(tally.kill_at + 30, started + args.duration + HARD_MARGIN - 15)
        while server.poll() is None and time.monotonic() < limit:
            time.sleep(0.005)
        if server.poll() is None:
            killed = True
            _kill(server)
        else:
            exit_seconds = time.monotonic() - tally.kill_at
            exit_code = server.returncode
        stop_all()
    except (ServerGone, FileNotFoundError, ProcessLookupError):
        server.poll()
        died = f"the server died before SIGTERM (exit code {server.returncode})"
        say(died)
        stop_all()
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        _kill(server)
        watchdog.cancel()
        log.close()
    text = Path(log.name).read_text(errors="replace")
    os.unlink(log.name)
    problems = report(
        samples,
        tally,
        fd_bound=args.fd_bound,
        exit_code=exit_code,
        exit_seconds=exit_seconds,
        killed=killed,
        log_lines=[line for line in text.splitlines() if line.strip()],
        died=died,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
