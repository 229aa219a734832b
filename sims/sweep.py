"""Parameter sweeps over a :class:`concurrent.futures.Executor`.

A sweep is the cross product of a scenario's ``[sweep]`` lists (dotted keys), times its
policies. Each point is one task: a plain dict in, a plain dict out, so it runs the same
in a local :class:`~concurrent.futures.ProcessPoolExecutor` or on a dask.distributed
cluster (``Client(address).get_executor()``), which is how a sweep outgrows one machine.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, as_completed
from typing import Any

from sims.scenario import override, policies_of, run_policy


def points(
    data: Mapping[str, Any], params: Mapping[str, list[Any]] | None = None
) -> list[dict[str, Any]]:
    """Every ``{"params": {...}, "policy": name, "scenario": {...}}`` task of a sweep.

    ``params`` (from the command line) replaces the scenario's own ``[sweep]`` table.
    """
    grid = dict(params) if params else dict(data.get("sweep", {}))
    keys = list(grid)
    base = {k: v for k, v in data.items() if k != "sweep"}
    out: list[dict[str, Any]] = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        scen = base
        for k, v in zip(keys, combo, strict=True):
            scen = override(scen, k, v)
        for pol in policies_of(scen):
            out.append(
                {"params": dict(zip(keys, combo, strict=True)), "policy": pol, "scenario": scen}
            )
    return out


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one sweep task; returns its parameters and the scalar metrics (picklable)."""
    result = run_policy(task["scenario"], task["policy"])
    row: dict[str, Any] = dict(task["params"])
    row.update(result.metrics.row())
    return row


def run_sweep(
    tasks: list[dict[str, Any]],
    executor: Executor,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task on ``executor``; rows come back in task order, whatever finishes first."""
    futures = {executor.submit(run_point, t): i for i, t in enumerate(tasks)}
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    for fut in as_completed(futures):
        row = fut.result()
        rows[futures[fut]] = row
        if on_done is not None:
            on_done(row)
    return [r for r in rows if r is not None]


@contextlib.contextmanager
def dask_executor(address: str) -> Iterator[Executor]:
    """A dask.distributed executor on the cluster at ``address`` (optional extra ``sim-dask``).

    dask is imported here, lazily, so the simulator never needs it; the client is closed
    when the ``with`` block ends.
    """
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "--scheduler needs dask.distributed, which is not installed; "
            "install the optional extra: pip install 'gmp-runtime[sim-dask]'"
        ) from None
    client = Client(address)
    try:
        yield client.get_executor()
    finally:
        client.close()
