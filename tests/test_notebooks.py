"""Notebooks as a user runs them: their own cost matrix, and bad parameters failing in the first
cell after the parameters, before anything is trained or written.

Every notebook is *executed* once per ``make test``, by nbval (``make nbval``). These tests do not
execute them again: they read the sources and their stored (smoke) outputs — which nbval checks
are reproduced — and they call :func:`csr.profiles.setup` in-process exactly as each notebook's
setup cell calls it (keyword for keyword, read from the cell). Only one papermill run per notebook
remains: a bad parameter, which fails in the setup cell within seconds, to show that the message
reaches the user of the papermill command line.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]


def _is_value_error(ename: str) -> bool:
    """A kernel's exception name is a ValueError: builtins' or csr.profiles' / csr.costs' own
    (ParameterError, CostMatrixError and its subclasses)."""
    import builtins

    from csr import costs, profiles

    cls = next((getattr(m, ename) for m in (builtins, profiles, costs) if hasattr(m, ename)), None)
    return isinstance(cls, type) and issubclass(cls, ValueError)


def _code(name: str) -> list:
    return [c for c in nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4).cells if c.cell_type == "code"]


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def _setup_index(code: list) -> int:
    """Index (among code cells) of the setup cell: the first after the parameters cell and the
    cell papermill injects after it (stored sources keep the one ``make notebooks`` injected)."""
    i = 1
    while i < len(code) and "injected-parameters" in _tags(code[i]):
        i += 1
    return i


def _parameters(name: str) -> dict:
    """The parameters cell's defaults (name -> literal value)."""
    src = next(c.source for c in _code(name) if "parameters" in _tags(c))
    out = {}
    for node in ast.parse(src).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{name}: parameters cell holds only assignments"
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def _setup_call(name: str) -> tuple[str, dict[str, str]]:
    """The setup cell's ``setup(...)`` call: (notebook argument, {keyword: parameter it passes})."""
    code = _code(name)
    tree = ast.parse(code[_setup_index(code)].source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "setup"]
    assert len(calls) == 1, f"{name}: the setup cell calls setup() once"
    call = calls[0]
    assert len(call.args) == 1 and isinstance(call.args[0], ast.Constant), f"{name}: setup('<notebook>', ...)"
    kw = {}
    for k in call.keywords:
        assert k.arg is not None and isinstance(k.value, ast.Name), f"{name}: setup() gets parameters by keyword"
        kw[k.arg] = k.value.id
    return call.args[0].value, kw


def _setup_in_process(name: str, **overrides):
    """``setup()`` called as the notebook's setup cell calls it, after papermill injected ``overrides``."""
    from csr.profiles import setup

    values = {**_parameters(name), **overrides}
    notebook, kw = _setup_call(name)
    return setup(notebook, **{k: values[v] for k, v in kw.items()})


def _checked_outputs(name: str) -> list[str]:
    """Stored text of the cells nbval compares (``# NBVAL_CHECK_OUTPUT``)."""
    out = []
    for c in _code(name):
        if "NBVAL_CHECK_OUTPUT" in c.source:
            out.append("".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in c.get("outputs", [])))
    return out


# Every notebook whose method uses a cost matrix takes a `cost_matrix` parameter.
COST_NOTEBOOKS = [n for n in NAMES if "cost_matrix" in _parameters(n)]


# ------------------------------------------------------------------------------ the contract
@pytest.mark.parametrize("name", NAMES)
def test_notebook_contract(name):
    code = _code(name)
    assert "parameters" in _tags(code[0]), "first code cell must be tagged 'parameters'"
    params = code[0].source
    for p in ("profile", "device", "seed"):
        assert f"{p} =" in params, f"parameters cell lacks {p!r}"
    assert 'profile = "smoke"' in params, "sources keep the smoke profile (nbval compares its outputs)"
    assert any(o.get("output_type") for c in code for o in c.get("outputs", [])), "no stored outputs"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in code), "no summary cell marked for nbval"
    assert "%pip" not in "".join(c.source for c in code) and "!pip" not in "".join(c.source for c in code)


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_passes_every_parameter(name):
    """What makes the in-process checks below the notebook's own: its setup cell (the first after
    the parameters) calls ``setup(<its name>, ...)`` with the parameters as keywords, and every
    parameter it does not hand to setup() is still checked in that cell."""
    notebook, kw = _setup_call(name)
    assert notebook == name
    assert all(v == k for k, v in kw.items()), "setup(name=name, ...): keyword and parameter agree"
    code = _code(name)
    cell = code[_setup_index(code)].source
    for p in set(_parameters(name)) - set(kw.values()):
        assert f"parameter {p!r}" in cell or f"parameter '{p}'" in cell, f"{p!r} is neither passed to setup() nor checked"


def test_every_cost_notebook_is_covered():
    assert {"quickstart", "zhang_evans_2019", "cs_randomized_smoothing", "shen_cost_sensitive_classes",
            "terzi_wpgd", "zeng_weighted_minimax", "your_cost_matrix"} <= set(COST_NOTEBOOKS)


# ------------------------------------------------------------------------- the user's matrix
def _users_matrix(folder: Path) -> Path:
    path = folder / "my costs.csv"
    rows = [[0.0] * 10 for _ in range(10)]
    rows[4][9] = 5.0  # real-valued: 4 → 9 costs 5, 7 → 1 costs 2
    rows[7][1] = 2.0
    path.write_text("\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("notebook", COST_NOTEBOOKS)
def test_notebook_with_users_matrix_file(tmp_path, monkeypatch, capsys, notebook):
    """A user's real-valued matrix file (a path with a space) is what the notebook evaluates: the
    setup cell reads and describes it, and the notebook reports the robust cost of the matrix in
    use in a cell whose output nbval checks."""
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "runs"))
    path = _users_matrix(tmp_path)
    S = _setup_in_process(notebook, cost_matrix=str(path))
    assert "real-valued, 2 sensitive pairs" in capsys.readouterr().out
    assert S.cost.values[4, 9] == 5.0 and S.cost.values[7, 1] == 2.0 and len(S.cost.pairs) == 2
    checked = _checked_outputs(notebook)
    assert any("robust_cost" in t for t in checked), "no checked cell reports robust_cost"
    default = _parameters(notebook)["cost_matrix"]
    if default is not None:  # the stored run evaluated the default matrix: its name is in that report
        name = _setup_in_process(notebook).cost.name
        assert any("robust_cost" in t and repr(name) in t for t in checked), (
            f"no checked cell reports the robust cost of the notebook's matrix {name!r}")


def test_notebook_evaluations_are_files_next_to_runs(request):
    """After nbval executed the notebooks (``make nbval`` collects this test after them, in the
    same session): their evaluations are data, ``eval-*.json`` files inside the run folders."""
    from csr.utils import runs_dir

    items = request.session.items
    executed = [i for i in items[: items.index(request.node)] if i.path.suffix == ".ipynb"]
    if not executed:
        pytest.skip("checks what nbval's notebooks left behind: `make nbval` runs it after them")
    assert {i.path.stem for i in executed} == set(NAMES), "nbval executes every notebook first"
    evals = list(runs_dir().glob("*/eval-*.json"))
    assert evals, f"no eval-*.json under {runs_dir()}"
    assert all((p.parent / "config.json").exists() for p in evals), "an evaluation outside a run folder"
    # ... and every notebook's headline tables are CSV + JSON in a results folder keyed by its settings
    import json

    import pandas as pd

    folders = {}
    for index in runs_dir().glob("results/*/index.json"):
        doc = json.loads(index.read_text())
        folders.setdefault(doc["study"], []).append((index.parent, doc))
    assert set(folders) >= set(NAMES), f"notebooks that wrote no results folder: {set(NAMES) - set(folders)}"
    for study, found in folders.items():
        for folder, doc in found:
            assert doc["tables"], f"{folder}: an index with no table"
            assert folder.name.startswith(f"{study}-") and "settings" in doc and "cost_matrix" in doc
            for name in doc["tables"]:
                table = pd.read_csv(folder / f"{name}.csv")
                rows = json.loads((folder / f"{name}.json").read_text())["rows"]
                assert len(rows) == len(table), (folder, name)
                assert not rows or list(rows[0]) == list(table.columns), (folder, name)


# --------------------------------------------------------------------------- bad parameters
def _bad_csv(folder: Path) -> Path:
    bad = folder / "bad.csv"
    bad.write_text("\n".join(",".join("nan" if (i, j) == (2, 3) else ("0" if i == j else "1")
                                      for j in range(10)) for i in range(10)))
    return bad


BAD = {
    "matrix_size": (dict(cost_matrix=[[0, 1], [1, 0]]), "cost matrix is 2×2 but the dataset has 10 classes"),
    "matrix_file": (dict(cost_matrix="bad.csv"), "non-finite entry"),
    "epochs": (dict(epochs="three"), "parameter 'epochs' must be int"),
    "eps": (dict(eps=-0.5), "parameter 'eps' must be a finite number >= 0"),
    "profile": (dict(profile="huge"), "unknown profile 'huge'"),
    "dataset": (dict(dataset="imagenet"), "unknown dataset 'imagenet'"),
}
_COST_CASES = {"matrix_size", "matrix_file"}


def _resolve(params: dict, folder: Path) -> dict:
    if params.get("cost_matrix") == "bad.csv":
        return {**params, "cost_matrix": str(_bad_csv(folder))}
    return params


@pytest.mark.parametrize("notebook, case", [(n, c) for c in BAD for n in NAMES if c not in _COST_CASES or n in COST_NOTEBOOKS])
def test_bad_parameters_fail_in_setup(tmp_path, monkeypatch, notebook, case):
    """Each bad parameter, as the notebook's setup cell passes it: a ValueError naming it, raised
    before anything is written."""
    from csr.costs import CostMatrixError
    from csr.profiles import ParameterError

    params, error = BAD[case]
    runs = tmp_path / "runs"
    monkeypatch.setenv("CSR_RUNS_DIR", str(runs))
    with pytest.raises(ValueError) as info:
        _setup_in_process(notebook, **_resolve(params, tmp_path))
    assert error in str(info.value)
    if case != "dataset":  # the dataset registry's own ValueError
        assert isinstance(info.value, (ParameterError, CostMatrixError))
    assert _is_value_error(type(info.value).__name__)  # what the papermill test checks of its kernel's error
    assert not runs.exists(), "nothing may be written before the error"


# One papermill run per notebook: each case of BAD reaches a user through papermill at least once.
PAPERMILL_CASE = {
    "quickstart": "matrix_file",
    "zhang_evans_2019": "matrix_size",
    "cs_randomized_smoothing": "epochs",
    "shen_cost_sensitive_classes": "eps",
    "terzi_wpgd": "dataset",
    "zeng_weighted_minimax": "profile",
    "your_cost_matrix": "matrix_size",
}


def test_papermill_cases_cover_every_notebook_and_case():
    assert set(PAPERMILL_CASE) == set(NAMES)
    assert set(PAPERMILL_CASE.values()) == set(BAD)
    assert all(PAPERMILL_CASE[n] not in _COST_CASES or n in COST_NOTEBOOKS for n in NAMES)


@pytest.mark.parametrize("notebook", NAMES)
def test_bad_parameter_reaches_the_papermill_user(tmp_path, notebook):
    """The README's command line (``papermill --cwd notebooks ... -f params.yaml``) with one bad
    parameter: exit status 1, the message on the terminal, the setup cell marked failed in the
    output notebook, and no run folder."""
    params, error = BAD[PAPERMILL_CASE[notebook]]
    params = {"profile": "smoke", **_resolve(params, tmp_path)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    runs, out = tmp_path / "runs", tmp_path / "out.ipynb"
    env = {**os.environ, "CSR_RUNS_DIR": str(runs)}
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", "--cwd", str(REPO / "notebooks"), "-k", "python3", "--no-progress-bar",
         str(REPO / "notebooks" / f"{notebook}.ipynb"), str(out), "-f", str(tmp_path / "params.yaml")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "PapermillExecutionError" in proc.stderr and error in proc.stderr, proc.stderr[-3000:]
    code = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    errors = [(i, o) for i, c in enumerate(code) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # cells: parameters, injected-parameters, setup → the setup cell is the first that runs work
    assert [i for i, _ in errors] == [_setup_index(code)] == [2], errors
    assert _is_value_error(errors[0][1]["ename"]) and error in errors[0][1]["evalue"]
    assert not runs.exists(), "nothing may be written before the error"
