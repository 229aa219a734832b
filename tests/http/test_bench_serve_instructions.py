"""``python -m bench.serve_instructions`` refuses bad arguments before starting anything,
and says what it needs when valgrind is missing (the measurement itself runs under
valgrind for about a minute and is not run here)."""

from __future__ import annotations

import pytest

from bench import serve_instructions


@pytest.mark.parametrize("argv", [["--reps", "0"], ["--requests", "0"], ["--warmup", "-1"]])
def test_bad_counts_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        serve_instructions.main(argv)
    assert exit_.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_without_valgrind_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve_instructions.shutil, "which", lambda name: None)
    assert serve_instructions.main([]) == 2
    assert "needs valgrind" in capsys.readouterr().err
