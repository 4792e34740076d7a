"""Results are data: a study method marked @headline writes every table it returns as CSV and
JSON into a folder keyed by the settings and the cost matrix, listed in the folder's index."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from csr import costs
from csr.studies.base import Study, headline


class Toy(Study):
    name = "toy"

    @headline
    def table(self, task: str, eps: float, runs: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"eps": [eps, 2 * eps], "task": [task, task]}, index=pd.Index(["a", "b"], name="model"))

    @headline
    def both(self) -> dict:
        return {"table": pd.DataFrame({"x": [1]}), "claims": pd.DataFrame({"claim": ["c"], "holds here?": ["yes"]}),
                "note": "not a table"}

    def plain(self) -> pd.DataFrame:
        return pd.DataFrame({"x": [1]})


def _toy(settings: dict, cost=None) -> Toy:
    S = SimpleNamespace(settings=settings, cost=cost, splits=SimpleNamespace(num_classes=3, class_names=["0", "1", "2"]))
    return Toy(S)


@pytest.fixture(autouse=True)
def _runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path))


def test_headline_tables_are_written_with_settings_and_index(tmp_path):
    t = _toy({"eps": 0.1, "device": "cpu", "threads": 2}, costs.CostMatrix([[0, 1, 0], [0, 0, 0], [0, 0, 0]]))
    out = t.table("single_3", 0.25, runs={"big": object()})
    folder = t.results_folder()
    assert folder.parent == tmp_path / "results" and folder.name.startswith("toy-")
    back = pd.read_csv(folder / "table-single_3-0.25.csv")
    assert list(back.columns) == ["model", "eps", "task"] and back["eps"].tolist() == out["eps"].tolist()
    doc = json.loads((folder / "table-single_3-0.25.json").read_text())
    assert doc["settings"] == {"eps": 0.1} and doc["cost_matrix"] == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert doc["rows"][1] == {"model": "b", "eps": 0.5, "task": "single_3"}
    t.table("single_3", 0.25)  # the same scalar arguments again: a second file, not an overwrite
    t.both()
    t.plain()
    index = json.loads((folder / "index.json").read_text())
    assert index["tables"] == ["table-single_3-0.25", "table-single_3-0.25-2", "both.table", "both.claims"]
    assert not (folder / "plain.csv").exists()


def test_the_folder_is_keyed_by_settings_and_matrix_not_device():
    a = _toy({"eps": 0.1, "device": "cpu"}).results_folder()
    assert a == _toy({"eps": 0.1, "device": "cuda", "threads": 8}).results_folder()
    assert a != _toy({"eps": 0.2}).results_folder()
    assert a != _toy({"eps": 0.1}, costs.CostMatrix([[0, 1, 0], [0, 0, 0], [0, 0, 0]])).results_folder()
