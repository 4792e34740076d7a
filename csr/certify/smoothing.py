"""Randomized smoothing: Cohen et al. (2019) and its cost-sensitive certificate (CS-RS).

The smoothed classifier of a base classifier ``f`` and noise level ``σ`` is
``g(x) = argmax_c P(f(x + δ) = c)``, ``δ ~ N(0, σ² I)`` (noise in pixel space; the model's first
layer normalises). With ``p_c(x) = P(f(x + δ) = c)`` and Φ the standard normal CDF, Cohen et al.'s
Theorem 1 gives, for the top class ``A`` and any other class ``j``,
``p_j(x') ≤ Φ(Φ⁻¹(p_j(x)) + ‖x'−x‖/σ)`` and ``p_A(x') ≥ Φ(Φ⁻¹(p_A(x)) − ‖x'−x‖/σ)``, hence

* standard radius ``R = σ/2 (Φ⁻¹(p_A) − Φ⁻¹(max_{j≠A} p_j))`` (≥ ``σ Φ⁻¹(p_A)``: with only a
  lower bound on ``p_A``, ``max_j p_j ≤ 1 − p_A``);
* cost-sensitive radius for a true class ``y`` with sensitive targets ``Ω_y = {j : C[y, j] > 0}``
  (Xin et al., Theorem 3.2): ``R_cs = σ/2 (Φ⁻¹(p_A) − Φ⁻¹(max_{j∈Ω_y} p_j))`` — no point of the
  ball is classified into ``Ω_y``. ``R_cs ≥ R`` with equality when ``|Ω_y| = m − 1`` (Thm. 3.3);
  see :func:`exact_radii`.
* ★ real-valued ``C``: a per-target radius ``R_j = σ/2 (Φ⁻¹(p_A) − Φ⁻¹(p_j))`` for every
  ``j ∈ Ω_y``; the robust cost at ε is ``Σ_j C[y, j]·1[R_j ≤ ε]``. For a 0/1 matrix the smallest
  ``R_j`` is ``R_cs``, so it reduces to the binary certificate.

Monte Carlo (:meth:`Smooth.sample_counts`, Clopper–Pearson bounds from :mod:`scipy.stats`):
:class:`Counts` holds ``n0`` selection samples and ``n`` estimation samples per input, drawn once;
:meth:`Counts.cohen` (Cohen's CERTIFY) and :meth:`Counts.cost_sensitive` (Algorithm 1) score the
same samples for every cost matrix and every ε ("certify once, evaluate many").

Algorithm 1 with the **correct union bound** (``union="bonferroni"``): a sensitive example needs
``1 + |Ω_y|`` bounds to hold at once, so the failure probability α is split as α/2 for the lower
bound ``p̲_A`` and α/(2|Ω_y|) for each upper bound ``p̄_j``, ``j ∈ Ω_y``;
``R1 = σ Φ⁻¹(p̲_A)``, ``R2 = σ/2 (Φ⁻¹(p̲_A) − Φ⁻¹(max_j p̄_j))``, ``R_cs = max(R1, R2)``; all
hold together with probability ≥ 1 − α. (A non-sensitive example needs only ``p̲_A`` at α.) It
abstains when ``p̲_A < 1/2``, and **an abstention is never robust**. ``union="reference"``
reproduces the public code of the paper: the per-target bounds use level α·|Ω|/2 instead of
α/(2|Ω|) (optimistic whenever ``|Ω| > 1``), ``R1`` uses its own lower bound at level α, and
radii are reported for abstentions too (:meth:`CSCertificate.metrics` with
``abstain_robust=True`` then counts them, as that code's analysis does). It exists to measure the
bug, never to certify.

Example
-------
>>> import torch
>>> from csr.certify.smoothing import Smooth
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> smooth = Smooth(net, num_classes=3, sigma=0.25)
>>> counts = smooth.sample(torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1]), n0=50, n=500, seed=0)
>>> counts.counts.shape, int(counts.counts.sum(1)[0])
((5, 3), 500)
>>> cert = counts.cost_sensitive("single_seed:0", alpha=0.001)
>>> sorted(cert.metrics(0.0))
['acc', 'cs_robust_error', 'n_normal', 'n_sensitive', 'rob_cs', 'rob_non', 'rob_std', 'robust_cost']
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor, nn

from .. import costs as costs_mod
from .. import metrics as metrics_mod
from .. import progress

__all__ = [
    "ABSTAIN",
    "UNIONS",
    "RULES",
    "Smooth",
    "Counts",
    "CSCertificate",
    "lower_confidence_bound",
    "upper_confidence_bound",
    "predict_from_counts",
    "exact_radii",
    "sensitive_targets",
]

ABSTAIN = -1
UNIONS = ("bonferroni", "reference")
#: Certificate rules of :meth:`Counts.cost_sensitive`: the paper's Algorithm 1 and Eq. 2 as
#: printed, or one confidence budget α for everything with Cohen's abstention (ours).
RULES = ("sound", "paper")


# ------------------------------------------------------------------------------ checks & bounds
def _check_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(float(sigma)):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    if float(sigma) <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    return float(sigma)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha (failure probability) must lie strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{name} (number of noise samples) must be an integer >= 1, got {value!r}")
    return int(value)


def lower_confidence_bound(k: Any, n: int, alpha: Any) -> np.ndarray:
    """One-sided Clopper–Pearson lower bound: ``P(p ≥ bound) ≥ 1 − alpha`` for ``k`` successes in ``n``.

    ``k`` : int array (any shape); ``alpha`` : scalar or array broadcastable to ``k``.
    Returns a float array of ``k``'s shape (0 where ``k = 0``).
    """
    k = np.asarray(k, dtype=np.float64)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), k.shape)
    out = np.zeros_like(k)
    pos = k > 0
    out[pos] = stats.beta.ppf(a[pos], k[pos], n - k[pos] + 1)
    return out


def upper_confidence_bound(k: Any, n: int, alpha: Any) -> np.ndarray:
    """One-sided Clopper–Pearson upper bound: ``P(p ≤ bound) ≥ 1 − alpha`` (1 where ``k = n``)."""
    k = np.asarray(k, dtype=np.float64)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), k.shape)
    out = np.ones_like(k)
    low = k < n
    out[low] = stats.beta.ppf(1.0 - a[low], k[low] + 1, n - k[low])
    return out


def predict_from_counts(counts: Any, alpha: float) -> np.ndarray:
    """Cohen's PREDICT from ``(N, m)`` counts: the top class, or :data:`ABSTAIN` when a two-sided
    binomial test of the top two counts (p = 1/2) has p-value > ``alpha``. Returns (N,) int64."""
    alpha = _check_alpha(alpha)
    c = np.asarray(counts, dtype=np.int64)
    order = np.argsort(-c, axis=1, kind="stable")
    top = order[:, 0]
    n_a = np.take_along_axis(c, order[:, :1], 1)[:, 0]
    n_b = np.take_along_axis(c, order[:, 1:2], 1)[:, 0] if c.shape[1] > 1 else np.zeros_like(n_a)
    # two-sided exact test of Bin(n_a + n_b, 1/2): p = min(1, 2 P(X <= n_b)) for n_a >= n_b
    pval = np.minimum(1.0, 2.0 * stats.binom.cdf(n_b, n_a + n_b, 0.5))
    return np.where(pval > alpha, ABSTAIN, top).astype(np.int64)


def sensitive_targets(cost: Any, num_classes: int) -> np.ndarray:
    """The ``(m, m)`` cost values for ``cost``: a :class:`~csr.costs.CostMatrix`, anything
    :func:`csr.costs.as_cost` takes, or a dict ``{seed: [targets]}`` (binary; an empty target list
    for a seed raises ``ValueError``: a sensitive seed needs a non-empty Ω). A thin alias of
    ``csr.costs.as_cost(cost, num_classes).values``; Ω_y per example is
    :meth:`csr.costs.CostMatrix.sensitive_targets`."""
    return costs_mod.as_cost(cost, num_classes).values


# ------------------------------------------------------------------------------------ exact radii
def exact_radii(probs: Any, y: Any, cost: Any, sigma: float) -> dict[str, np.ndarray]:
    """Radii from the *exact* class probabilities ``p_c(x)`` of the smoothed classifier.

    probs : (N, m) rows summing to 1; y : (N,) true labels; cost : a cost matrix or anything
    :func:`csr.costs.as_cost` takes (builder name, nested list, ``{seed: [targets]}`` dict).
    Returns ``pred`` (argmax), ``R`` (Cohen: ``σ/2 (Φ⁻¹(p_A) − Φ⁻¹(p_B))``, p_B the runner-up),
    ``R_cs`` (``σ/2 (Φ⁻¹(p_A) − Φ⁻¹(max_{j∈Ω_y} p_j))``; ``inf`` when ``Ω_y = ∅``, ``−inf`` when the
    top class is in Ω_y) and ``radii`` (N, m): the per-target radius (``inf`` on the diagonal).
    Theorem 3.3: ``R_cs ≥ R`` whenever the top class is ``y``, with equality when ``|Ω_y| = m − 1``.
    """
    sigma = _check_sigma(sigma)
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    N, m = p.shape
    C = costs_mod.as_cost(cost, m)
    omega = C.sensitive_targets(y)  # (N, m): j ∈ Ω_{y_n}
    pred = p.argmax(1)
    pa = p[np.arange(N), pred]
    z = stats.norm.ppf(np.clip(p, 0.0, 1.0))
    za = stats.norm.ppf(pa)
    others = np.where(np.eye(m, dtype=bool)[pred], -np.inf, p)
    R = sigma / 2 * (za - stats.norm.ppf(others.max(1)))
    radii = sigma / 2 * (za[:, None] - z)
    radii[np.arange(N), pred] = -np.inf
    radii[np.arange(N), y] = np.inf
    worst = np.where(omega, radii, np.inf).min(1)
    return {"pred": pred, "R": R, "R_cs": worst, "radii": radii}


# --------------------------------------------------------------------------------- certificates
@dataclass
class CSCertificate:
    """Cost-sensitive certificate of ``N`` examples for one cost matrix (Algorithm 1).

    Arrays (length N unless noted): ``pred`` (c_A, or :data:`ABSTAIN`), ``y``, ``sensitive``
    (Ω_y ≠ ∅), ``R1`` (standard radius σΦ⁻¹(p̲_A)), ``R2`` (cost-sensitive radius; NaN for
    non-sensitive examples, −inf when c_A ∈ Ω_y), ``R_cs`` = max(R1, R2) (inf for non-sensitive
    examples), ``radii`` (N, m): the certified radius of each target (class j is reachable at ε
    iff ``radii[n, j] <= ε``; −inf = reached without perturbation or abstained, inf on the
    diagonal). ``cost`` is the (m, m) matrix used, ``union`` the union-bound rule, ``top`` the
    selected class c_A (kept where abstained), ``pa_lower`` / ``pbar`` the confidence bounds used.
    """

    pred: np.ndarray
    y: np.ndarray
    sensitive: np.ndarray
    R1: np.ndarray
    R2: np.ndarray
    R_cs: np.ndarray
    radii: np.ndarray
    cost: np.ndarray
    sigma: float
    alpha: float
    union: str = "bonferroni"
    top: np.ndarray | None = None  # c_A even where abstained
    pa_lower: np.ndarray | None = None  # (N,) the lower bound p̲_A used by R2
    pbar: np.ndarray | None = None  # (N, m) the upper bounds p̄_j (used for j ∈ Ω_y)
    rule: str = "sound"  # "paper": Algorithm 1 + Eq. 2 as printed; "sound": one α budget, Cohen's abstention

    @property
    def top_in_omega(self) -> np.ndarray:
        """(N,) the selected class c_A is a sensitive target of the example (Theorem 3.2 then
        certifies nothing; Algorithm 1's pseudocode would still return ``R1``)."""
        top = self.top if self.top is not None else self.pred
        return (self.cost[self.y, np.maximum(top, 0)] > 0) & (top >= 0)

    @property
    def abstain(self) -> np.ndarray:
        return self.pred == ABSTAIN

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.y

    def reach(self, eps: float) -> np.ndarray:
        """(N, m) bool certified reach matrix at radius ``eps`` for :mod:`csr.metrics`
        (an abstention reaches every other class)."""
        r = self.radii <= eps
        r[self.abstain] = True
        r[np.arange(len(self.y)), self.y] = False
        return r

    def hits(self, eps: float, abstain_robust: bool = False) -> dict[str, np.ndarray]:
        """Per-example indicators behind :meth:`metrics` (for Clopper–Pearson intervals and paired
        bootstraps): ``acc`` (N,), ``rob_cs`` / ``rob_std`` over the sensitive examples (in order),
        ``rob_non`` over the others."""
        top = self.top if self.top is not None else self.pred
        s, ns = self.sensitive, ~self.sensitive
        with np.errstate(invalid="ignore"):
            if self.rule == "paper":  # Eq. 2: certified outside Ω_y, the prediction need not be y
                ok = ~self.abstain & ~self.top_in_omega
            else:
                ok = self.correct | (abstain_robust & self.abstain & (top == self.y))
            std_ok = self.correct | (abstain_robust & self.abstain & (top == self.y))
            rob_cs = ok & (self.R_cs > eps)
            rob_std = ok & (self.R1 > eps)
            rob_non = std_ok & (self.R1 > eps)
        return {"acc": self.correct & (self.R1 > 0), "rob_cs": rob_cs[s], "rob_std": rob_std[s], "rob_non": rob_non[ns]}

    def metrics(self, eps: float, abstain_robust: bool = False) -> dict[str, float]:
        """The paper's metrics at ℓ2 radius ``eps`` (fractions in [0, 1]):

        * ``acc`` — certified accuracy at ε = 0 over all examples (correct, not abstained, R1 > 0:
          Eq. 3);
        * ``rob_cs`` — sensitive examples with ``R_cs > eps`` (Eq. 2): with ``rule="paper"`` any
          prediction outside Ω_y counts (Theorem 3.2); with ``"sound"`` only a correct one;
        * ``rob_std`` — the same with ``R1`` (the standard radius) in place of ``R_cs``;
        * ``rob_non`` — non-sensitive examples correctly classified with ``R1 > eps``;
        * ``cs_robust_error`` / ``robust_cost`` — Zhang & Evans' metrics of the reach matrix
          (a wrong prediction outside Ω_y is not a sensitive error there);
        * counts ``n_sensitive`` / ``n_normal``.

        ``abstain_robust=True`` counts abstentions whose radius exceeds ε as robust — the
        reference code's mistake, for measuring it only.
        """
        h = self.hits(eps, abstain_robust)

        def frac(v: np.ndarray) -> float:
            return float(v.mean()) if len(v) else float("nan")

        C = costs_mod.as_cost(self.cost, allow_empty=True)
        reach = self.reach(eps)
        return {
            "acc": frac(h["acc"]),
            "rob_cs": frac(h["rob_cs"]),
            "rob_std": frac(h["rob_std"]),
            "rob_non": frac(h["rob_non"]),
            "cs_robust_error": metrics_mod.cost_sensitive_robust_error(reach, self.y, C)
            if C.is_binary else float("nan"),
            "robust_cost": metrics_mod.robust_cost(reach, self.y, C),
            "n_sensitive": int(self.sensitive.sum()),
            "n_normal": int((~self.sensitive).sum()),
        }

    def table(self, eps_list: list[float], abstain_robust: bool = False) -> pd.DataFrame:
        """One row of :meth:`metrics` per ε."""
        return pd.DataFrame([{"eps": float(e), **self.metrics(float(e), abstain_robust)} for e in eps_list])

    def certified_accuracy(self, radii: Any) -> np.ndarray:
        """Cohen's curve: fraction of all examples correct with ``R1 > r`` for each ``r``."""
        r = np.asarray(radii, dtype=np.float64)
        good = np.where(self.correct, self.R1, -np.inf)
        return (good[None, :] > r[:, None]).mean(1)


@dataclass
class Counts:
    """Noise-sample counts of ``N`` inputs: ``counts0`` (N, m) from ``n0`` selection samples and
    ``counts`` (N, m) from ``n`` estimation samples, for true labels ``y`` and noise ``sigma``.
    Every certificate is a function of these (draw once, score for every matrix and ε)."""

    counts0: np.ndarray
    counts: np.ndarray
    y: np.ndarray
    sigma: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts0 = np.asarray(self.counts0, dtype=np.int64)
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.sigma = _check_sigma(self.sigma)
        if self.counts0.shape != self.counts.shape or self.counts.ndim != 2:
            raise ValueError(f"counts0 {self.counts0.shape} and counts {self.counts.shape} must both be (N, m)")
        if self.y.shape != (self.counts.shape[0],):
            raise ValueError(f"y must have shape ({self.counts.shape[0]},), got {self.y.shape}")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.m):
            raise ValueError(f"labels must lie in 0..{self.m - 1}")
        for name, c in (("counts0", self.counts0), ("counts", self.counts)):
            tot = c.sum(1)
            if len(tot) and (c.min() < 0 or tot.min() != tot.max() or tot[0] < 1):
                raise ValueError(f"{name}: every row must hold the same positive number of samples")

    @property
    def m(self) -> int:
        return int(self.counts.shape[1])

    @property
    def n0(self) -> int:
        return int(self.counts0[0].sum()) if len(self.y) else 0

    @property
    def n(self) -> int:
        return int(self.counts[0].sum()) if len(self.y) else 0

    def selection(self) -> np.ndarray:
        """c_A: the top class of the selection samples (ties: the smallest index)."""
        return self.counts0.argmax(1)

    def cohen(self, alpha: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
        """Cohen's CERTIFY: (pred (N,) with :data:`ABSTAIN`, radius (N,): σΦ⁻¹(p̲_A), 0 on abstention)."""
        alpha = _check_alpha(alpha)
        ca = self.selection()
        na = self.counts[np.arange(len(ca)), ca]
        pa = lower_confidence_bound(na, self.n, alpha)
        abstain = pa < 0.5
        radius = np.where(abstain, 0.0, self.sigma * stats.norm.ppf(np.maximum(pa, 0.5)))
        return np.where(abstain, ABSTAIN, ca), radius

    def cost_sensitive(self, cost: Any, alpha: float = 0.001, union: str = "bonferroni",
                       rule: str = "sound") -> CSCertificate:
        """Algorithm 1 for the cost matrix ``cost`` (see the module docstring). Binary or
        real-valued; ``cost`` as :func:`csr.costs.as_cost` takes it (e.g. ``{seed: [targets]}``).

        ``rule`` (with ``union="bonferroni"``):

        * ``"paper"`` — Algorithm 1 as printed: ``R1`` from its own bound ``p̲_A`` at level α
          (lines 5–6), ``R2`` from ``p̲_A`` at α/2 and ``p̄`` at α/(2|Ω_y|) (lines 8–10), and
          abstention only when ``max(R1, R2) ≤ 0`` (line 11). The two radii rest on different
          bounds, so ``max(R1, R2)`` holds with probability ≥ 1 − 2α (union bound), not 1 − α.
          Its metrics follow Eq. 2 (no ``pred == y`` requirement; see :meth:`CSCertificate.metrics`).
          Theorem 3.2's precondition — the prediction is not in Ω_y — is kept (the pseudocode omits
          it; :attr:`CSCertificate.top_in_omega` shows where that matters).
        * ``"sound"`` (default) — one ``p̲_A`` at α/2 for both radii (all bounds together hold with
          probability ≥ 1 − α) and abstention when ``p̲_A < 1/2`` (Cohen's rule: the reported class
          is then certified to be the top class); its metrics ask ``pred == y``.
        """
        alpha = _check_alpha(alpha)
        if union not in UNIONS:
            raise ValueError(f"unknown union {union!r}; known: {', '.join(UNIONS)}")
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
        if union == "reference" and rule != "sound":
            raise ValueError("union='reference' reproduces the public code and takes no rule")
        C = costs_mod.as_cost(cost, self.m)
        N, n, sigma = len(self.y), self.n, self.sigma
        rows = np.arange(N)
        ca = self.selection()
        omega = C.sensitive_targets(self.y)  # (N, m): j ∈ Ω_{y_n}
        size = C.omega_sizes[self.y]  # |Ω_{y_n}|
        sensitive = C.candidates(self.y)
        na = self.counts[rows, ca]
        ppf = stats.norm.ppf
        if union == "bonferroni":
            pa = lower_confidence_bound(na, n, np.where(sensitive, alpha / 2, alpha))
            level = alpha / (2 * np.maximum(size, 1))
            pa_r1 = pa if rule == "sound" else lower_confidence_bound(na, n, alpha)  # paper: line 5 at α
        else:  # the reference code: R1 at α, p_A at α/2, per-target bounds at α·|Ω|/2
            pa = lower_confidence_bound(na, n, alpha / 2)
            level = np.minimum(alpha * np.maximum(size, 1) / 2, 0.5)
            pa_r1 = lower_confidence_bound(na, n, alpha)
        pbar = upper_confidence_bound(self.counts, n, level[:, None])  # (N, m)
        with np.errstate(divide="ignore", invalid="ignore"):
            R1 = sigma * ppf(pa_r1)
            target = sigma / 2 * (ppf(pa)[:, None] - ppf(pbar))  # (N, m): R2_j
            radii = np.maximum(R1[:, None], target)
            radii = np.where(omega, radii, R1[:, None])  # non-sensitive targets: g stays c_A within R1
        radii[rows, ca] = -np.inf  # the prediction itself is reached (when c_A ≠ y)
        in_omega = omega[rows, ca]
        R2 = np.where(omega, target, np.inf).min(1)
        R2 = np.where(sensitive, np.where(in_omega, -np.inf, R2), np.nan)
        with np.errstate(invalid="ignore"):
            R_cs = np.where(sensitive, np.fmax(np.where(in_omega, -np.inf, R1), R2), np.inf)
        if union == "reference":
            abstain = pa_r1 < 0.5
        elif rule == "sound":
            abstain = pa < 0.5
        else:  # Algorithm 1, line 11: abstain only when max(R1, R2) ≤ 0 (R1 alone off Ω)
            with np.errstate(invalid="ignore"):
                best = np.where(sensitive, np.fmax(R1, np.where(in_omega, -np.inf, R2)), R1)
            abstain = ~(best > 0)
        if union == "bonferroni":
            radii[abstain] = -np.inf
            R1 = np.where(abstain, -np.inf, R1)
            R2 = np.where(abstain & sensitive, -np.inf, R2)
            R_cs = np.where(abstain & sensitive, -np.inf, R_cs)
        radii[rows, self.y] = np.inf
        pred = np.where(abstain, ABSTAIN, ca)
        return CSCertificate(pred, self.y.copy(), sensitive, R1, R2, R_cs, radii, C.values, sigma, alpha, union, ca,
                             pa, pbar, rule)

    # results are data
    def save(self, path: str | Path) -> Path:
        """Write the counts (and labels, σ) to ``path`` (compressed .npz, atomically: :mod:`csr.store`)."""
        from .. import store

        return store.save_npz(path, counts0=self.counts0, counts=self.counts, y=self.y, sigma=self.sigma)

    @classmethod
    def load(cls, path: str | Path) -> "Counts":
        from .. import store

        z = store.load_npz(path)
        return cls(z["counts0"], z["counts"], z["y"], float(z["sigma"]))


# ----------------------------------------------------------------------------- smoothed classifier
class Smooth:
    """The smoothed classifier of ``model`` (pixel-space inputs) with Gaussian noise ``sigma``.

    ``batch_size`` is the number of noisy images per forward pass: inputs × samples are chunked
    to it, so any ``n`` fits in memory. Every input gets ``n`` i.i.d. draws of N(0, σ²I); with
    ``shared_noise=True`` the *same* draws are reused for every input (drawing noise costs about
    as much as an MLP's forward pass): each input's certificate keeps its guarantee, but the
    certificates of different inputs are no longer independent of each other. Sampling runs in eval mode under ``torch.no_grad`` and
    restores the model's mode; parameters and their gradients are untouched.

    >>> import torch
    >>> net = torch.nn.Linear(2, 2)
    >>> Smooth(net, num_classes=2, sigma=0.5)
    Smooth(sigma=0.5, num_classes=2, batch_size=1000)
    """

    ABSTAIN = ABSTAIN

    def __init__(self, model: nn.Module, num_classes: int, sigma: float, *, batch_size: int = 1000,
                 shared_noise: bool = False):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.model = model
        self.num_classes = int(num_classes)
        self.sigma = _check_sigma(sigma)
        self.batch_size = int(batch_size)
        if not isinstance(shared_noise, bool):
            raise ValueError(f"shared_noise must be True or False, got {shared_noise!r}")
        self.shared_noise = shared_noise

    def __repr__(self) -> str:
        shared = ", shared_noise=True" if self.shared_noise else ""
        return f"Smooth(sigma={self.sigma:g}, num_classes={self.num_classes}, batch_size={self.batch_size}{shared})"

    def _device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def sample_counts(self, x: Tensor, n: int, *, seed: int | None = None,
                      generator: torch.Generator | None = None) -> np.ndarray:
        """(N, m) int64 counts of ``argmax f(x_i + δ)`` over ``n`` noise draws per input.

        ``x`` : (N, ...) in pixel space. All N·n noisy copies are processed in chunks of at most
        ``batch_size`` (one input's samples, or several whole inputs), each with fresh noise. ``seed`` (or a ``generator`` on the model's device) makes it reproducible.
        """
        n = _check_count("n", n)
        if not isinstance(x, Tensor) or x.ndim < 2:
            raise ValueError("x must be a tensor (N, ...) of inputs")
        device = self._device()
        x = x.to(device)
        N, m = x.shape[0], self.num_classes
        if generator is None:
            generator = torch.Generator(device=device)
            generator.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
        counts = torch.zeros(N * m, dtype=torch.long, device=device)
        flags = [(mod, mod.training) for mod in self.model.modules()]
        bs, shape = self.batch_size, tuple(x.shape[1:])
        # Chunks never straddle inputs: n >= batch → one input per chunk (its samples in pieces);
        # n < batch → G whole inputs per chunk. The noise is added by broadcasting (no gather).
        if self.shared_noise:
            G = max(1, bs // n)
            plan = [(i, min(i + G, N), s, min(bs, n - s)) for s in range(0, n, bs) for i in range(0, N, G)]
        elif n >= bs:
            plan = [(i, i + 1, s, min(bs, n - s)) for i in range(N) for s in range(0, n, bs)]
        else:
            G = bs // n
            plan = [(i, min(i + G, N), 0, n) for i in range(0, N, G)]
        block: dict[int, Tensor] = {}
        try:
            self.model.eval()
            with torch.no_grad():
                for first, (lo, hi, s0, k) in enumerate(progress.bar(plan, desc="smoothing noise", unit="block")):
                    if self.shared_noise:  # one block of k draws per sample range, reused by every input
                        if s0 not in block:
                            block.clear()
                            block[s0] = torch.randn((k, *shape), generator=generator, device=device, dtype=x.dtype)
                        noise = torch.add(x[lo:hi].unsqueeze(1), block[s0], alpha=self.sigma)
                    else:
                        noise = torch.randn((hi - lo, k, *shape), generator=generator, device=device, dtype=x.dtype)
                        noise.mul_(self.sigma).add_(x[lo:hi].unsqueeze(1))
                    logits = self.model(noise.view(-1, *shape))
                    if first == 0 and logits.shape[1] != m:
                        raise ValueError(f"model outputs {logits.shape[1]} classes, num_classes is {m}")
                    pred = logits.argmax(1).view(hi - lo, k)
                    rows = torch.arange(lo, hi, device=device).unsqueeze(1) * m
                    counts.index_add_(0, (rows + pred).view(-1), torch.ones(pred.numel(), dtype=torch.long, device=device))
        finally:
            for mod, flag in flags:
                mod.training = flag
        return counts.view(N, m).cpu().numpy()

    def sample(self, x: Tensor, y: Any, n0: int = 100, n: int = 100_000, *, seed: int | None = 0) -> Counts:
        """Draw the selection (``n0``) and estimation (``n``) samples once → :class:`Counts`."""
        n0, n = _check_count("n0", n0), _check_count("n", n)
        g = None
        if seed is not None:
            g = torch.Generator(device=self._device())
            g.manual_seed(int(seed))
        c0 = self.sample_counts(x, n0, generator=g)
        c = self.sample_counts(x, n, generator=g)
        yy = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        return Counts(c0, c, yy, self.sigma, {"n0": n0, "n": n, "seed": seed})

    def predict(self, x: Tensor, n: int = 100, alpha: float = 0.001, *, seed: int | None = None) -> np.ndarray:
        """Cohen's PREDICT: (N,) top class or :data:`ABSTAIN`; wrong with probability ≤ ``alpha``."""
        _check_alpha(alpha)
        return predict_from_counts(self.sample_counts(x, n, seed=seed), alpha)

    def certify(self, x: Tensor, n0: int = 100, n: int = 100_000, alpha: float = 0.001,
                *, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cohen's CERTIFY: (pred (N,) with :data:`ABSTAIN`, ℓ2 radius (N,))."""
        _check_alpha(alpha)
        counts = self.sample(x, np.zeros(len(x), dtype=np.int64), n0, n, seed=seed)
        return counts.cohen(alpha)
