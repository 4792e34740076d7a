"""The camera-ready transcription of Zhang & Evans (ICLR 2019) in ``from_paper``.

Shapes and spot-check cells below were read off the paper text
(``shared/papers/000_b39852d034aca0bc.txt``) by hand.
"""
from __future__ import annotations

import pytest

PAPER_RESULTS_FILE = "zhang_evans_2019.json"

# (rows, data columns) as printed; row labels are extra fields, not columns.
SHAPES = {
    "table_1": (13, 7),  # MNIST binary tasks, eps = 0.2
    "table_2": (3, 7),  # real-valued tasks (2 MNIST + 1 CIFAR)
    "table_3": (8, 7),  # CIFAR10 binary tasks, eps = 2/255
    "table_4": (4, 3),  # Appendix B, MNIST, eps = 0.2
}
STRING_COLUMNS = {"sparsity"}  # printed as a fraction such as "1/90"
# cells that are unreadable in the conversion (null on purpose)
NULL_CELLS = {("table_3", "V-A", "best_alpha")}


@pytest.fixture(scope="module")
def row(fp, find_row):
    """``row(table, task, **labels)``: the row whose last row-label field (the task; Table 4's
    classifier) is ``task`` and whose other labels are ``labels``."""
    def lookup(table: str, task: str, **labels) -> dict:
        return find_row(table, **{fp["tables"][table]["row_label_fields"][-1]: task}, **labels)
    return lookup


def test_cells(fp):
    # test_paper_results.py checks the types; here: which cells are null, the sparsity strings, signs
    for name, t in fp["tables"].items():
        task = t["row_label_fields"][-1]
        for r in t["rows"]:
            for c in t["columns"]:
                v = r[c]
                if v is None:
                    assert (name, r[task], c) in NULL_CELLS, (name, r, c)
                elif c in STRING_COLUMNS:
                    assert v.endswith("/90"), (name, r, c)
                else:
                    assert v >= 0, (name, r, c)


def test_shapes(fp):
    assert set(fp["tables"]) == set(SHAPES)
    for name, (n_rows, n_cols) in SHAPES.items():
        t = fp["tables"][name]
        assert len(t["rows"]) == n_rows, name
        assert len(t["columns"]) == n_cols, name
        assert t["n_rows"] == n_rows and t["n_columns"] == n_cols and t["n_cells"] == n_rows * n_cols
    assert sum(r * c for r, c in SHAPES.values()) == 180


def test_null_cells_documented(fp, row):
    for table, task, col in NULL_CELLS:
        assert row(table, task)[col] is None
        assert any("UNREADABLE" in n for n in fp["tables"][table]["notes"])


@pytest.mark.parametrize(
    "table,task,labels,col,value",
    [
        ("table_1", "(4,9)", {"task_type": "single pair"}, "robust_error_baseline", 10.08),
        ("table_1", "(6,5)", {"task_type": "single pair"}, "best_alpha", 5.0),
        ("table_1", "digit 2", {"task_type": "single seed"}, "candidates", 1032),
        ("table_1", "digit 8", {"task_type": "single target"}, "classification_error_ours", 3.52),
        ("table_1", "digit 1", {"task_type": "single target"}, "robust_error_ours", 0.14),
        ("table_1", "even digit", {"task_type": "multiple"}, "robust_error_ours", 9.44),
        ("table_1", "odd digit", {"task_type": "multiple"}, "sparsity", "45/90"),
        ("table_2", "large-small", {"dataset": "MNIST"}, "robust_cost_ours", 1.549),
        ("table_2", "small-large", {"dataset": "MNIST"}, "candidates", 10000),
        ("table_2", "vehicle", {"dataset": "CIFAR"}, "robust_cost_baseline", 4.183),
        ("table_2", "vehicle", {"dataset": "CIFAR"}, "sparsity", "40/90"),
        ("table_3", "dog", {"task_type": "single seed"}, "robust_error_baseline", 57.20),
        ("table_3", "ship", {"task_type": "single target"}, "classification_error_ours", 24.80),
        ("table_3", "truck", {"task_type": "single seed"}, "best_alpha", 0.8),
        ("table_3", "A-V", {"task_type": "multiple"}, "candidates", 6000),
        ("table_3", "V-A", {"task_type": "multiple"}, "robust_error_ours", 8.00),
        ("table_4", "Cost-Sensitive Standard", {}, "misclassification_cost", 0.016),
        ("table_4", "Overall Robustness", {}, "classification_error", 3.49),
        ("table_4", "Cost-Sensitive Robustness", {}, "robust_cost", 0.915),
        ("table_4", "Baseline", {}, "robust_cost", 85.197),
    ],
)
def test_spot_cells(row, table, task, labels, col, value):
    v = row(table, task, **labels)[col]
    if isinstance(value, str):
        assert v == value
    else:
        assert v == pytest.approx(value, abs=1e-12)


def test_baseline_columns_constant(fp):
    for r in fp["tables"]["table_1"]["rows"]:
        assert r["classification_error_baseline"] == 3.39
    for r in fp["tables"]["table_3"]["rows"]:
        assert r["classification_error_baseline"] == 31.80


def test_table_1_candidates_follow_eq_3_1(fp, row):
    # MNIST test class counts (standard split); Table 1's candidates are the eq. (3.1) denominators
    n = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert row("table_1", "digit 1", task_type="single target")["candidates"] == 10000 - n[1]
    assert row("table_1", "odd digit")["candidates"] == sum(n[1::2])
    assert row("table_1", "even digit")["candidates"] == sum(n[0::2])
    # Table 2 prints 10000, which the same rule contradicts; the contradiction is recorded
    c = [x for x in fp["contradictions"] if x["where"].startswith("Table 2, MNIST")]
    assert c and c[0]["from_equations"] == {"small-large": 10000 - n[9], "large-small": 10000 - n[0]}


def test_table_4_unrobust_cost_matches_cost_matrix(row):
    # Appendix B matrix, nothing certified: sum_j N_j * sum_j' C_jj' / 10000 = 85.197
    n = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    cost = sum(n[i] * sum((0.1 if i > j else (j - i) ** 2) for j in range(10) if j != i) for i in range(10))
    assert round(cost / 10000, 3) == row("table_4", "Baseline")["robust_cost"]


def test_appendix_a_settings(fp):
    a = fp["settings"]["regularization_alpha"]
    assert a["appendix_A_mnist_coarse_grid"] == [0.01, 0.1, 1, 10, 100]
    assert a["appendix_A_mnist_fine_grid_multipliers"] == [2.0 ** k for k in range(-3, 4)]
    assert a["appendix_A_clean_error_threshold_mnist_percent"] == 4
    assert a["appendix_A_clean_error_threshold_cifar_percent"] == 35
    grid = {round(c * m, 10) for c in a["appendix_A_mnist_coarse_grid"] for m in a["appendix_A_mnist_fine_grid_multipliers"]}
    for name in ("table_1", "table_2", "table_3"):
        for r in fp["tables"][name]["rows"]:
            if r["best_alpha"] is not None:
                assert round(r["best_alpha"], 10) in grid, (name, r)


def test_equations(fp):
    eq = fp["equations"]
    assert eq["robust_cost"] == "(3.1)"
    assert eq["cost_sensitive_robust_training_objective"] == "(3.2)"
    assert eq["overall_robust_training_loss_wong_kolter"] == "(2.7)"
    assert eq["cost_sensitive_cross_entropy_khan"] == "(B.1)"
