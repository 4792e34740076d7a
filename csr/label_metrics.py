"""Label metrics (distances between classes) and the analyses of Terzi et al.

* :func:`visual_metric` — how far apart two classes are *in pixel space*: a linear classifier
  (multinomial logistic regression) on the pixels; ``D[i, j]`` is the mean distance of the
  class-``i`` and class-``j`` training points to the ``i``/``j`` decision boundary
  ``(w_i − w_j)·x + b_i − b_j = 0`` (symmetric; scaled to a largest entry of 1). Similar-looking
  digits (4/9, 3/5) are close.
* :func:`tree_metric` / :func:`cifar10_semantic_metric` — a semantic metric from a hypernym tree
  written here (no download): the distance of two classes is the height of their lowest common
  ancestor (scaled to 1).
* Any user matrix goes through :mod:`csr.costs` (``metric:'file.csv'`` or a plain matrix).

Analyses: :func:`accuracy_gap` (``G = |C_pgd − C_ce|`` of row-normalised confusion matrices) and
:func:`gap_correlation` (its Pearson correlation with the metric over the off-diagonal pairs),
:func:`weighted_score` (``S = Σ_ij c_ij m_ij``), :func:`distance_groups` /
:func:`mean_by_distance` (a pairwise rate averaged over the similar and the dissimilar pairs).

Example
-------
>>> D = cifar10_semantic_metric()
>>> [float(D[3, 5]), float(D[3, 9]), float(D[1, 9])]  # cat-dog, cat-truck, automobile-truck
[0.25, 1.0, 0.25]
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "visual_metric",
    "tree_metric",
    "CIFAR10_TREE",
    "cifar10_semantic_metric",
    "accuracy_gap",
    "gap_correlation",
    "weighted_score",
    "distance_groups",
    "mean_by_distance",
    "confusion_rates",
]

# CIFAR-10 classes (torchvision order) under a small WordNet-style hypernym tree.
CIFAR10_TREE: dict[str, Any] = {
    "entity": {
        "vehicle": {
            "motor vehicle": ["automobile", "truck"],
            "craft": ["airplane", "ship"],
        },
        "animal": {
            "mammal": {
                "carnivore": ["cat", "dog"],
                "ungulate": ["deer", "horse"],
            },
            "non-mammal": ["bird", "frog"],
        },
    }
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _paths(tree: Any, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Leaf → path of ancestors (root first)."""
    out: dict[str, tuple[str, ...]] = {}
    if isinstance(tree, dict):
        for name, sub in tree.items():
            out.update(_paths(sub, prefix + (name,)))
    elif isinstance(tree, (list, tuple)):
        for leaf in tree:
            if isinstance(leaf, (dict, list, tuple)):
                out.update(_paths(leaf, prefix))
            else:
                if leaf in out:
                    raise ValueError(f"tree_metric: leaf {leaf!r} appears twice")
                out[str(leaf)] = prefix
    else:
        out[str(tree)] = prefix
    return out


def tree_metric(tree: Any, classes: list[str]) -> np.ndarray:
    """Distances between ``classes`` (leaves of ``tree``, nested dicts/lists): the number of levels
    from a leaf up to the lowest common ancestor, divided by the largest such number, so siblings
    are close and classes joined only at the root are 1. Symmetric, zero diagonal."""
    paths = _paths(tree)
    missing = [c for c in classes if c not in paths]
    if missing:
        raise ValueError(f"tree_metric: classes {missing} are not leaves of the tree")
    m = len(classes)
    D = np.zeros((m, m))
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            if i == j:
                continue
            pa, pb = paths[a] + (a,), paths[b] + (b,)
            common = 0
            while common < min(len(pa), len(pb)) and pa[common] == pb[common]:
                common += 1
            D[i, j] = max(len(pa), len(pb)) - common
    return D / D.max()


def cifar10_semantic_metric() -> np.ndarray:
    """The 10×10 semantic metric of CIFAR-10 from :data:`CIFAR10_TREE` (torchvision class order)."""
    return tree_metric(CIFAR10_TREE, CIFAR10_CLASSES)


def visual_metric(x: Any, y: Any, num_classes: int, *, max_iter: int = 500, seed: int = 0) -> np.ndarray:
    """Pixel-space class distances from a linear classifier's boundaries (see the module docstring).

    x : (N, ...) pixels in [0, 1]; y : (N,) labels. Returns an (m, m) symmetric matrix, zero
    diagonal, largest entry 1. The fit runs with one BLAS thread, so the metric (and everything
    trained with it) is the same whatever the machine's thread count.
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    X = (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).reshape(len(y), -1)
    Y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if set(np.unique(Y)) != set(range(num_classes)):
        raise ValueError(f"visual_metric needs examples of all {num_classes} classes")
    with threadpool_limits(limits=1):
        clf = LogisticRegression(max_iter=max_iter, random_state=seed).fit(X, Y)
    W, b = clf.coef_, clf.intercept_
    D = np.zeros((num_classes, num_classes))
    for i in range(num_classes):
        for j in range(i + 1, num_classes):
            w, c = W[i] - W[j], b[i] - b[j]
            pts = X[(Y == i) | (Y == j)]
            D[i, j] = D[j, i] = np.abs(pts @ w + c).mean() / np.linalg.norm(w)
    return D / D.max()


def confusion_rates(pred: Any, y: Any, m: int) -> np.ndarray:
    """Row-normalised confusion matrix ``m_ij`` (the fraction of class ``i`` predicted ``j``), (m, m)."""
    from .metrics import confusion_matrix

    cm = confusion_matrix(pred, y, m).astype(float)
    return cm / np.maximum(cm.sum(1, keepdims=True), 1)


def accuracy_gap(pred_a: Any, pred_b: Any, y: Any, num_classes: int) -> np.ndarray:
    """``G = |C_a − C_b|`` of the row-normalised confusion matrices of two models' predictions
    (Terzi et al.: a robust model ``a`` against a standard one ``b``), (m, m)."""
    return np.abs(confusion_rates(pred_a, y, num_classes) - confusion_rates(pred_b, y, num_classes))


def gap_correlation(G: np.ndarray, D: np.ndarray) -> float:
    """Pearson correlation of the off-diagonal entries of ``G`` and the metric ``D``."""
    G, D = np.asarray(G, float), np.asarray(D, float)
    if G.shape != D.shape or G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"G and D must be square matrices of one shape, got {G.shape} and {D.shape}")
    off = ~np.eye(G.shape[0], dtype=bool)
    return float(np.corrcoef(G[off], D[off])[0, 1])


def weighted_score(pred: Any, y: Any, C: Any) -> float:
    """``S = Σ_ij c_ij·m_ij`` with ``m`` the row-normalised confusion matrix of ``pred`` (under
    attack): the metric-weighted rate of mistakes, lower is better."""
    Cv = np.asarray(getattr(C, "values", C), dtype=float)
    return float((Cv * confusion_rates(pred, y, Cv.shape[0])).sum())


def distance_groups(D: Any, q: float = 0.25) -> dict[str, np.ndarray]:
    """Boolean (m, m) masks of the *similar* pairs (off-diagonal entries of ``D`` at or below its
    ``q``-quantile) and the *dissimilar* ones (at or above the ``(1 − q)``-quantile), ordered
    pairs ``(true, other)``: ``{"similar": …, "dissimilar": …}``.

    >>> D = np.array([[0, 1, 4], [1, 0, 2], [4, 2, 0]], dtype=float)
    >>> g = distance_groups(D, q=1 / 3)
    >>> np.argwhere(g["similar"]).tolist(), np.argwhere(g["dissimilar"]).tolist()
    ([[0, 1], [1, 0]], [[0, 2], [2, 0]])
    """
    D = np.asarray(getattr(D, "values", D), dtype=float)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 3:
        raise ValueError(f"distance_groups needs a square metric of at least 3 classes, got shape {D.shape}")
    if not 0 < q <= 0.5:
        raise ValueError(f"distance_groups: q must lie in (0, 0.5], got {q}")
    off = ~np.eye(D.shape[0], dtype=bool)
    lo, hi = np.quantile(D[off], q), np.quantile(D[off], 1 - q)
    return {"similar": off & (D <= lo), "dissimilar": off & (D >= hi)}


def mean_by_distance(M: Any, D: Any, q: float = 0.25) -> dict[str, float]:
    """Mean of a pairwise (m, m) rate ``M`` — a row-normalised confusion matrix, pairwise robust
    errors — over the similar and the dissimilar pairs of :func:`distance_groups`."""
    M = np.asarray(M, dtype=float)
    g = distance_groups(D, q)
    if M.shape != g["similar"].shape:
        raise ValueError(f"mean_by_distance: M has shape {M.shape}, the metric {g['similar'].shape}")
    return {k: float(M[mask].mean()) for k, mask in g.items()}
