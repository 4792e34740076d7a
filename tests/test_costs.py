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


def test_protect_is_shen_eq3():
    # Eq. 3, C(i, j) with i predicted, j true: c when i = p or j = p — row AND column p
    C = costs.protect(3, 1, c=10)
    np.testing.assert_array_equal(C.values, M([[0, 10, 1], [10, 0, 10], [1, 10, 0]]))
    shen = M([[0 if i == j else (10 if 1 in (i, j) else 1) for j in range(3)] for i in range(3)])
    assert CostMatrix.from_predicted_true(shen) == C
    # turning another class into p costs c, not 1 (the row-only matrix fails here)
    C10 = costs.protect(10, 4, c=10)
    assert all(C10.values[i, 4] == 10 for i in range(10) if i != 4)
    assert all(C10.values[4, j] == 10 for j in range(10) if j != 4)
    assert C10.values.sum() == 10 * 18 + 1 * (90 - 18)
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
    (tmp_path / "cost_matrices" / "toy3_terzi.csv").write_text("0,1,1\n1,0,1\n1,1,0\n")
    monkeypatch.setenv("CSR_DATA_DIR", str(tmp_path))
    assert "mine" in costs.named_matrices()
    assert costs.load("mine", 2).values[0, 1] == 2
    # the package's stored matrices stay available; a user's matrix of the same name wins
    assert costs.load("vehicle_real", 10) == costs.BUILDERS.get("vehicle")(10)
    assert costs.load("toy3_terzi", 3).values[0, 1] == 1


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


# --- one cost-matrix semantics: every derived quantity against hand-computed matrices -------------
# Binary, 4 classes: 0 -> {1, 2}, 1 -> ∅, 2 -> {3}, 3 -> {0}.
B4 = M([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])
Y4 = [0, 1, 1, 2, 3, 0]
# Real-valued, 3 classes: 0 -> {1} (0.5), 1 -> {0 (2), 2 (3)}, 2 -> ∅.
R3 = M([[0, 0.5, 0], [2, 0, 3], [0, 0, 0]])
Y3 = [2, 1, 0, 1]


def test_derived_quantities_binary():
    C = CostMatrix(B4)
    assert C.is_binary and not C.is_empty and C.m == 4
    np.testing.assert_array_equal(C.sensitive_mask, B4 > 0)
    np.testing.assert_array_equal(C.mask, C.sensitive_mask)
    assert [C.omega(j) for j in range(4)] == [[1, 2], [], [3], [0]]
    assert [C.delta(j) for j in range(4)] == [1, 0, 1, 1]
    assert C.omega_sizes.tolist() == [2, 0, 1, 1] and C.omega_sizes.dtype == np.int64
    assert C.seed_mask.tolist() == [True, False, True, True]
    assert C.seeds == [0, 2, 3] and C.targets == [0, 1, 2, 3]
    assert C.pairs == [(0, 1), (0, 2), (2, 3), (3, 0)]
    assert C.sparsity == pytest.approx(1 - 4 / 12)
    assert C.candidates(Y4).tolist() == [True, False, False, True, True, True]
    np.testing.assert_array_equal(C.candidate_counts(Y4), [2, 0, 1, 1])
    np.testing.assert_array_equal(
        C.sensitive_targets(Y4),
        [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 1, 0]],
    )
    np.testing.assert_array_equal(C.spec_mask(), B4 > 0)
    np.testing.assert_array_equal(C.spec_mask(all_pairs=True), ~np.eye(4, dtype=bool))
    np.testing.assert_array_equal(C.spec_mask(Y4), C.sensitive_targets(Y4))
    np.testing.assert_array_equal(C.spec_mask([1], all_pairs=True), [[1, 0, 1, 1]])
    assert C.spec_columns(Y4) == 2 + 0 + 0 + 1 + 1 + 2
    assert C.spec_columns(Y4, all_pairs=True) == 6 * 3
    assert C.spec_columns([]) == 0 and C.candidates([]).shape == (0,)


def test_derived_quantities_real_valued():
    C = CostMatrix(R3)
    assert not C.is_binary
    np.testing.assert_array_equal(C.sensitive_mask, [[0, 1, 0], [1, 0, 1], [0, 0, 0]])
    assert [C.omega(j) for j in range(3)] == [[1], [0, 2], []]
    assert C.omega_sizes.tolist() == [1, 2, 0] and C.seeds == [0, 1] and C.targets == [0, 1, 2]
    assert C.candidates(Y3).tolist() == [False, True, True, True]
    np.testing.assert_array_equal(C.candidate_counts(Y3), [1, 2, 0])
    np.testing.assert_array_equal(C.sensitive_targets(Y3), [[0, 0, 0], [1, 0, 1], [0, 1, 0], [1, 0, 1]])
    assert C.spec_columns(Y3) == 5


def test_per_example_views_follow_the_label_type():
    import torch

    C = CostMatrix(B4)
    yt = torch.tensor(Y4)
    cand, rows = C.candidates(yt), C.sensitive_targets(yt)
    assert isinstance(cand, torch.Tensor) and cand.dtype == torch.bool and cand.device == yt.device
    assert cand.tolist() == C.candidates(Y4).tolist()
    assert torch.equal(rows, torch.as_tensor(C.sensitive_targets(np.array(Y4))))
    assert torch.equal(C.spec_mask(yt), rows)
    assert C.spec_columns(yt) == C.spec_columns(Y4)
    assert C.candidates(np.array([0.0, 1.0])).tolist() == [True, False]  # integral floats are labels


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 4], r"labels must lie in 0\.\.3; got range 0\.\.4"),
        ([-1, 0], r"labels must lie in 0\.\.3"),
        ([0.5, 1], "non-integer"),
        ([[0, 1]], "1-D"),
        ([True, False], "integer class indices"),
        (["a"], "integer class indices"),
    ],
)
def test_bad_labels(labels, message):
    C = CostMatrix(B4)
    for view in (C.candidates, C.sensitive_targets, C.candidate_counts, C.spec_mask):
        with pytest.raises(CostMatrixError, match=message):
            view(labels)


def test_bad_tensor_labels_and_flags():
    import torch

    C = CostMatrix(B4)
    with pytest.raises(CostMatrixError, match="integer class indices, got dtype torch.float32"):
        C.candidates(torch.tensor([0.0, 1.0]))
    with pytest.raises(CostMatrixError, match=r"labels must lie in 0\.\.3; got range 0\.\.7"):
        C.sensitive_targets(torch.tensor([0, 7]))
    with pytest.raises(CostMatrixError, match="all_pairs must be True or False"):
        C.spec_mask(all_pairs="yes")
    with pytest.raises(CostMatrixError, match="allow_empty must be True or False"):
        CostMatrix(B4, allow_empty=1)


def test_empty_matrix_only_when_allowed():
    with pytest.raises(CostMatrixError, match="all zero"):
        CostMatrix(np.zeros((3, 3)))
    E = CostMatrix(np.zeros((3, 3)), allow_empty=True)
    assert E.is_empty and E.seeds == [] and E.pairs == [] and E.omega_sizes.tolist() == [0, 0, 0]
    assert E.candidates([0, 1, 2]).tolist() == [False] * 3 and E.spec_columns([0, 1, 2]) == 0
    with pytest.raises(CostMatrixError, match="all zero"):
        costs.as_cost(E)  # a consumer that needs a sensitive pair refuses it


def test_bool_mask_is_a_binary_cost_matrix():
    mask = B4 > 0
    assert CostMatrix(mask) == CostMatrix(B4)
    with pytest.raises(CostMatrixError, match="diagonal must be zero"):
        CostMatrix(np.ones((3, 3), dtype=bool))


# --- as_cost: the one conversion --------------------------------------------------------------------
class _Duck:
    def __init__(self, values):
        self.values = values


def test_as_cost_accepts_every_form():
    import torch

    want = CostMatrix(B4)
    forms = [
        want,
        B4.tolist(),
        B4,
        B4 > 0,
        torch.tensor(B4),
        _Duck(B4),
        str(B4.astype(int).tolist()),
        {0: [1, 2], 2: [3], 3: [0]},
        "multi_pair:[(0,1),(0,2),(2,3),(3,0)]",
    ]
    for form in forms:
        C = costs.as_cost(form, 4)
        assert isinstance(C, CostMatrix) and C == want, form
    assert costs.as_cost(want) is want  # no copy of a matrix of the right size
    assert costs.as_cost(B4.tolist()) == want  # the size comes from the matrix itself
    assert costs.as_cost("odd", 4) == costs.load("odd", 4)


def test_as_cost_files(tmp_path):
    path = costs.save(CostMatrix(R3), tmp_path / "r3.json")
    assert costs.as_cost(str(path)) == costs.as_cost(path, 3) == CostMatrix(R3)
    (tmp_path / "zero.csv").write_text("0,0\n0,0\n")
    assert costs.as_cost(tmp_path / "zero.csv", allow_empty=True).is_empty
    with pytest.raises(CostMatrixError, match="all zero"):
        costs.as_cost(tmp_path / "zero.csv")


@pytest.mark.parametrize(
    "cost, num_classes, error, message",
    [
        ([[0, 1], [1, 0]], 3, costs.CostMatrixSizeError, r"shape \(2, 2\) does not match m = 3 classes"),
        ("odd", None, CostMatrixError, "builder 'odd' needs the number of classes"),
        ({0: [1]}, None, CostMatrixError, "dict needs the number of classes"),
        ({0: []}, 3, CostMatrixError, "empty Ω for sensitive seed 0"),
        ({5: [1]}, 3, CostMatrixError, r"dict: sensitive seed must be a class index in 0\.\.2, got 5"),
        ({"a": 1}, 3, CostMatrixError, "dict: sensitive seed"),
        ({0: 1}, 3, CostMatrixError, "targets of seed 0 must be a list"),
        ({0: [0]}, 3, CostMatrixError, r"target 0 of seed 0 must be another class index in 0\.\.2"),
        ({}, 3, CostMatrixError, "all zero"),
        (3.5, 3, CostMatrixError, "must be a builder name"),
        ([[0, 1], [1, 0]], 1, CostMatrixError, "num_classes must be an integer >= 2"),
        ([[0, -1], [1, 0]], None, CostMatrixError, r"negative entry C\[0,1\] = -1; costs must be non-negative"),
        ([[0, 1, 1]], None, CostMatrixError, r"square \(m, m\)"),
    ],
)
def test_as_cost_bad_input(cost, num_classes, error, message):
    with pytest.raises(error, match=message):
        costs.as_cost(cost, num_classes)
    assert issubclass(error, ValueError)


def test_size_error_carries_the_sizes():
    with pytest.raises(costs.CostMatrixSizeError) as e:
        costs.as_cost(costs.overall(4), 3)
    assert (e.value.size, e.value.expected) == (4, 3)
    with pytest.raises(costs.CostMatrixSizeError, match="3×3 but the dataset has 10 classes"):
        costs.load(costs.overall(3), 10)


def test_from_targets_and_load_dict():
    C = CostMatrix.from_targets({0: [2], 2: [0, 1]}, 3)
    np.testing.assert_array_equal(C.values, M([[0, 0, 1], [0, 0, 0], [1, 1, 0]]))
    assert costs.load({0: [2], 2: [0, 1]}, 3) == C
    assert CostMatrix.from_targets({}, 3, allow_empty=True).is_empty
    with pytest.raises(CostMatrixError, match="must be a dict"):
        CostMatrix.from_targets([(0, 1)], 3)


# --- consumers agree whatever form the cost matrix takes -----------------------------------------
def test_smoothing_identical_for_every_cost_form():
    from csr.certify.smoothing import Counts, exact_radii, sensitive_targets

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=30)
    p[:, 0] += 1.0
    p /= p.sum(1, keepdims=True)
    y = rng.integers(0, 4, size=30)
    c = Counts(np.stack([rng.multinomial(50, q) for q in p]), np.stack([rng.multinomial(500, q) for q in p]), y, 0.5)
    forms = [CostMatrix(B4), B4.tolist(), {0: [1, 2], 2: [3], 3: [0]}, "multi_pair:[(0,1),(0,2),(2,3),(3,0)]"]
    certs = [c.cost_sensitive(f, alpha=0.01) for f in forms]
    radii = [exact_radii(p, y, f, sigma=0.5) for f in forms]
    for cert, rad, f in zip(certs[1:], radii[1:], forms[1:]):
        np.testing.assert_array_equal(sensitive_targets(f, 4), B4)
        for name in ("pred", "sensitive", "R1", "R2", "R_cs", "radii", "cost"):
            np.testing.assert_array_equal(getattr(cert, name), getattr(certs[0], name), err_msg=f"{name} {f}")
        assert cert.metrics(0.1) == pytest.approx(certs[0].metrics(0.1), nan_ok=True)
        for name in ("R", "R_cs", "radii"):
            np.testing.assert_array_equal(rad[name], radii[0][name])
    np.testing.assert_array_equal(certs[0].sensitive, CostMatrix(B4).candidates(y))
    # real-valued: the same targets, robust cost scored, no binary error
    real = c.cost_sensitive(B4 * 2.5, alpha=0.01)
    np.testing.assert_array_equal(real.radii, certs[0].radii)
    assert np.isnan(real.metrics(0.1)["cs_robust_error"])
    with pytest.raises(ValueError, match="does not match m = 4"):
        c.cost_sensitive(R3)


# --- cost-matrix files as users write them ---------------------------------------------------
DIGITS = [str(i) for i in range(10)]


def _digit_matrix() -> np.ndarray:
    C = np.arange(100, dtype=float).reshape(10, 10) / 7  # distinct, non-round entries
    np.fill_diagonal(C, 0)
    return C


@pytest.mark.parametrize("delim", [",", ";", "\t", " ", "  "])
def test_file_with_a_digit_header_in_any_delimiter(tmp_path, delim):
    C = _digit_matrix()
    lines = [delim.join(DIGITS)] + [delim.join(repr(float(v)) for v in row) for row in C]
    path = tmp_path / "digits.csv"
    path.write_text("\n".join(lines) + "\n")
    got = costs.load(str(path), 10, class_names=DIGITS)
    np.testing.assert_array_equal(got.values, C)


def test_save_round_trips_exactly(tmp_path):
    C = _digit_matrix()
    C[0, 1] = 1e-7
    for names in (DIGITS, None, [f"class {k}" for k in range(10)]):
        M = costs.CostMatrix(C, class_names=names, name="m")
        for suffix in (".csv", ".json", ".yaml"):
            back = costs.load(str(costs.save(M, tmp_path / f"m{suffix}")), 10, class_names=names)
            np.testing.assert_array_equal(back.values, C)
            assert back.class_names == names


def test_pandas_files_load_back(tmp_path):
    pd = pytest.importorskip("pandas")
    names = ["cat", "dog", "car"]
    C = np.array([[0, 1, 5], [1, 0, 5], [2, 2, 0]], dtype=float)
    df = pd.DataFrame(C, index=names, columns=names)
    for kw, file in ((dict(), "a.csv"), (dict(index=False), "b.csv"), (dict(sep=";"), "c.csv"),
                     (dict(sep="\t"), "d.tsv")):
        df.to_csv(tmp_path / file, **kw)
        np.testing.assert_array_equal(costs.load(str(tmp_path / file), 3, class_names=names).values, C)
    pd.DataFrame(C).to_csv(tmp_path / "e.csv")  # index and header of integers 0..2
    np.testing.assert_array_equal(costs.load(str(tmp_path / "e.csv"), 3, class_names=names).values, C)


def test_header_names_are_matched_to_the_datasets_classes(tmp_path):
    names = ["cat", "dog", "car"]
    path = tmp_path / "r.csv"
    path.write_text("car,cat,dog\n0,7,8\n1,0,2\n3,4,0\n")  # rows and columns in the header's order
    C = costs.load(str(path), 3, class_names=names)
    assert C.values[names.index("car"), names.index("dog")] == 8
    assert C.values[names.index("dog"), names.index("car")] == 3
    assert C.values[names.index("cat"), names.index("dog")] == 2
    path.write_text("car,cat,dgo\n0,7,8\n1,0,2\n3,4,0\n")
    with pytest.raises(costs.CostMatrixError, match=r"unknown \['dgo'\]; missing \['dog'\]"):
        costs.load(str(path), 3, class_names=names)
    path.write_text(",cat,dog,car\ndog,1,0,2\ncat,0,7,8\ncar,3,4,0\n")  # row names in another order
    C = costs.load(str(path), 3, class_names=names)
    assert C.values[0].tolist() == [0, 7, 8] and C.values[1].tolist() == [1, 0, 2]
    path.write_text(",cat,dog,car\ncat,0,7,8\nbus,1,0,2\ncar,3,4,0\n")
    with pytest.raises(costs.CostMatrixError, match="row names"):
        costs.load(str(path), 3, class_names=names)


def test_relative_paths_resolve_against_the_users_directory(tmp_path, monkeypatch):
    (tmp_path / "mine.csv").write_text("0,1\n1,0\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # papermill --cwd notebooks
    monkeypatch.setenv("PWD", str(tmp_path))  # the shell the user typed the command in
    monkeypatch.delenv("CSR_INVOCATION_DIR", raising=False)
    assert costs.load("mine.csv", 2).values.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(costs.CostMatrixError) as e:
        costs.load("missing.csv", 2)
    assert str(tmp_path / "missing.csv") in str(e.value) and str(tmp_path / "notebooks" / "missing.csv") in str(e.value)
