"""Run a family's cases in fresh subprocesses, repetitions interleaved round-robin.

Rule, applied to every rival alike: each case (one rival, one variant of one benchmark) gets
its own fresh interpreter, started before any timing, which runs one untimed warm-up and
then the timed repetitions one at a time as the parent asks. The parent asks round-robin
(rep 1 of every case, then rep 2 of every case, ...; the order rotates each round), so a
burst of load from something else on the machine hits all rivals alike rather than one.
Cases that measure memory (``fresh_per_rep``) get a fresh interpreter per repetition, since
a heap that has already held 100,000 tasks is not the heap we want to measure.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.worker import RESULT_MARKER

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Case:
    """One row of a table: a rival (impl) running one variant of one benchmark."""

    family: str
    label: str  # the row name, e.g. "gmp procs=1"
    impl: str  # "gmp", "asyncio", "uvloop", "trio" or "threads"
    target: str  # "module:function" in bench/, run by bench.worker
    params: dict[str, Any]
    warmup: dict[str, Any] | None = None  # parameter overrides for one untimed run
    fresh_per_rep: bool = False
    timeout: float = 120.0  # seconds per repetition
    reps: int | None = None  # overrides the run's repetition count (memory runs fewer)


@dataclass
class Result:
    case: Case
    samples: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # wall time spent in this case's repetitions

    def add(self, metrics: dict[str, float]) -> None:
        for metric, value in metrics.items():
            self.samples.setdefault(metric, []).append(value)

    def values(self, metric: str) -> list[float]:
        return self.samples.get(metric, [])

    def median(self, metric: str) -> float | None:
        vals = self.values(metric)
        return statistics.median(vals) if vals else None

    def spread(self, metric: str) -> tuple[float, float] | None:
        vals = self.values(metric)
        return (min(vals), max(vals)) if vals else None


def _tail(stream: IO[bytes], limit: int = 4096) -> str:
    """The last line a worker wrote to stderr (which may be huge: a noisy runtime)."""
    stream.flush()
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - limit))
    lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


class Worker:
    """One ``python -m bench.worker`` process and the answers it prints."""

    def __init__(self, case: Case, mode: str) -> None:
        spec = {"target": case.target, "params": case.params, "warmup": case.warmup}
        self.case = case
        # Closed in close(); a file, not a pipe, so a flood of logging can never block it.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps(spec | {"mode": mode})],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(RESULT_MARKER):
                self.answers.put(json.loads(line[len(RESULT_MARKER) :]))
        self.answers.put(None)  # end of output: the worker is gone

    def ask(self, op: str | None, timeout: float) -> dict[str, Any]:
        """Send a command (None: just wait for the next answer) and return the answer."""
        if op is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(json.dumps({"op": op}) + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass  # it died; the reader reports the end of output
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()  # busy past its deadline: no point asking it to exit
            self.close()
            return {"error": f"{op or 'start'} timed out after {timeout:.0f} s"}
        if answer is None:
            code = self.proc.wait()
            return {"error": f"worker exited {code}: {_tail(self.stderr)}"}
        if answer.get("traceback"):
            print(f"\n[{self.case.label}] {answer['traceback']}", file=sys.stderr)
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def _record(result: Result, answer: dict[str, Any], seconds: float) -> bool:
    """Fold one answer into the result; False once the case has failed."""
    result.seconds += seconds
    if answer.get("error"):
        result.error = answer["error"]
        return False
    result.add(answer.get("metrics", {}))
    return True


def run_family(
    cases: list[Case], reps: Callable[[Case], int], progress: Callable[[str], None]
) -> dict[str, Result]:
    """Run every case's repetitions, interleaved; failures are recorded, never raised."""
    results = {c.label: Result(c) for c in cases}
    workers: dict[str, Worker] = {}
    try:
        for case in cases:
            if not case.fresh_per_rep:
                workers[case.label] = Worker(case, "serve")
        for label, worker in list(workers.items()):
            if not _record(results[label], worker.ask(None, READY_TIMEOUT), 0.0):
                workers.pop(label).close()
        for label, worker in list(workers.items()):
            if worker.case.warmup:
                start = time.perf_counter()
                answer = worker.ask("warmup", worker.case.timeout)
                if answer.get("error"):
                    _record(results[label], answer, time.perf_counter() - start)
                    workers.pop(label).close()
        rounds = max((reps(c) for c in cases), default=0)
        for r in range(rounds):
            start_round = time.perf_counter()
            order = cases[r % len(cases) :] + cases[: r % len(cases)]
            for case in order:
                result = results[case.label]
                if result.error or r >= reps(case):
                    continue
                start = time.perf_counter()
                if case.fresh_per_rep:
                    worker = Worker(case, "once")
                    answer = worker.ask(None, case.timeout)
                    worker.close()
                else:
                    answer = workers[case.label].ask("rep", case.timeout)
                ok = _record(result, answer, time.perf_counter() - start)
                if not ok and case.label in workers:
                    workers.pop(case.label).close()
            progress(f"round {r + 1}/{rounds} {time.perf_counter() - start_round:.1f} s")
    finally:
        for worker in workers.values():
            worker.close()
    return results
