"""The Terzi, Susto & Chaudhari (WPGD) numbers transcribed into data/paper_results/terzi_wpgd.json.

Counts and cells below were checked by hand against shared/papers/003_78a4d8973adcfbb7.txt.
"""
import json
import numbers
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "csr" / "resources" / "paper_results" / "terzi_wpgd.json"

# (rows, columns) as printed in the paper (Table 2 flattened from two 4-column blocks).
SHAPES = {"table_1": (1, 4), "table_2": (2, 8), "table_3": (10, 4)}
TEXT_COLUMNS = {"table_3": {"dataset"}}
OLD_KEYS = {"paper", "retrieved", "table_1", "table_3", "claims"}


@pytest.fixture(scope="module")
def data():
    with open(PATH) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def fp(data):
    return data["from_paper"]


def test_existing_keys_kept(data):
    assert OLD_KEYS <= set(data)
    assert data["table_1"] == "not retrieved" and data["table_3"] == "not retrieved"


def test_top_level_sections(fp):
    for key in ("source", "tables", "figures", "settings", "not_stated", "claims", "contradictions", "equations"):
        assert key in fp, key
    assert isinstance(fp["not_stated"], list) and fp["not_stated"]
    assert isinstance(fp["contradictions"], list) and fp["contradictions"]


def test_schema(fp):
    assert set(fp["tables"]) == set(SHAPES)
    for name, t in fp["tables"].items():
        for key in ("title", "dataset", "unit", "columns", "rows", "notes"):
            assert key in t, (name, key)
        label = t["row_label_field"]
        for row in t["rows"]:
            assert label in row and isinstance(row[label], str)
            for col in t["columns"]:
                assert col in row, (name, col)
                v = row[col]
                if col in TEXT_COLUMNS.get(name, set()):
                    assert isinstance(v, str)
                else:
                    assert v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)), (name, col, v)
            assert set(row) == set(t["columns"]) | {label}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes(fp, name):
    t = fp["tables"][name]
    assert (len(t["rows"]), len(t["columns"])) == SHAPES[name]


def _cell(fp, table, col, **match):
    rows = [r for r in fp["tables"][table]["rows"] if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, (table, match)
    return rows[0][col]


def test_spot_checks(fp):
    # Table 1
    assert _cell(fp, "table_1", "MNIST", row="Correlation") == -0.88
    assert _cell(fp, "table_1", "CIFAR-10", row="Correlation") == -0.65
    assert _cell(fp, "table_1", "Tiny- Imagenet", row="Correlation") == -0.22
    # Table 2
    assert _cell(fp, "table_2", "C10 PGD 16-10", row="NE") == 14.11
    assert _cell(fp, "table_2", "C10 PGD 28-10", row="AE") == 31.25
    assert _cell(fp, "table_2", "Tiny CE 16-10", row="AE") == 99.9
    assert _cell(fp, "table_2", "Tiny PGD 16-10", row="NE") == 55.3
    assert _cell(fp, "table_2", "Tiny PGD 28-10", row="NE") == 36.9
    # Table 3
    assert _cell(fp, "table_3", "S", model="W-16-10", p=10.0, dataset="CIFAR-10") == -0.53
    assert _cell(fp, "table_3", "AE [%]", model="W-16-10", p=2.5, dataset="CIFAR-10") == 34.98
    assert _cell(fp, "table_3", "S", model="W-28-10", p=0.0, dataset="CIFAR-10") == 0.0
    assert _cell(fp, "table_3", "AE [%]", model="W-16-10", p=10.0, dataset="Tiny-ImagetNet") == 92.62
    assert _cell(fp, "table_3", "S", model="W-28-10", p=1.0, dataset="Tiny-ImagetNet") == -9.62
    assert _cell(fp, "table_3", "S", model="W-28-10", p=0.0, dataset="Tiny-ImagetNet") == -9.48


def test_table_3_order_as_printed(fp):
    rows = fp["tables"]["table_3"]["rows"]
    assert [r["p"] for r in rows] == [0.0, 1.0, 2.5, 10.0, 0.0, 1.0, 2.5, 10.0, 1.0, 0.0]
    assert [r["model"] for r in rows].count("W-28-10") == 3


def test_settings(fp):
    s = fp["settings"]
    assert s["batch_size"] == 128 and s["weight_decay"] == 5e-4
    assert s["wpgd"]["p_values"] == [1, 2.5, 10]
    assert s["eps"]["Table 3"] == 4 and s["eps"]["Fig. 11"] == 16 and s["eps"]["Fig. 2"] == [20, 38]
    assert fp["figures"]["figure_9"]["cost_matrix"] == [[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]
    assert fp["equations"]["wasserstein_loss"] == "(5)"
    assert fp["equations"]["weighted_robustness_score_S"] == "(7)"
