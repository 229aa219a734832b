"""``python -m bench.spawn_floor`` runs every row of its ladder to completion.

Each row spawns, runs and joins the same coroutines and checks inside that every result
came back (a row that lost or repeated a G raises); the CLI refuses counts below one."""

from __future__ import annotations

import pytest

from bench import spawn_floor


@pytest.mark.parametrize("name", list(spawn_floor.ROWS))
def test_every_row_completes_all_its_coroutines(name: str) -> None:
    assert spawn_floor.ROWS[name](500) > 0


def test_cli_prints_every_row_beside_asyncio(capsys: pytest.CaptureFixture[str]) -> None:
    assert spawn_floor.main(["--n", "300", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    for name in spawn_floor.ROWS:
        assert name in out
    assert "1.00x" in out  # asyncio, the anchor


def test_cli_refuses_a_count_below_one() -> None:
    with pytest.raises(SystemExit) as exc:
        spawn_floor.main(["--n", "0"])
    assert exc.value.code == 2
