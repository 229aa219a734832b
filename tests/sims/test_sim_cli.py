"""``gmp sim``: scenarios in, JSON/CSV/PNG out, deterministic; sweeps on an executor."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from gmp.cli import main
from sims import scenario as sc

TINY = """\
name = "tiny"
seed = 3
procs = 4
policies = ["gmp", "global", "p2c"]

[workload]
kind = "skew"
n = 800
batch = 16
load = 0.8
service = { dist = "exp", mean = 1e-3 }

[sweep]
"workload.load" = [0.5, 0.9]
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    return p


def test_run_writes_results_and_plots(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["sim", str(tiny), "--out", str(out), "--no-progress"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "summary.json",
        "summary.csv",
        "timing.json",
        "utilisation.csv",
        "latency_quantiles.csv",
        "latency_cdf.png",
        "utilisation.png",
        "per_p.png",
        "summary.png",
    } <= names
    doc = json.loads((out / "summary.json").read_text())
    assert [r["policy"] for r in doc["results"]] == ["gmp", "global", "p2c"]
    assert all(r["gs"] == 801 for r in doc["results"])
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "latency_p99" in rows[0]
    assert (out / "latency_cdf.png").read_bytes()[:4] == b"\x89PNG"
    report = capsys.readouterr().out
    assert "gmp" in report and "makespan_s" in report and "wrote" in report


def test_same_seed_same_files(tiny: Path, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "3"), (b, "3"), (c, "4")):
        assert (
            main(
                [
                    "sim",
                    "run",
                    str(tiny),
                    "--out",
                    str(out),
                    "--no-plots",
                    "--no-progress",
                    "--seed",
                    seed,
                ]
            )
            == 0
        )
    for name in ("summary.json", "summary.csv", "utilisation.csv", "latency_quantiles.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "summary.csv").read_bytes() != (c / "summary.csv").read_bytes()


def test_overrides_and_policy_selection(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = ["sim", str(tiny), "--out", str(out), "--no-plots", "--no-progress"]
    argv += ["--set", "workload.n=100", "--set", "procs=2", "--policy", "tokio"]
    assert main(argv) == 0
    doc = json.loads((out / "summary.json").read_text())
    assert [(r["policy"], r["gs"], r["procs"]) for r in doc["results"]] == [("tokio", 101, 2)]


def test_bundled_scenarios_are_valid_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    bundled = sc.bundled_scenarios()
    assert {"skew", "blocking", "fairness", "mmc", "forkjoin", "bursts"} <= set(bundled)
    for name in bundled:
        data = sc.load(name)
        assert data["name"] == name and data.get("description")
    assert main(["sim", "list"]) == 0
    assert "skew" in capsys.readouterr().out


def test_a_bundled_scenario_runs_by_name(tmp_path: Path) -> None:
    out = tmp_path / "fj"
    argv = ["sim", "forkjoin", "--out", str(out), "--no-plots", "--no-progress"]
    assert main([*argv, "--set", "workload.depth=6", "--policy", "gmp"]) == 0
    assert json.loads((out / "summary.json").read_text())["results"][0]["gs"] == 127


def test_sweep_on_a_process_pool(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "sw"
    assert (
        main(["sim", "sweep", str(tiny), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    )
    with (out / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3
    assert [(r["workload.load"], r["policy"]) for r in rows][:3] == [
        ("0.5", "gmp"),
        ("0.5", "global"),
        ("0.5", "p2c"),
    ]
    assert (out / "sweep_workload_load.png").exists()
    # Same seed, same sweep: identical results whatever the worker scheduling.
    out2 = tmp_path / "sw2"
    assert (
        main(
            [
                "sim",
                "sweep",
                str(tiny),
                "--out",
                str(out2),
                "--workers",
                "2",
                "--no-progress",
                "--no-plots",
            ]
        )
        == 0
    )
    assert (out / "sweep.csv").read_bytes() == (out2 / "sweep.csv").read_bytes()


def test_sweep_workers_are_not_forked_from_a_threaded_process() -> None:
    # The CLI has threads when the pool starts (tqdm's monitor, log flushers): a forked
    # worker could inherit one of their locks held (CPython 3.12+ warns of it).
    import argparse
    import threading

    from gmp.cli import _executor

    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with threading.Lock():
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        args = argparse.Namespace(scheduler=None, workers=1)
        with _executor(args) as ex:
            assert ex._mp_context.get_start_method() != "fork"  # type: ignore[attr-defined]
            assert ex.submit(sum, [1, 2]).result(timeout=60) == 3
    finally:
        release.set()
        t.join(10)


def test_sweep_params_from_the_command_line(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "sp"
    argv = ["sim", "sweep", str(tiny), "--out", str(out), "--workers", "1", "--no-progress"]
    argv += ["--param", "procs=2,4", "--policy", "gmp", "--no-plots"]
    assert main(argv) == 0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["params"] == ["procs"]
    assert [(r["procs"], r["policy"]) for r in doc["rows"]] == [(2, "gmp"), (4, "gmp")]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is not None, reason="dask installed")
def test_scheduler_without_dask_says_what_to_install(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "sim",
        "sweep",
        str(tiny),
        "--out",
        str(tmp_path),
        "--scheduler",
        "tcp://127.0.0.1:8786",
    ]
    assert main([*argv, "--no-progress"]) == 2
    assert "gmp-runtime[sim-dask]" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[workload]\nkind = "nope"\n', "workload kind must be one of"),
        ('policies = ["fifo"]\n[workload]\nkind = "poisson"\nn = 5\n', "unknown policy 'fifo'"),
        ('[workload]\nkind = "poisson"\nn = 5\n[config]\nturbo = true\n', "unknown [config] keys"),
        ('[workload]\nkind = "poisson"\nn = 5\nbogus = 1\n', "bad parameters for workload"),
        ("this is not toml", "not valid TOML"),
        ('[workload]\nkind = "poisson"\nn = 5\nservice = { dist = "weibull" }\n', "dist = one of"),
    ],
)
def test_bad_scenarios_fail_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    assert main(["sim", str(p), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_missing_scenario_and_sweepless_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", str(tmp_path / "nope.toml")]) == 2
    assert "bundled scenarios" in capsys.readouterr().err
    p = tmp_path / "flat.toml"
    p.write_text('[workload]\nkind = "poisson"\nn = 5\n')
    assert main(["sim", "sweep", str(p), "--no-progress"]) == 2
    assert "nothing to sweep" in capsys.readouterr().err


def test_parse_value_reads_toml_scalars() -> None:
    assert sc.parse_value("0.5") == 0.5
    assert sc.parse_value("true") is True
    assert sc.parse_value("gmp") == "gmp"
    assert sc.parse_value('"x"') == "x"
    assert sc.override({"a": {"b": 1}}, "a.c", 2) == {"a": {"b": 1, "c": 2}}
