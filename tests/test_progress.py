"""Progress bars (csr.progress): where $CSR_PROGRESS says, with ETA; in a kernel that ``csr run``
executes they reach the terminal, never the executed notebook; under a batch executor (papermill
by hand, nbval) with no setting there are none."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from csr import progress
from csr.train import TrainConfig, train



@pytest.mark.parametrize("value, expected", [("0", "off"), ("off", "off"), ("False", "off"), ("1", "terminal"),
                                             ("terminal", "terminal"), ("yes", "terminal"), ("notebook", "notebook")])
def test_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(progress.ENV, value)
    assert progress.mode() == expected


def test_unknown_mode_names_the_known_values(monkeypatch):
    monkeypatch.setenv(progress.ENV, "loud")
    with pytest.raises(ValueError, match=r"CSR_PROGRESS='loud': known values are off/0, terminal/1, notebook"):
        progress.mode()


def test_auto_outside_a_kernel_follows_the_terminal(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.mode() == "off"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress.mode() == "terminal"


def _train(tmp_path: Path) -> None:
    train(TrainConfig(dataset="digits", model="mlp", epochs=2, batch_size=64, n_train=256, seed=1),
          runs_root=tmp_path / "runs")


def test_training_draws_a_bar_with_eta_only_when_asked(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(progress, "_terminal", None)
    monkeypatch.setenv(progress.ENV, "terminal")
    _train(tmp_path / "a")
    err = capfd.readouterr().err
    assert "standard epoch 1/2" in err and "standard epoch 2/2" in err
    assert "/4 [" in err and "<" in err and "batch/s" in err  # 4 batches of 64; elapsed<ETA, rate
    monkeypatch.setenv(progress.ENV, "off")
    _train(tmp_path / "b")
    assert "epoch" not in capfd.readouterr().err


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("runs = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "from csr.train import TrainConfig, train\n"
                    "r = train(TrainConfig(dataset='digits', model='mlp', epochs=1, n_train=256, seed=2), runs_root=runs)\n"
                    "print('trained', r.history['epoch'].iloc[-1])")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


@pytest.mark.slow
def test_csr_run_shows_bars_on_the_terminal_and_keeps_the_notebook_clean(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    env = {k: v for k, v in os.environ.items() if k != progress.ENV}
    runs = str(tmp_path / "runs")
    for quiet in (False, True):
        out = tmp_path / f"out-{quiet}.ipynb"
        cmd = [sys.executable, "-m", "csr", "run", str(src), "-p", "runs", runs + str(quiet), "--out", str(out)]
        p = subprocess.run(cmd + (["--quiet"] if quiet else []), env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "trained" in _outputs_text(out)
        assert "epoch 1/1" not in _outputs_text(out)  # the bar is not in the executed notebook
        assert ("standard epoch 1/1" in p.stderr) is (not quiet), p.stderr[-2000:]


@pytest.mark.slow
def test_no_bars_when_papermill_runs_a_notebook_by_hand(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    env = {k: v for k, v in os.environ.items() if k != progress.ENV}  # auto: the kernel's parent is papermill
    out = tmp_path / "out.ipynb"
    papermill = Path(sys.executable).with_name("papermill")
    p = subprocess.run([str(papermill), "--no-progress-bar", str(src), str(out), "-p", "runs", str(tmp_path / "runs")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "trained" in _outputs_text(out) and "epoch 1/1" not in _outputs_text(out)
    assert "epoch 1/1" not in p.stderr
