"""The ``from_paper`` transcription of Zeng et al. (AAAI 2021) in
``csr/resources/paper_results/zeng_weighted_minimax.json``: schema, table shapes, spot checks.

The shapes and cells below were verified by reading the paper's text
(``shared/papers/004_e91feeedc2f22991.txt``). Reads the JSON directly (no torch import).
"""
from __future__ import annotations

import pytest

PAPER_RESULTS_FILE = "zeng_weighted_minimax.json"

# (rows, columns) as printed, the Defense label column included.
SHAPES = {
    "table_1": (12, 6),  # MNIST, non-uniform metrics
    "table_2": (12, 6),  # CIFAR-10, non-uniform metrics
    "table_3": (16, 6),  # Tiny ImageNet, non-uniform metrics (four alpha_test values)
    "table_4": (12, 5),  # CIFAR-10, uniform metrics, with AT4Free / YOPO-5-3 / IAAT
    "table_5": (13, 5),  # Tiny ImageNet, uniform metrics
}
DATASETS = {"table_1": "MNIST", "table_2": "CIFAR-10", "table_3": "Tiny ImageNet",
            "table_4": "CIFAR-10", "table_5": "Tiny ImageNet"}
ACCURACY_COLUMNS = {"A_rob", "A_sa", "A_tr", "A_nat"}
PARAMETER_COLUMNS = {"alpha_train", "alpha_test", "1/lambda"}


# --- schema (what every paper shares is checked in test_paper_results.py) -----------------------
def test_tables_and_figures(fp):
    assert set(fp["tables"]) == set(SHAPES)
    assert set(fp["figures"]) == {"figure_1", "figure_2"}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_table_schema(fp, name):
    t = fp["tables"][name]
    assert t["dataset"] == DATASETS[name]
    assert "percent" in t["unit"]
    assert t["columns"][0] == "Defense" and t["label_columns"] == ["Defense"]
    assert len(t["columns_as_printed"]) == len(t["columns"])
    for row in t["rows"]:
        for col in t["columns"][1:]:
            v = row[col]  # null (unreadable), a number, or (parameters only) the dash exactly as printed
            if col in ACCURACY_COLUMNS:
                assert v is None or 0 <= v <= 100, (name, col, v)
            else:
                assert col in PARAMETER_COLUMNS
                assert v is None or v == "-" or v >= 0, (name, col, v)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_table_shape(fp, name):
    t = fp["tables"][name]
    assert (len(t["rows"]), len(t["columns"])) == SHAPES[name]


def test_no_unreadable_cells(fp):
    # every cell of the five tables is legible in the conversion
    for t in fp["tables"].values():
        assert all(v is not None for r in t["rows"] for v in r.values())


def test_nonuniform_ordering(fp):
    # A_tr <= A_sa <= A_rob on every row of tables 1-3 (the paper expects it "in most scenarios")
    for name in ("table_1", "table_2", "table_3"):
        for r in fp["tables"][name]["rows"]:
            assert r["A_tr"] <= r["A_sa"] <= r["A_rob"], (name, r)


# --- spot checks against the paper text ---------------------------------------------------------
def test_spot_table_1(find_row):
    r = find_row("table_1", Defense="TRADES", alpha_test=2.0)
    assert (r["A_rob"], r["A_sa"], r["A_tr"]) == (95.59, 52.15, 51.52)
    r = find_row("table_1", Defense="TRADES+ours", alpha_test=2.0)
    assert (r["alpha_train"], r["A_sa"], r["A_tr"]) == (2.0, 66.71, 65.61)
    r = find_row("table_1", Defense="PGD+ours", alpha_test=1.5)
    assert (r["alpha_train"], r["A_rob"], r["A_sa"], r["A_tr"]) == (0.5, 95.22, 64.89, 64.63)


def test_spot_table_2(find_row):
    r = find_row("table_2", Defense="TRADES", alpha_test=2.0)
    assert (r["A_rob"], r["A_sa"], r["A_tr"]) == (53.38, 19.78, 17.14)
    r = find_row("table_2", Defense="TRADES+ours", alpha_test=2.0)
    assert (r["A_rob"], r["A_sa"], r["A_tr"]) == (54.10, 23.62, 19.79)
    r = find_row("table_2", Defense="PGD", alpha_test=1.0)
    assert (r["alpha_train"], r["A_rob"], r["A_sa"], r["A_tr"]) == ("-", 49.29, 25.09, 22.91)
    assert find_row("table_2", Defense="PGD+ours", alpha_test=2.0)["alpha_train"] == 2.0


def test_spot_table_3(fp, find_row):
    r = find_row("table_3", Defense="PGD", alpha_test=2.0)
    assert (r["A_rob"], r["A_sa"], r["A_tr"]) == (22.27, 9.04, 7.32)
    r = find_row("table_3", Defense="TRADES+ours", alpha_test=0.5)
    assert (r["alpha_train"], r["A_rob"], r["A_sa"], r["A_tr"]) == (5.0, 28.16, 25.18, 24.25)
    assert [r["alpha_test"] for r in fp["tables"]["table_3"]["rows"][::2]] == [0.5, 1.0, 1.5, 2.0] * 2


def test_spot_table_4(fp, find_row):
    rows = fp["tables"]["table_4"]["rows"]
    assert [r["Defense"] for r in rows[:3]] == ["AT4Free", "YOPO-5-3", "IAAT"]
    assert (rows[0]["A_nat"], rows[0]["A_rob"]) == (81.80, 39.00)
    assert (rows[1]["A_nat"], rows[1]["A_rob"]) == (83.99, 44.72)
    assert (rows[2]["A_nat"], rows[2]["A_rob"]) == (88.60, 48.27)
    r = find_row("table_4", Defense="PGD+ours", alpha_train=0.01)
    assert (r["A_nat"], r["A_rob"]) == (82.33, 49.08)
    r = find_row("table_4", Defense="TRADES+ours", alpha_train=2.0)
    assert (r["1/lambda"], r["A_nat"], r["A_rob"]) == (5, 83.41, 54.10)
    assert [r["alpha_train"] for r in rows if r["Defense"] == "TRADES+ours"] == [0.1, 1.0, 1.5, 2.0]


def test_spot_table_5(fp, find_row):
    rows = fp["tables"]["table_5"]["rows"]
    r = find_row("table_5", Defense="TRADES+ours", alpha_train=2.0)
    assert (r["1/lambda"], r["A_nat"], r["A_rob"]) == (6, 45.72, 28.74)
    r = find_row("table_5", Defense="PGD+ours", alpha_train=0.25)
    assert (r["A_nat"], r["A_rob"]) == (33.10, 21.36)
    r = find_row("table_5", Defense="PGD")
    assert (r["1/lambda"], r["alpha_train"], r["A_nat"], r["A_rob"]) == ("-", "-", 35.02, 22.27)
    assert [r["alpha_train"] for r in rows if r["Defense"] == "PGD+ours"] == [0.1, 0.15, 0.2, 0.25, 0.3]
    assert [r["alpha_train"] for r in rows if r["Defense"] == "TRADES+ours"] == [0.5, 1.5, 2.0, 2.5, 3.5, 5.0]


def test_cross_table_consistency(fp, find_row):
    # the A_rob of Tables 2/3 reappears in Tables 4/5 (baselines and the selected '+ours' settings)
    t2, t3 = fp["tables"]["table_2"]["rows"], fp["tables"]["table_3"]["rows"]
    assert find_row("table_4", Defense="PGD")["A_rob"] == t2[0]["A_rob"] == 49.29
    assert find_row("table_4", Defense="TRADES")["A_rob"] == t2[6]["A_rob"] == 53.38
    assert find_row("table_5", Defense="TRADES+ours", alpha_train=5.0)["A_rob"] == t3[9]["A_rob"] == 28.16
    assert find_row("table_5", Defense="PGD+ours", alpha_train=0.3)["A_rob"] == t3[1]["A_rob"] == 22.75
    # Table 2's PGD+ours (printed alpha_train 2.0) has the A_rob of Table 4's alpha_train 0.1 row
    assert find_row("table_4", Defense="PGD+ours", alpha_train=0.1)["A_rob"] == t2[1]["A_rob"] == 49.53
    assert any("49.53" in c for c in fp["contradictions"])


def test_settings(fp):
    s = fp["settings"]
    ev = s["evaluation_attacks"]
    assert (ev["MNIST"]["steps"], ev["MNIST"]["eps"]) == (40, 0.3)
    assert (ev["CIFAR-10"]["steps"], ev["CIFAR-10"]["eps"]) == (20, 0.031)
    assert (ev["Tiny ImageNet"]["steps"], ev["Tiny ImageNet"]["eps"]) == (10, 0.016)
    assert s["alpha_train"]["MNIST (Table 1)"] == {"PGD+ours": 0.5, "TRADES+ours": 2.0}
    assert s["alpha_train"]["Tiny ImageNet (Table 3)"] == {"PGD+ours": 0.3, "TRADES+ours": 5.0}
    assert s["alpha_test"]["Tiny ImageNet (Table 3)"] == [0.5, 1.0, 1.5, 2.0]
    assert "0.001" in s["algorithm_1"]["start_point"]
    assert s["trades_inverse_lambda"]["CIFAR-10 (Table 4)"] == 5
    assert s["trades_inverse_lambda"]["Tiny ImageNet (Table 5)"] == 6
    assert "ResNet18" in s["datasets"]["CIFAR-10"]["architecture"]


def test_equations(fp):
    eq = fp["equations"]
    assert eq["adaptive_margin_aware_minimax_risk"] == "(7)"
    assert eq["importance_weight_ratio"] == "(12)"
    assert eq["weighted_objective_full_batch"] == "(13)"
    assert (eq["A_rob"], eq["A_sa"], eq["A_tr"]) == ("(17)", "(18)", "(19)")
