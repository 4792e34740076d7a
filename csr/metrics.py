"""Clean and (cost-sensitive) robust metrics, from predictions or from a reach matrix.

Every function accepts NumPy arrays, nested lists or torch tensors (any device; they are
converted to NumPy) and validates its inputs, raising ``ValueError`` with one message naming
the problem (mismatched N, labels out of range, a malformed reach or cost matrix).

Notation
--------
``N`` examples with true labels ``y`` (int, ``0..m-1``); ``m`` classes.

``reach`` is an ``(N, m)`` boolean matrix from an attack or a certificate:
``reach[n, j]`` is True when some point of the ε-ball around ``x_n`` is (or, for a
certificate, could not be excluded from being) classified as ``j != y_n``. Clean
misclassification is the special case :func:`reach_from_predictions`.

``C`` is an ``(m, m)`` cost matrix: ``C[i, j] >= 0`` is the cost of an example of *seed*
class ``i`` being moved to *target* class ``j`` (zero diagonal). It may be a
:class:`csr.costs.CostMatrix` or anything :func:`csr.costs.as_cost` turns into one (an array, a
nested list, a tensor, a builder name such as ``"odd"``, a ``{seed: [targets]}`` dict, an object
with a ``.values`` attribute); an all-zero matrix is allowed (no candidates). What the matrix
means is read from the :class:`~csr.costs.CostMatrix`, never re-derived here:
``Ω_i = {j : C[i, j] > 0}`` (:meth:`~csr.costs.CostMatrix.sensitive_targets`) is the set of
sensitive targets of seed class ``i``; an example ``n`` is a *candidate*
(:meth:`~csr.costs.CostMatrix.candidates`) when ``Ω_{y_n}`` is non-empty (Zhang & Evans, 2019).

Example
-------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 2])
>>> reach = np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=bool)
>>> C = [[0, 0, 1], [0, 0, 0], [0, 0, 0]]          # only 0 -> 2 matters
>>> cost_sensitive_robust_error(reach, y, C)         # candidates: the two 0s; one reaches 2
0.5
>>> overall_robust_error(reach, y)                   # 3 of 4 examples reach some wrong class
0.75
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import costs as costs_mod

__all__ = [
    "accuracy",
    "confusion_matrix",
    "per_class_accuracy",
    "reach_from_predictions",
    "pairwise_counts",
    "pairwise_error",
    "candidate_counts",
    "cost_sensitive_robust_error",
    "robust_cost_per_example",
    "cost_sensitive_errors_per_example",
    "robust_cost",
    "overall_robust_error",
    "misclassification_cost",
    "weighted_accuracy",
    "conv_weights",
    "fuzziness",
    "fuzziness_eq9",
    "layer_fuzziness",
    "model_fuzziness_eq9",
    "sorted_weight_magnitudes",
]


# --------------------------------------------------------------------------------------------
# input conversion and validation
# --------------------------------------------------------------------------------------------
def _to_numpy(x: Any, name: str) -> np.ndarray:
    """NumPy view of an array-like or a torch tensor (detached, moved to CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - ragged lists etc.
        raise ValueError(f"{name} could not be converted to an array: {e}") from None
    if arr.dtype == object:
        raise ValueError(f"{name} must be numeric, got an object array (ragged or mixed input?)")
    return arr


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
    return int(num_classes)


def _labels(x: Any, name: str, num_classes: int | None = None) -> np.ndarray:
    """Validate a 1-D integer label vector (integral floats are accepted) → int64 array."""
    arr = _to_numpy(x, name)
    if arr.ndim != 1:
        hint = " (pass class indices, e.g. logits.argmax(1), not scores)" if arr.ndim == 2 else ""
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {arr.shape}{hint}")
    if arr.dtype == bool:
        raise ValueError(f"{name} must hold integer class indices, got a boolean array")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) and arr.size:
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
            raise ValueError(f"{name} must hold integer class indices, got non-integer values")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} has negative labels (min {arr.min()}); labels must be in 0..m-1")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(
            f"{name} has labels out of range: max {arr.max()} but num_classes={num_classes} "
            f"(labels must be in 0..{num_classes - 1})"
        )
    return arr


def _same_n(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"mismatched N: {name_a} has {a.shape[0]} rows but {name_b} has {b.shape[0]}")


def _reach(reach: Any, num_classes: int | None = None) -> np.ndarray:
    """Validate an (N, m) boolean-like matrix (bool, or numeric with values in {0, 1})."""
    arr = _to_numpy(reach, "reach")
    if arr.ndim != 2:
        raise ValueError(f"reach must be an (N, m) boolean matrix, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"reach must be an (N, m) boolean matrix, got dtype {arr.dtype}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError("reach must be an (N, m) boolean matrix; got values other than 0/1")
        arr = arr.astype(bool)
    if num_classes is not None and arr.shape[1] != num_classes:
        raise ValueError(
            f"reach must be (N, m) with m = num_classes = {num_classes}, got shape {arr.shape}"
        )
    return arr


def _cost(C: Any, m: int | None = None) -> "costs_mod.CostMatrix":
    """``C`` as a :class:`csr.costs.CostMatrix` (all-zero allowed) of ``m`` classes when given."""
    return costs_mod.as_cost(C, m, allow_empty=True)


def _reach_y_cost(reach: Any, y: Any, C: Any) -> tuple[np.ndarray, np.ndarray, "costs_mod.CostMatrix"]:
    R = _reach(reach)
    m = R.shape[1]
    cm = _cost(C, m)
    yy = _labels(y, "y", m)
    _same_n(R, yy, "reach", "y")
    return R, yy, cm


# --------------------------------------------------------------------------------------------
# clean metrics
# --------------------------------------------------------------------------------------------
def accuracy(pred: Any, y: Any) -> float:
    """Fraction of examples with ``pred[n] == y[n]``.

    ``pred``, ``y``: shape ``(N,)`` integer class indices, ``N >= 1``.

    >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    """
    p = _labels(pred, "pred")
    t = _labels(y, "y")
    _same_n(p, t, "pred", "y")
    if t.size == 0:
        raise ValueError("accuracy of an empty set is undefined: pred and y are empty")
    return float(np.mean(p == t))


def confusion_matrix(pred: Any, y: Any, num_classes: int) -> np.ndarray:
    """``(m, m)`` int64 counts; entry ``(i, j)`` = #examples with true class ``i`` predicted ``j``.

    Rows are true classes, columns predicted classes.

    >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2)
    array([[1, 1],
           [0, 1]])
    """
    m = _check_num_classes(num_classes)
    p = _labels(pred, "pred", m)
    t = _labels(y, "y", m)
    _same_n(p, t, "pred", "y")
    cm = np.zeros((m, m), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def per_class_accuracy(pred: Any, y: Any, num_classes: int) -> np.ndarray:
    """``(m,)`` float: accuracy on the examples of each true class; NaN for absent classes.

    >>> per_class_accuracy([0, 1, 1], [0, 0, 1], 3)
    array([0.5, 1. , nan])
    """
    cm = confusion_matrix(pred, y, num_classes)
    totals = cm.sum(axis=1)
    out = np.full(cm.shape[0], np.nan)
    has = totals > 0
    out[has] = np.diag(cm)[has] / totals[has]
    return out


def reach_from_predictions(pred: Any, y: Any, num_classes: int) -> np.ndarray:
    """Clean misclassification as an ``(N, m)`` bool reach matrix.

    ``reach[n, pred[n]] = True`` iff ``pred[n] != y[n]``; every other entry is False.

    >>> reach_from_predictions([0, 2], [0, 1], 3)
    array([[False, False, False],
           [False, False,  True]])
    """
    m = _check_num_classes(num_classes)
    p = _labels(pred, "pred", m)
    t = _labels(y, "y", m)
    _same_n(p, t, "pred", "y")
    R = np.zeros((t.size, m), dtype=bool)
    wrong = p != t
    R[np.nonzero(wrong)[0], p[wrong]] = True
    return R


# --------------------------------------------------------------------------------------------
# pairwise (seed → target) robustness
# --------------------------------------------------------------------------------------------
def pairwise_counts(reach: Any, y: Any, num_classes: int | None = None) -> np.ndarray:
    """``(m, m)`` int64: entry ``(i, j)`` = #examples of seed class ``i`` with ``reach[n, j]``.

    The diagonal is 0 (reaching one's own class is not an error). ``num_classes`` defaults to
    ``reach.shape[1]`` and must equal it when given.

    >>> pairwise_counts([[0, 1], [0, 0], [1, 0]], [0, 0, 1])
    array([[0, 1],
           [1, 0]])
    """
    m = None if num_classes is None else _check_num_classes(num_classes)
    R = _reach(reach, m)
    m = R.shape[1]
    t = _labels(y, "y", m)
    _same_n(R, t, "reach", "y")
    counts = np.zeros((m, m), dtype=np.int64)
    np.add.at(counts, t, R.astype(np.int64))
    np.fill_diagonal(counts, 0)
    return counts


def pairwise_error(reach: Any, y: Any, num_classes: int | None = None) -> np.ndarray:
    """``(m, m)`` float: entry ``(i, j)`` = fraction of seed-``i`` examples with ``reach[n, j]``.

    ``E[i, j] = #{n : y_n = i, reach[n, j]} / #{n : y_n = i}``; diagonal 0; a row of NaN for
    classes without examples. With a certificate's reach matrix this is the pairwise
    *certified* robust error (an upper bound); with an attack's, the empirical one (a lower bound).

    >>> pairwise_error([[0, 1, 0], [0, 0, 0], [1, 0, 0]], [0, 0, 1], 3)
    array([[0. , 0.5, 0. ],
           [1. , 0. , 0. ],
           [nan, nan, nan]])
    """
    counts = pairwise_counts(reach, y, num_classes)
    m = counts.shape[0]
    totals = np.bincount(_labels(y, "y", m), minlength=m)
    out = np.full((m, m), np.nan)
    has = totals > 0
    out[has] = counts[has] / totals[has, None]
    return out


# --------------------------------------------------------------------------------------------
# cost-sensitive metrics
# --------------------------------------------------------------------------------------------
def candidate_counts(y: Any, C: Any, num_classes: int | None = None) -> np.ndarray:
    """``(m,)`` int64: for each class ``i``, #examples of class ``i`` if ``Ω_i ≠ ∅`` else 0.

    Their sum is the denominator of :func:`cost_sensitive_robust_error` and :func:`robust_cost`.
    ``num_classes`` is needed only when ``C`` is a builder name or a target dict.

    >>> candidate_counts([0, 0, 1, 2], [[0, 0, 1], [0, 0, 0], [1, 0, 0]])
    array([2, 0, 1])
    """
    cm = _cost(C, num_classes)
    return cm.candidate_counts(_labels(y, "y", cm.m))


def cost_sensitive_robust_error(reach: Any, y: Any, C: Any) -> float:
    """Cost-sensitive robust error for a **binary** cost matrix (Zhang & Evans 2019, eq. 3.1).

    .. math::

        \\mathrm{err}_C = \\frac{\\sum_n \\delta_{y_n}\\,
            \\mathbb{1}[\\exists j \\in \\Omega_{y_n} : \\mathrm{reach}[n, j]]}{\\sum_n \\delta_{y_n}},
        \\qquad \\Omega_i = \\{j : C_{ij} > 0\\},\\; \\delta_i = \\mathbb{1}[\\Omega_i \\neq \\emptyset]

    i.e. over the *candidate* examples (those whose true class has a non-empty Ω), the fraction
    that reach **any** sensitive target; this is what their reference code computes. Examples of
    classes with an empty Ω are excluded from the denominator. If there are no candidates at all
    (no example belongs to a seed class, or N = 0) the error is defined as ``0.0``.

    Shapes: ``reach`` ``(N, m)`` bool, ``y`` ``(N,)`` int, ``C`` ``(m, m)`` with entries in {0, 1}.
    For real-valued costs use :func:`robust_cost` (a ``ValueError`` is raised here).

    >>> y = [0, 0, 1]
    >>> reach = [[0, 1, 1], [0, 1, 0], [1, 0, 0]]
    >>> cost_sensitive_robust_error(reach, y, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])  # 0 -> 2 only
    0.5
    """
    R, t, cm = _reach_y_cost(reach, y, C)
    if not cm.is_binary:
        raise ValueError(
            "cost_sensitive_robust_error needs a binary (0/1) cost matrix; "
            "for real-valued costs use robust_cost(reach, y, C)"
        )
    sensitive = cm.sensitive_targets(t)  # (N, m): j ∈ Ω_{y_n}
    candidate = cm.candidates(t)
    n_cand = int(candidate.sum())
    if n_cand == 0:
        return 0.0
    hit = (R & sensitive).any(axis=1)
    return float(hit[candidate].sum() / n_cand)


def robust_cost(reach: Any, y: Any, C: Any) -> float:
    """Cost-sensitive robust cost for a real-valued cost matrix (Zhang & Evans 2019).

    .. math::

        \\mathrm{cost}_C = \\frac{\\sum_n \\sum_j C_{y_n j}\\, \\mathrm{reach}[n, j]}
                              {\\sum_n \\delta_{y_n}},
        \\qquad \\delta_i = \\mathbb{1}[\\exists j : C_{ij} > 0]

    i.e. the total cost of every (example, target) pair reached, divided by the number of
    candidate examples (the normalisation of their reference code). Every reached target is
    charged, so an example reaching two costly targets pays both. For a binary C in which every
    seed class has at most one target (``|Ω_i| <= 1``) this equals
    :func:`cost_sensitive_robust_error`. No candidates (or N = 0) → ``0.0``.

    Shapes: ``reach`` ``(N, m)`` bool, ``y`` ``(N,)`` int, ``C`` ``(m, m)`` non-negative.

    >>> robust_cost([[0, 1, 1], [0, 0, 0], [1, 0, 0]], [0, 0, 1],
    ...             [[0, 2, 10], [0, 0, 0], [0, 0, 0]])   # (2 + 10) / 2 candidates
    6.0
    """
    R, t, cm = _reach_y_cost(reach, y, C)
    n_cand = int(cm.candidates(t).sum())
    if n_cand == 0:
        return 0.0
    return float((cm.values[t] * R).sum() / n_cand)


def cost_sensitive_errors_per_example(reach: Any, y: Any, C: Any) -> np.ndarray:
    """For each candidate example (Ω_{y_n} ≠ ∅, in order): whether it reaches some target of
    Ω_{y_n}. :func:`cost_sensitive_robust_error` is their mean; Clopper–Pearson or a paired
    bootstrap over them gives its interval. Shapes as :func:`robust_cost`; returns (n_cand,) bool.

    >>> cost_sensitive_errors_per_example([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [0, 0, 1],
    ...                                   [[0, 1, 0], [0, 0, 0], [0, 0, 0]]).tolist()
    [True, False]
    """
    R, t, cm = _reach_y_cost(reach, y, C)
    cand = np.asarray(cm.candidates(t), dtype=bool)
    hit = (R & np.asarray(cm.sensitive_targets(t), dtype=bool)).any(1)
    return hit[cand]


def robust_cost_per_example(reach: Any, y: Any, C: Any) -> np.ndarray:
    """The cost each candidate example pays, ``Σ_j C[y_n, j]·reach[n, j]`` for the examples with
    Ω_{y_n} ≠ ∅ (in order): :func:`robust_cost` is their mean, and their bootstrap gives its
    interval (:func:`csr.stats.bootstrap_mean`). Shapes as :func:`robust_cost`; returns (n_cand,).

    >>> robust_cost_per_example([[0, 1, 1], [0, 0, 0], [1, 0, 0]], [0, 0, 1],
    ...                         [[0, 2, 10], [0, 0, 0], [0, 0, 0]]).tolist()
    [12.0, 0.0]
    """
    R, t, cm = _reach_y_cost(reach, y, C)
    cand = np.asarray(cm.candidates(t), dtype=bool)
    return (cm.values[t] * R).sum(1)[cand].astype(np.float64)


def overall_robust_error(reach: Any, y: Any) -> float:
    """Fraction of examples reaching **any** wrong class: ``mean_n 1[∃ j ≠ y_n : reach[n, j]]``.

    Equals :func:`cost_sensitive_robust_error` with the all-ones off-diagonal cost matrix (every
    example is then a candidate). ``reach[n, y_n]`` is ignored. Empty input → ``0.0``.

    >>> overall_robust_error([[0, 1], [0, 0], [1, 0]], [0, 0, 1])
    0.6666666666666666
    """
    R = _reach(reach)
    m = R.shape[1]
    t = _labels(y, "y", m)
    _same_n(R, t, "reach", "y")
    if t.size == 0:
        return 0.0
    R = R.copy()
    R[np.arange(t.size), t] = False
    return float(R.any(axis=1).mean())


def misclassification_cost(pred: Any, y: Any, C: Any, num_classes: int | None = None) -> float:
    """Mean cost of the clean predictions over **all** examples: ``(1/N) Σ_n C[y_n, pred_n]``.

    The cost-sensitive *standard* error (Zhang & Evans 2019, Table 4). For the all-ones
    off-diagonal matrix it is the clean error ``1 - accuracy``. ``num_classes`` is needed only
    when ``C`` is a builder name or a target dict.

    >>> misclassification_cost([0, 2, 1, 2], [0, 0, 1, 1], [[0, 1, 5], [1, 0, 1], [1, 1, 0]])
    1.5
    """
    cm = _cost(C, num_classes)
    p = _labels(pred, "pred", cm.m)
    t = _labels(y, "y", cm.m)
    _same_n(p, t, "pred", "y")
    if t.size == 0:
        raise ValueError("misclassification cost of an empty set is undefined: pred and y are empty")
    return float(cm.values[t, p].mean())


# --------------------------------------------------------------------------------------------
# non-uniform attacks (Zeng et al.)
# --------------------------------------------------------------------------------------------
def weighted_accuracy(correct: Any, weights: Any) -> float:
    """Accuracy under a non-uniform distribution over examples: ``Σ w_n·1[correct_n] / Σ w_n``.

    Zeng et al.'s A_sa / A_tr with ``w = exp(−α_test·margin)`` of the adversarial outputs (see
    :func:`csr.evaluate.nonuniform_report`); uniform weights give the plain accuracy.

    >>> weighted_accuracy([True, False], [1.0, 3.0])
    0.25
    """
    c = _to_numpy(correct, "correct").astype(bool).ravel()
    w = _to_numpy(weights, "weights").astype(float).ravel()
    _same_n(c, w, "correct", "weights")
    if c.size == 0:
        raise ValueError("weighted accuracy of an empty set is undefined")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0 and not all zero")
    return float((w * c).sum() / w.sum())


# --------------------------------------------------------------------------------------------
# conv weights: fuzziness and the Min-Max property (Shen et al.)
# --------------------------------------------------------------------------------------------
def conv_weights(model: Any) -> list:
    """The weight tensors of the model's convolution layers (``nn.Conv1d/2d/3d``), in order."""
    import torch.nn as nn

    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def fuzziness(w: Any, eps: float = 1e-6):
    """Fuzziness of a weight tensor (De Luca–Termini fuzzy entropy of its memberships).

    Memberships ``μ_i = |w_i| / max_j |w_j|`` place every weight in the layer's magnitude
    interval ``[0, max|w|]``; the fuzziness is

    ``F(w) = −(1/n) Σ_i [μ_i ln μ_i + (1 − μ_i) ln(1 − μ_i)]``  (``0 ln 0 = 0``),

    in ``[0, ln 2]``: 0 when every weight is 0 or of the largest magnitude (the "Min-Max
    property"), ln 2 when every weight sits at the middle of the interval. An all-zero tensor
    has fuzziness 0. Memberships are clamped to ``[eps, 1 − eps]`` so the value is
    differentiable (the clamp changes it by less than ``2·eps·(1 − ln eps)``).

    w : any-shape tensor (torch → a differentiable 0-d tensor; otherwise a float).

    >>> import torch
    >>> round(float(fuzziness(torch.tensor([0.5, 1.0, -1.0, 0.0]))), 4)  # (ln 2 + 0 + 0 + 0) / 4
    0.1733
    """
    import torch

    if not isinstance(w, torch.Tensor):
        return float(fuzziness(torch.as_tensor(np.asarray(w, dtype=float)), eps))
    a = w.abs().flatten()
    if a.numel() == 0:
        raise ValueError("fuzziness of an empty weight tensor is undefined")
    top = a.max()
    if float(top.detach()) == 0.0:
        return a.sum() * 0.0
    mu = (a / top).clamp(eps, 1 - eps)
    return -(mu * mu.log() + (1 - mu) * (1 - mu).log()).mean()


def fuzziness_eq9(weights: Any):
    """Shen et al.'s fuzziness exactly as Eqs. 8–9 print it, over all weights as one vector.

    ``ρ_i = 1 / (1 + e^{|w_i|})`` (Eq. 9) and ``F = −(1/N) Σ_i [ρ_i ln ρ_i + (1 − ρ_i) ln(1 − ρ_i)]``
    (Eq. 8), where ``N`` is the number of entries of ``W_conv`` — every conv layer's weights
    concatenated (``weights``: one tensor or a list of them).

    Read literally, ``ρ_i ∈ (0, ½]``: ``ρ(0) = ½`` (not 1, as the text after Eq. 9 states), so
    ``F`` is largest, ``ln 2``, when every weight is 0, and falls toward 0 only as every
    ``|w_i| → ∞``. Minimising it pushes weights *outward*, not toward {0, max}; small random
    initial weights give ``F ≈ ln 2 ≈ 0.693``, the ≈ 0.7 Fig. 5(b) reports at the start. The
    repair that does reward the Min-Max property is :func:`fuzziness` (memberships
    ``|w| / max|w|`` per layer).

    >>> import torch
    >>> round(float(fuzziness_eq9(torch.zeros(5))), 4)  # ρ = 1/2 everywhere: ln 2
    0.6931
    >>> round(float(fuzziness_eq9([torch.tensor([0.0]), torch.tensor([3.0])])), 4)  # (ln 2 + H(1/(1+e³))) / 2
    0.442
    """
    import torch

    ws = [weights] if isinstance(weights, torch.Tensor) else list(weights)
    if not ws:
        raise ValueError("fuzziness_eq9 needs at least one weight tensor")
    a = torch.cat([w.abs().flatten() for w in ws])
    if a.numel() == 0:
        raise ValueError("fuzziness of an empty weight tensor is undefined")
    log_rho = -torch.nn.functional.softplus(a)  # ln ρ = −ln(1 + e^{|w|}), stable for large |w|
    log_1m = -torch.nn.functional.softplus(-a)  # ln(1 − ρ) = −ln(1 + e^{−|w|})
    return -(log_rho.exp() * log_rho + log_1m.exp() * log_1m).mean()


def model_fuzziness_eq9(model: Any) -> dict[str, float]:
    """``{"fuzz_eq9": F}``: :func:`fuzziness_eq9` over all the model's conv weights (no gradients)."""
    import torch

    with torch.no_grad():
        ws = conv_weights(model)
        return {"fuzz_eq9": float(fuzziness_eq9(ws))} if ws else {}


def layer_fuzziness(model: Any) -> dict[str, float]:
    """``{"fuzz_conv1": F(W_1), "fuzz_conv2": ...}`` for the model's conv layers (no gradients)."""
    import torch

    with torch.no_grad():
        return {f"fuzz_conv{i + 1}": float(fuzziness(w)) for i, w in enumerate(conv_weights(model))}


def sorted_weight_magnitudes(model: Any, normalize: bool = True) -> dict[str, np.ndarray]:
    """Per conv layer, the weights' magnitudes sorted ascending (``/ max`` when ``normalize``):
    the curves of Shen et al.'s Figs. 3–4 (a Min-Max layer is flat near 0 and near 1)."""
    out = {}
    for i, w in enumerate(conv_weights(model)):
        a = np.sort(np.abs(w.detach().cpu().numpy().ravel()))
        out[f"conv{i + 1}"] = a / a[-1] if normalize and a[-1] > 0 else a
    return out
