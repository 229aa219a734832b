"""Writing results: JSON and CSV always, PNG plots when matplotlib is there.

Files are written in a fixed order with sorted keys, so two runs of the same scenario
and seed produce byte-identical ``summary.json`` and CSV files; host-dependent figures
(wall time, events per second) go to ``timing.json`` alone.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sims import plots
from sims.sim import SimResult

WALL_FIELDS = ("wall_seconds", "events_per_second")
"""Host-dependent fields: in JSON (for the curious), never in CSV (kept reproducible)."""


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    fields: list[str] = []
    for row in rows:
        for k in row:
            if k not in fields and k not in WALL_FIELDS:
                fields.append(k)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: _csv_value(row.get(k)) for k in fields})


def _csv_value(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else v


def write_run(
    out: Path, scenario: Mapping[str, Any], results: Sequence[SimResult], plot: bool = True
) -> list[Path]:
    """Write one scenario's results under ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    metrics = [r.metrics.as_dict() for r in results]
    summary = {
        "scenario": dict(scenario),
        "results": [{k: v for k, v in m.items() if k not in WALL_FIELDS} for m in metrics],
    }
    p = out / "summary.json"
    p.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    written.append(p)
    timing = {m["policy"]: {k: m[k] for k in ("events", *WALL_FIELDS)} for m in metrics}
    p = out / "timing.json"
    p.write_text(json.dumps(timing, indent=2, sort_keys=True) + "\n")
    written.append(p)
    p = out / "summary.csv"
    _write_csv(p, [r.metrics.row() for r in results])
    written.append(p)

    p = out / "utilisation.csv"
    util_rows = []
    longest = max((len(r.metrics.util_series) for r in results), default=0)
    for i in range(longest):
        row: dict[str, Any] = {}
        for r in results:
            m = r.metrics
            row[f"{m.policy}_t"] = (i + 0.5) * m.util_bin if i < len(m.util_series) else ""
            row[m.policy] = m.util_series[i] if i < len(m.util_series) else ""
        util_rows.append(row)
    _write_csv(p, util_rows)
    written.append(p)

    p = out / "latency_quantiles.csv"
    q_rows = []
    per = {r.metrics.policy: plots.latency_quantiles(r, 100)[0] for r in results}
    for i in range(101):
        row = {"quantile": i / 100.0}
        for name, xs in per.items():
            row[name] = xs[i]
        q_rows.append(row)
    _write_csv(p, q_rows)
    written.append(p)

    if plot:
        title = str(scenario.get("name", ""))
        for name, fig in (
            ("latency_cdf.png", plots.latency_cdf(results, f"{title}: latency CDF")),
            ("utilisation.png", plots.utilisation(results, f"{title}: P utilisation")),
            ("per_p.png", plots.per_p(results, f"{title}: work per P")),
            ("summary.png", plots.summary(results, title)),
        ):
            p = out / name
            fig.savefig(p, dpi=100)
            written.append(p)
    return written


def write_sweep(
    out: Path,
    scenario: Mapping[str, Any],
    params: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    plot: bool = True,
) -> list[Path]:
    """Write a sweep's rows (one per point and policy) and a plot per swept parameter."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    p = out / "sweep.json"
    clean = [{k: v for k, v in r.items() if k not in WALL_FIELDS} for r in rows]
    doc = {"scenario": dict(scenario), "params": list(params), "rows": clean}
    p.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    written.append(p)
    p = out / "sweep.csv"
    _write_csv(p, rows)
    written.append(p)
    if plot:
        for param in params:
            if all(
                isinstance(r[param], int | float) and not isinstance(r[param], bool) for r in rows
            ):
                p = out / f"sweep_{param.replace('.', '_')}.png"
                plots.sweep(
                    rows, param, title=f"{scenario.get('name', '')}: sweep over {param}"
                ).savefig(p, dpi=100)
                written.append(p)
    return written


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], digits: int = 4
) -> str:
    """A Markdown table of ``columns`` (for notebooks: ``display(Markdown(...))``)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])
