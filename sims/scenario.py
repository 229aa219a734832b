"""Scenario files: a workload, a machine and the policies to compare, in TOML.

A scenario is plain data (a dict read with :mod:`tomllib`), so it can be overridden
key by key (``workload.load=0.9``), expanded into a sweep and shipped to worker
processes or a dask cluster as is. Shape::

    name = "skew"                 # output folder name (default: the file's stem)
    seed = 1
    procs = 8
    policies = ["gmp", "global", "perp", "random", "p2c", "tokio"]

    [workload]                    # kind plus that workload's fields (sims.workloads)
    kind = "skew"
    n = 20000
    service = { dist = "exp", mean = 1e-3 }

    [config]                      # SimConfig fields (handoff, handoff_after, util_bin...)
    [cost]                        # CostModel fields, or zero = true for no overheads
    [sweep]                       # for `gmp sim sweep`: dotted key -> list of values
    "workload.load" = [0.5, 0.7, 0.9]

Times are seconds throughout.
"""

from __future__ import annotations

import copy
import importlib.resources
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from sims.cost import CostModel
from sims.policies import POLICIES
from sims.sim import SimConfig, SimResult, Simulator
from sims.workloads import make_workload

_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "procs",
    "policies",
    "workload",
    "config",
    "cost",
    "sweep",
}
_CONFIG_KEYS = {f.name for f in attrs.fields(SimConfig)} - {"procs", "seed", "cost"}


class ScenarioError(ValueError):
    """A scenario file or override is malformed; the message says where and how."""


def bundled_scenarios() -> dict[str, Path]:
    """The scenarios shipped in ``sims/scenarios``, by name."""
    root = importlib.resources.files("sims") / "scenarios"
    out: dict[str, Path] = {}
    for entry in root.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[: -len(".toml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def resolve(path_or_name: str) -> Path:
    """A scenario path, or the name of a bundled scenario (``skew``)."""
    p = Path(path_or_name)
    if p.exists():
        return p
    bundled = bundled_scenarios()
    if path_or_name in bundled:
        return bundled[path_or_name]
    raise ScenarioError(
        f"no scenario file {path_or_name!r}; bundled scenarios: {', '.join(bundled) or 'none'}"
    )


def load(path_or_name: str) -> dict[str, Any]:
    """Read and validate a scenario; ``name`` defaults to the file's stem."""
    path = resolve(path_or_name)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    data.setdefault("name", path.stem)
    validate(data, str(path))
    return data


def validate(data: Mapping[str, Any], where: str = "scenario") -> None:
    """Check a scenario dict by building everything it describes once."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}"
        )
    if "workload" not in data:
        raise ScenarioError(f"{where}: a [workload] table with a kind is required")
    for pol in policies_of(data):
        if pol not in POLICIES:
            raise ScenarioError(
                f"{where}: unknown policy {pol!r}; choose from {', '.join(sorted(POLICIES))}"
            )
    bad = set(data.get("config", {})) - _CONFIG_KEYS
    if bad:
        raise ScenarioError(
            f"{where}: unknown [config] keys {sorted(bad)}; allowed: {sorted(_CONFIG_KEYS)}"
        )
    workload = data["workload"]
    sweep = data.get("sweep", {})
    counts = list(sweep.get("workload.n", []) if isinstance(sweep, Mapping) else [])
    if isinstance(workload, Mapping) and "n" in workload:
        counts.append(workload["n"])
    for n in counts:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ScenarioError(
                f"{where}: workload.n is the number of Gs to run and must be a positive "
                f"integer, got {n!r}"
            )
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{where}: sweep {key!r} must be a non-empty list of values")
    try:
        make_workload(data["workload"])
        sim_config(data)
    except (TypeError, ValueError) as e:
        raise ScenarioError(f"{where}: {e}") from None


def policies_of(data: Mapping[str, Any]) -> list[str]:
    pols = data.get("policies", ["gmp"])
    if isinstance(pols, str):
        pols = [pols]
    return list(pols)


def sim_config(data: Mapping[str, Any]) -> SimConfig:
    cost_spec = dict(data.get("cost", {}))
    zero = cost_spec.pop("zero", False)
    base = CostModel.zero() if zero else CostModel()
    try:
        cost = attrs.evolve(base, **cost_spec)
    except TypeError as e:
        raise ValueError(f"bad [cost] keys: {e}") from None
    return SimConfig(
        procs=int(data.get("procs", 4)),
        seed=int(data.get("seed", 0)),
        cost=cost,
        **data.get("config", {}),
    )


def parse_value(text: str) -> Any:
    """A command-line value as TOML reads it (``0.5``, ``true``, ``"gmp"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def override(data: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the dotted ``key`` (``workload.service.mean``) set."""
    out = copy.deepcopy(dict(data))
    parts = key.split(".")
    node: dict[str, Any] = out
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ScenarioError(f"cannot set {key!r}: {part!r} is not a table")
        node = child
    node[parts[-1]] = value
    return out


def run_policy(
    data: Mapping[str, Any],
    policy: str,
    progress: Callable[[int], None] | None = None,
) -> SimResult:
    """Simulate the scenario's workload under one policy."""
    return Simulator(make_workload(data["workload"]), sim_config(data), policy).run(progress)


def expected_gs(data: Mapping[str, Any]) -> int | None:
    n = make_workload(data["workload"]).expected_gs(int(data.get("procs", 4)))
    return n if isinstance(n, int) else None
