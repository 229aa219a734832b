"""``python -m bench.serve_instructions`` refuses bad arguments before starting anything,
says what it needs when valgrind is missing, and reads callgrind's per-thread files: the
busiest thread is the serving M, all of them are summed, and a run that counted nothing
is an error (the measurement itself runs under valgrind for about a minute and is not
run here)."""

from __future__ import annotations

from pathlib import Path

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


def _callgrind_file(path: Path, totals: int | None) -> Path:
    lines = ["version: 1", "creator: callgrind", "summary: 0"]
    if totals is not None:
        lines.append(f"totals: {totals}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_thread_file_gives_its_totals_not_its_summary(tmp_path: Path) -> None:
    files = [
        _callgrind_file(tmp_path / "callgrind.out.7-01", 900),
        _callgrind_file(tmp_path / "callgrind.out.7-02", 40_000),
        _callgrind_file(tmp_path / "callgrind.out.7-03", 3_000_000),
        _callgrind_file(tmp_path / "callgrind.out.7-04", None),  # no totals line: skipped
    ]
    assert sorted(serve_instructions.thread_totals(files)) == [900, 40_000, 3_000_000]


def test_the_busiest_thread_is_the_serving_one_and_all_threads_are_summed() -> None:
    count = serve_instructions.per_request([900, 40_000, 3_000_000], 1000, "app")
    assert count.serving == 3000.0
    assert count.total == 3040.9


@pytest.mark.parametrize("counts", [[], [0, 0]])
def test_nothing_counted_is_an_error_naming_the_app(counts: list[int]) -> None:
    with pytest.raises(RuntimeError, match="counted nothing for gmp-prod"):
        serve_instructions.per_request(counts, 1000, "gmp-prod")
