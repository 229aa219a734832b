"""Regenerate the notebooks in this folder from the cells below, executed.

    python notebooks/make_notebooks.py

The notebooks are committed with their outputs, so a reader sees the tables and plots
without running anything; the simulations are deterministic for a seed, so rerunning
gives the same numbers. tests/sims/test_sim_notebooks.py runs them again and ``make
lint`` checks them with ruff, so cells are written as ruff formats them. Keep every
simulation small: the three notebooks must run in well under a minute.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def code(src: str) -> nbformat.NotebookNode:
    return new_code_cell(textwrap.dedent(src).strip("\n"))


def md(src: str) -> nbformat.NotebookNode:
    return new_markdown_cell(textwrap.dedent(src).strip("\n"))


SETUP = """
    %matplotlib inline
    from IPython.display import Markdown, display

    from sims import SimConfig, plots, simulate
    from sims.report import markdown_table

    UNITS = {
        "makespan": "seconds of virtual time",
        "latency_p50": "seconds",
        "latency_p99": "seconds",
        "utilisation": "fraction of P time busy",
        "threads": "Ms (threads) created",
    }


    def with_units(fig, xlabel):
        # Label a sweep's axes: the swept parameter and each metric's unit.
        for ax in fig.axes:
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(UNITS.get(ax.get_title(), ""), fontsize=8)
        fig.tight_layout()
        return fig


    def zoom_fairness(fig):
        # Jain indexes all sit near 1: start their bars' axis just below the lowest
        # one (said in the title), so the differences show.
        for ax in fig.axes:
            if "Jain" in ax.get_title():
                lowest = min(bar.get_height() for bar in ax.patches)
                floor = max(0.0, lowest - max(0.02, (1 - lowest) * 0.5))
                ax.set_ylim(floor, 1.0)
                ax.set_title(f"{ax.get_title()}\\n(axis from {floor:.2f})", fontsize=8)
        fig.tight_layout()
        return fig
"""

STEALING = [
    md("""
        # Work stealing against its rivals under skew

        One spawner G creates every G of the run, so all work lands on **one P** (its
        `runnext` and local ring, spilling to the global queue past 256). Who spreads it?
        gmp steals half a victim's queue (Go's `runqsteal`), tokio does the same from its
        local queue (never its LIFO slot), `global` never needed to, `random` and `p2c`
        place Gs away from the spawner, and `perp` keeps them where they were spawned.
    """),
    code(SETUP),
    code("""
        from sims import Exponential, Skew

        POLICIES = ["gmp", "tokio", "global", "p2c", "random", "perp"]
        wl = Skew(n=6000, batch=32, load=0.8, service=Exponential(1e-3))
        cfg = SimConfig(procs=8, seed=1)
        results = [simulate(wl, pol, cfg) for pol in POLICIES]
        cols = ["policy", "makespan", "utilisation", "latency_p50", "latency_p99"]
        cols += ["steals", "jain_ps"]
        display(Markdown(markdown_table([r.metrics.row() for r in results], cols)))
    """),
    md("""
        Without stealing or placement (`perp`) one P does all the work: its Jain index
        across Ps is 1/8. The others keep all eight Ps busy; where they differ is latency:
        stealing half a queue at a time moves Gs in batches, so some wait behind their
        batch while a FIFO shared by every P serves them strictly in order.
    """),
    code("""
        display(plots.per_p(results, "busy time per P under skew"))
    """),
    code("""
        display(plots.latency_cdf(results, "latency under skew"))
    """),
    md("## How the gap changes with load"),
    code("""
        rows = []
        for load in (0.5, 0.7, 0.9):
            w = Skew(n=4000, batch=32, load=load, service=Exponential(1e-3))
            for pol in ("gmp", "tokio", "global", "p2c"):
                row = simulate(w, pol, cfg).metrics.row()
                row["workload.load"] = load
                rows.append(row)
        fig = plots.sweep(rows, "workload.load", ("makespan", "latency_p99", "utilisation"))
        display(with_units(fig, "offered load (fraction of the Ps' capacity)"))
    """),
]

BLOCKING = [
    md("""
        # Latency under blocking mixes, with and without handoff

        A fraction of Gs makes one 10 ms blocking call (a syscall). With **handoff**,
        sysmon notices after `handoff_after` (3 ms) that the P's M is stuck and gives the P
        to another M (Go's `retake` + `handoffp`), so the P's other Gs keep running.
        Without it the P waits for the call, and only stealing by other Ps rescues its queue.
    """),
    code(SETUP),
    code("""
        from sims import BlockingMix, Constant, LogNormal

        rows = []
        for fraction in (0.05, 0.2, 0.4):
            wl = BlockingMix(
                n=3000,
                load=0.6,
                block_fraction=fraction,
                block_time=Constant(10e-3),
                service=LogNormal(1e-3, 1.0),
            )
            for handoff in (True, False):
                cfg = SimConfig(procs=4, seed=1, handoff=handoff)
                for pol in ("gmp", "global"):
                    row = simulate(wl, pol, cfg).metrics.row()
                    label = pol if handoff else f"{pol} (no handoff)"
                    row.update(block_fraction=fraction, handoff=handoff, policy=label)
                    rows.append(row)
        cols = [
            "policy",
            "block_fraction",
            "latency_p50",
            "latency_p99",
            "handoffs",
            "threads",
            "utilisation",
        ]
        display(Markdown(markdown_table(rows, cols)))
    """),
    code("""
        fig = plots.sweep(rows, "block_fraction", ("latency_p50", "latency_p99", "threads"))
        display(with_units(fig, "fraction of Gs that block 10 ms"))
    """),
    md("""
        Handoff costs threads (one more M per P stuck in a call) and buys latency: without
        it, every G queued behind a blocked G waits for the call to return unless another P
        steals it. Even with handoff each call holds its P for 3-4 ms before sysmon acts,
        which at 40% blocking Gs is more P time than the CPU work itself: the queues grow.
    """),
    code("""
        wl = BlockingMix(n=3000, load=0.6, block_fraction=0.2, block_time=Constant(10e-3))
        pair = []
        for handoff in (True, False):
            r = simulate(wl, "gmp", SimConfig(procs=4, seed=1, handoff=handoff))
            pair.append(r)
        fig = plots.latency_cdf(pair, "gmp with handoff (first) and without (second)")
        for line, label in zip(fig.axes[0].lines, ("handoff", "no handoff"), strict=True):
            line.set_label(label)
        fig.axes[0].legend()
        display(fig)
    """),
]

FAIRNESS = [
    md("""
        # Fairness

        Jain's index `(sum x)^2 / (n sum x^2)` is 1 when everyone gets the same and 1/n
        when one gets everything. **Across Gs** we use each G's share of speed,
        `ideal time / latency`; **across Ps**, each P's busy time.
    """),
    code(SETUP),
    md("""
        ## Cooperative round-robin

        400 Gs each compute 25 short quanta with a `gosched()` after each. gmp sends a
        yielding G to the global queue (Go's `Gosched`), which mixes the Gs of every P;
        tokio's `yield_now` keeps it on its worker's local queue.
    """),
    code("""
        from sims import GoschedLoop, LogNormal, Poisson

        POLICIES = ["gmp", "tokio", "global", "p2c", "random", "perp"]
        wl = GoschedLoop(n=400, turns=25, quantum=LogNormal(1e-4, 0.5))
        rr = [simulate(wl, pol, SimConfig(procs=4, seed=1)) for pol in POLICIES]
        cols = ["policy", "jain_gs", "jain_ps", "makespan", "latency_p99"]
        display(Markdown(markdown_table([r.metrics.row() for r in rr], cols)))
        display(zoom_fairness(plots.summary(rr, "cooperative round-robin, 4 Ps")))
    """),
    md("""
        ## Heavy-tailed requests

        Poisson arrivals with log-normal service (sigma 1.5): a few long Gs. Placement
        without stealing lets short Gs queue behind long ones.
    """),
    code("""
        wl = Poisson(n=8000, load=0.8, service=LogNormal(1e-3, 1.5))
        heavy = [simulate(wl, pol, SimConfig(procs=8, seed=1)) for pol in POLICIES]
        display(Markdown(markdown_table([r.metrics.row() for r in heavy], cols)))
        display(zoom_fairness(plots.summary(heavy, "heavy-tailed service, 8 Ps")))
    """),
]


def write(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / name
    nbformat.write(nb, path)
    return path


def execute(path: Path) -> None:
    """Run a notebook on this interpreter and save it with its outputs."""
    import nbclient

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    for cell in nb.cells:  # keep diffs small: no per-run execution metadata
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main() -> None:
    for name, cells in (
        ("01_work_stealing_under_skew.ipynb", STEALING),
        ("02_blocking_and_handoff.ipynb", BLOCKING),
        ("03_fairness.ipynb", FAIRNESS),
    ):
        execute(write(name, cells))


if __name__ == "__main__":
    main()
