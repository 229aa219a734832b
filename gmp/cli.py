"""The ``gmp`` command: ``gmp serve`` runs an HTTP app, ``gmp sim`` runs scheduling
simulations, ``gmp --version`` says which gmp this is.

``gmp sim SCENARIO`` simulates a scenario (a TOML file, or the name of one bundled in
``sims/scenarios``) under each of its policies and writes JSON, CSV and PNG plots to
``out/sim/<name>``. ``gmp sim sweep SCENARIO`` runs its parameter grid on a process pool,
or on a dask.distributed cluster with ``--scheduler ADDRESS``. ``gmp sim list`` lists the
bundled scenarios. Runs are deterministic for a seed.

Subcommands register themselves in :func:`build_parser`; each is a function taking the
parsed arguments and returning an exit status, so adding ``gmp serve`` is one more
``add_parser`` and handler. Reports go to stdout; progress bars and errors to stderr.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from gmp.observe.log import get_logger

_log = get_logger("gmp.cli")

Handler = Callable[[argparse.Namespace], int]

_SIM_ACTIONS = ("run", "sweep", "list")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _parse_set(items: Sequence[str]) -> list[tuple[str, Any]]:
    from sims.scenario import ScenarioError, parse_value

    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set wants KEY=VALUE (e.g. workload.load=0.9), got {item!r}")
        out.append((key.strip(), parse_value(value.strip())))
    return out


def _parse_params(items: Sequence[str]) -> dict[str, list[Any]]:
    from sims.scenario import ScenarioError, parse_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ScenarioError(
                f"--param wants KEY=V1,V2,... (e.g. workload.load=0.5,0.7,0.9), got {item!r}"
            )
        grid[key.strip()] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def _scenario(args: argparse.Namespace) -> dict[str, Any]:
    from sims import scenario as sc

    data = sc.load(args.scenario)
    for key, value in _parse_set(args.set or ()):
        data = sc.override(data, key, value)
    if args.seed is not None:
        data["seed"] = args.seed
    if getattr(args, "policy", None):
        data["policies"] = list(args.policy)
    sc.validate(data, args.scenario)
    return data


def _progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        _log.warning(
            "tqdm is not installed: no progress bar", hint="pip install 'gmp-runtime[sim]'"
        )
        return None
    return tqdm(total=total, desc=desc, unit="G", unit_scale=True, file=sys.stderr, leave=False)


def cmd_sim_run(args: argparse.Namespace) -> int:
    """``gmp sim [run] SCENARIO``: every policy of the scenario, results to a folder."""
    from sims import report
    from sims.scenario import expected_gs, policies_of, run_policy

    data = _scenario(args)
    name = str(data["name"])
    out = Path(args.out) if args.out else Path("out") / "sim" / name
    pols = policies_of(data)
    n = expected_gs(data)
    bar = _progress_bar(n * len(pols) if n else None, name, not args.no_progress)
    results = []
    try:
        for pol in pols:
            if bar is not None:
                bar.set_postfix_str(pol)
            results.append(run_policy(data, pol, bar.update if bar is not None else None))
    finally:
        if bar is not None:
            bar.close()
    files = report.write_run(out, data, results, plot=not args.no_plots)
    _out(f"scenario {name}: procs={data.get('procs', 4)} seed={data.get('seed', 0)}")
    _out(
        f"{'policy':8s} {'gs':>8s} {'makespan_s':>11s} {'util':>5s} {'p50_ms':>8s} "
        f"{'p99_ms':>9s} {'steals':>7s} {'handoffs':>8s} {'jain_g':>6s} {'jain_p':>6s}"
    )
    for r in results:
        m = r.metrics
        _out(
            f"{m.policy:8s} {m.gs:8d} {m.makespan:11.4f} {m.utilisation:5.2f} "
            f"{m.latency_p50 * 1e3:8.3f} {m.latency_p99 * 1e3:9.3f} {m.steals:7d} "
            f"{m.handoffs:8d} {m.jain_gs:6.3f} {m.jain_ps:6.3f}"
        )
    _out(f"wrote {len(files)} files to {out}")
    return 0


def _executor(args: argparse.Namespace) -> AbstractContextManager[Executor]:
    if args.scheduler:
        from sims.sweep import dask_executor

        return dask_executor(args.scheduler)
    workers = args.workers or os.cpu_count() or 1
    # Not fork, the default on Linux before Python 3.14: by the time the pool starts,
    # the process has threads (tqdm's monitor, a log flusher), and a child forked while
    # one of them holds a lock inherits it locked (CPython 3.12+ warns of the deadlock).
    # A forkserver forks from a clean single-threaded process; where there is none,
    # spawn.
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def cmd_sim_sweep(args: argparse.Namespace) -> int:
    """``gmp sim sweep SCENARIO``: the scenario's grid (or --param) on an executor."""
    from sims import report
    from sims.scenario import ScenarioError
    from sims.sweep import points, run_sweep

    data = _scenario(args)
    grid = _parse_params(args.param or ())
    params = list(grid or data.get("sweep", {}))
    if not params:
        raise ScenarioError(
            f"{args.scenario}: nothing to sweep; add a [sweep] table or pass --param KEY=V1,V2"
        )
    tasks = points(data, grid)
    name = str(data["name"])
    out = Path(args.out) if args.out else Path("out") / "sim" / f"{name}-sweep"
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=len(tasks), desc=f"{name} sweep", unit="run", file=sys.stderr, leave=False
            )
        except ImportError:
            bar = None
    try:
        with _executor(args) as ex:
            rows = run_sweep(tasks, ex, (lambda _row: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    files = report.write_sweep(out, data, params, rows, plot=not args.no_plots)
    _out(f"sweep {name}: {len(tasks)} runs over {', '.join(params)}")
    for row in rows:
        point = " ".join(f"{p}={row[p]}" for p in params)
        _out(
            f"  {point:30s} {row['policy']:8s} makespan={row['makespan']:.4f}s "
            f"p99={row['latency_p99'] * 1e3:.3f}ms util={row['utilisation']:.2f} "
            f"jain_g={row['jain_gs']:.3f}"
        )
    _out(f"wrote {len(files)} files to {out}")
    return 0


def cmd_sim_list(args: argparse.Namespace) -> int:
    """``gmp sim list``: the bundled scenarios and what they are for."""
    import tomllib

    from sims.scenario import bundled_scenarios

    for name, path in bundled_scenarios().items():
        with path.open("rb") as f:
            desc = tomllib.load(f).get("description", "")
        _out(f"{name:16s} {desc}")
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="a scenario TOML file, or a bundled scenario name")
    p.add_argument("--out", help="output folder (default out/sim/<name>)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a scenario value by dotted key, e.g. --set workload.load=0.9",
    )
    p.add_argument("--policy", action="append", help="run only this policy (repeatable)")
    p.add_argument("--no-plots", action="store_true", help="write JSON and CSV only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from gmp._version import DISTRIBUTION, __version__

    parser = argparse.ArgumentParser(
        prog="gmp", description="gmp: a Go-style M:N scheduling runtime for Python."
    )
    parser.add_argument(
        "--version", action="version", version=f"gmp {__version__} ({DISTRIBUTION})"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
        "sim",
        help="simulate scheduling policies in virtual time",
        description="Simulate gmp's scheduler and its rivals on a scenario. "
        "`gmp sim SCENARIO` is short for `gmp sim run SCENARIO`.",
    )
    simsub = sim.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = simsub.add_parser("run", help="run a scenario under each of its policies")
    _add_common(run)
    run.set_defaults(handler=cmd_sim_run)

    sweep = simsub.add_parser("sweep", help="run a parameter sweep on an executor")
    _add_common(sweep)
    sweep.add_argument(
        "--param",
        action="append",
        metavar="KEY=V1,V2",
        help="sweep this dotted key over these values (replaces the scenario's [sweep])",
    )
    sweep.add_argument("--workers", type=int, help="local worker processes (default: CPUs)")
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the dask.distributed scheduler at ADDRESS (needs gmp-runtime[sim-dask])",
    )
    sweep.set_defaults(handler=cmd_sim_sweep)

    lst = simsub.add_parser("list", help="list the bundled scenarios")
    lst.set_defaults(handler=cmd_sim_list)

    from gmp.http.cli import add_serve_parser, run_serve

    serve = add_serve_parser(sub)
    serve.set_defaults(handler=run_serve)
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """``gmp sim X.toml`` means ``gmp sim run X.toml``."""
    if (
        len(argv) >= 2
        and argv[0] == "sim"
        and argv[1] not in _SIM_ACTIONS
        and not argv[1].startswith("-")
    ):
        return ["sim", "run", *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gmp`` script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(_normalise(args_list))
    handler: Handler = args.handler
    try:
        return handler(args)
    except (ValueError, RuntimeError, OSError) as e:
        # ScenarioError is a ValueError; SimulationError a RuntimeError.
        sys.stderr.write(f"gmp {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
