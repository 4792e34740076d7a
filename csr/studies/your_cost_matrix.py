"""Your cost matrix: every method family the library has, trained for one cost matrix and scored
under one threat model — empirical and certified side by side.

No paper: this is the book's answer to a user who arrives with a matrix and asks which training
method to use and what robustness where it matters costs in clean accuracy. The families are the
papers' methods as the library registers them (:data:`FAMILIES`); the ℓ∞ threat model is the
profile's ``eps``; the smoothed models get the cost-sensitive smoothing certificate at the ℓ2
radius ``radius_l2`` in their own columns.

Scores per model (:meth:`YourCostMatrix.evaluate`):

* ``clean_error`` (Clopper–Pearson interval);
* **empirical** robust cost and cost-sensitive robust error under the strongest attack we have:
  targeted PGD at every sensitive target (:func:`csr.attacks.pairwise_reach`) *and* the
  cost-aware attack (:class:`csr.attacks.CostPGD`), an (example, target) pair counting as reached
  when either lands there — so the cost-aware attack is kept wherever it lands higher;
* **certified** robust cost and cs robust error of the ℓ∞ models on the first ``n_cert``
  examples (Wong–Kolter's dual bound, sound); on those examples the **sandwich** empirical ≤
  true ≤ certified must hold per example: every pair an attack reached is a pair the
  certificate could not exclude (:meth:`YourCostMatrix.sandwich`);
* for the smoothed models, the cost-sensitive randomized-smoothing certificate (ℓ2,
  ``radius_l2``), and its sandwich against targeted ℓ2 PGD whose landing points the smoothed
  classifier judges (:meth:`YourCostMatrix.smoothed_attack`; both sides hold with probability
  ≥ 1 − ``smooth_alpha`` each).

Example
-------
>>> YourCostMatrix.settings("smoke")["methods"][:3]
['standard', 'pgd', 'trades']
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import costs, progress
from ..attacks import PGD, CostPGD, pairwise_reach, predict
from ..evaluate import Report, cached, certified_report, report_from_reach
from ..metrics import robust_cost_per_example
from ..stats import bootstrap_mean, clopper_pearson
from ..train import RunResult, TrainConfig
from ..utils import config_hash
from .base import ParameterError, headline
from .empirical import EmpiricalStudy

__all__ = ["YourCostMatrix", "Family", "FAMILIES", "DISPLAY_COLUMNS", "display", "results_folder", "save_results"]


@dataclass(frozen=True)
class Family:
    """One method family: the registered training method, its keywords (``"{lam}"``-style
    placeholders are the profile's values), whether it trains with the cost matrix, and its
    threat model: ``"linf"`` (attacked and certified in ℓ∞) or ``"smoothed"`` (certified by
    randomized smoothing in ℓ2)."""

    label: str
    method: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    uses_cost: bool = False
    threat: str = "linf"
    paper: str = ""


#: The method families, by the name ``methods`` lists them with.
FAMILIES: dict[str, Family] = {
    "standard": Family("standard (CE)", "standard"),
    "pgd": Family("PGD", "pgd_at", paper="Madry et al."),
    "trades": Family("TRADES", "trades", paper="Zhang et al."),
    "cs_certified": Family("cost-sensitive certified (Zhang & Evans)", "cs_robust", {"alpha": "alpha_cert"}, True,
                           paper="Zhang & Evans 2019"),
    "csa": Family("CSA (Shen et al.)", "csa", {"lam": "lam_shen"}, True, paper="Shen et al."),
    "cse_adv": Family("CSE+ADV (Shen et al.)", "cse_adv", {"lam": "lam_shen"}, True, paper="Shen et al."),
    "weighted_minimax": Family("weighted minimax, cost margin (Zeng et al.)", "pgd_weighted",
                               {"alpha": "alpha_margin", "margin": "cost"}, True, paper="Zeng et al."),
    "wpgd": Family("WPGD, C as the metric (Terzi et al.)", "wpgd", {"p": 1.0, "lam": math.inf}, True,
                   paper="Terzi et al."),
    "gaussian": Family("Gaussian augmentation, smoothed (Cohen et al.)", "gaussian", {"sigma": "sigma"},
                       threat="smoothed", paper="Cohen et al."),
    "cs_macer": Family("cost-sensitive MACER, smoothed", "cs_macer", {"sigma": "sigma"}, True, threat="smoothed",
                       paper="cost-sensitive randomized smoothing"),
}

_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.1, eps_warmup_epochs=1, batch_size=64, lr=1e-3,
               methods=list(FAMILIES), alpha_cert=1.0, lam_shen=1.0, alpha_margin=1.0, sigma=0.25, radius_l2=0.25,
               smooth_alpha=0.001)


class YourCostMatrix(EmpiricalStudy):
    """Every method family for the setup's cost matrix under one threat model."""

    name = "your_cost_matrix"
    title = "Your cost matrix: every method, certified and empirical"
    types = {
        "train_steps": (int,), "eval_steps": (int,), "eps_warmup_epochs": (int,), "methods": (list,),
        "alpha_cert": (int, float), "lam_shen": (int, float), "alpha_margin": (int, float), "sigma": (int, float),
        "radius_l2": (int, float), "n_cert": (int,), "smooth_n0": (int,), "smooth_n": (int,),
        "smooth_alpha": (int, float),
    }
    profiles = {
        # ≤ 60 s for ten trainings on pinned CPU kernels: a few hundred digits, one epoch
        "smoke": dict(_COMMON, n_train=300, n_eval=100, epochs=1, eps_warmup_epochs=0, train_steps=2, eval_steps=5,
                      n_cert=10, smooth_n0=16, smooth_n=64, threads=2),
        "cpu": dict(_COMMON, n_train=None, n_eval=500, epochs=8, train_steps=8, eval_steps=20, n_cert=100,
                    smooth_n0=64, smooth_n=1000, threads=2),
        "gpu": dict(_COMMON, dataset="mnist", n_train=None, n_eval=None, epochs=30, eps_warmup_epochs=5,
                    train_steps=10, eval_steps=40, n_cert=1000, smooth_n0=100, smooth_n=100_000, threads=None),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        unknown = [m for m in out["methods"] if m not in FAMILIES]
        if unknown or not out["methods"]:
            raise ParameterError(f"parameter 'methods': unknown {unknown or 'empty list'}; known: {', '.join(FAMILIES)}")
        for k in ("sigma", "radius_l2", "alpha_cert", "lam_shen", "alpha_margin"):
            if not (math.isfinite(out[k]) and out[k] > 0):
                raise ParameterError(f"parameter {k!r} must be a finite number > 0, got {out[k]!r}")
        if not 0 < out["smooth_alpha"] < 1:
            raise ParameterError(f"parameter 'smooth_alpha' must lie in (0, 1), got {out['smooth_alpha']!r}")

    # --- training -------------------------------------------------------------------------------
    def matrix(self) -> costs.CostMatrix:
        """The setup's cost matrix (a report needs one)."""
        if self.S.cost is None:
            raise ParameterError("your_cost_matrix needs a cost_matrix (a builder name, a stored name, a file "
                                 "or an m×m list)")
        return self.S.cost

    def family_config(self, key: str) -> TrainConfig:
        """The training config of one family for the setup's cost matrix."""
        fam = FAMILIES[key]
        kw = {k: self.P[v] if isinstance(v, str) and v in self.P else v for k, v in fam.kwargs.items()}
        return self.config(fam.method, self.matrix() if fam.uses_cost else None, **kw)

    def family_run(self, key: str) -> RunResult:
        """Train (or load) the model of one family for the setup's cost matrix."""
        return self.train(self.family_config(key))

    # --- evaluation -------------------------------------------------------------------------------
    def empirical(self, run: RunResult) -> Report:
        """Pairwise targeted PGD at every sensitive target plus the cost-aware attack, merged into
        one reach matrix (a pair is reached when either attack lands there), cached by run."""
        C, P, S = self.matrix(), self.P, self.S
        pgd = PGD(run.model, eps=P["eps"], steps=P["eval_steps"], seed=0)
        cpgd = CostPGD(run.model, eps=P["eps"], steps=P["eval_steps"], seed=0, cost=C)
        spec = {"cost": C.to_list(), "pgd": repr(pgd), "cost_pgd": repr(cpgd), "n": len(S.y_eval)}

        def compute() -> Report:
            x, y = S.x_eval, S.y_eval
            reach = pairwise_reach(pgd, x, y, self.m, pairs=C.sensitive_mask).cpu().numpy()
            landed = np.concatenate([predict(run.model, cpgd(x[i:i + 256], y[i:i + 256])).cpu().numpy()
                                     for i in range(0, len(y), 256)])
            yy = y.cpu().numpy()
            hit = landed != yy
            reach[np.flatnonzero(hit), landed[hit]] = True
            return report_from_reach(reach, predict(run.model, x), y, C,
                                     meta={"threat": f"pairwise {pgd!r} + {cpgd!r}", "pairs": "sensitive"})

        return cached(run.run_dir / f"eval-ycm-emp-{config_hash(spec)}.json", compute)

    def certified(self, run: RunResult) -> Report:
        """Wong–Kolter certificate of the sensitive pairs at the profile's ℓ∞ ε on the first
        ``n_cert`` evaluation examples, cached by run."""
        C, P, S = self.matrix(), self.P, self.S
        n = min(int(P["n_cert"]), len(S.y_eval))
        spec = {"cost": C.to_list(), "eps": P["eps"], "n": n, "bound": "wk"}
        return cached(run.run_dir / f"eval-ycm-cert-{config_hash(spec)}.json", lambda: certified_report(
            run.model, S.x_eval[:n], S.y_eval[:n], C, P["eps"], method="wk", all_pairs=False))

    def smoothed(self, run: RunResult) -> dict[str, float]:
        """The cost-sensitive smoothing certificate (ℓ2 radius ``radius_l2``, noise ``sigma``) of the
        smoothed classifier on the first ``n_cert`` evaluation examples, cached by run."""
        from ..certify.smoothing import Smooth

        C, P, S = self.matrix(), self.P, self.S
        n = min(int(P["n_cert"]), len(S.y_eval))
        key = {"cost": C.to_list(), "sigma": P["sigma"], "n0": P["smooth_n0"], "n_samples": P["smooth_n"],
               "alpha": P["smooth_alpha"], "radius": P["radius_l2"], "n": n, "with": "reach"}

        def compute() -> dict[str, Any]:
            counts = Smooth(run.model, self.m, P["sigma"]).sample(S.x_eval[:n], S.y_eval[:n], n0=P["smooth_n0"],
                                                                   n=P["smooth_n"], seed=0)
            cert = counts.cost_sensitive(C, alpha=P["smooth_alpha"])
            reach = cert.reach(P["radius_l2"])
            return {**cert.metrics(P["radius_l2"]), "reach": np.asarray(reach).tolist(),
                    "per_example": robust_cost_per_example(reach, cert.y, C).tolist(),
                    "clean_error_smoothed": float(np.mean(cert.pred != cert.y))}

        return self.cached(run, "ycm-smooth", key, compute)

    def smoothed_attack(self, run: RunResult) -> np.ndarray:
        """The empirical side for a smoothed model, on the certified examples: targeted ℓ2 PGD
        (radius ``radius_l2``) on the base classifier at every costly target, each landing point
        judged by the smoothed classifier's PREDICT (``smooth_n`` noise samples, ``smooth_alpha``;
        an abstention is not a hit). ``(n_cert, m)`` bool: the costly pairs reached. Cached by run."""
        from ..certify.smoothing import Smooth

        C, P, S = self.matrix(), self.P, self.S
        n = min(int(P["n_cert"]), len(S.y_eval))
        atk = PGD(run.model, eps=P["radius_l2"], norm="l2", steps=P["eval_steps"], seed=0)
        key = {"cost": C.to_list(), "sigma": P["sigma"], "n_samples": P["smooth_n"], "alpha": P["smooth_alpha"],
               "attack": repr(atk), "n": n}

        def compute() -> dict[str, Any]:
            x, y = S.x_eval[:n], S.y_eval[:n]
            yn, mask = y.cpu().numpy(), np.asarray(C.sensitive_mask)
            smooth = Smooth(run.model, self.m, P["sigma"])
            reach = np.zeros((n, self.m), dtype=bool)
            for j in range(self.m):
                idx = np.flatnonzero(mask[yn, j])
                if len(idx):
                    sel = torch.as_tensor(idx, device=x.device)
                    pred = smooth.predict(atk(x[sel], y[sel], target=j), n=P["smooth_n"], alpha=P["smooth_alpha"], seed=0)
                    reach[idx[pred == j], j] = True
            return {"reach": reach.tolist()}

        return np.asarray(self.cached(run, "ycm-smooth-attack", key, compute)["reach"], dtype=bool)

    @staticmethod
    def sandwich(emp: Report, cert: Report, C: costs.CostMatrix, y: Any) -> bool:
        """Empirical ≤ certified on the certified examples, per costly (example, target) pair:
        every such pair an attack reached is one the certificate could not exclude (the
        certificate covers the costly pairs only)."""
        n = len(cert.pred)
        costly = np.asarray(C.sensitive_mask)[np.asarray(y)[:n]]
        return bool(np.all(~(emp.reach[:n] & costly) | cert.reach))

    def evaluate(self, key: str, run: RunResult, emp: Report | None = None) -> dict[str, Any]:
        """One row of the report for the family ``key``: clean error, empirical and certified
        robust cost and cs robust error with 95 % intervals, and whether the sandwich holds
        (``emp``: the run's :meth:`empirical` report when the caller has it already)."""
        C, fam = self.matrix(), FAMILIES[key]
        y = self.S.y_eval.cpu().numpy()
        emp = self.empirical(run) if emp is None else emp
        k = int(np.sum(emp.pred != y))
        row: dict[str, Any] = {"method": key, "family": fam.label, "threat": fam.threat,
                               "trained with C": fam.uses_cost}
        row.update(_interval("clean_error", (k / len(y), *clopper_pearson(k, len(y)))))
        rc = robust_cost_per_example(emp.reach, y, C)
        row.update(_interval("empirical robust_cost", bootstrap_mean(rc) if len(rc) else None))
        row["empirical cs_robust_error"] = emp.row["cs_robust_error"]
        if fam.threat == "linf":
            cert = self.certified(run)
            n = len(cert.pred)
            rc_c = robust_cost_per_example(cert.reach, y[:n], C)
            rc_e = robust_cost_per_example(emp.reach[:n], y[:n], C)
            row.update(_interval("certified robust_cost", bootstrap_mean(rc_c) if len(rc_c) else None))
            row.update({"certified cs_robust_error": cert.row["cs_robust_error"],
                        "empirical robust_cost (certified examples)": float(rc_e.mean()) if len(rc_e) else float("nan"),
                        "sandwich holds": self.sandwich(emp, cert, C, y), "n certified": n})
        else:
            sm = self.smoothed(run)
            pe = np.asarray(sm["per_example"])
            row.update(_interval("smoothed l2 robust_cost", bootstrap_mean(pe) if len(pe) else None))
            n = len(sm["reach"])  # the certified examples (per_example: only those with a costly target)
            hit = self.smoothed_attack(run)
            costly = np.asarray(C.sensitive_mask)[y[:n]]
            rc_e = robust_cost_per_example(hit, y[:n], C)
            row.update({"smoothed l2 cs_robust_error": sm["cs_robust_error"],
                        "smoothed clean error": sm["clean_error_smoothed"], "n certified": n,
                        "empirical smoothed l2 robust_cost": float(rc_e.mean()) if len(rc_e) else float("nan"),
                        "sandwich holds": bool(np.all(~(hit & costly) | np.asarray(sm["reach"], dtype=bool)))})
        return row

    @headline
    def report(self) -> tuple[pd.DataFrame, dict[str, Report]]:
        """Train and score every family of ``methods``: the table (one row per family) and the
        empirical reports (for the heatmaps)."""
        rows, reports = [], {}
        keys = list(self.P["methods"])
        runs = dict(zip(keys, self.train_many([self.family_config(k) for k in keys])))  # the grid: any executor
        for key in progress.bar(keys, desc="method families", unit="model", leave=True):
            reports[key] = self.empirical(runs[key])
            rows.append(self.evaluate(key, runs[key], reports[key]))
        return pd.DataFrame(rows).set_index("method"), reports


def results_folder(study: "YourCostMatrix", out: str | None = None) -> "Path":
    """Where a report's tables go: ``out`` (a path the user typed, relative to their directory)
    or the study's :meth:`~csr.studies.base.Study.results_folder` (keyed by the settings and the
    matrix)."""
    from pathlib import Path

    from ..costs import user_dirs

    if out:
        p = Path(out).expanduser()
        return p if p.is_absolute() else user_dirs()[0] / p
    return study.results_folder()


def save_results(study: "YourCostMatrix", table: pd.DataFrame, out: str | None = None) -> dict[str, str]:
    """The report's table as ``table.csv`` and ``table.json`` (with the settings and the matrix)
    in :func:`results_folder`, written atomically; returns the paths."""
    from .. import store

    folder = results_folder(study, out)
    csv = store.write_csv(folder / "table.csv", table.reset_index().to_dict("records"))
    js = store.write_json(folder / "table.json", {"settings": {k: v for k, v in study.P.items()},
                                                   "cost_matrix": study.matrix().to_dict(),
                                                   "rows": table.reset_index().to_dict("records")})
    return {"csv": str(csv), "json": str(js)}


#: The columns :func:`display` shows, in order.
DISPLAY_COLUMNS = ["family", "trained with C", "clean_error [95 %]", "empirical robust_cost [95 %]",
                   "empirical cs_robust_error", "certified robust_cost [95 %]", "smoothed l2 robust_cost [95 %]",
                   "sandwich holds"]


def display(table: pd.DataFrame) -> str:
    """The report's table as text: :data:`DISPLAY_COLUMNS` (those present), ``-`` where a column
    does not apply to a row (the ℓ∞ and smoothed rows have different certificates)."""
    cols = [c for c in DISPLAY_COLUMNS if c in table.columns]
    shown = table[cols].astype(object).where(table[cols].notna(), "-")
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 48):
        return shown.to_string()


def _interval(name: str, est: tuple[float, float, float] | None) -> dict[str, Any]:
    """``name``, ``name lo``, ``name hi`` as numbers and ``name [95 %]`` as text (NaN / "-" when
    there is nothing to estimate)."""
    if est is None:
        return {name: float("nan"), f"{name} lo": float("nan"), f"{name} hi": float("nan"), f"{name} [95 %]": "-"}
    v, lo, hi = (float(t) for t in est)
    return {name: v, f"{name} lo": lo, f"{name} hi": hi, f"{name} [95 %]": f"{v:.3f} [{lo:.3f}, {hi:.3f}]"}
