"""Evaluation reports: one row of headline numbers from a reach matrix and predictions.

A *reach matrix* (N, m) says which wrong classes each example can be pushed into, found by
an attack (:func:`attack_report`) or not excluded by a certificate (later modules build it
from bounds). :func:`report_from_reach` turns it and the clean predictions into the numbers
every chapter tabulates; the result is plain data, written next to the run.

Example
-------
>>> import numpy as np
>>> from csr.costs import single_pair
>>> y = np.array([0, 0, 1, 2]); pred = np.array([0, 2, 1, 2])
>>> reach = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0]], bool)
>>> r = report_from_reach(reach, pred, y, single_pair(3, 0, 2))
>>> r.row["clean_error"], r.row["cs_robust_error"], r.row["robust_cost"]
(0.25, 1.0, 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from . import metrics, store
from .attacks import PGD, Attack, MarginPGD, adversarial_predictions, pairwise_reach, predict, prob_margin
from .costs import CostMatrix

__all__ = ["Report", "report_from_reach", "attack_report", "certified_report", "cached", "reports_table", "intersect_reports",
           "adversarial_predictions", "per_class_attack_accuracy", "nonuniform_report", "nonuniform_reports",
           "nonuniform_examples", "nonuniform_scores"]


@dataclass
class Report:
    """Evaluation of one model under one threat (attack or certificate).

    ``row``: dict of headline numbers (clean_error, overall_robust_error, cs_robust_error —
    NaN for real-valued C —, robust_cost, misclassification_cost, candidates, n);
    ``pairwise``: (m, m) pairwise robust-error matrix; ``reach``: (N, m) bool; ``pred``: (N,).
    """

    row: dict[str, Any]
    pairwise: np.ndarray
    reach: np.ndarray
    pred: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the row, the pairwise matrix and ``meta`` as JSON at ``path`` and the reach matrix
        and predictions as ``path.with_suffix(".npz")``, each atomically (:mod:`csr.store`). The
        .npz goes first, so a present JSON file always has its arrays (what :func:`cached` checks)."""
        path = Path(path)
        store.save_npz(path.with_suffix(".npz"), reach=self.reach, pred=self.pred)
        store.write_json(path, {"row": self.row, "pairwise": self.pairwise, "meta": self.meta})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Report":
        path = Path(path)
        doc = store.read_json(path)
        arrays = store.load_npz(path.with_suffix(".npz"))
        return cls(doc["row"], np.array(doc["pairwise"], dtype=float), arrays["reach"], arrays["pred"], doc["meta"])


def report_from_reach(
    reach: Any, pred: Any, y: Any, cost: CostMatrix, meta: dict[str, Any] | None = None
) -> Report:
    """Headline numbers from an (N, m) reach matrix, (N,) clean predictions and labels.

    The clean misclassifications are folded into the reach matrix (x itself lies in its ball),
    so robust errors are never below the clean error restricted to the same examples.
    """
    reach = np.asarray(reach.cpu() if isinstance(reach, torch.Tensor) else reach, dtype=bool)
    pred = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    m = cost.m
    reach = reach | metrics.reach_from_predictions(pred, y, m)
    row: dict[str, Any] = {
        "n": int(len(y)),
        "candidates": int(metrics.candidate_counts(y, cost).sum()),
        "clean_error": 1.0 - metrics.accuracy(pred, y),
        "overall_robust_error": metrics.overall_robust_error(reach, y),
        "cs_robust_error": metrics.cost_sensitive_robust_error(reach, y, cost) if cost.is_binary else float("nan"),
        "robust_cost": metrics.robust_cost(reach, y, cost),
        "misclassification_cost": metrics.misclassification_cost(pred, y, cost),
    }
    return Report(row, metrics.pairwise_error(reach, y, m), reach, pred, dict(meta or {}))


def attack_report(
    model: nn.Module,
    attack: Attack,
    x: torch.Tensor,
    y: torch.Tensor,
    cost: CostMatrix,
    batch_size: int = 256,
    sensitive_only: bool = False,
) -> Report:
    """Empirical report: targeted ``attack`` at every class (:func:`csr.attacks.pairwise_reach`).

    x : (N, ...) in [0, 1] on the model's device; y : (N,). ``sensitive_only``: attack only the
    cost matrix's sensitive pairs — exact cost-sensitive robust error and robust cost for fewer
    runs; the overall robust error is then not measured (NaN) and the pairwise matrix holds
    only what the runs happened to reach off Ω.
    """
    pred = predict(model, x, batch_size=batch_size)
    pairs = cost.sensitive_mask if sensitive_only else None
    reach = pairwise_reach(attack, x, y, cost.m, batch_size=batch_size, pairs=pairs)
    rep = report_from_reach(reach, pred, y, cost, meta={"threat": repr(attack), "pairs": "sensitive" if sensitive_only
                                                        else "all"})
    if sensitive_only:
        rep.row["overall_robust_error"] = float("nan")
    return rep


def certified_report(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cost: CostMatrix,
    eps: float,
    *,
    norm: str = "linf",
    method: str | Sequence[str] = "wk",
    all_pairs: bool = True,
    batch_size: int = 50,
) -> Report:
    """Certified report: reach[n, j] = the bound cannot exclude class j (J_ε(x, e_y − e_j) ≤ 0).

    ``all_pairs=True`` certifies every pair (needed for the pairwise heatmap and for scoring
    other cost matrices from the same reach matrix: certify once, evaluate many); ``False``
    certifies only the pairs in Ω_y (cheaper; the pairwise matrix then covers those pairs only).
    ``method``: a bound name, or a list of them — a pair is then certified when any of them
    certifies it (each bound is sound, so their combination is).
    """
    from .certify.convex import certify

    methods = _bound_list(method)
    pred = predict(model, x, batch_size=max(batch_size, 256))
    reach = None
    for mth in methods:  # a pair stays reachable only if no bound excludes it (each is sound)
        r = certify(model, x, y, eps, cost=None if all_pairs else cost, norm=norm, method=mth, batch_size=batch_size)
        reach = r if reach is None else reach & r
    meta = {"threat": f"certified {'+'.join(methods)} ({norm}, eps={eps})", "all_pairs": all_pairs}
    return report_from_reach(reach, pred, y, cost, meta=meta)


def _bound_list(method: str | Sequence[str]) -> list[str]:
    methods = [method] if isinstance(method, str) else list(method)
    if not methods or not all(isinstance(m, str) for m in methods):
        raise ValueError(f"method must be a bound name or a non-empty list of them, got {method!r}")
    return methods


def intersect_reports(reports: Sequence[Report], y: Any, cost: CostMatrix) -> Report:
    """The certificate of several sound bounds on the same model and inputs: a pair is reachable
    only where every report says so (``reach`` is their logical and), scored with ``cost``.
    What :func:`certified_report` with a list of methods computes, from reports already made.

    >>> import numpy as np
    >>> from csr.costs import overall
    >>> a = Report({}, np.zeros((2, 2)), np.array([[1, 1], [0, 1]], bool), np.array([0, 1]))
    >>> b = Report({}, np.zeros((2, 2)), np.array([[1, 0], [1, 1]], bool), np.array([0, 1]))
    >>> intersect_reports([a, b], [0, 1], overall(2)).reach.astype(int).tolist()
    [[1, 0], [0, 1]]
    """
    if not reports:
        raise ValueError("intersect_reports needs at least one report")
    pred = np.asarray(reports[0].pred)
    for r in reports[1:]:
        if r.reach.shape != reports[0].reach.shape or not np.array_equal(np.asarray(r.pred), pred):
            raise ValueError("intersect_reports: the reports must be of the same model on the same inputs")
    reach = np.logical_and.reduce([np.asarray(r.reach, dtype=bool) for r in reports])
    threats = "+".join(str(r.meta.get("threat", "?")) for r in reports)
    return report_from_reach(reach, pred, y, cost, meta={"threat": threats, "all_pairs": reports[0].meta.get("all_pairs")})


def cached(path: str | Path, compute: Callable[[], Report]) -> Report:
    """Load the report saved at ``path``, computing and saving it first if it is missing.

    Results are data: name ``path`` after what determines it (e.g. a hash of the evaluation
    settings, inside the evaluated run's directory) and tables become functions of the files.
    """
    path = Path(path)
    if not path.exists():
        compute().save(path)
    return Report.load(path)


def reports_table(reports: dict[str, Report], columns: list[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """One row per named report, rounded (what chapters print as their headline table)."""
    df = pd.DataFrame({name: r.row for name, r in reports.items()}).T
    if columns is not None:
        df = df[columns]
    return df.apply(pd.to_numeric).round(digits)


def per_class_attack_accuracy(
    model: nn.Module, attacks: dict[str, Attack], x: torch.Tensor, y: torch.Tensor, num_classes: int,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Accuracy of every class under every attack: a (attacks + "clean") × classes table.

    Shen et al.'s Table II reads the protected class's column of the model trained to protect it.
    x : (N, ...) in [0, 1] on the model's device; y : (N,).
    """
    rows = {"clean": metrics.per_class_accuracy(predict(model, x, batch_size), y, num_classes)}
    for name, attack in attacks.items():
        _, pred = adversarial_predictions(attack, x, y, batch_size)
        rows[name] = metrics.per_class_accuracy(pred, y, num_classes)
    return pd.DataFrame(rows).T


def nonuniform_report(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha_test: float, *,
    steps: int = 40, step_size: float | None = None, norm: str = "linf", start: str = "gaussian",
    batch_size: int = 256, seed: int = 0,
) -> dict[str, float]:
    """Zeng et al.'s accuracies under uniform and non-uniform attacks at ``alpha_test``.

    * ``natural`` — clean accuracy;
    * ``A_rob`` — accuracy under PGD on CE (the uniform attack);
    * ``A_sa`` — the same PGD examples, scored under the importance distribution
      ``w ∝ exp(−α_test·margin)`` of their probability margins (a sampling attacker that picks
      the vulnerable examples);
    * ``A_tr`` — the margin-weighted PGD (:class:`csr.attacks.MarginPGD`, α = ``alpha_test``)
      scored under its own examples' weights (the attacker perturbs and samples).

    Every weighted accuracy gives misclassified examples (margin < 0, weight > 1) more mass
    than correct ones (weight < 1), so ``A_sa ≤ A_rob`` always; ``A_tr ≤ A_sa`` holds when the
    weighted attack is the stronger one against the weighted score (checked, not assumed).
    """
    return nonuniform_reports(model, x, y, eps, [alpha_test], steps=steps, step_size=step_size, norm=norm,
                              start=start, batch_size=batch_size, seed=seed)[0]


def nonuniform_examples(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha_tests: Sequence[float], *,
    steps: int = 40, step_size: float | None = None, norm: str = "linf", start: str = "gaussian",
    batch_size: int = 256, seed: int = 0,
) -> dict[str, Any]:
    """The per-example data behind Zeng et al.'s accuracies (:func:`nonuniform_scores` turns it
    into them; a paired bootstrap over examples resamples it).

    Returns plain lists (JSON-ready), each of length N: ``clean_ok`` (clean prediction right),
    ``rob_ok`` / ``rob_margin`` (uniform PGD on CE, random start: correct, probability margin),
    and ``tr[str(α)]`` = ``{"ok", "margin"}`` for the margin-weighted PGD at each ``alpha_tests``
    value (:class:`csr.attacks.MarginPGD`, ``start`` — Algorithm 1's Gaussian start by default).
    The clean pass and the uniform attack run once for all α.
    """
    common = dict(eps=eps, steps=steps, alpha=step_size, norm=norm, seed=seed)
    clean = predict(model, x, batch_size) == y
    logits, pred = adversarial_predictions(PGD(model, **common), x, y, batch_size)
    out: dict[str, Any] = {"clean_ok": clean.tolist(), "rob_ok": (pred == y).tolist(),
                           "rob_margin": prob_margin(logits, y).tolist(), "tr": {}}
    for a in alpha_tests:
        lt, pt = adversarial_predictions(MarginPGD(model, weight_alpha=float(a), start=start, **common), x, y, batch_size)
        out["tr"][str(float(a))] = {"ok": (pt == y).tolist(), "margin": prob_margin(lt, y).tolist()}
    return out


def nonuniform_scores(examples: dict[str, Any], alpha_test: float) -> dict[str, float]:
    """``natural``, ``A_rob``, ``A_sa``, ``A_tr`` at ``alpha_test`` from :func:`nonuniform_examples`'
    output (intervals: :func:`csr.stats.paired_bootstrap_weighted` on the same arrays):
    ``A_sa = Σ w·1[PGD right] / Σ w`` with ``w = exp(−α·margin)`` of the PGD examples, ``A_tr``
    the same for the margin-weighted attack's examples and margins.

    >>> ex = {"clean_ok": [1, 1], "rob_ok": [1, 0], "rob_margin": [0.5, -0.5],
    ...       "tr": {"1.0": {"ok": [1, 0], "margin": [0.2, -0.6]}}}
    >>> {k: round(v, 4) for k, v in nonuniform_scores(ex, 1.0).items()}
    {'natural': 1.0, 'A_rob': 0.5, 'A_sa': 0.2689, 'A_tr': 0.3100}
    """
    key = str(float(alpha_test))
    if key not in examples["tr"]:
        raise ValueError(f"alpha_test {alpha_test} was not evaluated; evaluated: {', '.join(examples['tr'])}")
    a = float(alpha_test)

    def weighted(ok: Any, margin: Any) -> float:
        w = np.exp(-a * np.asarray(margin, dtype=float))
        return float(metrics.weighted_accuracy(np.asarray(ok, dtype=bool), w))

    return {"natural": float(np.mean(examples["clean_ok"])), "A_rob": float(np.mean(examples["rob_ok"])),
            "A_sa": weighted(examples["rob_ok"], examples["rob_margin"]),
            "A_tr": weighted(examples["tr"][key]["ok"], examples["tr"][key]["margin"])}


def nonuniform_reports(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha_tests: list[float], *,
    steps: int = 40, step_size: float | None = None, norm: str = "linf", start: str = "gaussian",
    batch_size: int = 256, seed: int = 0,
) -> list[dict[str, float]]:
    """:func:`nonuniform_report` at every ``alpha_tests`` value; the clean pass and the uniform PGD
    attack (which do not depend on α) run once, the margin-weighted attack once per α."""
    ex = nonuniform_examples(model, x, y, eps, alpha_tests, steps=steps, step_size=step_size, norm=norm, start=start,
                             batch_size=batch_size, seed=seed)
    return [{**nonuniform_scores(ex, a), "alpha_test": float(a), "eps": eps, "steps": steps} for a in alpha_tests]
