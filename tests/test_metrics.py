"""Golden values for csr.metrics on tiny hand-computed fixtures (6 examples, 3 classes)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from csr import metrics as M

# ------------------------------------------------------------------------------------------
# Fixture: 6 examples, 3 classes.
#   n  y  reach (targets reached)
#   0  0  [0,1,1]   -> 1 and 2
#   1  0  [0,1,0]   -> 1
#   2  1  [1,0,0]   -> 0
#   3  1  [0,0,0]   robust
#   4  2  [0,0,0]   robust
#   5  2  [1,1,0]   -> 0 and 1
# ------------------------------------------------------------------------------------------
Y = np.array([0, 0, 1, 1, 2, 2])
REACH = np.array(
    [[0, 1, 1], [0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=bool
)
# clean predictions: n1 (0 -> 2) and n3 (1 -> 0) are wrong
PRED = np.array([0, 2, 1, 0, 2, 2])

C_PAIR_02 = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=float)  # only 0 -> 2
C_SEED_0 = np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=float)  # seed set {0}
C_SEED_12 = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 0]], dtype=float)  # seed set {1, 2}
C_TARGET_2 = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=float)  # target set {2}
C_REAL = np.array([[0, 2, 10], [0.5, 0, 0], [0, 0, 0]], dtype=float)
C_ALL = np.ones((3, 3)) - np.eye(3)


class FakeCostMatrix:
    """Duck-typed stand-in for csr.costs.CostMatrix (only .values is used)."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)


# ------------------------------------------------------------------------------------------
# clean metrics
# ------------------------------------------------------------------------------------------
def test_accuracy_golden():
    assert M.accuracy(PRED, Y) == pytest.approx(4 / 6)
    assert M.accuracy([1, 1], [1, 1]) == 1.0


def test_confusion_matrix_golden():
    cm = M.confusion_matrix(PRED, Y, 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [1, 1, 0], [0, 0, 2]])
    assert cm.dtype.kind == "i"
    assert cm.sum() == 6


def test_per_class_accuracy_golden_and_nan_for_absent_class():
    np.testing.assert_allclose(M.per_class_accuracy(PRED, Y, 3), [0.5, 0.5, 1.0])
    pca = M.per_class_accuracy(PRED, Y, 4)
    np.testing.assert_allclose(pca[:3], [0.5, 0.5, 1.0])
    assert np.isnan(pca[3])


def test_reach_from_predictions_golden():
    R = M.reach_from_predictions(PRED, Y, 3)
    expected = np.zeros((6, 3), dtype=bool)
    expected[1, 2] = True
    expected[3, 0] = True
    assert R.dtype == bool
    np.testing.assert_array_equal(R, expected)
    # clean error is the overall robust error of the clean reach matrix
    assert M.overall_robust_error(R, Y) == pytest.approx(1 - M.accuracy(PRED, Y))


# ------------------------------------------------------------------------------------------
# pairwise
# ------------------------------------------------------------------------------------------
def test_pairwise_counts_golden():
    np.testing.assert_array_equal(M.pairwise_counts(REACH, Y, 3), [[0, 2, 1], [1, 0, 0], [1, 1, 0]])


def test_pairwise_error_golden():
    E = M.pairwise_error(REACH, Y, 3)
    np.testing.assert_allclose(E, [[0, 1.0, 0.5], [0.5, 0, 0], [0.5, 0.5, 0]])
    # num_classes defaults to reach.shape[1]
    np.testing.assert_allclose(M.pairwise_error(REACH, Y), E)


def test_pairwise_error_diagonal_zero_and_nan_row_for_absent_class():
    y = np.array([0, 0, 1])
    reach = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=bool)  # diagonal entries set on purpose
    E = M.pairwise_error(reach, y, 3)
    np.testing.assert_allclose(E[0], [0, 0.5, 0.5])
    np.testing.assert_allclose(E[1], [0, 0, 0])
    assert np.all(np.isnan(E[2]))


# ------------------------------------------------------------------------------------------
# cost-sensitive robust error (binary C) and robust cost (real C)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "C, err, cost, cand",
    [
        # 0 -> 2 only: candidates n0, n1; n0 reaches 2.
        (C_PAIR_02, 1 / 2, 1 / 2, [2, 0, 0]),
        # seed {0} -> {1, 2}: n0 and n1 both hit; n0 pays twice in the cost.
        (C_SEED_0, 2 / 2, 3 / 2, [2, 0, 0]),
        # seed {1, 2}: candidates n2..n5; n2 (->0) and n5 (->0, ->1) hit; costs 1 + 2.
        (C_SEED_12, 2 / 4, 3 / 4, [0, 2, 2]),
        # target {2}: candidates classes 0, 1 (n0..n3); only n0 reaches 2.
        (C_TARGET_2, 1 / 4, 1 / 4, [2, 2, 0]),
        # all pairs: every example a candidate, 4 of 6 reach something; 6 pairs reached.
        (C_ALL, 4 / 6, 6 / 6, [2, 2, 2]),
    ],
)
def test_binary_golden(C, err, cost, cand):
    assert M.cost_sensitive_robust_error(REACH, Y, C) == pytest.approx(err)
    assert M.robust_cost(REACH, Y, C) == pytest.approx(cost)
    np.testing.assert_array_equal(M.candidate_counts(Y, C), cand)


def test_robust_cost_real_valued_golden():
    # candidates: classes 0 and 1 (n0..n3) -> 4.  n0: 2 + 10, n1: 2, n2: 0.5, n3: 0.
    assert M.robust_cost(REACH, Y, C_REAL) == pytest.approx(14.5 / 4)
    np.testing.assert_array_equal(M.candidate_counts(Y, C_REAL), [2, 2, 0])


def test_cost_sensitive_robust_error_rejects_real_valued_cost():
    with pytest.raises(ValueError, match="robust_cost"):
        M.cost_sensitive_robust_error(REACH, Y, C_REAL)


def test_robust_cost_equals_error_for_single_target_per_seed():
    rng = np.random.default_rng(0)
    m, n = 5, 40
    for _ in range(20):
        C = np.zeros((m, m))
        for i in range(m):
            if rng.random() < 0.7:
                C[i, rng.choice([j for j in range(m) if j != i])] = 1
        y = rng.integers(0, m, n)
        reach = rng.random((n, m)) < 0.3
        assert M.robust_cost(reach, y, C) == pytest.approx(M.cost_sensitive_robust_error(reach, y, C))


def test_robust_cost_differs_for_multi_target_seed():
    # guards against robust_cost silently using "any" instead of summing targets
    assert M.robust_cost(REACH, Y, C_SEED_0) != pytest.approx(
        M.cost_sensitive_robust_error(REACH, Y, C_SEED_0)
    )


def test_overall_robust_error_equals_all_ones_case():
    assert M.overall_robust_error(REACH, Y) == pytest.approx(4 / 6)
    rng = np.random.default_rng(1)
    for _ in range(10):
        y = rng.integers(0, 4, 30)
        reach = rng.random((30, 4)) < 0.2
        all_ones = np.ones((4, 4)) - np.eye(4)
        assert M.overall_robust_error(reach, y) == pytest.approx(
            M.cost_sensitive_robust_error(reach, y, all_ones)
        )


def test_overall_robust_error_ignores_own_class_column():
    reach = np.array([[1, 0], [0, 0]], dtype=bool)  # n0 "reaches" its own class only
    assert M.overall_robust_error(reach, [0, 1]) == 0.0


def test_non_candidates_excluded_from_denominator():
    # add 10 class-1 examples that reach everything: 0 -> 2 error must not change
    y = np.concatenate([Y, np.ones(10, dtype=int)])
    reach = np.concatenate([REACH, np.ones((10, 3), dtype=bool)])
    reach[6:, 1] = False
    assert M.cost_sensitive_robust_error(reach, y, C_PAIR_02) == pytest.approx(1 / 2)
    assert M.robust_cost(reach, y, C_PAIR_02) == pytest.approx(1 / 2)
    np.testing.assert_array_equal(M.candidate_counts(y, C_PAIR_02), [2, 0, 0])


def test_no_candidates_gives_zero():
    y = np.array([1, 2, 2])
    reach = np.ones((3, 3), dtype=bool)
    assert M.cost_sensitive_robust_error(reach, y, C_PAIR_02) == 0.0
    assert M.robust_cost(reach, y, C_PAIR_02) == 0.0
    assert M.cost_sensitive_robust_error(REACH, Y, np.zeros((3, 3))) == 0.0
    assert M.robust_cost(np.zeros((0, 3), bool), np.zeros(0, int), C_REAL) == 0.0


def test_misclassification_cost_golden():
    # wrong: n1 true 0 pred 2 (cost 10), n3 true 1 pred 0 (cost 0.5); mean over all 6
    assert M.misclassification_cost(PRED, Y, C_REAL) == pytest.approx(10.5 / 6)
    assert M.misclassification_cost(PRED, Y, C_ALL) == pytest.approx(1 - M.accuracy(PRED, Y))
    assert M.misclassification_cost(PRED, Y, C_PAIR_02) == pytest.approx(1 / 6)


# ------------------------------------------------------------------------------------------
# input types
# ------------------------------------------------------------------------------------------
def test_torch_inputs_and_duck_typed_cost_matrix():
    reach_t = torch.from_numpy(REACH)
    y_t = torch.from_numpy(Y)
    assert M.cost_sensitive_robust_error(reach_t, y_t, FakeCostMatrix(C_PAIR_02)) == pytest.approx(0.5)
    assert M.robust_cost(reach_t.int(), y_t, torch.from_numpy(C_REAL)) == pytest.approx(14.5 / 4)
    assert M.accuracy(torch.from_numpy(PRED), y_t) == pytest.approx(4 / 6)
    np.testing.assert_allclose(M.pairwise_error(reach_t, y_t, 3), M.pairwise_error(REACH, Y, 3))
    assert M.misclassification_cost(PRED.tolist(), Y.tolist(), C_REAL.tolist()) == pytest.approx(10.5 / 6)
    # a 0/1 float reach matrix is accepted
    assert M.overall_robust_error(REACH.astype(float), Y) == pytest.approx(4 / 6)


def test_real_cost_matrix_object():
    costs = pytest.importorskip("csr.costs")
    C = costs.CostMatrix(C_PAIR_02)
    assert M.cost_sensitive_robust_error(REACH, Y, C) == pytest.approx(0.5)
    np.testing.assert_array_equal(M.candidate_counts(Y, C), [2, 0, 0])


# ------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.accuracy([0, 1, 2], [0, 1]), "mismatched N"),
        (lambda: M.cost_sensitive_robust_error(REACH, Y[:5], C_PAIR_02), "mismatched N"),
        (lambda: M.pairwise_error(REACH, [0, 0, 1, 1, 2, 3], 3), "out of range"),
        (lambda: M.confusion_matrix([0, 3], [0, 1], 3), "out of range"),
        (lambda: M.confusion_matrix([0, -1], [0, 1], 3), "negative"),
        (lambda: M.accuracy([0.5, 1.0], [0, 1]), "integer"),
        (lambda: M.accuracy(np.zeros((2, 3)), [0, 1]), "1-D"),
        (lambda: M.confusion_matrix([0, 1], [0, 1], 0), "num_classes"),
        (lambda: M.pairwise_error(REACH[:, 0], Y, 3), r"\(N, m\)"),
        (lambda: M.pairwise_error(REACH.astype(int) * 2, Y, 3), "0/1"),
        (lambda: M.pairwise_error(REACH, Y, 4), "num_classes"),
        (lambda: M.robust_cost(REACH, Y, np.zeros((2, 2))), "does not match"),
        (lambda: M.robust_cost(REACH, Y, np.zeros((3, 2))), "square"),
        (lambda: M.robust_cost(REACH, Y, -C_ALL), "non-negative"),
        (lambda: M.robust_cost(REACH, Y, np.ones((3, 3))), "diagonal"),
        (lambda: M.robust_cost(REACH, Y, {"a": 1}), "dict"),
        (lambda: M.accuracy([], []), "empty"),
        (lambda: M.misclassification_cost([0, 3], [0, 1], C_REAL), "out of range"),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------
# one cost-matrix semantics: identical results for a CostMatrix, a nested list, a builder name
# ------------------------------------------------------------------------------------------
def test_identical_for_every_cost_form():
    costs = pytest.importorskip("csr.costs")
    # C_SEED_0 is the builder "single_seed:0", C_REAL has no builder: a dict / text / tensor instead
    for ref, forms in (
        (C_SEED_0, [costs.CostMatrix(C_SEED_0), C_SEED_0.tolist(), "single_seed:0", {0: [1, 2]},
                    torch.from_numpy(C_SEED_0), FakeCostMatrix(C_SEED_0)]),
        (C_REAL, [costs.CostMatrix(C_REAL), C_REAL.tolist(), str(C_REAL.tolist()), torch.from_numpy(C_REAL)]),
    ):
        binary = costs.CostMatrix(ref).is_binary
        for C in forms:
            assert M.robust_cost(REACH, Y, C) == M.robust_cost(REACH, Y, ref), C
            np.testing.assert_array_equal(M.candidate_counts(Y, C, 3), M.candidate_counts(Y, ref))
            assert M.misclassification_cost(PRED, Y, C, 3) == M.misclassification_cost(PRED, Y, ref)
            if binary:
                assert M.cost_sensitive_robust_error(REACH, Y, C) == M.cost_sensitive_robust_error(REACH, Y, ref)
    # the candidates are the CostMatrix's, the denominator of both metrics
    C = costs.CostMatrix(C_REAL)
    n_cand = int(C.candidates(Y).sum())
    assert n_cand == 4 == M.candidate_counts(Y, C).sum()
    assert M.robust_cost(REACH, Y, C) == pytest.approx((C.values[Y] * REACH).sum() / n_cand)


def test_builder_name_needs_num_classes_without_reach():
    with pytest.raises(ValueError, match="needs the number of classes"):
        M.candidate_counts(Y, "odd")
    with pytest.raises(ValueError, match="needs the number of classes"):
        M.misclassification_cost(PRED, Y, "odd")
    with pytest.raises(ValueError, match=r"does not match m = 3"):
        M.candidate_counts(Y, np.zeros((4, 4)), 3)


def test_empty_cost_matrix_has_no_candidates():
    assert M.robust_cost(REACH, Y, np.zeros((3, 3))) == 0.0
    np.testing.assert_array_equal(M.candidate_counts(Y, np.zeros((3, 3))), [0, 0, 0])
    assert M.misclassification_cost(PRED, Y, np.zeros((3, 3))) == 0.0
