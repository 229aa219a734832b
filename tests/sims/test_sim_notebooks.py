"""The notebooks run top to bottom on a fresh kernel (nbclient), fast enough for CI."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
BUDGET_S = 30.0
"""Per notebook; the three together must stay under a minute."""


def test_three_notebooks_committed_with_outputs_of_their_current_cells() -> None:
    """A reader sees the tables and plots without running anything, and they are the
    outputs of the cells as the generator writes them (not of an older version)."""
    sys.path.insert(0, str(NOTEBOOKS[0].parent))
    try:
        import make_notebooks
    finally:
        sys.path.pop(0)
    sources = {
        "01_work_stealing_under_skew.ipynb": make_notebooks.STEALING,
        "02_blocking_and_handoff.ipynb": make_notebooks.BLOCKING,
        "03_fairness.ipynb": make_notebooks.FAIRNESS,
    }
    assert sorted(p.name for p in NOTEBOOKS) == sorted(sources)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert [c.source for c in nb.cells] == [c.source for c in sources[path.name]], (
            f"{path.name} is stale: regenerate it with notebooks/make_notebooks.py"
        )
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not run in order"
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"]
        assert any("image/png" in o.get("data", {}) for o in outputs), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    # The kernel must be this interpreter, whatever kernelspec the machine has.
    client.kernel_manager_class = _this_python_kernel()
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    images = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    )
    assert images >= 2, f"{path.name} should show its plots"
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.1f}s"


def _this_python_kernel() -> type:
    from jupyter_client.manager import KernelManager

    class ThisPython(KernelManager):  # type: ignore[misc]
        """Launch ipykernel with the interpreter running the tests (the virtualenv's)."""

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file]

    return ThisPython
