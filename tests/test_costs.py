"""Cost matrices: every builder against a hand-written matrix, every bad input → one clear error."""
from __future__ import annotations

import json

import numpy as np
import pytest

from csr import costs
from csr.costs import CostMatrix, CostMatrixError


def M(rows):
    return np.array(rows, dtype=float)


# --- builders against hand-written matrices --------------------------------------------------
def test_single_pair():
    C = costs.single_pair(3, 0, 2)
    np.testing.assert_array_equal(C.values, M([[0, 0, 1], [0, 0, 0], [0, 0, 0]]))
    assert C.omega(0) == [2] and C.omega(1) == [] and C.seeds == [0] and C.targets == [2]
    assert (C.delta(0), C.delta(1)) == (1, 0)


def test_single_seed_and_target():
    np.testing.assert_array_equal(costs.single_seed(3, 1).values, M([[0, 0, 0], [1, 0, 1], [0, 0, 0]]))
    np.testing.assert_array_equal(costs.single_target(3, 1).values, M([[0, 1, 0], [0, 0, 0], [0, 1, 0]]))


def test_multi_pair_and_seed_sets():
    C = costs.multi_pair(4, [(0, 2), (3, 1)])
    np.testing.assert_array_equal(C.values, M([[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]))
    odd = costs.BUILDERS.get("odd")(4)
    np.testing.assert_array_equal(odd.values, M([[0, 0, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]]))
    even = costs.BUILDERS.get("even")(4)
    np.testing.assert_array_equal(even.values, M([[0, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0]]))
    assert odd.seeds == [1, 3] and even.seeds == [0, 2]


def test_top_k_picks_largest_off_diagonal():
    E = M([[0.9, 0.1, 0.5], [0.3, 0.8, 0.2], [0.4, 0.05, 0.7]])  # diagonal must be ignored
    C = costs.top_k(3, 2, E)
    np.testing.assert_array_equal(C.values, M([[0, 0, 1], [0, 0, 0], [1, 0, 0]]))


def test_random_k_seeded_distinct_off_diagonal():
    a, b, c = costs.random_k(10, 10, seed=0), costs.random_k(10, 10, seed=0), costs.random_k(10, 10, seed=1)
    assert a == b and a != c
    assert a.values.sum() == 10 and np.all(np.diag(a.values) == 0)


def test_small_large_and_large_small():
    np.testing.assert_array_equal(costs.small_large(3).values, M([[0, 1, 4], [0, 0, 1], [0, 0, 0]]))
    np.testing.assert_array_equal(costs.large_small(3).values, M([[0, 0, 0], [1, 0, 0], [4, 1, 0]]))
    assert not costs.small_large(10).is_binary
    assert costs.small_large(10).values[0, 9] == 81


def test_groups_cifar10():
    v2a = costs.BUILDERS.get("vehicles_to_animals")(10)
    assert v2a.seeds == [0, 1, 8, 9] and v2a.omega(0) == [2, 3, 4, 5, 6, 7]
    a2v = costs.BUILDERS.get("animals_to_vehicles")(10)
    assert a2v.seeds == [2, 3, 4, 5, 6, 7] and a2v.omega(3) == [0, 1, 8, 9]
    veh = costs.BUILDERS.get("vehicle")(10)
    expected = np.zeros((10, 10))
    for s in (0, 1, 8, 9):
        for t in range(10):
            if t != s:
                expected[s, t] = 1.0 if t in (0, 1, 8, 9) else 10.0
    np.testing.assert_array_equal(veh.values, expected)
    with pytest.raises(CostMatrixError, match="CIFAR-10"):
        costs.BUILDERS.get("vehicle")(5)


def test_protect_transposes_shen_convention():
    C = costs.protect(3, 1, c=10)
    np.testing.assert_array_equal(C.values, M([[0, 1, 1], [10, 0, 10], [1, 1, 0]]))
    # Shen et al. write C(predicted, true): column p holds c.
    shen = M([[0, 10, 1], [1, 0, 1], [1, 10, 0]])
    assert CostMatrix.from_predicted_true(shen) == C
    assert costs.protect(4, 2, c=1) == costs.overall(4)


def test_overall_and_metric():
    np.testing.assert_array_equal(costs.overall(3).values, M([[0, 1, 1], [1, 0, 1], [1, 1, 0]]))
    D = M([[0, 2, 4], [2, 0, 1], [4, 1, 0]])
    np.testing.assert_array_equal(costs.from_metric(3, D, p=2).values, D**2)
    np.testing.assert_allclose(costs.from_metric(3, D, normalize=True).values, D / 4)
    with pytest.raises(CostMatrixError, match="symmetric"):
        costs.from_metric(3, M([[0, 1, 1], [2, 0, 1], [1, 1, 0]]))


def test_structure_queries():
    C = CostMatrix([[0, 0, 0], [1, 0, 2], [0, 0, 0]])
    assert C.pairs == [(1, 0), (1, 2)]
    assert C.sparsity == pytest.approx(1 - 2 / 6)
    assert not C.is_binary
    np.testing.assert_array_equal(C.candidate_counts([0, 1, 1, 2, 1]), [0, 3, 0])
    assert C.tensor().shape == (3, 3)
    assert C.power(2).values[1, 2] == 4


# --- load ----------------------------------------------------------------------------------------
def test_load_builder_specs():
    assert costs.load("single_pair:6,5", 10) == costs.single_pair(10, 6, 5)
    assert costs.load("protect:3,c=5", 10) == costs.protect(10, 3, c=5)
    assert costs.load("random_k:10,seed=3", 10) == costs.random_k(10, 10, seed=3)
    assert costs.load("multi_pair:[(0,2),(4,9)]", 10) == costs.multi_pair(10, [(0, 2), (4, 9)])
    assert costs.load("overall", 3) == costs.overall(3)
    assert costs.load([[0, 1], [0, 0]], 2).pairs == [(0, 1)]


def test_load_files_roundtrip(tmp_path):
    C = CostMatrix(costs.small_large(4).values, class_names=list("abcd"), name="sl")
    for suffix in (".csv", ".json", ".yaml"):
        path = costs.save(C, tmp_path / f"m{suffix}")
        D = costs.load(str(path), 4)
        assert D == C and D.class_names == list("abcd")
    (tmp_path / "plain.csv").write_text("0,1\n1,0\n")
    assert costs.load(tmp_path / "plain.csv", 2) == costs.overall(2)
    (tmp_path / "labelled.csv").write_text(",x,y\nx,0,3\ny,0,0\n")
    L = costs.load(tmp_path / "labelled.csv", 2)
    assert L.values[0, 1] == 3 and L.class_names == ["x", "y"]


def test_named_matrices_in_data_folder():
    names = costs.named_matrices()
    assert {"vehicle_real", "toy3_terzi"} <= set(names)
    assert costs.load("vehicle_real", 10) == costs.BUILDERS.get("vehicle")(10)
    np.testing.assert_array_equal(costs.load("toy3_terzi", 3).values, M([[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]))


def test_named_matrices_honour_csr_data_dir(tmp_path, monkeypatch):
    (tmp_path / "cost_matrices").mkdir()
    (tmp_path / "cost_matrices" / "mine.json").write_text(json.dumps([[0, 2], [0, 0]]))
    monkeypatch.setenv("CSR_DATA_DIR", str(tmp_path))
    assert costs.named_matrices() == ["mine"]
    assert costs.load("mine", 2).values[0, 1] == 2


# --- bad input: one clear error each ---------------------------------------------------------
@pytest.mark.parametrize(
    "values, message",
    [
        ([[0, 1, 1], [1, 0, 1]], "square"),
        ([[0, np.nan], [1, 0]], "non-finite"),
        ([[0, np.inf], [1, 0]], "non-finite"),
        ([[0, -1], [1, 0]], "negative"),
        ([[1, 1], [1, 0]], "diagonal must be zero"),
        ([[0, 0], [0, 0]], "all zero"),
        ([[0, "a"], [1, 0]], "must be numbers"),
        ([[0, 1], [1]], "must be numbers"),
        ([[0]], "at least 2 classes"),
    ],
)
def test_bad_matrices(values, message):
    with pytest.raises(CostMatrixError, match=message):
        CostMatrix(values)
    assert issubclass(CostMatrixError, ValueError)


def test_wrong_size_for_dataset():
    with pytest.raises(CostMatrixError, match=r"3×3 but the dataset has 10 classes"):
        costs.load([[0, 1, 1], [1, 0, 1], [1, 1, 0]], 10)


def test_bad_specs(tmp_path):
    with pytest.raises(CostMatrixError, match="unknown cost matrix 'nope'.*single_pair"):
        costs.load("nope", 10)
    with pytest.raises(CostMatrixError, match="file not found"):
        costs.load(str(tmp_path / "missing.csv"), 10)
    with pytest.raises(CostMatrixError, match="target must be a class index in 0..9, got 12"):
        costs.load("single_pair:0,12", 10)
    with pytest.raises(CostMatrixError, match="seed and target must differ"):
        costs.load("single_pair:3,3", 10)
    with pytest.raises(CostMatrixError, match="bad arguments"):
        costs.load("single_pair:1", 10)
    with pytest.raises(CostMatrixError, match="cannot parse"):
        costs.load("single_pair:1,,", 10)
    with pytest.raises(CostMatrixError, match="must be a builder name"):
        costs.load(3.5, 10)
    (tmp_path / "bad.csv").write_text("0,1\nx,0\n")
    with pytest.raises(CostMatrixError, match="must be numbers"):
        costs.load(tmp_path / "bad.csv", 2)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CostMatrixError, match="cannot parse"):
        costs.load(tmp_path / "bad.json", 2)
    (tmp_path / "neg.yaml").write_text("- [0, -2]\n- [1, 0]\n")
    with pytest.raises(CostMatrixError, match="negative entry C\\[0,1\\]"):
        costs.load(tmp_path / "neg.yaml", 2)


def test_load_nested_list_given_as_text():
    # papermill's `-p cost_matrix "[[0,1],[1,0]]"` delivers a string
    assert costs.load("[[0,1],[1,0]]", 2) == costs.overall(2)
    with pytest.raises(CostMatrixError, match="cannot parse cost matrix"):
        costs.load("[[0,1],[1,0]", 2)
    with pytest.raises(CostMatrixError, match="diagonal"):
        costs.load("[[1,1],[1,0]]", 2)


def test_top_k_spec_takes_pairwise_errors():
    E = np.arange(9, dtype=float).reshape(3, 3)
    C = costs.load("top_k:2", 3, pairwise_errors=E)
    assert C.pairs == [(2, 0), (2, 1)]
    with pytest.raises(CostMatrixError, match="top_k needs a pairwise error matrix"):
        costs.load("top_k:2", 3)
