"""The Terzi, Susto & Chaudhari (WPGD) numbers transcribed into csr/resources/paper_results/terzi_wpgd.json.

Counts and cells below were checked by hand against shared/papers/003_78a4d8973adcfbb7.txt.
"""
import pytest

PAPER_RESULTS_FILE = "terzi_wpgd.json"

# (rows, columns) as printed in the paper (Table 2 flattened from two 4-column blocks).
SHAPES = {"table_1": (1, 4), "table_2": (2, 8), "table_3": (10, 4)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes(fp, name):
    assert set(fp["tables"]) == set(SHAPES)
    t = fp["tables"][name]
    assert (len(t["rows"]), len(t["columns"])) == SHAPES[name]


def test_spot_checks(find_row):
    # Table 1
    assert find_row("table_1", row="Correlation")["MNIST"] == -0.88
    assert find_row("table_1", row="Correlation")["CIFAR-10"] == -0.65
    assert find_row("table_1", row="Correlation")["Tiny- Imagenet"] == -0.22
    # Table 2
    assert find_row("table_2", row="NE")["C10 PGD 16-10"] == 14.11
    assert find_row("table_2", row="AE")["C10 PGD 28-10"] == 31.25
    assert find_row("table_2", row="AE")["Tiny CE 16-10"] == 99.9
    assert find_row("table_2", row="NE")["Tiny PGD 16-10"] == 55.3
    assert find_row("table_2", row="NE")["Tiny PGD 28-10"] == 36.9
    # Table 3
    assert find_row("table_3", model="W-16-10", p=10.0, dataset="CIFAR-10")["S"] == -0.53
    assert find_row("table_3", model="W-16-10", p=2.5, dataset="CIFAR-10")["AE [%]"] == 34.98
    assert find_row("table_3", model="W-28-10", p=0.0, dataset="CIFAR-10")["S"] == 0.0
    assert find_row("table_3", model="W-16-10", p=10.0, dataset="Tiny-ImagetNet")["AE [%]"] == 92.62
    assert find_row("table_3", model="W-28-10", p=1.0, dataset="Tiny-ImagetNet")["S"] == -9.62
    assert find_row("table_3", model="W-28-10", p=0.0, dataset="Tiny-ImagetNet")["S"] == -9.48


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
