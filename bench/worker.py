"""Subprocess entry point: ``python -m bench.worker '<json spec>'`` runs one case.

The spec names a benchmark function (``module:function``), its parameters, an optional
warm-up (parameter overrides) and a mode:

- ``serve``: import the function, answer ``ready``, then obey one JSON command per stdin
  line: ``{"op": "warmup"}``, ``{"op": "rep"}`` (one timed repetition) or ``{"op": "exit"}``.
  The parent keeps one such process per case and drives them round-robin.
- ``once``: run one repetition and leave (memory cases: a fresh process per repetition).

Every answer is one stdout line, ``RESULT_MARKER`` followed by JSON. The worker leaves with
``os._exit`` so that a runtime whose threads linger cannot hold the process, and a ``once``
case may call :func:`exit_with` to report and leave before any teardown.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

RESULT_MARKER = "@@bench-result@@ "

Bench = Callable[[dict[str, Any]], dict[str, float]]


def resolve(target: str) -> Bench:
    """Import ``bench.<module>`` and return its function; imports stay lazy per case."""
    module, _, name = target.partition(":")
    fn: Bench = getattr(importlib.import_module(f"bench.{module}"), name)
    return fn


def _reply(out: dict[str, Any]) -> None:
    sys.stderr.flush()
    print(RESULT_MARKER + json.dumps(out), flush=True)


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def exit_with(metrics: dict[str, float]) -> NoReturn:
    """Report one repetition's metrics and end the process at once, skipping teardown.

    For ``once`` cases (memory): cancelling 100,000 parked tasks takes longer than
    measuring them and is not what is being measured.
    """
    _reply({"metrics": metrics})
    os._exit(0)


def _repetition(fn: Bench, params: dict[str, Any]) -> dict[str, Any]:
    gc.collect()
    try:
        return {"metrics": fn(params)}
    except BaseException as exc:
        return _failure(exc)


def serve(spec: dict[str, Any]) -> None:
    try:
        fn = resolve(spec["target"])
    except BaseException as exc:
        _reply(_failure(exc))
        return
    _reply({"ready": True})
    for line in sys.stdin:
        op = json.loads(line)["op"]
        if op == "exit":
            return
        if op == "warmup":
            _reply(_repetition(fn, spec["params"] | (spec.get("warmup") or {})))
        elif op == "rep":
            _reply(_repetition(fn, spec["params"]))
        else:
            _reply({"error": f"unknown op {op!r}"})


def once(spec: dict[str, Any]) -> None:
    try:
        fn = resolve(spec["target"])
    except BaseException as exc:
        _reply(_failure(exc))
        return
    _reply(_repetition(fn, spec["params"]))


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("mode") == "once":
        once(spec)
    else:
        serve(spec)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
