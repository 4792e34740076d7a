"""Intervals for the numbers a chapter reports: Clopper–Pearson for rates over test examples, a
percentile bootstrap for means of per-example values (robust cost), and a paired bootstrap for the
difference of two models scored on the same examples.

Example
-------
>>> lo, hi = clopper_pearson(0, 10)
>>> round(lo, 4), round(hi, 4)
(0.0, 0.3085)
>>> paired_bootstrap([1, 0, 1, 1], [1, 0, 1, 1]).tolist()
[0.0, 0.0, 0.0]
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["clopper_pearson", "rate_interval", "bootstrap_mean", "paired_bootstrap", "paired_bootstrap_weighted",
           "bootstrap_statistic", "bootstrap_weighted_accuracy", "weighted_accuracies", "format_interval"]


def _level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided interval for a binomial rate ``k / n``.

    ``lo = Beta⁻¹(a/2; k, n−k+1)`` (0 when k = 0), ``hi = Beta⁻¹(1−a/2; k+1, n−k)`` (1 when k = n),
    ``a = 1 − level``. ``n = 0`` gives ``(nan, nan)``.
    """
    from scipy.stats import beta

    a = 1 - _level(level)
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson needs integers 0 <= k <= n, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n == 0:
        return float("nan"), float("nan")
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def rate_interval(hits: Any, level: float = 0.95) -> tuple[float, float, float]:
    """``(rate, lo, hi)`` of a boolean per-example array (Clopper–Pearson)."""
    h = np.asarray(hits, dtype=bool).ravel()
    lo, hi = clopper_pearson(int(h.sum()), len(h), level)
    return (float(h.mean()) if len(h) else float("nan")), lo, hi


def _resample(n: int, n_boot: int, seed: int) -> np.ndarray:
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot!r}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_mean(values: Any, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``[mean, lo, hi]``: the mean of per-example values and its percentile-bootstrap interval."""
    v = np.asarray(values, dtype=float).ravel()
    a = 1 - _level(level)
    if len(v) == 0:
        return np.full(3, np.nan)
    means = v[_resample(len(v), n_boot, seed)].mean(1)
    return np.array([v.mean(), *np.quantile(means, [a / 2, 1 - a / 2])])


def paired_bootstrap(a_values: Any, b_values: Any, level: float = 0.95, n_boot: int = 2000,
                     seed: int = 0) -> np.ndarray:
    """``[mean(b − a), lo, hi]`` over the same examples (resampled together): the difference of
    two models' per-example values (0/1 errors, costs) and its percentile-bootstrap interval."""
    a, b = np.asarray(a_values, dtype=float).ravel(), np.asarray(b_values, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs values on the same examples, got {a.shape} and {b.shape}")
    return bootstrap_mean(b - a, level, n_boot, seed)


def bootstrap_statistic(stat: Callable[..., float], *arrays: Any, level: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> np.ndarray:
    """``[stat(arrays), lo, hi]``: a statistic of per-example arrays and its percentile interval
    from resampling the examples (axis −1; the same rows for every array).

    Each array is ``(N,)`` or ``(S, N)`` (S training seeds on the same N examples; all arrays of
    one shape); ``stat`` receives them as ``(S, n)`` arrays and returns a number.

    >>> ok = np.array([1, 1, 0, 1]); mean = lambda a: float(a.mean())
    >>> float(bootstrap_statistic(mean, ok)[0])
    0.75
    """
    arrs = [np.atleast_2d(np.asarray(v, dtype=float)) for v in arrays]
    if not arrs or len({a.shape for a in arrs}) != 1 or arrs[0].ndim != 2:
        raise ValueError(f"bootstrap_statistic needs (N,) or (S, N) arrays of one shape, got "
                         f"{[np.shape(v) for v in arrays]}")
    alpha = 1 - _level(level)
    n = arrs[0].shape[1]
    if n == 0:
        return np.full(3, np.nan)
    reps = np.array([stat(*(a[:, i] for a in arrs)) for i in _resample(n, n_boot, seed)])
    return np.array([float(stat(*arrs)), *np.quantile(reps, [alpha / 2, 1 - alpha / 2])])


def weighted_accuracies(ok: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-wise ``Σ w·ok / Σ w`` of ``(S, n)`` arrays: one weighted accuracy per seed, ``(S,)``."""
    return (w * ok).sum(-1) / w.sum(-1)


def bootstrap_weighted_accuracy(ok: Any, w: Any, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``[A, lo, hi]`` for a weighted accuracy ``A = Σ w·ok / Σ w`` (the seed mean for ``(S, N)``
    arrays) with a percentile interval over resampled examples. Weighted accuracies are ratios,
    not binomial rates, so Clopper–Pearson does not apply.

    >>> float(bootstrap_weighted_accuracy([1, 0], [3.0, 1.0])[0])
    0.75
    """
    return bootstrap_statistic(lambda o, v: float(weighted_accuracies(o, v).mean()), ok, w, level=level,
                               n_boot=n_boot, seed=seed)


def paired_bootstrap_weighted(ok_a: Any, w_a: Any, ok_b: Any, w_b: Any, level: float = 0.95, n_boot: int = 2000,
                              seed: int = 0) -> np.ndarray:
    """``[d, lo, hi]`` for the difference ``d = A(b) − A(a)`` of two weighted accuracies
    ``A = Σ_n w_n·ok_n / Σ_n w_n`` on the same examples, with a percentile interval from
    resampling the examples (the same rows for both models).

    The arrays are ``(N,)`` or ``(S, N)``: with ``S`` rows (training seeds evaluated on the same
    N examples) each row's accuracy is computed and the seeds are averaged, in the estimate and
    in every replicate, so the interval covers the test-sample variation of the seed-mean. With
    all weights 1 and one row it is :func:`paired_bootstrap` of the two 0/1 arrays.

    >>> ok = [1, 1, 0, 1]; ones = [1, 1, 1, 1]
    >>> bool(np.allclose(paired_bootstrap_weighted(ok, ones, [1, 0, 0, 1], ones), paired_bootstrap(ok, [1, 0, 0, 1])))
    True
    """
    shapes = {np.atleast_2d(np.asarray(v, dtype=float)).shape for v in (ok_a, w_a, ok_b, w_b)}
    if len(shapes) != 1:
        raise ValueError(f"paired_bootstrap_weighted needs arrays of one shape, got {sorted(shapes)}")
    return bootstrap_statistic(
        lambda oa, wa, ob, wb: float((weighted_accuracies(ob, wb) - weighted_accuracies(oa, wa)).mean()),
        ok_a, w_a, ok_b, w_b, level=level, n_boot=n_boot, seed=seed)


def format_interval(value: float, lo: float, hi: float, digits: int = 3) -> str:
    """``"0.123 [0.100, 0.150]"``."""
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
