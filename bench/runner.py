"""Run cases in fresh subprocesses and collect their samples.

Rule, applied to every rival alike: each case (one rival, one variant of one benchmark) gets
its own fresh interpreter, which runs an untimed warm-up and then all timed repetitions.
Cases that measure memory (``fresh_per_rep``) get a fresh interpreter per repetition, since
a heap that has already held 100,000 tasks is not the heap we want to measure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.worker import RESULT_MARKER

ROOT = Path(__file__).resolve().parent.parent


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
    timeout: float = 120.0  # seconds per subprocess
    reps: int | None = None  # overrides the run's repetition count (memory runs fewer)

    @property
    def is_gmp(self) -> bool:
        return self.impl == "gmp"


@dataclass
class Result:
    case: Case
    samples: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0  # wall time the case took, subprocesses included

    def values(self, metric: str) -> list[float]:
        return self.samples.get(metric, [])

    def median(self, metric: str) -> float | None:
        vals = self.values(metric)
        return statistics.median(vals) if vals else None

    def spread(self, metric: str) -> tuple[float, float] | None:
        vals = self.values(metric)
        return (min(vals), max(vals)) if vals else None


def _tail(stream: IO[bytes], limit: int = 4096) -> str:
    """The last line of what a worker wrote to stderr (which may be huge: a noisy runtime)."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - limit))
    lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


def _run_worker(case: Case, reps: int, warmup: dict[str, Any] | None) -> dict[str, Any]:
    spec = {"target": case.target, "params": case.params, "reps": reps, "warmup": warmup}
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.worker", json.dumps(spec)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=case.timeout,
            )
        except subprocess.TimeoutExpired:
            return {"samples": {}, "error": f"timed out after {case.timeout:.0f} s"}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
                if result.get("error") and result.get("traceback"):
                    print(result["traceback"], file=sys.stderr)
                return result
        return {"samples": {}, "error": f"worker exited {proc.returncode}: {_tail(err)}"}


def run_case(case: Case, reps: int) -> Result:
    """Run all repetitions of a case; a failure is recorded in the Result, never raised."""
    result = Result(case)
    start = time.perf_counter()
    runs = (
        [(1, None)] * reps if case.fresh_per_rep else [(reps, case.warmup)]
    )  # (reps, warm-up) per subprocess
    for n, warmup in runs:
        out = _run_worker(case, n, warmup)
        for metric, vals in out.get("samples", {}).items():
            result.samples.setdefault(metric, []).extend(vals)
        if out.get("error"):
            result.error = out["error"]
            break
    result.seconds = time.perf_counter() - start
    return result
