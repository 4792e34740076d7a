"""The empirical protocols of Shen et al. (protected classes), Zeng et al. (non-uniform
attacks) and Terzi et al. (WPGD) on top of the trainer, the attacks and :mod:`csr.evaluate`.

One object per notebook holds the profile's training settings and evaluates each model once
per threat: every evaluation is saved as ``eval-*.json`` in the evaluated run's directory,
keyed by what determines it, and the chapters' tables are read back from those files.

Example
-------
>>> from csr.profiles import setup
>>> S = setup("shen_cost_sensitive_classes", profile="smoke", verbose=False)
>>> study = AdversarialStudy(S)
>>> cfg = study.config("csa", cost="protect:3")
>>> cfg.method, cfg.eps, cfg.method_kwargs["steps"]
('csa', 0.1, 3)
>>> sorted(study.attacks(torch.nn.Linear(784, 10)))
['BIM-l2', 'BIM-linf', 'CW', 'FGSM', 'MIM', 'PGD']
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import costs
from .attacks import BIM, CW, FGSM, MIM, PGD, Attack, adversarial_predictions, predict
from .evaluate import (Report, attack_report, cached, nonuniform_reports,
                       per_class_attack_accuracy)
from .profiles import Setup
from .train import METHODS, RunResult, TrainConfig, train
from .utils import cached_json, config_hash, paper_results

__all__ = ["AdversarialStudy", "paper_results"]


class AdversarialStudy:
    """Training and attack evaluation for a notebook :class:`~csr.profiles.Setup` ``S``.

    Profile keys used: dataset, model, epochs, batch_size, lr, n_train, eps, train_steps,
    eval_steps, eps_l2 (Shen's BIM-ℓ2), seed, device.
    """

    def __init__(self, S: Setup):
        self.S, self.P = S, S.settings
        self.m = S.splits.num_classes

    def cost(self, spec: Any) -> costs.CostMatrix:
        return costs.load(spec, self.m, class_names=self.S.splits.class_names)

    # --- training ---------------------------------------------------------------------------
    def config(self, method: str, cost: Any = None, *, track: tuple[str, ...] = (), val_attack: bool = False,
               eps: float | None = None, **method_kwargs: Any) -> TrainConfig:
        """The run's config: the profile's data, model and optimiser, ε (``eps`` overrides it) and
        inner-attack steps (for adversarial methods), every method parameter explicit, the last
        epoch kept."""
        P = dict(self.P) if eps is None else {**self.P, "eps": float(eps)}
        spec = METHODS.get(method)
        kw = dict(method_kwargs)
        if spec.adversarial and "steps" in spec.defaults:
            kw.setdefault("steps", P["train_steps"])
        kw = spec.resolve_kwargs(kw)
        va = None
        if val_attack:
            va = {"name": "pgd", "eps": P["eps"], "steps": P["eval_steps"], "n": 200, "seed": 0}
        return TrainConfig(
            dataset=P["dataset"], model=P["model"], method=method, method_kwargs=kw,
            cost_matrix=None if cost is None else self.cost(cost).to_list(),
            epochs=P["epochs"], batch_size=P["batch_size"], optimizer="adam", lr=P["lr"], n_train=P["n_train"],
            eps=P["eps"] if spec.adversarial else 0.0, eps_warmup_epochs=P.get("eps_warmup_epochs", 0) if spec.adversarial else 0,
            seed=P.get("seed", 0), select_metric="epoch",
            track=list(track), val_attack=va, device=P.get("device", "auto"), progress=False,
        )

    def run(self, method: str, cost: Any = None, **kw: Any) -> RunResult:
        return train(self.config(method, cost, **kw), splits=self.S.splits)

    # --- evaluation -------------------------------------------------------------------------
    def attacks(self, model: nn.Module) -> dict[str, Attack]:
        """Shen et al.'s six evaluation attacks at the profile's ε (ℓ∞) and ``eps_l2`` (ℓ2)."""
        P = self.P
        e, k = P["eps"], P["eval_steps"]
        return {
            "FGSM": FGSM(model, eps=e),
            "PGD": PGD(model, eps=e, steps=k, seed=0),
            "CW": CW(model, eps=e, steps=k, seed=0),
            "MIM": MIM(model, eps=e, steps=k),
            "BIM-l2": BIM(model, eps=P["eps_l2"], steps=k, norm="l2"),
            "BIM-linf": BIM(model, eps=e, steps=k),
        }

    def _cached_json(self, run: RunResult, kind: str, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        path = Path(run.run_dir) / f"eval-{kind}-{config_hash(key)}.json"
        return cached_json(path, lambda: {"key": key, "result": compute()})["result"]

    def class_accuracy(self, run: RunResult, classes: list[int] | None = None) -> pd.DataFrame:
        """Accuracy of each class (columns) clean and under each of the six attacks (rows), on the
        evaluation digits of ``classes`` (default: all); cached next to the run."""
        x, y = self.S.x_eval, self.S.y_eval
        if classes is not None:
            keep = torch.isin(y, torch.tensor(classes, device=y.device))
            x, y = x[keep], y[keep]
        attacks = self.attacks(run.model)
        key = {"attacks": {k: repr(a) for k, a in attacks.items()}, "classes": classes, "n": len(y)}

        def compute() -> dict:
            tab = per_class_attack_accuracy(run.model, attacks, x, y, self.m)
            return {str(r): [float(v) for v in tab.loc[r]] for r in tab.index}

        res = self._cached_json(run, "attacks", key, compute)
        tab = pd.DataFrame(res, index=range(self.m)).T
        return tab if classes is None else tab[classes]

    def nonuniform(self, run: RunResult, alpha_test: float) -> dict[str, float]:
        """Zeng et al.'s natural, A_rob, A_sa, A_tr at ``alpha_test`` (cached next to the run).

        The profile's ``alpha_tests`` are evaluated together (one uniform PGD pass for all of them)."""
        P = self.P
        alphas = sorted({float(a) for a in P.get("alpha_tests", [])} | {float(alpha_test)})
        key = {"eps": P["eps"], "steps": P["eval_steps"], "alpha_tests": alphas, "n": len(self.S.y_eval)}
        rows = self._cached_json(run, "nonuniform", key, lambda: nonuniform_reports(
            run.model, self.S.x_eval, self.S.y_eval, P["eps"], alphas, steps=P["eval_steps"]))
        return next(r for r in rows if r["alpha_test"] == float(alpha_test))

    def predictions(self, run: RunResult, eps: float | None = None, metric: Any = None) -> dict[str, Any]:
        """Clean and PGD predictions (at the profile's ε, or ``eps``) on the evaluation inputs, with
        the clean predictions' entropy (nats): ``{"y", "clean", "pgd", "entropy"}`` as NumPy arrays
        (cached next to the run).

        ``metric`` (an (m, m) label metric): the attack maximises the metric's expected cost
        ``Σ_j softmax_j·metric[y, j]`` (WPGD's loss with p = 1 and no entropy term) instead of
        cross-entropy — a cost-aware attacker."""
        from .train.wpgd import prediction_entropy, wasserstein_objective

        P = self.P
        x, y = self.S.x_eval, self.S.y_eval
        key: dict[str, Any] = {"n": len(y)}
        loss: dict[str, Any] = {}
        if metric is not None:
            M = np.asarray(getattr(metric, "values", metric), dtype=float)
            if M.shape != (self.m, self.m):
                raise ValueError(f"predictions: the metric must be {self.m}x{self.m}, got shape {M.shape}")
            loss["loss"] = wasserstein_objective(torch.tensor(M, dtype=x.dtype, device=x.device), 1.0, float("inf"))
            key["metric"] = M.tolist()
        attack = PGD(run.model, eps=P["eps"] if eps is None else float(eps), steps=P["eval_steps"], seed=0, **loss)
        key["attack"] = repr(attack)

        def compute() -> dict:
            with torch.no_grad():
                ent = torch.cat([prediction_entropy(run.model(x[i:i + 512])) for i in range(0, len(y), 512)])
            _, pgd = adversarial_predictions(attack, x, y)
            return {"y": y.tolist(), "clean": predict(run.model, x).tolist(), "pgd": pgd.tolist(), "entropy": ent.tolist()}

        res = self._cached_json(run, "preds", key, compute)
        return {k: np.asarray(v) for k, v in res.items()}

    def cost_report(self, run: RunResult, cost: Any) -> Report:
        """Targeted-PGD report for a cost matrix (robust cost, cost-sensitive robust error, pairwise
        errors; :func:`csr.evaluate.attack_report`), cached next to the run."""
        P = self.P
        C = self.cost(cost)
        attack = PGD(run.model, eps=P["eps"], steps=P["eval_steps"], seed=0)
        key = config_hash({"cost": C.to_list(), "attack": repr(attack), "n": len(self.S.y_eval)})
        return cached(Path(run.run_dir) / f"eval-cost-{key}.json",
                      lambda: attack_report(run.model, attack, self.S.x_eval, self.S.y_eval, C))
