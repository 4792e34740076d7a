"""Label metrics (distances between classes) and the analyses of Terzi et al.

* :func:`visual_metric` — how far apart two classes are *in pixel space*: a linear classifier
  (multinomial logistic regression) on the pixels; ``D[i, j]`` is the mean distance of the
  class-``i`` and class-``j`` training points to the ``i``/``j`` decision boundary
  ``(w_i − w_j)·x + b_i − b_j = 0`` (symmetric; scaled to a largest entry of 1). Similar-looking
  digits (4/9, 3/5) are close.
* :func:`tree_metric` / :func:`cifar10_semantic_metric` — a semantic metric from a hypernym tree
  written here (no download): the distance of two classes is the height of their lowest common
  ancestor (scaled to 1); :func:`tiny_imagenet_semantic_metric` the same for Tiny ImageNet's 200
  classes from a WordNet-style abridgement stored in ``csr/resources/tiny_imagenet_hypernyms.json``.
* Any user matrix goes through :mod:`csr.costs` (``metric:'file.csv'`` or a plain matrix);
  :func:`check_metric` / :func:`metric_violation` say whether it is a metric (symmetric, zero
  diagonal, distinct classes apart, triangle inequality) and name the first violation.

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
    "MetricError",
    "check_metric",
    "metric_violation",
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
    "tiny_imagenet_semantic_metric",
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


class MetricError(ValueError):
    """A matrix that is not a class metric (:func:`check_metric`)."""


def _metric_array(distances: Any) -> np.ndarray:
    if isinstance(distances, torch.Tensor):
        distances = distances.detach().cpu().numpy()
    distances = getattr(distances, "values", distances)  # a CostMatrix
    try:
        D = np.array(distances, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricError("metric: entries must be numbers in a rectangular nested list or array") from None
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 1:
        raise MetricError(f"metric: the matrix must be square (m, m); got shape {tuple(D.shape)}")
    bad = np.argwhere(~np.isfinite(D))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise MetricError(f"metric: entry D[{i},{j}] = {D[i, j]:g} is not finite")
    return D


def metric_violation(distances: Any, *, class_names: Any = None, tol: float = 1e-9) -> str | None:
    """The first way ``distances`` (m, m) fails to be a metric on the classes, as a sentence, or
    ``None`` when it is one. Checked in this order: ``D ≥ 0``; ``D[i, i] = 0``; ``D[i, j] = D[j, i]``;
    ``D[i, j] > 0`` for ``i ≠ j``; the triangle inequality ``D[i, k] ≤ D[i, j] + D[j, k]``
    (vectorised in row blocks; m = 200 takes milliseconds). Comparisons allow an absolute slack
    of ``tol · max(1, max D)`` (rounded decimals read from a file pass). ``class_names`` (m
    names) appear in the sentence. A matrix that is not square or has a non-finite entry raises
    :class:`MetricError` (there is nothing to check).

    >>> metric_violation([[0, 1, 2], [1, 0, 1], [2, 1, 0]]) is None
    True
    >>> metric_violation([[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]], class_names="ABC")  # Terzi et al.'s toy matrix
    'triangle inequality fails for i = 0 (A), j = 2 (C), k = 1 (B): D[0,1] = 10 > D[0,2] + D[2,1] = 0.01 + 1 = 1.01'
    """
    D = _metric_array(distances)
    m = D.shape[0]
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)) or not (
            np.isfinite(tol) and tol >= 0):
        raise MetricError(f"metric: tol must be a non-negative number, got {tol!r}")
    names = None if class_names is None else [str(c) for c in class_names]
    if names is not None and len(names) != m:
        raise MetricError(f"metric: the matrix is {m}×{m} but {len(names)} class names were given")

    def cls(i: int) -> str:
        return f"{i} ({names[i]})" if names else f"{i}"

    neg = np.argwhere(D < 0)
    if len(neg):
        i, j = (int(v) for v in neg[0])
        return f"distances must be non-negative: D[{i},{j}] = {D[i, j]:g} (classes {cls(i)} and {cls(j)})"
    atol = float(tol) * max(1.0, float(D.max()))
    diag = np.flatnonzero(np.abs(np.diag(D)) > atol)
    if len(diag):
        i = int(diag[0])
        return f"a class's distance to itself must be 0: D[{i},{i}] = {D[i, i]:g} (class {cls(i)})"
    asym = np.argwhere(np.abs(D - D.T) > atol)
    if len(asym):
        i, j = (int(v) for v in asym[0])
        return (f"the matrix is not symmetric: D[{i},{j}] = {D[i, j]:g} but D[{j},{i}] = {D[j, i]:g} "
                f"(classes {cls(i)} and {cls(j)})")
    zero = np.argwhere((D <= atol) & ~np.eye(m, dtype=bool))
    if len(zero):
        i, j = (int(v) for v in zero[0])
        return f"distinct classes must be apart: D[{i},{j}] = {D[i, j]:g} (classes {cls(i)} and {cls(j)})"
    block = max(1, 4_000_000 // (m * m))
    for i0 in range(0, m, block):
        T = D[i0:i0 + block, :, None] + D[None, :, :]  # (b, j, k): D[i, j] + D[j, k]
        viol = np.argwhere(D[i0:i0 + block] > T.min(axis=1) + atol)
        if len(viol):
            bi, k = (int(v) for v in viol[0])
            i, j = i0 + bi, int(T[bi, :, k].argmin())
            return (f"triangle inequality fails for i = {cls(i)}, j = {cls(j)}, k = {cls(k)}: D[{i},{k}] = "
                    f"{D[i, k]:g} > D[{i},{j}] + D[{j},{k}] = {D[i, j]:g} + {D[j, k]:g} = {D[i, j] + D[j, k]:g}")
    return None


def check_metric(distances: Any, *, class_names: Any = None, tol: float = 1e-9) -> np.ndarray:
    """``distances`` as a float64 (m, m) array when it is a metric on the classes; otherwise
    :class:`MetricError` (a ``ValueError``) naming the first violation (:func:`metric_violation`).

    >>> check_metric([[0, 1], [1, 0]]).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> check_metric([[0, 1], [2, 0]])
    Traceback (most recent call last):
    ...
    csr.label_metrics.MetricError: not a metric: the matrix is not symmetric: D[0,1] = 1 but D[1,0] = 2 (classes 0 and 1)
    """
    problem = metric_violation(distances, class_names=class_names, tol=tol)
    if problem:
        raise MetricError(f"not a metric: {problem}")
    return _metric_array(distances)


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


# ------------------------------------------------------------------------------------------
# Tiny-ImageNet: a WordNet-style semantic metric on its 200 classes
# ------------------------------------------------------------------------------------------
TINY_IMAGENET_HYPERNYMS_FILE = "tiny_imagenet_hypernyms.json"
_TINY_IMAGENET_CACHE: dict[str, Any] = {}


def _tiny_imagenet_hierarchy() -> tuple[list[str], dict[str, str], dict[str, str], np.ndarray]:
    """(wnids in wnids.txt order, wnid → name, name → wnid, the full 200×200 metric), read once
    from ``csr/resources/tiny_imagenet_hypernyms.json``."""
    if not _TINY_IMAGENET_CACHE:
        from .store import read_json
        from .utils import resources_dir

        doc = read_json(resources_dir() / TINY_IMAGENET_HYPERNYMS_FILE)
        entries = doc["classes"]
        wnids = list(entries)
        names = {w: str(entries[w]["name"]) for w in wnids}
        by_name: dict[str, str] = {}
        for w in wnids:  # wnids.txt order: a name shared by two wnids means the first one
            by_name.setdefault(names[w], w)
        tree: dict[str, Any] = {}
        for w in wnids:
            node = tree
            for level in entries[w]["path"]:
                node = node.setdefault(str(level), {})
            node.setdefault("", []).append(w)  # a parent's own classes, under the key "" (no level added)
        _TINY_IMAGENET_CACHE.update(wnids=wnids, names=names, by_name=by_name,
                                    D=tree_metric(_flatten_own(tree), wnids))
    c = _TINY_IMAGENET_CACHE
    return c["wnids"], c["names"], c["by_name"], c["D"]


def _flatten_own(tree: dict[str, Any]) -> Any:
    """Nested dicts whose key ``""`` holds a node's own leaves → the format of :func:`tree_metric`
    (a list mixing leaves and sub-dicts), so leaves sit directly under their parent."""
    subs = {k: _flatten_own(v) for k, v in tree.items() if k != ""}
    own = list(tree.get("", []))
    if not own:
        return subs
    return own + ([subs] if subs else [])


def tiny_imagenet_semantic_metric(classes: list[str] | None = None) -> np.ndarray:
    """The semantic metric of Tiny-ImageNet's 200 classes from a WordNet-style hypernym tree
    stored in the package (``csr/resources/tiny_imagenet_hypernyms.json``; no download).

    Each class has a hand-written path of hypernyms from a top group (``organism``,
    ``artifact``, ``food``, ``natural object``) down to its parent, e.g. a dog breed
    ``organism / animal / vertebrate / mammal / carnivore / dog``. It is an abridgement, not the
    full WordNet DAG. Distances are :func:`tree_metric`'s: the number of levels from the deeper
    of the two classes up to their lowest common ancestor, divided by the largest such number
    among all 200 classes (7: a dog breed and a class of another top group). So two dog breeds
    are 1/7 apart, classes of different top groups 1. It is a metric (symmetric, zero diagonal,
    distinct classes apart, triangle inequality: :func:`check_metric` passes).

    ``classes``: Tiny-ImageNet wnids (``"n02124075"``) or names — the first synonym of
    ``words.txt`` (``"Egyptian cat"``), which is what the ``tiny_imagenet`` loader of
    :mod:`csr.data` uses as ``class_names`` when ``words.txt`` is there (else the wnids) — or a
    mix; ``None``: all 200 in ``wnids.txt`` order (note the loader numbers its labels in
    *sorted* wnid order: pass its ``class_names`` to match its labels). A string is first read
    as a wnid, then as a name; the 200 names are distinct, and were two wnids to share a name,
    the name would mean the first of them in ``wnids.txt`` order. Returns the float64 (m, m)
    array for the m classes in the order given: the corresponding rows and columns of the full
    200 × 200 metric (the scale does not depend on which classes are chosen). Unknown classes
    or repeated ones (also a wnid and its own name) raise ``ValueError``.

    >>> D = tiny_imagenet_semantic_metric()
    >>> D.shape
    (200, 200)
    >>> D2 = tiny_imagenet_semantic_metric(["golden retriever", "Chihuahua", "school bus"])
    >>> D2.round(3).tolist()  # two dog breeds are closer than a dog and a vehicle
    [[0.0, 0.143, 1.0], [0.143, 0.0, 1.0], [1.0, 1.0, 0.0]]
    >>> bool((tiny_imagenet_semantic_metric(["n02099601", "n02085620", "n04146614"]) == D2).all())
    True
    """
    wnids, names, by_name, D = _tiny_imagenet_hierarchy()
    if classes is None:
        return D.copy()
    if isinstance(classes, str):
        raise TypeError(f"tiny_imagenet_semantic_metric: classes must be a list of class names or wnids, "
                        f"not the single string {classes!r}")
    given = [str(c) for c in classes]
    if not given:
        raise ValueError("tiny_imagenet_semantic_metric: classes is empty (None means all 200)")
    index = {w: i for i, w in enumerate(wnids)}
    unknown = [c for c in given if c not in index and c not in by_name]
    if unknown:
        raise ValueError(
            f"tiny_imagenet_semantic_metric: unknown classes {unknown}; the metric knows the 200 Tiny-ImageNet "
            f"classes, by wnid or by the first name of words.txt (e.g. {wnids[0]!r} or {names[wnids[0]]!r}, "
            f"{wnids[1]!r} or {names[wnids[1]]!r})")
    idx = [index[c] if c in index else index[by_name[c]] for c in given]
    seen: dict[int, str] = {}
    repeated = []
    for c, i in zip(given, idx):
        if i in seen:
            repeated.append(f"{c!r} (= {seen[i]!r}, {wnids[i]})" if c != seen[i] else repr(c))
        seen.setdefault(i, c)
    if repeated:
        raise ValueError(f"tiny_imagenet_semantic_metric: classes must be distinct; repeated: {', '.join(repeated)}")
    return D[np.ix_(idx, idx)].copy()
