"""Cost matrices: the validated object every cost-sensitive method and metric takes.

Convention (Zhang & Evans 2019): ``C[i, j]`` is the harm of an attacker turning an input of
*seed* class ``i`` into *target* class ``j``. ``Ω_i = {j : C[i, j] > 0}`` are the sensitive
targets of seed ``i``; ``δ_i = 1[Ω_i ≠ ∅]`` marks the seed classes that matter.

Shen et al. write their matrix the other way round, ``C(i, y)`` with ``i`` the *predicted* and
``y`` the *true* class; :func:`protect` returns it in our convention and
:meth:`CostMatrix.from_predicted_true` converts a matrix written in theirs.

Example
-------
>>> from csr import costs
>>> C = costs.load("single_pair:0,2", num_classes=10)
>>> C.omega(0), C.seeds, C.is_binary
([2], [0], True)

Every consumer (:mod:`csr.metrics`, :mod:`csr.certify.convex`, :mod:`csr.certify.smoothing`)
turns its ``cost`` argument into a :class:`CostMatrix` with :func:`as_cost` and reads what the
matrix means from it: :meth:`CostMatrix.omega` / :attr:`~CostMatrix.sensitive_mask` (the sensitive
targets), :meth:`CostMatrix.candidates` (examples whose class has Ω_y ≠ ∅),
:meth:`CostMatrix.sensitive_targets` (Ω_{y_n} per example), :attr:`~CostMatrix.is_binary` and
:meth:`CostMatrix.spec_mask` (the pairs a certificate bounds).

>>> C = costs.as_cost([[0, 1, 1], [0, 0, 0], [2, 0, 0]])
>>> C.candidates([0, 1, 2, 1]).tolist(), C.is_binary
([True, False, True, False], False)
>>> costs.load([[0, 1], [1, 1]], 2)
Traceback (most recent call last):
...
csr.costs.CostMatrixError: cost matrix diagonal must be zero (a correct prediction costs nothing); C[1,1] = 1
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from . import store
from .registry import Registry
from .utils import data_dir, resources_dir

__all__ = [
    "CostMatrix",
    "CostMatrixError",
    "CostMatrixSizeError",
    "BUILDERS",
    "as_cost",
    "load",
    "save",
    "named_matrices",
    "single_pair",
    "single_seed",
    "single_target",
    "multi_pair",
    "seed_set",
    "top_k",
    "random_k",
    "small_large",
    "large_small",
    "group",
    "protect",
    "overall",
    "from_metric",
    "CIFAR10_VEHICLES",
    "CIFAR10_ANIMALS",
]

CIFAR10_VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck
CIFAR10_ANIMALS = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse


class CostMatrixError(ValueError):
    """A cost matrix (or a spec for one) is invalid; the message names the problem."""


class CostMatrixSizeError(CostMatrixError):
    """A valid cost matrix of the wrong size: ``size`` classes where ``expected`` were expected.

    Callers that know what the expected size is (a dataset, a model's outputs) may re-word it.
    """

    def __init__(self, message: str, size: int, expected: int):
        super().__init__(message)
        self.size = int(size)
        self.expected = int(expected)


class CostMatrix:
    """A validated m×m cost matrix.

    ``C[i, j]`` is the cost of a seed-``i`` input turned into target class ``j``. Everything a cost
    matrix *means* is derived here and nowhere else:

    * ``Ω_i = {j : C[i, j] > 0}`` — :meth:`omega`, :attr:`sensitive_mask` (m, m),
      :attr:`omega_sizes` (m,), :attr:`seeds`, :attr:`targets`, :attr:`pairs`;
    * candidates — examples whose class has ``Ω_y ≠ ∅``: :meth:`candidates` (N,),
      :meth:`candidate_counts` (m,), :meth:`delta`;
    * per example — :meth:`sensitive_targets` (N, m): ``j ∈ Ω_{y_n}``;
    * binary (0/1) or real-valued — :attr:`is_binary`;
    * certification — :meth:`spec_mask` (the pairs to bound, or every pair) and
      :meth:`spec_columns`.

    Parameters
    ----------
    values : array-like (m, m)
        Finite, non-negative, zero diagonal, not all zero. Binary (0/1) or real-valued. A boolean
        array is a mask of sensitive pairs (True = cost 1).
    class_names : optional list of m names.
    name : optional label used in tables and run directories.
    allow_empty : accept an all-zero matrix (no sensitive pair: no candidates, every
        cost-sensitive error is 0). Metrics and certificate specifications allow it; a training or
        smoothing cost matrix does not.

    Raises
    ------
    CostMatrixError (a ``ValueError``) naming the first problem found.

    Example
    -------
    >>> C = CostMatrix([[0, 0, 1], [0, 0, 0], [3, 1, 0]])   # 0 -> 2 (cost 1), 2 -> 0 (3), 2 -> 1 (1)
    >>> C.omega(2), C.seeds, C.omega_sizes.tolist(), C.is_binary
    ([0, 1], [0, 2], [1, 0, 2], False)
    >>> C.sensitive_mask.astype(int).tolist()
    [[0, 0, 1], [0, 0, 0], [1, 1, 0]]
    >>> C.sensitive_targets([2, 1]).astype(int).tolist()
    [[1, 1, 0], [0, 0, 0]]
    """

    def __init__(
        self,
        values: Any,
        class_names: Sequence[str] | None = None,
        name: str | None = None,
        *,
        allow_empty: bool = False,
    ):
        if not isinstance(allow_empty, bool):
            raise CostMatrixError(f"allow_empty must be True or False, got {allow_empty!r}")
        self.values = _validate(values, allow_empty=allow_empty)
        self.values.setflags(write=False)
        m = self.values.shape[0]
        if class_names is not None:
            class_names = [str(c) for c in class_names]
            if len(class_names) != m:
                raise CostMatrixError(f"cost matrix is {m}×{m} but {len(class_names)} class names were given")
        self.class_names = class_names
        self.name = name

    # --- structure -------------------------------------------------------------------------
    @property
    def m(self) -> int:
        """Number of classes."""
        return int(self.values.shape[0])

    @property
    def is_binary(self) -> bool:
        """True when every entry is 0 or 1 (then :func:`csr.metrics.cost_sensitive_robust_error`
        applies; a real-valued matrix is scored with :func:`csr.metrics.robust_cost`)."""
        return bool(np.all((self.values == 0) | (self.values == 1)))

    @property
    def is_empty(self) -> bool:
        """True for an all-zero matrix (only with ``allow_empty=True``): no pair is sensitive."""
        return not bool(np.any(self.values > 0))

    @property
    def sensitive_mask(self) -> np.ndarray:
        """(m, m) bool: ``[i, j]`` is True when ``j ∈ Ω_i`` (``C[i, j] > 0``); diagonal False.

        >>> CostMatrix([[0, 2], [0, 0]]).sensitive_mask.tolist()
        [[False, True], [False, False]]
        """
        return self.values > 0

    @property
    def mask(self) -> np.ndarray:
        """Alias of :attr:`sensitive_mask`."""
        return self.sensitive_mask

    @property
    def omega_sizes(self) -> np.ndarray:
        """(m,) int64: ``|Ω_i|``, the number of sensitive targets of each seed class.

        >>> CostMatrix([[0, 1, 1], [0, 0, 0], [1, 0, 0]]).omega_sizes.tolist()
        [2, 0, 1]
        """
        return self.sensitive_mask.sum(axis=1).astype(np.int64)

    @property
    def seed_mask(self) -> np.ndarray:
        """(m,) bool: ``Ω_i ≠ ∅`` (δ_i as a mask)."""
        return self.sensitive_mask.any(axis=1)

    def omega(self, j: int) -> list[int]:
        """Ω_j: the sensitive targets of seed class ``j`` (sorted)."""
        self._check_class(j)
        return [int(k) for k in np.flatnonzero(self.sensitive_mask[j])]

    def delta(self, j: int) -> int:
        """δ_j = 1 if seed class ``j`` has any sensitive target, else 0."""
        self._check_class(j)
        return int(self.seed_mask[j])

    @property
    def seeds(self) -> list[int]:
        """Seed classes with Ω_j ≠ ∅."""
        return [int(j) for j in np.flatnonzero(self.seed_mask)]

    @property
    def targets(self) -> list[int]:
        """Classes that are a sensitive target of some seed."""
        return [int(j) for j in np.flatnonzero(self.sensitive_mask.any(axis=0))]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """All sensitive (seed, target) pairs, row-major."""
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(self.sensitive_mask))]

    @property
    def sparsity(self) -> float:
        """Fraction of the m(m−1) off-diagonal entries that are zero."""
        m = self.m
        return 1.0 - len(self.pairs) / (m * (m - 1))

    # --- per-example views (labels y: (N,) ints in 0..m-1; NumPy/list, or a tensor) -------------
    def candidates(self, y: Iterable[int] | np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(N,) bool: example ``n`` is a *candidate* (``Ω_{y_n} ≠ ∅``, i.e. δ_{y_n} = 1).

        The denominator of the cost-sensitive robust error and robust cost. A torch tensor ``y``
        gives a bool tensor on its device, anything else a NumPy array.

        >>> CostMatrix([[0, 1], [0, 0]]).candidates([0, 1, 0]).tolist()
        [True, False, True]
        """
        return self._rows(self.seed_mask, y)

    def sensitive_targets(self, y: Iterable[int] | np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """(N, m) bool: ``[n, j]`` is True when ``j ∈ Ω_{y_n}`` (the row ``sensitive_mask[y_n]``).

        A torch tensor ``y`` gives a bool tensor on its device, anything else a NumPy array.

        >>> CostMatrix([[0, 1, 1], [0, 0, 0], [0, 0, 0]]).sensitive_targets([0, 2]).astype(int).tolist()
        [[0, 1, 1], [0, 0, 0]]
        """
        return self._rows(self.sensitive_mask, y)

    def candidate_counts(self, y: Iterable[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Number of examples per class that are *candidates* (their class has Ω_y ≠ ∅).

        ``y`` : (N,) labels → (m,) int64 array (zero for classes that are not seeds).

        >>> CostMatrix([[0, 1], [0, 0]]).candidate_counts([0, 1, 0]).tolist()
        [2, 0]
        """
        y = self._labels(y)
        if isinstance(y, torch.Tensor):
            y = y.cpu().numpy()
        counts = np.bincount(y, minlength=self.m)
        return np.where(self.seed_mask, counts, 0).astype(np.int64)

    # --- certification specification ------------------------------------------------------------
    def spec_mask(
        self, labels: Iterable[int] | np.ndarray | torch.Tensor | None = None, *, all_pairs: bool = False
    ) -> np.ndarray | torch.Tensor:
        """The (seed, target) pairs a certificate must bound.

        ``all_pairs=False``: the sensitive pairs (:attr:`sensitive_mask`); ``all_pairs=True``: every
        off-diagonal pair (certify once, score any cost matrix later). Without ``labels`` → (m, m)
        bool; with ``labels`` (N,) → (N, m) bool rows, one per example (a tensor for tensor labels).

        >>> C = CostMatrix([[0, 1, 0], [0, 0, 0], [0, 0, 0]])
        >>> C.spec_mask([0, 1]).astype(int).tolist(), C.spec_mask([1], all_pairs=True).astype(int).tolist()
        ([[0, 1, 0], [0, 0, 0]], [[1, 0, 1]])
        """
        if not isinstance(all_pairs, bool):
            raise CostMatrixError(f"all_pairs must be True or False, got {all_pairs!r}")
        mask = ~np.eye(self.m, dtype=bool) if all_pairs else self.sensitive_mask
        return mask if labels is None else self._rows(mask, labels)

    def spec_columns(self, labels: Iterable[int] | np.ndarray | torch.Tensor, *, all_pairs: bool = False) -> int:
        """Number of pairs to bound for ``labels``: ``Σ_n |Ω_{y_n}|`` (``N·(m−1)`` with ``all_pairs``).

        >>> CostMatrix([[0, 1, 1], [0, 0, 0], [1, 0, 0]]).spec_columns([0, 1, 2, 0])
        5
        """
        rows = self.spec_mask(labels, all_pairs=all_pairs)
        return int(rows.sum())

    def _labels(self, y: Any) -> np.ndarray | torch.Tensor:
        """Validate (N,) class indices → int64 (a long tensor on its device for tensor input)."""
        if isinstance(y, torch.Tensor):
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise CostMatrixError(f"labels must be integer class indices, got dtype {y.dtype}")
            t = y.detach().reshape(-1) if y.dim() == 0 else y.detach()
            if t.dim() != 1:
                raise CostMatrixError(f"labels must be a 1-D array of class indices, got shape {tuple(t.shape)}")
            t = t.long()
            lo, hi = (int(v) for v in torch.aminmax(t)) if t.numel() else (0, 0)
        else:
            try:
                a = np.asarray(y)
            except (TypeError, ValueError):
                raise CostMatrixError("labels must be a 1-D array of integer class indices") from None
            a = a.reshape(-1) if a.ndim == 0 else a
            if a.ndim != 1:
                raise CostMatrixError(f"labels must be a 1-D array of class indices, got shape {a.shape}")
            if a.size and (a.dtype == bool or not np.issubdtype(a.dtype, np.number)):
                raise CostMatrixError(f"labels must be integer class indices, got dtype {a.dtype}")
            if a.size and not np.issubdtype(a.dtype, np.integer):
                if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                    raise CostMatrixError("labels must be integer class indices, got non-integer values")
            t = a.astype(np.int64)
            lo, hi = (int(t.min()), int(t.max())) if t.size else (0, 0)
        if lo < 0 or hi >= self.m:
            raise CostMatrixError(f"labels must lie in 0..{self.m - 1}; got range {lo}..{hi}")
        return t

    def _rows(self, table: np.ndarray, y: Any) -> np.ndarray | torch.Tensor:
        """``table[y]`` (a per-class table indexed by validated labels), on ``y``'s device."""
        y = self._labels(y)
        if isinstance(y, torch.Tensor):
            return torch.as_tensor(table, device=y.device)[y]
        return table[y]

    # --- conversions -----------------------------------------------------------------------
    def tensor(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The values as a torch tensor (m, m)."""
        return torch.as_tensor(np.array(self.values), dtype=dtype, device=device)

    def to_list(self) -> list[list[float]]:
        return self.values.tolist()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "class_names": self.class_names, "matrix": self.to_list()}

    @classmethod
    def from_predicted_true(cls, values: Any, **kwargs: Any) -> "CostMatrix":
        """Build from a matrix written ``C(predicted, true)`` (Shen et al.), i.e. transpose it."""
        return cls(np.asarray(values, dtype=np.float64).T, **kwargs)

    @classmethod
    def from_targets(cls, targets: Any, num_classes: int, *, name: str | None = "targets",
                     allow_empty: bool = False) -> "CostMatrix":
        """Binary matrix from sensitive-target sets ``{seed: [targets]}`` (``C[seed, t] = 1``).

        Every listed seed needs a non-empty target list of other class indices.

        >>> CostMatrix.from_targets({0: [2], 2: [0, 1]}, 3).pairs
        [(0, 2), (2, 0), (2, 1)]
        """
        if not isinstance(targets, dict):
            raise CostMatrixError(f"sensitive targets must be a dict {{seed: [targets]}}, got {type(targets).__name__}")
        values = _zeros(num_classes)
        m = values.shape[0]
        for seed, ts in targets.items():
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < m:
                raise CostMatrixError(
                    f"sensitive-target dict: sensitive seed must be a class index in 0..{m - 1}, got {seed!r}"
                )
            if isinstance(ts, (str, bytes)) or not isinstance(ts, Iterable):
                raise CostMatrixError(
                    f"sensitive-target dict: the targets of seed {seed} must be a list of class indices, got {ts!r}"
                )
            ts = list(ts)
            if not ts:
                raise CostMatrixError(f"empty Ω for sensitive seed {seed}: give at least one target class")
            for t in ts:
                if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= int(t) < m or t == seed:
                    raise CostMatrixError(f"target {t!r} of seed {seed} must be another class index in 0..{m - 1}")
                values[int(seed), int(t)] = 1.0
        return cls(values, name=name, allow_empty=allow_empty)

    def power(self, p: float) -> "CostMatrix":
        """Element-wise power C^{⊙p} (used by Wasserstein losses)."""
        return CostMatrix(self.values**p, self.class_names, f"{self.name or 'C'}^{p:g}", allow_empty=self.is_empty)

    def describe(self) -> dict[str, Any]:
        """Summary used at the top of notebooks."""
        return {
            "name": self.name or "custom",
            "classes": self.m,
            "type": "binary" if self.is_binary else "real-valued",
            "sensitive pairs": len(self.pairs),
            "seed classes": self.seeds,
            "sparsity": round(self.sparsity, 4),
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CostMatrix) and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash(self.values.tobytes())

    def __repr__(self) -> str:
        kind = "binary" if self.is_binary else "real"
        return f"CostMatrix(name={self.name!r}, m={self.m}, {kind}, pairs={len(self.pairs)})"

    def _check_class(self, j: int) -> None:
        if not (isinstance(j, (int, np.integer)) and 0 <= j < self.m):
            raise CostMatrixError(f"class index must be an integer in 0..{self.m - 1}, got {j!r}")


def _validate(values: Any, allow_empty: bool = False) -> np.ndarray:
    if isinstance(values, CostMatrix):
        return np.array(values.values)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise CostMatrixError(
            "cost matrix entries must be numbers in a rectangular nested list or array"
        ) from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise CostMatrixError(f"cost matrix must be square (m, m); got shape {tuple(a.shape)}")
    if a.shape[0] < 2:
        raise CostMatrixError(f"cost matrix needs at least 2 classes; got shape {tuple(a.shape)}")
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        i, j = bad[0]
        raise CostMatrixError(f"cost matrix has a non-finite entry (NaN or inf) at C[{i},{j}]")
    neg = np.argwhere(a < 0)
    if len(neg):
        i, j = neg[0]
        raise CostMatrixError(
            f"cost matrix has a negative entry C[{i},{j}] = {a[i, j]:g}; costs must be non-negative (>= 0)"
        )
    diag = np.flatnonzero(np.diag(a) != 0)
    if len(diag):
        i = diag[0]
        raise CostMatrixError(
            f"cost matrix diagonal must be zero (a correct prediction costs nothing); C[{i},{i}] = {a[i, i]:g}"
        )
    if not allow_empty and not np.any(a > 0):
        raise CostMatrixError("cost matrix is all zero: no adversarial transformation is sensitive")
    return a


# ------------------------------------------------------------------------------------------
# Builders. Each returns a CostMatrix; the first argument is always the number of classes m.
# ------------------------------------------------------------------------------------------
BUILDERS: Registry[Callable[..., CostMatrix]] = Registry("cost-matrix builder")


def _check_index(m: int, i: Any, what: str) -> int:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < m:
        raise CostMatrixError(f"{what} must be a class index in 0..{m - 1}, got {i!r}")
    return int(i)


def _zeros(m: int) -> np.ndarray:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise CostMatrixError(f"number of classes must be an integer >= 2, got {m!r}")
    return np.zeros((int(m), int(m)))


@BUILDERS.register("single_pair")
def single_pair(m: int, seed: int, target: int, cost: float = 1.0) -> CostMatrix:
    """Only ``seed → target`` matters (Zhang & Evans Table 1, e.g. (0,2), (6,5), (4,9))."""
    C = _zeros(m)
    s, t = _check_index(m, seed, "seed"), _check_index(m, target, "target")
    if s == t:
        raise CostMatrixError(f"seed and target must differ, got ({s}, {t})")
    C[s, t] = cost
    return CostMatrix(C, name=f"pair_{s}_{t}")


@BUILDERS.register("single_seed")
def single_seed(m: int, seed: int) -> CostMatrix:
    """Every transformation of seed class ``seed`` matters (row of ones)."""
    C = _zeros(m)
    s = _check_index(m, seed, "seed")
    C[s, :] = 1
    C[s, s] = 0
    return CostMatrix(C, name=f"seed_{s}")


@BUILDERS.register("single_target")
def single_target(m: int, target: int) -> CostMatrix:
    """Every transformation *into* ``target`` matters (column of ones)."""
    C = _zeros(m)
    t = _check_index(m, target, "target")
    C[:, t] = 1
    C[t, t] = 0
    return CostMatrix(C, name=f"target_{t}")


@BUILDERS.register("multi_pair")
def multi_pair(m: int, pairs: Iterable[Sequence[int]], costs: Sequence[float] | None = None) -> CostMatrix:
    """Several (seed, target) pairs, cost 1 each unless ``costs`` is given."""
    C = _zeros(m)
    pairs = [tuple(p) for p in pairs]
    if not pairs:
        raise CostMatrixError("multi_pair needs at least one (seed, target) pair")
    if costs is not None and len(costs) != len(pairs):
        raise CostMatrixError(f"{len(pairs)} pairs but {len(costs)} costs")
    for k, p in enumerate(pairs):
        if len(p) != 2:
            raise CostMatrixError(f"pairs must be (seed, target); got {p!r}")
        s, t = _check_index(m, p[0], "seed"), _check_index(m, p[1], "target")
        if s == t:
            raise CostMatrixError(f"seed and target must differ, got ({s}, {t})")
        C[s, t] = 1.0 if costs is None else costs[k]
    return CostMatrix(C, name="pairs_" + "_".join(f"{s}{t}" for s, t in pairs))


@BUILDERS.register("seed_set")
def seed_set(m: int, seeds: Iterable[int], name: str | None = None) -> CostMatrix:
    """Every transformation of the given seed classes matters (rows of ones)."""
    C = _zeros(m)
    seeds = [_check_index(m, s, "seed") for s in seeds]
    if not seeds:
        raise CostMatrixError("seed_set needs at least one seed class")
    for s in seeds:
        C[s, :] = 1
        C[s, s] = 0
    return CostMatrix(C, name=name or "seeds_" + "".join(map(str, seeds)))


@BUILDERS.register("odd")
def odd(m: int = 10) -> CostMatrix:
    """Odd digits as seeds (Zhang & Evans Table 1)."""
    return seed_set(m, range(1, m, 2), name="odd")


@BUILDERS.register("even")
def even(m: int = 10) -> CostMatrix:
    """Even digits as seeds (Zhang & Evans Table 1)."""
    return seed_set(m, range(0, m, 2), name="even")


@BUILDERS.register("top_k")
def top_k(m: int, k: int, errors: Any) -> CostMatrix:
    """The ``k`` most vulnerable (seed, target) pairs of an (m, m) pairwise error matrix.

    ``errors`` is e.g. the pairwise robust-error matrix of an overall-robust model (Zhang &
    Evans "top-10"); ties are broken by row-major order. ``errors`` may be a CSV/JSON path.
    """
    if isinstance(errors, (str, Path)):
        errors = _read_matrix_file(Path(errors))[0]
    E = np.array(errors, dtype=np.float64)
    if E.shape != (m, m):
        raise CostMatrixError(f"top_k: error matrix must be {m}×{m}, got shape {E.shape}")
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= m * (m - 1)):
        raise CostMatrixError(f"top_k: k must be an integer in 1..{m * (m - 1)}, got {k!r}")
    E = np.where(np.eye(m, dtype=bool) | np.isnan(E), -np.inf, E)
    order = np.argsort(-E.reshape(-1), kind="stable")[: int(k)]
    C = _zeros(m)
    C.reshape(-1)[order] = 1
    return CostMatrix(C, name=f"top_{k}")


@BUILDERS.register("random_k")
def random_k(m: int, k: int, seed: int = 0) -> CostMatrix:
    """``k`` distinct off-diagonal pairs drawn uniformly with a seeded generator."""
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= m * (m - 1)):
        raise CostMatrixError(f"random_k: k must be an integer in 1..{m * (m - 1)}, got {k!r}")
    C = _zeros(m)
    off = np.flatnonzero(~np.eye(m, dtype=bool).reshape(-1))
    pick = np.random.default_rng(seed).choice(off, size=int(k), replace=False)
    C.reshape(-1)[pick] = 1
    return CostMatrix(C, name=f"random_{k}_s{seed}")


def _ordered(m: int, up: bool, low: float, name: str) -> CostMatrix:
    if isinstance(low, bool) or not isinstance(low, (int, float)) or not (np.isfinite(low) and low >= 0):
        raise CostMatrixError(f"{name}: low must be a finite number >= 0, got {low!r}")
    i, j = np.indices((m, m))
    big = (j > i) if up else (j < i)
    C = np.where(big, (i - j) ** 2, np.where(i != j, float(low), 0.0)).astype(np.float64)
    return CostMatrix(C, name=name if low == 0 else f"{name}:low={low:g}")


@BUILDERS.register("small_large")
def small_large(m: int = 10, low: float = 0.0) -> CostMatrix:
    """Turning a small class i into a larger one j costs (i − j)² (Zhang & Evans Table 2); every
    other off-diagonal pair costs ``low`` (Appendix B / Table 4: ``small_large:low=0.1``).

    >>> small_large(3, low=0.1).values.tolist()
    [[0.0, 1.0, 4.0], [0.1, 0.0, 1.0], [0.1, 0.1, 0.0]]
    """
    return _ordered(m, True, low, "small_large")


@BUILDERS.register("large_small")
def large_small(m: int = 10, low: float = 0.0) -> CostMatrix:
    """Turning a large class i into a smaller one j costs (i − j)² (Zhang & Evans Table 2); every
    other off-diagonal pair costs ``low``."""
    return _ordered(m, False, low, "large_small")


@BUILDERS.register("group")
def group(
    m: int,
    sources: Iterable[int],
    targets: Iterable[int],
    cost: float = 1.0,
    within: float = 0.0,
    name: str | None = None,
) -> CostMatrix:
    """Group → group: seeds in ``sources`` turned into ``targets`` cost ``cost``; into another
    member of their own group, ``within`` (the real-valued CIFAR "vehicle" task uses
    ``cost=10, within=1``)."""
    src = sorted({_check_index(m, s, "source class") for s in sources})
    tgt = sorted({_check_index(m, t, "target class") for t in targets})
    if not src or not tgt:
        raise CostMatrixError("group needs non-empty source and target groups")
    C = _zeros(m)
    for s in src:
        for t in tgt:
            if s != t:
                C[s, t] = cost
        if within:
            for t in src:
                if s != t:
                    C[s, t] = within
    return CostMatrix(C, name=name or "group")


@BUILDERS.register("animals_to_vehicles")
def animals_to_vehicles(m: int = 10) -> CostMatrix:
    """CIFAR-10: an animal turned into any vehicle matters."""
    _require_cifar10(m)
    return group(m, CIFAR10_ANIMALS, CIFAR10_VEHICLES, name="animals_to_vehicles")


@BUILDERS.register("vehicles_to_animals")
def vehicles_to_animals(m: int = 10) -> CostMatrix:
    """CIFAR-10: a vehicle turned into any animal matters."""
    _require_cifar10(m)
    return group(m, CIFAR10_VEHICLES, CIFAR10_ANIMALS, name="vehicles_to_animals")


@BUILDERS.register("vehicle")
def vehicle(m: int = 10) -> CostMatrix:
    """CIFAR-10 real-valued task: vehicle → animal costs 10, vehicle → other vehicle 1."""
    _require_cifar10(m)
    return group(m, CIFAR10_VEHICLES, CIFAR10_ANIMALS, cost=10.0, within=1.0, name="vehicle")


def _require_cifar10(m: int) -> None:
    if m != 10:
        raise CostMatrixError(f"the animal/vehicle tasks are defined for CIFAR-10 (10 classes), not {m}")


@BUILDERS.register("protect")
def protect(m: int, protected: int, c: float = 10.0) -> CostMatrix:
    """Protect one class (Shen et al., Eq. 3): every error that involves class p costs ``c``.

    Eq. 3 reads C(i, j) = 0 for i = j, ``c`` for i = p **or** j = p, 1 otherwise (i predicted,
    j true): misclassifying a p example as anything else *and* turning any other example into
    p both cost ``c`` ("when a classifier misclassifies a p class as a non-p class or
    misclassifies a non-p class as a p class, the cost is c"); the authors' code builds the same
    matrix (row and column p). The matrix is symmetric, so our convention C[true, predicted]
    is the same array: row p and column p hold ``c``, every other off-diagonal entry 1. With
    ``c = 1`` this is the overall matrix.

    >>> protect(3, 1, c=10).values.tolist()
    [[0.0, 10.0, 1.0], [10.0, 0.0, 10.0], [1.0, 10.0, 0.0]]
    """
    p = _check_index(m, protected, "protected class")
    if not (np.isfinite(c) and c > 0):
        raise CostMatrixError(f"protect: cost c must be a positive number, got {c!r}")
    C = np.ones((m, m)) - np.eye(m)
    C[p, :] = c
    C[:, p] = c
    C[p, p] = 0
    return CostMatrix(C, name=f"protect_{p}_c{c:g}")


@BUILDERS.register("overall")
def overall(m: int) -> CostMatrix:
    """All off-diagonal entries 1: ordinary (overall) robustness."""
    C = _zeros(m) + 1.0
    np.fill_diagonal(C, 0.0)
    return CostMatrix(C, name="overall")


@BUILDERS.register("metric")
def from_metric(m: int, distances: Any, p: float = 1.0, normalize: bool = False) -> CostMatrix:
    """From a class-distance metric D (m×m, symmetric, zero diagonal): C = D^{⊙p}.

    ``normalize=True`` scales the largest entry to 1. ``distances`` may be a file path.
    """
    if isinstance(distances, (str, Path)):
        distances = _read_matrix_file(Path(distances))[0]
    D = np.array(distances, dtype=np.float64)
    if D.shape != (m, m):
        raise CostMatrixError(f"metric: distance matrix must be {m}×{m}, got shape {D.shape}")
    if not np.allclose(D, D.T, equal_nan=True):
        raise CostMatrixError("metric: a class-distance matrix must be symmetric")
    C = _validate(D) ** p
    if normalize:
        C = C / C.max()
    return CostMatrix(C, name="metric")


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------
_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".yaml", ".yml")


def _stored_matrix_folders() -> list[Path]:
    """Where stored matrices are looked up, first match wins: the user's
    ``<data_dir>/cost_matrices/`` (``$CSR_DATA_DIR``), then the package's own."""
    folders = [data_dir() / "cost_matrices", resources_dir() / "cost_matrices"]
    return list(dict.fromkeys(f.resolve() for f in folders if f.is_dir()))


def _stored_matrix_path(name: str) -> Path | None:
    for folder in _stored_matrix_folders():
        hits = [p for p in sorted(folder.glob(name + ".*")) if p.suffix in _FILE_SUFFIXES]
        if hits:
            return hits[0]
    return None


def named_matrices() -> list[str]:
    """Names of the stored matrices: the package's (``csr/resources/cost_matrices/``, also
    ``data/cost_matrices/`` in a checkout) and the user's under ``$CSR_DATA_DIR/cost_matrices/``."""
    return sorted({p.stem for f in _stored_matrix_folders() for p in f.glob("*") if p.suffix in _FILE_SUFFIXES})


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _split_table(text: str) -> list[list[str]]:
    """Rows of cells of a delimited table: ``,`` ``;`` or tab (the first that occurs outside
    comment lines, in that order), else runs of whitespace. Blank and ``#`` lines are skipped."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for delim in (",", ";", "\t"):
        if any(delim in ln for ln in lines):
            return [[c.strip().strip('"').strip("'") for c in ln.split(delim)] for ln in lines]
    return [ln.split() for ln in lines]


def _parse_table(cells: list[list[str]], where: str) -> tuple[np.ndarray, list[str] | None]:
    """A square table of numbers with an optional header row of class names and an optional
    index column (row names), as users write them: names may be digits ("0,1,…,9"), a header
    may start with an empty or label corner cell (pandas' ``to_csv``), row names must equal the
    header's. Returns the values and the class names (None without a header or index)."""
    if not cells:
        raise CostMatrixError(f"cost matrix file {where} is empty")
    header: list[str] | None = None
    index: list[str] | None = None
    rows = cells
    n_rows, first_w = len(cells), len(cells[0])
    # A header: a non-numeric cell in the first row, or one row more than there are columns.
    widths = {len(r) for r in cells[1:]} or {first_w}
    if not all(_number(c) for c in cells[0]) or (n_rows == max(widths) + 1 and n_rows > 1) or \
            (n_rows == max(widths) and first_w == max(widths) - 1 and n_rows > 1):
        header, rows = cells[0], cells[1:]
    # An index column: no number in the first column, or one column more than there are rows.
    if rows and (not any(_number(r[0]) for r in rows) or all(len(r) == len(rows) + 1 for r in rows)):
        index, rows = [r[0] for r in rows], [r[1:] for r in rows]
        if header is not None and len(header) == len(rows[0]) + 1:
            header = header[1:]  # the corner cell
    if not rows:
        raise CostMatrixError(f"cost matrix file {where} has a header but no rows of numbers")
    if len({len(r) for r in rows}) > 1:
        raise CostMatrixError(f"cost matrix file {where}: rows have different lengths "
                              f"({sorted({len(r) for r in rows})} numbers)")
    bad = [c for r in rows for c in r if not _number(c)]
    if bad:
        raise CostMatrixError(f"cost matrix file {where}: entries must be numbers, got {bad[0]!r}")
    values = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    if header is not None and len(header) != values.shape[1]:
        raise CostMatrixError(f"cost matrix file {where}: the header names {len(header)} classes but the rows "
                              f"hold {values.shape[1]} numbers")
    if index is not None and header is not None and index != header:
        if sorted(index) != sorted(header):
            raise CostMatrixError(f"cost matrix file {where}: row names {index} differ from the column names {header}")
        order = [index.index(h) for h in header]  # rows written in another order: put them in the header's
        values = values[order]
    return values, header if header is not None else index


def _read_matrix_file(path: Path) -> tuple[np.ndarray, list[str] | None]:
    if not path.is_file():
        raise CostMatrixError(f"cost matrix file not found: {path}")
    suffix = path.suffix.lower()
    text = path.read_text()
    names = None
    if suffix in (".csv", ".tsv", ".txt"):
        return _parse_table(_split_table(text), str(path))
    if suffix in (".json", ".yaml", ".yml"):
        try:
            if suffix == ".json":
                obj = json.loads(text)
            else:
                import yaml

                obj = yaml.safe_load(text)
        except Exception as e:  # noqa: BLE001 - re-raised as one clear error
            raise CostMatrixError(f"cannot parse cost matrix file {path}: {e}") from None
        if isinstance(obj, dict):
            if "matrix" not in obj:
                raise CostMatrixError(f"cost matrix file {path} must hold a list of rows or a 'matrix' key")
            names = obj.get("class_names")
            obj = obj["matrix"]
        return _validate(obj, allow_empty=True), names  # all-zero is checked by CostMatrix
    raise CostMatrixError(f"cost matrix file must be .csv/.tsv/.txt, .json or .yaml: {path}")


def _parse_args(text: str) -> tuple[list[Any], dict[str, Any]]:
    """'0,2' → [0, 2]; '3,c=5' → [3], {'c': 5}; '[[0,1],[2,3]]' → [[[0, 1], [2, 3]]]."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if not text.strip():
        return args, kwargs
    try:
        node = ast.parse(f"f({text})", mode="eval").body
        assert isinstance(node, ast.Call)
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except (SyntaxError, ValueError, AssertionError):
        raise CostMatrixError(f"cannot parse builder arguments {text!r}; write e.g. 'single_pair:0,2'") from None
    return args, kwargs


def load(
    spec: Any,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    pairwise_errors: Any = None,
) -> CostMatrix:
    """Turn a user's ``cost_matrix`` parameter into a validated :class:`CostMatrix`.

    ``spec`` may be
      * a :class:`CostMatrix` or an (m, m) nested list / array / tensor (a bool array is a mask of
        sensitive pairs);
      * a builder name with optional arguments after a colon: ``"overall"``, ``"odd"``,
        ``"single_pair:0,2"``, ``"single_seed:8"``, ``"protect:3,c=10"``, ``"random_k:10,seed=0"``,
        ``"multi_pair:[(0,2),(6,5)]"`` (``num_classes`` is passed as the first argument);
      * the name of a matrix stored in ``data/cost_matrices/`` (e.g. ``"vehicle_real"``);
      * a path to a .csv (rows of numbers, optional header of class names), .json or .yaml file
        (a list of rows, or ``{"matrix": [...], "class_names": [...]}``);
      * sensitive-target sets ``{seed: [targets]}`` (binary, :meth:`CostMatrix.from_targets`).

    ``pairwise_errors`` (m, m) is handed to ``top_k`` when its spec names no ``errors`` file
    (the "top-10 most vulnerable pairs" of a baseline model).

    Raises :class:`CostMatrixError` (a ``ValueError``) naming the problem, including a matrix
    whose size does not match ``num_classes`` (:class:`CostMatrixSizeError`).
    """
    _check_num_classes(num_classes)
    C, names = _load(spec, int(num_classes), pairwise_errors)
    if C.m != num_classes:
        raise CostMatrixSizeError(
            f"cost matrix is {C.m}×{C.m} but the dataset has {num_classes} classes", C.m, num_classes
        )
    values = C.values
    if names and class_names is not None:
        values = _match_names(C, [str(n) for n in names], [str(c) for c in class_names])
    cn = class_names if class_names is not None else (names if names and len(names) == C.m else C.class_names)
    return CostMatrix(values, class_names=cn, name=C.name)


def _match_names(C: CostMatrix, names: list[str], want: list[str]) -> np.ndarray:
    """``C``'s values in the dataset's class order ``want``, read from the class names its file
    gives: the same names in another order are reordered by name; digits ``0 … m−1`` for a
    dataset with other names are read as class indices; any other mismatch is an error naming it."""
    if names == want:
        return C.values
    if sorted(names) == sorted(want):
        order = [names.index(c) for c in want]
        return C.values[np.ix_(order, order)]
    if names == [str(i) for i in range(C.m)]:
        return C.values
    unknown = [n for n in names if n not in want]
    missing = [c for c in want if c not in names]
    raise CostMatrixError(
        f"cost matrix {C.name!r}: its class names do not match the dataset's classes {want}: "
        f"{'unknown ' + repr(unknown) if unknown else ''}{'; ' if unknown and missing else ''}"
        f"{'missing ' + repr(missing) if missing else ''} (name the classes as the dataset does, use the indices "
        f"0..{C.m - 1}, or drop the header)")


def as_cost(cost: Any, num_classes: int | None = None, *, allow_empty: bool = False) -> CostMatrix:
    """The one conversion every cost-sensitive function applies to its ``cost`` argument.

    ``cost``: anything :func:`load` accepts, or any object with a ``.values`` (m, m) attribute
    (e.g. a DataFrame). A :class:`CostMatrix` of the right size is returned as it is.
    ``num_classes`` builds a builder name, a stored name or a ``{seed: [targets]}`` dict (needed
    for those) and, when given, must equal the matrix size (else :class:`CostMatrixSizeError`).
    ``allow_empty=True`` accepts an all-zero matrix (no sensitive pair), as metrics and
    certificate specifications do.

    Raises :class:`CostMatrixError` (a ``ValueError``) naming the problem.

    >>> as_cost("single_pair:0,1", 3) == as_cost([[0, 1, 0], [0, 0, 0], [0, 0, 0]])
    True
    >>> as_cost(np.zeros((2, 2)), allow_empty=True).candidates([0, 1]).tolist()
    [False, False]
    >>> as_cost([[0, 1], [1, 0]], 3)
    Traceback (most recent call last):
    ...
    csr.costs.CostMatrixSizeError: cost matrix shape (2, 2) does not match m = 3 classes
    """
    if num_classes is not None:
        _check_num_classes(num_classes)
        num_classes = int(num_classes)
    if not isinstance(allow_empty, bool):
        raise CostMatrixError(f"allow_empty must be True or False, got {allow_empty!r}")
    if not isinstance(cost, (CostMatrix, str, Path, dict, list, tuple, np.ndarray, torch.Tensor)):
        v = getattr(cost, "values", None)
        if v is not None and not callable(v):  # a duck-typed cost matrix / DataFrame
            cost = v
    if isinstance(cost, CostMatrix):
        C = cost
    else:
        C = _load(cost, num_classes, None, allow_empty=allow_empty)[0]
    if num_classes is not None and C.m != num_classes:
        raise CostMatrixSizeError(
            f"cost matrix shape ({C.m}, {C.m}) does not match m = {num_classes} classes", C.m, num_classes
        )
    if not allow_empty and C.is_empty:
        raise CostMatrixError("cost matrix is all zero: no adversarial transformation is sensitive")
    return C


def _check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise CostMatrixError(f"num_classes must be an integer >= 2, got {num_classes!r}")


def _load(
    spec: Any, num_classes: int | None, pairwise_errors: Any, allow_empty: bool = False
) -> tuple[CostMatrix, list[str] | None]:
    """``spec`` → (CostMatrix, class names read from a file). ``num_classes`` is only needed (and
    only used) to build names and target dicts; the caller checks the size."""
    names = None

    def needs_m(what: str) -> int:
        if num_classes is None:
            raise CostMatrixError(f"{what} needs the number of classes: pass num_classes")
        return num_classes

    if isinstance(spec, CostMatrix):
        C = spec
    elif isinstance(spec, Path) or (isinstance(spec, str) and _looks_like_path(spec)):
        values, names = _read_matrix_file(resolve_user_path(spec))
        C = CostMatrix(values, name=Path(spec).stem, allow_empty=allow_empty)
    elif isinstance(spec, str) and spec.strip().startswith("["):  # a nested list passed as text
        try:
            values = ast.literal_eval(spec.strip())
        except (SyntaxError, ValueError):
            raise CostMatrixError(f"cannot parse cost matrix {spec!r} as a nested list of numbers") from None
        C = CostMatrix(values, name="custom", allow_empty=allow_empty)
    elif isinstance(spec, str):
        name, _, argtext = spec.strip().partition(":")
        if name in BUILDERS:
            m = needs_m(f"cost-matrix builder {name!r}")
            args, kwargs = _parse_args(argtext)
            if name == "top_k" and "errors" not in kwargs and len(args) < 2:
                if pairwise_errors is None:
                    raise CostMatrixError(
                        "top_k needs a pairwise error matrix: pass pairwise_errors=... or "
                        "write \"top_k:10,errors='errors.csv'\""
                    )
                kwargs["errors"] = pairwise_errors
            try:
                C = BUILDERS.get(name)(m, *args, **kwargs)
            except TypeError as e:
                raise CostMatrixError(f"bad arguments for cost-matrix builder {name!r}: {e}") from None
        elif name in named_matrices() and not argtext:
            path = _stored_matrix_path(name)
            values, names = _read_matrix_file(path)
            C = CostMatrix(values, name=name, allow_empty=allow_empty)
        else:
            known = ", ".join(BUILDERS.names())
            stored = ", ".join(named_matrices()) or "none"
            raise CostMatrixError(
                f"unknown cost matrix {spec!r}: not a builder ({known}), not a stored matrix "
                f"({stored}) and not a .csv/.json/.yaml file path"
            )
    elif isinstance(spec, dict):
        C = CostMatrix.from_targets(spec, needs_m("a {seed: [targets]} dict"), allow_empty=allow_empty)
    elif isinstance(spec, (list, tuple, np.ndarray, torch.Tensor)):
        C = CostMatrix(spec, name="custom", allow_empty=allow_empty)
    else:
        raise CostMatrixError(
            "cost_matrix must be a builder name, a file path, an m×m nested list or a "
            f"{{seed: [targets]}} dict, got {type(spec).__name__}"
        )
    return C, names


def user_dirs() -> list[Path]:
    """Where a relative path a user typed is looked up, in order: ``$CSR_INVOCATION_DIR`` (set by
    the ``csr`` command), the shell's directory ``$PWD`` (a notebook kernel started by
    ``papermill --cwd notebooks`` keeps the caller's), then the process's working directory."""
    dirs = [os.environ.get("CSR_INVOCATION_DIR"), os.environ.get("PWD"), os.getcwd()]
    return list(dict.fromkeys(Path(d).expanduser().resolve() for d in dirs if d))


def resolve_user_path(spec: str | Path) -> Path:
    """An existing file for a path the user typed (absolute, ``~``, or relative to one of
    :func:`user_dirs`); raises :class:`CostMatrixError` naming every place it looked.

    >>> resolve_user_path("no/such/file.csv")
    Traceback (most recent call last):
    ...
    csr.costs.CostMatrixError: cost matrix file not found: 'no/such/file.csv'; looked for ...
    """
    p = Path(spec).expanduser()
    tried = [p] if p.is_absolute() else [d / p for d in user_dirs()]
    for q in tried:
        if q.is_file():
            return q
    raise CostMatrixError(f"cost matrix file not found: {str(spec)!r}; looked for " + ", ".join(str(q) for q in tried))


def _looks_like_path(spec: str) -> bool:
    s = spec.strip()
    return s.lower().endswith(_FILE_SUFFIXES) or "/" in s or "\\" in s


def save(C: CostMatrix, path: str | Path) -> Path:
    """Write ``C`` as .csv (with a header of class names when known), .json or .yaml."""
    path = Path(path)
    if path.suffix == ".csv":
        lines = []
        if C.class_names:
            lines.append(",".join(C.class_names))
        lines += [",".join(repr(float(v)) for v in row) for row in C.values]  # shortest exact repr: round-trips
        text = "\n".join(lines) + "\n"
    elif path.suffix == ".json":
        text = json.dumps(C.to_dict(), indent=1) + "\n"
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(C.to_dict(), sort_keys=False)
    else:
        raise CostMatrixError(f"cost matrix file must be .csv, .json or .yaml: {path}")
    return store.atomic_write(path, text)
