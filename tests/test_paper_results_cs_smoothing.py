"""The transcription of the cost-sensitive randomized smoothing paper's tables (``from_paper``).

Counts and spot values were read off the paper text
(``/work/shared/papers/002_e0366031667ef24d.txt``, Tables 1-7).
"""
from __future__ import annotations

import pytest

PAPER_RESULTS_FILE = "cs_randomized_smoothing.json"

# (rows, columns) as printed in the paper.
SHAPES = {
    "table_1": (16, 7),  # Dataset, Type, Method, Acc, Rob_c-s, Rob_std, Rob_non
    "table_2": (16, 6),  # Dataset, Type, Methods, Acc, Rob_c-s, Rob_non
    "table_3": (5, 3),  # Method, Acc, Rob_c-s
    "table_4": (2, 4),  # Method, l2 perturbation, CS robustness, overall accuracy
    "table_5": (18, 5),  # Method, gamma_1, gamma_2, Acc, Rob_c-s
    "table_6": (16, 7),
    "table_7": (16, 6),
}
LABELS = {"Dataset", "Type", "Method", "Methods"}


@pytest.fixture(scope="module")
def tables(fp) -> dict:
    return fp["tables"]


def test_equations(fp):
    assert fp["equations"]["Rob_c-s"] == "(2)"
    assert fp["equations"]["training_loss_I1_I2_I3"] == "(4)"


def test_bold_cells_are_columns(tables):
    for name, table in tables.items():
        for row in table["rows"]:
            for col in row.get("bold", []):
                assert col in table["columns"], (name, col)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes(tables, name):
    assert set(tables) == set(SHAPES)
    rows, cols = SHAPES[name]
    assert len(tables[name]["rows"]) == rows
    assert len(tables[name]["columns"]) == cols
    assert tables[name]["n_rows"] == rows


def test_metric_cell_total(tables):
    n = sum(1 for t in tables.values() for r in t["rows"] for c in t["columns"]
            if c not in LABELS and not c.startswith("gamma") and not c.startswith("l2") and r[c] is not None)
    assert n == 274


def test_rates_in_unit_interval(tables):
    for name, table in tables.items():
        for row in table["rows"]:
            for col in table["columns"]:
                if col in LABELS or col.startswith("gamma"):
                    continue
                assert 0.0 <= row[col] <= 1.0, (name, col, row[col])


@pytest.mark.parametrize(
    "name, labels, column, value",
    [
        ("table_1", dict(Dataset="CIFAR-10", Type="Single (3)", Method="Ours"), "Rob_c-s", 0.628),
        ("table_1", dict(Dataset="Imagenette", Type="Multi (3, 7)", Method="Cohen-R"), "Rob_non", 0.843),
        ("table_1", dict(Dataset="CIFAR-10", Type="Multi (2, 4)", Method="Cohen"), "Rob_std", 0.257),
        ("table_2", dict(Dataset="CIFAR-10", Type="Single (3 → 5)", Methods="Ours"), "Rob_c-s", 0.924),
        ("table_2", dict(Dataset="Imagenette", Type="Multi (7 → 2, 4, 6)", Methods="MACER"), "Acc", 0.781),
        ("table_3", dict(Method="Cohen-R-II"), "Rob_c-s", 0.437),
        ("table_3", dict(Method="Cohen"), "Rob_c-s", 0.118),
        ("table_4", dict(Method="Zhang & Evans (2019)"), "Overall Accuracy", 0.480),
        ("table_4", dict(Method="Ours"), "l2 Perturbations (epsilon)", 0.5),
        ("table_5", dict(gamma_1=2, gamma_2=16), "Rob_c-s", 0.705),
        ("table_5", dict(gamma_1=4, gamma_2=16), "Rob_c-s", 0.583),
        ("table_5", dict(Method="MACER"), "Acc", 0.647),
        ("table_6", dict(Dataset="Imagenette", Type="Single (7)", Method="Ours"), "Acc", 0.836),
        ("table_6", dict(Dataset="CIFAR-10", Type="Multi (2, 4)", Method="Cohen-R"), "Rob_std", 0.605),
        ("table_7", dict(Dataset="Imagenette", Type="Single (7 → 2)", Method="Ours"), "Rob_c-s", 0.942),
        ("table_7", dict(Dataset="CIFAR-10", Type="Multi (3 → 2, 4, 5)", Method="MACER"), "Rob_non", 0.785),
    ],
)
def test_spot_cells(find_row, name, labels, column, value):
    assert find_row(name, **labels)[column] == pytest.approx(value, abs=1e-9)


def test_table5_grid_and_duplicate_row(tables):
    rows = tables["table_5"]["rows"]
    grid = {(r["gamma_1"], r["gamma_2"]) for r in rows if r["Method"] == "Ours"}
    assert grid == {(g1, g2) for g1 in (2, 4, 6, 8) for g2 in (8, 10, 12, 16)}
    eights = [r for r in rows if (r["gamma_1"], r["gamma_2"]) == (8, 8)]
    assert len(eights) == 2 and all((r["Acc"], r["Rob_c-s"]) == (0.660, 0.338) for r in eights)
    assert rows[0]["gamma_1"] is None and rows[0]["gamma_2"] is None


def test_table4_matches_table2(find_row):
    ours4 = find_row("table_4", Method="Ours")
    ours2 = find_row("table_2", Dataset="CIFAR-10", Type="Single (3 → 5)", Methods="Ours")
    assert (ours4["Overall Accuracy"], ours4["Cost-Sensitive Robustness"]) == (ours2["Acc"], ours2["Rob_c-s"])


def test_key_settings(fp):
    s = fp["settings"]
    assert s["cohen_r"]["alpha_grid"] == pytest.approx([1.0 + 0.1 * i for i in range(11)])
    assert s["our_training_loss_eq4"]["gamma_selected"] == {"gamma_1_normal": 4, "gamma_2_sensitive": 16}
    assert s["noise_sigma"] == {"main": 0.5, "appendix_F": 0.25, "ham10k": 0.5}
