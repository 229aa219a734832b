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


def test_there_are_three_notebooks_without_outputs() -> None:
    assert len(NOTEBOOKS) == 3
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.name}: commit notebooks without outputs "
                    "(regenerate them with notebooks/make_notebooks.py)"
                )


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
