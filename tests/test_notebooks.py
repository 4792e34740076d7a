"""Notebooks as a user runs them: papermill with their own cost matrix, and bad parameters
failing in the first cell after the parameters, before anything is trained or written."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_contract(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    params = code[0].source
    for name in ("profile", "device", "seed"):
        assert f"{name} =" in params, f"parameters cell lacks {name!r}"
    assert 'profile = "smoke"' in params, "sources keep the smoke profile (nbval compares its outputs)"
    assert any(o.get("output_type") for c in code for o in c.get("outputs", [])), "no stored outputs"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in code), "no summary cell marked for nbval"
    assert "%pip" not in "".join(c.source for c in code) and "!pip" not in "".join(c.source for c in code)


def _parameters(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))


# Every notebook whose method uses a cost matrix takes a `cost_matrix` parameter.
COST_NOTEBOOKS = [p.stem for p in NOTEBOOKS if "cost_matrix =" in _parameters(p)]


def _run(tmp_path, notebook="quickstart", **params):
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks" / f"{notebook}.ipynb"), str(out), parameters=params,
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def _stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_every_cost_notebook_is_covered():
    assert {"quickstart", "zhang_evans_2019", "cs_randomized_smoothing", "shen_cost_sensitive_classes",
            "terzi_wpgd"} <= set(COST_NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", COST_NOTEBOOKS)
def test_notebook_with_users_matrix_file(tmp_path, monkeypatch, notebook):
    monkeypatch.setenv("CSR_RUNS_DIR", os.environ.get("CSR_RUNS_DIR", str(tmp_path / "runs")))
    path = tmp_path / "my costs.csv"
    rows = [[0.0] * 10 for _ in range(10)]
    rows[4][9] = 5.0  # real-valued: 4 → 9 costs 5, 7 → 1 costs 2
    rows[7][1] = 2.0
    path.write_text("\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n")
    nb = _run(tmp_path, notebook, profile="smoke", cost_matrix=str(path))
    text = _stdout(nb)
    assert "real-valued, 2 sensitive pairs" in text
    assert "robust_cost" in text
    # the evaluation is data next to the runs, keyed by the matrix
    assert list(Path(os.environ["CSR_RUNS_DIR"]).glob("*/eval-*.json"))


@pytest.mark.parametrize("notebook", COST_NOTEBOOKS)
@pytest.mark.parametrize(
    "params, error",
    [
        (dict(cost_matrix=[[0, 1], [1, 0]]), "cost matrix is 2×2 but the dataset has 10 classes"),
        (dict(cost_matrix="bad.csv"), "non-finite entry"),
        (dict(epochs="three"), "parameter 'epochs' must be int"),
        (dict(eps=-0.5), "parameter 'eps' must be a finite number >= 0"),
        (dict(profile="huge"), "unknown profile 'huge'"),
        (dict(dataset="imagenet"), "unknown dataset 'imagenet'"),
    ],
)
def test_bad_parameters_fail_in_first_cell(tmp_path, monkeypatch, notebook, params, error):
    runs = tmp_path / "runs"
    monkeypatch.setenv("CSR_RUNS_DIR", str(runs))
    if params.get("cost_matrix") == "bad.csv":
        bad = tmp_path / "bad.csv"
        bad.write_text("\n".join(",".join("nan" if (i, j) == (2, 3) else ("0" if i == j else "1")
                                          for j in range(10)) for i in range(10)))
        params = {**params, "cost_matrix": str(bad)}
    with pytest.raises(pm.PapermillExecutionError) as info:
        _run(tmp_path, notebook, **{"profile": "smoke", **params})
    assert error in str(info.value)
    assert info.value.ename in {"ValueError", "CostMatrixError", "ParameterError"}  # all ValueErrors
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    # cells: parameters, injected-parameters, setup → the setup cell is the first that runs work
    assert failed == [2], failed
    assert not runs.exists(), "nothing may be written before the error"
