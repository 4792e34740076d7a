"""The ``csr`` command as a user types it: ``csr report`` on a fresh folder writes the table, the
figures and the HTML; every bad input fails with one message (exit status 2) before anything is
written; ``csr run`` checks ``-p`` names against the notebook's parameters cell."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from csr.cli import main, notebook_parameters, notebook_path, parse_value

REPO = Path(__file__).resolve().parents[1]


def _csr(*args: str, cwd: Path, runs: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "CSR_RUNS_DIR": str(runs), "PWD": str(cwd)}
    return subprocess.run([sys.executable, "-m", "csr", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _users_csv(folder: Path) -> Path:
    rows = [[0] * 10 for _ in range(10)]
    rows[4][9], rows[7][1], rows[3][5] = 5, 2, 1
    path = folder / "my costs.csv"
    path.write_text(",".join(str(i) for i in range(10)) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_help_reads_like_the_readme(capsys):
    with pytest.raises(SystemExit) as e:
        main(["report", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--cost-matrix FILE|BUILDER", "--dataset", "--profile {smoke,cpu,gpu}", "--eps", "--methods", "--out"):
        assert flag in out
    assert "weighted_minimax" in out and "pixel space" in out


@pytest.mark.parametrize("args, message", [
    (["run", "quickstart", "-p", "cost_matirx", "odd"],
     "notebook 'quickstart' has no parameter 'cost_matirx'; known: profile, dataset, model, cost_matrix"),
    (["run", "nosuch"], "unknown notebook 'nosuch'; known: cs_randomized_smoothing"),
    (["report", "--cost-matrix", "missing.csv"], "cost matrix file not found: 'missing.csv'; looked for"),
    (["report", "--cost-matrix", "odd", "--eps", "2"], "'eps' = 2.0 is an l_inf radius in pixel space"),
    (["report", "--cost-matrix", "odd", "--methods", "pgd,foo"], "parameter 'methods': unknown ['foo']"),
    (["report", "--cost-matrix", "[[0, 1], [1, 0]]"], "cost matrix is 2×2 but the dataset has 10 classes"),
    (["report", "--cost-matrix", "odd", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
])
def test_bad_inputs_fail_before_anything_is_written(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "runs"))
    with pytest.raises(SystemExit) as e:
        main([*args, "--quiet"] if args[0] == "report" else args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("csr: error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing may be written before the error"


def test_run_reads_the_parameters_cell():
    params = notebook_parameters(notebook_path("your_cost_matrix"))
    assert params["profile"] == "smoke" and params["cost_matrix"] == "odd" and "methods" in params
    assert [parse_value(v) for v in ("2", "1e-3", "False", "odd")] == [2, 1e-3, False, "odd"]


@pytest.mark.slow
def test_report_on_a_fresh_folder_writes_table_figures_and_html(tmp_path):
    """The issue's done-when, as a user: a matrix file with a digit header and a space in its
    name, a relative path, the smoke profile; ≥ 8 method rows and the sandwich on every ℓ∞ row."""
    _users_csv(tmp_path)
    proc = _csr("report", "--cost-matrix", "my costs.csv", "--profile", "smoke", "--out", "out", "--quiet",
                cwd=tmp_path, runs=tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    names = {p.name for p in out.iterdir()}
    assert {"table.csv", "table.json", "your_cost_matrix.ipynb", "your_cost_matrix.html", "tradeoff.png",
            "pairwise_reach.png", "cost_matrix.png"} <= names
    doc = json.loads((out / "table.json").read_text())
    rows = doc["rows"]
    assert len(rows) >= 8
    assert doc["cost_matrix"]["matrix"][4][9] == 5 and doc["cost_matrix"]["matrix"][7][1] == 2
    assert all(r["sandwich holds"] is True for r in rows if r["threat"] == "linf")
    assert "Every method under one threat model" in (out / "your_cost_matrix.html").read_text()


@pytest.mark.slow
def test_report_on_a_dask_cluster_writes_the_serial_table(tmp_path):
    """`csr report --scheduler <LocalCluster>` trains the grid on the cluster's workers and writes
    the same table as the serial run (fresh runs folders for both)."""
    distributed = pytest.importorskip("distributed")
    args = ["report", "--cost-matrix", "odd", "--profile", "smoke", "--methods", "standard,pgd,cs_certified,gaussian",
            "--quiet"]
    serial = _csr(*args, "--out", "serial", cwd=tmp_path, runs=tmp_path / "runs-serial")
    assert serial.returncode == 0, serial.stderr[-3000:]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as cluster:
        runs = tmp_path / "runs-dask"
        dask = _csr(*args, "--out", "dask", "--scheduler", cluster.scheduler_address, cwd=tmp_path, runs=runs)
    assert dask.returncode == 0, dask.stderr[-3000:]
    a, b = (tmp_path / "serial" / "table.csv").read_text(), (tmp_path / "dask" / "table.csv").read_text()
    assert a == b
    trained = [json.loads(line)["worker"] for p in runs.glob("*/log.jsonl") for line in p.read_text().splitlines()]
    assert len(trained) >= 4 and len({w.split(":")[1] for w in trained}) >= 2  # on both workers


def test_a_wrong_scheduler_fails_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "runs"))
    import socket

    with socket.socket() as s:  # a free loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit) as e:
        main(["report", "--cost-matrix", "odd", "--scheduler", f"tcp://127.0.0.1:{port}", "--quiet"])
    assert e.value.code == 2
    assert f"no Dask scheduler at 'tcp://127.0.0.1:{port}'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
