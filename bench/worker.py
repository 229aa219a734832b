"""Subprocess entry point: ``python -m bench.worker '<json spec>'`` runs one case.

The spec names a benchmark function (``module:function``), its parameters, how many timed
repetitions to run and an optional untimed warm-up. The worker prints one line,
``RESULT_MARKER`` followed by JSON ``{"samples": {metric: [values]}, "error": ...}``, and
leaves with ``os._exit`` so that a runtime whose threads linger cannot hold the process.
A single-repetition case may call :func:`exit_with` to report and leave before teardown.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

RESULT_MARKER = "@@bench-result@@ "

Bench = Callable[[dict[str, Any]], dict[str, float]]


def resolve(target: str) -> Bench:
    """Import ``bench.<module>`` and return its function; imports stay lazy per case."""
    module, _, name = target.partition(":")
    fn: Bench = getattr(importlib.import_module(f"bench.{module}"), name)
    return fn


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    try:
        fn = resolve(spec["target"])
        params: dict[str, Any] = spec["params"]
        if spec.get("warmup"):
            fn(params | spec["warmup"])
        for _ in range(spec["reps"]):
            gc.collect()
            for metric, value in fn(params).items():
                samples.setdefault(metric, []).append(value)
    except BaseException as exc:
        return {
            "samples": samples,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    return {"samples": samples, "error": None}


def _emit(out: dict[str, Any]) -> None:
    sys.stderr.flush()
    print(RESULT_MARKER + json.dumps(out), flush=True)
    os._exit(0)


def exit_with(metrics: dict[str, float]) -> None:
    """Report one repetition's metrics and end the process at once, skipping teardown.

    For single-repetition cases in a process of their own (memory): cancelling 100,000
    parked tasks takes longer than measuring them and is not what is being measured.
    """
    _emit({"samples": {k: [v] for k, v in metrics.items()}, "error": None})


def main() -> None:
    _emit(run_spec(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
