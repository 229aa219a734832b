"""Plots of simulation results (matplotlib, no pyplot state: safe in workers and CI).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so it
needs no GUI backend (``savefig`` renders with Agg) and leaves no global figure behind;
a notebook displays it with ``display(fig)``. matplotlib is imported lazily: it comes
with the ``sim`` extra, and the simulator itself never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sims.metrics import percentile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sims.sim import SimResult


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.0) -> tuple[Figure, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError(
            "plots need matplotlib; install the optional extra: pip install 'gmp-runtime[sim]'"
        ) from None
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def latency_quantiles(result: SimResult, points: int = 200) -> tuple[list[float], list[float]]:
    """(latency, cumulative fraction) pairs for a CDF, from ``points`` quantiles."""
    xs = sorted(result.latency)
    qs = [100.0 * i / points for i in range(points + 1)]
    return [percentile(xs, q) for q in qs], [q / 100.0 for q in qs]


def latency_cdf(results: Sequence[SimResult], title: str = "") -> Figure:
    """Latency CDF per policy, log-scaled latency (tails are where policies differ)."""
    fig, ax = _figure()
    for r in results:
        xs, ys = latency_quantiles(r)
        ax.plot([max(x, 1e-9) * 1e3 for x in xs], ys, label=r.metrics.policy)
    ax.set_xscale("log")
    ax.set_xlabel("G latency (ms, log scale)")
    ax.set_ylabel("fraction of Gs")
    ax.set_title(title or "latency CDF")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def utilisation(results: Sequence[SimResult], title: str = "") -> Figure:
    """Utilisation of all Ps over time, per policy."""
    fig, ax = _figure()
    for r in results:
        m = r.metrics
        ts = [(i + 0.5) * m.util_bin for i in range(len(m.util_series))]
        ax.plot(ts, m.util_series, label=m.policy)
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("P utilisation")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "P utilisation over time")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def per_p(results: Sequence[SimResult], title: str = "") -> Figure:
    """Busy time of each P, grouped per policy: where did the work run?"""
    fig, ax = _figure()
    n = len(results)
    width = 0.8 / max(n, 1)
    for k, r in enumerate(results):
        m = r.metrics
        xs = [i + k * width for i in range(m.procs)]
        ax.bar(xs, [b * 1e3 for b in m.per_p_busy], width=width, label=m.policy)
    ax.set_xlabel("P")
    ax.set_ylabel("busy time (ms)")
    ax.set_title(title or "work per P")
    ax.legend()
    return fig


SUMMARY_METRICS = (
    ("makespan", "makespan (s)"),
    ("latency_p99", "p99 latency (s)"),
    ("jain_gs", "Jain index across Gs"),
    ("jain_ps", "Jain index across Ps"),
)


def summary(results: Sequence[SimResult], title: str = "") -> Figure:
    """Bars of the headline metrics, one bar per policy."""
    fig, axes = _figure(len(SUMMARY_METRICS), width=3.2, height=3.4)
    names = [r.metrics.policy for r in results]
    for ax, (field, label) in zip(axes, SUMMARY_METRICS, strict=True):
        ax.bar(names, [getattr(r.metrics, field) for r in results])
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    if title:
        fig.suptitle(title)
    return fig


def sweep(
    rows: Sequence[Mapping[str, Any]],
    param: str,
    metrics: Sequence[str] = ("makespan", "latency_p99", "utilisation", "jain_gs"),
    title: str = "",
) -> Figure:
    """Each metric against the swept ``param``, one line per policy (other params averaged)."""
    fig, axes = _figure(len(metrics), width=3.4, height=3.2)
    if len(metrics) == 1:
        axes = [axes]
    policies = sorted({str(r["policy"]) for r in rows})
    for ax, field in zip(axes, metrics, strict=True):
        for pol in policies:
            acc: dict[Any, list[float]] = {}
            for r in rows:
                if r["policy"] == pol:
                    acc.setdefault(r[param], []).append(float(r[field]))
            xs = sorted(acc)
            ax.plot(xs, [sum(acc[x]) / len(acc[x]) for x in xs], marker="o", label=pol)
        ax.set_xlabel(param)
        ax.set_title(field, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
