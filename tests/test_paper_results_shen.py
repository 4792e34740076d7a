"""The transcription of Shen et al., *Adversarial Learning with Cost-Sensitive Classes* (journal version).

Checks the ``from_paper`` key of ``csr/resources/paper_results/shen_cost_sensitive_classes.json``:
the shape of every table as printed in the paper, and single cells read off the paper (the schema
every paper shares is checked in ``test_paper_results.py``).
"""

from __future__ import annotations

import pytest

PAPER_RESULTS_FILE = "shen_cost_sensitive_classes.json"

# Shapes read off the paper: (rows, columns). Tables II-IV: 6 attacks x 4 models.
SHAPES = {
    "table_1": (3, 2),  # MNIST / CIFAR10 / CIFAR100 x (mu, sigma)
    "table_2": (24, 10),  # MNIST, protected class 0..9
    "table_3": (24, 10),  # CIFAR10, protected class 0..9
    "table_4": (24, 3),  # CIFAR100, protected classes 9, 21, 36
}
ATTACKS = ["FGSM", "PGD", "CW", "MIA", "L2BIA", "LinfBIA"]
MODELS = ["STD", "CSE", "CSA", "CSE+ADV"]


@pytest.fixture(scope="module")
def cell(find_row):
    """``cell(table, attack, model, column)``: a cell of Tables II-IV by attack and canonical model name."""
    def lookup(table: str, attack: str, model: str, column: str):
        return find_row(table, attack=attack, model_canonical=model)[column]
    return lookup


def test_equations(fp):
    assert fp["equations"]["csa_cost_matrix"] == "(3)"
    assert fp["equations"]["fuzziness"] == "(8)"
    assert fp["equations"]["cse_objective"] == "(10)"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape(fp, name):
    assert set(fp["tables"]) == set(SHAPES)
    t = fp["tables"][name]
    n_rows, n_cols = SHAPES[name]
    assert len(t["rows"]) == n_rows
    assert len(t["columns"]) == n_cols
    assert len(set(t["columns"])) == n_cols


@pytest.mark.parametrize("name", ["table_2", "table_3", "table_4"])
def test_attack_blocks(fp, name):
    rows = fp["tables"][name]["rows"]
    assert [(r["attack"], r["model_canonical"]) for r in rows] == [(a, m) for a in ATTACKS for m in MODELS]
    for r in rows:
        assert r["adv_training"] == ("Yes" if r["model_canonical"] in ("CSA", "CSE+ADV") else "No")
        for col in fp["tables"][name]["columns"]:
            assert r[col] is None or 0.0 <= r[col] <= 1.0


def test_nulls_only_where_unreadable(fp, cell):
    # Table III CW row, columns p=5..9 are blank in the conversion; everything else is readable.
    for name in ("table_2", "table_4"):
        t = fp["tables"][name]
        assert all(r[c] is not None for r in t["rows"] for c in t["columns"])
    t3 = fp["tables"]["table_3"]
    nulls = {(r["attack"], r["model_canonical"], c) for r in t3["rows"] for c in t3["columns"] if r[c] is None}
    assert nulls == {("CW", m, f"O_{i}, p={i}") for m in MODELS for i in range(5, 10)}
    assert all(cell("table_3", "CW", m, f"O_{i}, p={i}") == 0.0 for m in MODELS for i in range(5))


# Spot checks, read by eye off the paper text (Tables I-IV).
SPOT = [
    ("table_2", "FGSM", "STD", "O_0, p=0", 0.8771),
    ("table_2", "PGD", "CSE+ADV", "O_1, p=1", 0.9553),
    ("table_2", "CW", "CSA", "O_8, p=8", 0.4248),
    ("table_2", "L2BIA", "CSE", "O_0, p=0", 0.9738),
    ("table_2", "LinfBIA", "STD", "O_9, p=9", 0.1734),
    ("table_2", "MIA", "CSE", "O_1, p=1", 0.5360),
    ("table_3", "FGSM", "CSA", "O_1, p=1", 0.6010),
    ("table_3", "PGD", "STD", "O_3, p=3", 0.0270),
    ("table_3", "L2BIA", "CSE+ADV", "O_6, p=6", 0.7641),
    ("table_3", "LinfBIA", "CSE", "O_9, p=9", 0.3709),
    ("table_3", "MIA", "CSA", "O_8, p=8", 0.6236),
    ("table_4", "FGSM", "STD", "O_9, p=9", 0.0262),
    ("table_4", "CW", "CSA", "O_9, p=9", 0.0405),
    ("table_4", "MIA", "CSE", "O_21, p=21", 0.0048),
    ("table_4", "L2BIA", "CSE+ADV", "O_36, p=36", 0.0188),
    ("table_4", "LinfBIA", "CSE+ADV", "O_36, p=36", 0.0067),
]


@pytest.mark.parametrize("table,attack,model,column,value", SPOT)
def test_spot(cell, table, attack, model, column, value):
    assert cell(table, attack, model, column) == pytest.approx(value, abs=1e-9)


def test_table_1(fp):
    rows = {r["dataset"]: r for r in fp["tables"]["table_1"]["rows"]}
    assert rows["MNIST"]["mu"] == [0.1307] and rows["MNIST"]["sigma"] == [0.3081]
    assert rows["CIFAR10"]["sigma"] == [0.2023, 0.1994, 0.2010]
    assert rows["CIFAR100"]["mu"] == [0.5070, 0.4865, 0.4409]


def test_printed_labels_table_4(fp):
    labels = [r["model"] for r in fp["tables"]["table_4"]["rows"]]
    assert labels[:4] == ["Std", "CSE", "CSA", "CSE+Ady"]  # "Ady" as printed (conversion garble)
    assert labels[4:8] == ["Std", "CSE", "CSA", "CSE+Adv"]


def test_settings(fp):
    s = fp["settings"]
    assert s["MNIST"]["batch_size"] == 256 and s["MNIST"]["epochs"] == 20 and s["MNIST"]["learning_rate"] == 0.01
    assert s["CIFAR10"]["optimiser"] == "Adam" and s["CIFAR10"]["epochs"] == 50
    assert s["CIFAR100"]["optimiser"] == "SGD" and s["CIFAR100"]["epochs"] == 180
    assert s["cost_matrix"]["c"] == {"MNIST": 10, "CIFAR10": "not stated", "CIFAR100": 10}
