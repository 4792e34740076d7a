"""What the empirical (attack-evaluated) studies share: Shen et al., Zeng et al., Terzi et al.

:class:`EmpiricalStudy` builds adversarial-training configs from a profile and evaluates each
model once per threat: every evaluation is saved as ``eval-*.json`` in the evaluated run's
directory (:meth:`Study.cached`), keyed by what determines it, and the chapters' tables are read
back from those files. The paper modules subclass it with their profiles, schema and attacks.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..attacks import PGD, adversarial_predictions, predict
from ..evaluate import Report, attack_report, cached, nonuniform_examples, nonuniform_scores
from ..train import METHODS, RunResult, TrainConfig
from ..train.wpgd import prediction_entropy, wasserstein_objective
from ..utils import config_hash
from .base import Study

__all__ = ["EmpiricalStudy"]


class EmpiricalStudy(Study):
    """Training and attack evaluation for a notebook :class:`~csr.profiles.Setup` ``S``.

    Profile keys used: dataset, model, epochs, batch_size, lr, n_train, eps, train_steps,
    eval_steps, seed, device, threads; optionally optimizer, momentum,
    weight_decay, lr_schedule, lr_step, lr_gamma (the trainer's defaults when absent).
    """

    # --- training ---------------------------------------------------------------------------
    def config(self, method: str, cost: Any = None, *, track: tuple[str, ...] = (), val_attack: bool = False,
               eps: float | None = None, seed: int | None = None, norm: str | None = None,
               **method_kwargs: Any) -> TrainConfig:
        """The run's config: the profile's data, model and optimiser, ε (``eps`` overrides it), the
        threat model's ``norm`` (the profile's, default ℓ∞) and inner-attack steps (for adversarial
        methods), every method parameter explicit, the last epoch kept; ``seed`` the training seed
        (None: the profile's)."""
        P = dict(self.P) if eps is None else {**self.P, "eps": float(eps)}
        spec = METHODS.get(method)
        kw = dict(method_kwargs)
        if spec.adversarial and "steps" in spec.defaults:
            kw.setdefault("steps", P["train_steps"])
        kw = spec.resolve_kwargs(kw)
        va = None
        if val_attack:
            va = {"name": "pgd", "eps": P["eps"], "steps": P["eval_steps"], "n": 200, "seed": 0}
        common = self.common()
        if seed is not None:
            common["seed"] = int(seed)
        return TrainConfig(
            **common, method=method, method_kwargs=kw,
            cost_matrix=None if cost is None else self.cost(cost).to_list(),
            epochs=P["epochs"], batch_size=P["batch_size"], optimizer=P.get("optimizer", "adam"), lr=P["lr"],
            momentum=float(P.get("momentum", 0.9)), nesterov=bool(P.get("nesterov", False)),
            weight_decay=float(P.get("weight_decay", 0.0)), augment=P.get("augment"),
            norm=norm or P.get("norm", "linf"),
            lr_schedule=P.get("lr_schedule", "constant"), lr_step=int(P.get("lr_step", 10)),
            lr_gamma=float(P.get("lr_gamma", 0.5)), n_train=P["n_train"],
            eps=P["eps"] if spec.adversarial else 0.0,
            eps_warmup_epochs=P.get("eps_warmup_epochs", 0) if spec.adversarial else 0,
            select_metric="epoch", track=list(track), val_attack=va,
        )

    def run(self, method: str, cost: Any = None, **kw: Any) -> RunResult:
        return self.train(self.config(method, cost, **kw))

    # --- evaluation -------------------------------------------------------------------------
    def nonuniform_examples(self, run: RunResult) -> dict[str, Any]:
        """The per-example data behind A_rob / A_sa / A_tr at every profile ``alpha_tests`` value
        (:func:`csr.evaluate.nonuniform_examples`: clean and uniform-PGD correctness and margins,
        the margin-weighted attack's per α), cached next to the run. The margin-weighted attack
        starts as the profile's ``eval_start`` says (default ``"gaussian"``, Algorithm 1's)."""
        P = self.P
        alphas = sorted({float(a) for a in P.get("alpha_tests", [])})
        start = P.get("eval_start", "gaussian")
        key = {"eps": P["eps"], "steps": P["eval_steps"], "alpha_tests": alphas, "n": len(self.S.y_eval), "start": start}
        return self.cached(run, "nonuniform-ex", key, lambda: nonuniform_examples(
            run.model, self.S.x_eval, self.S.y_eval, P["eps"], alphas, steps=P["eval_steps"], start=start))

    def nonuniform(self, run: RunResult, alpha_test: float) -> dict[str, float]:
        """Natural, A_rob, A_sa, A_tr at ``alpha_test`` (one of the profile's ``alpha_tests``), from
        :meth:`nonuniform_examples` (:func:`csr.evaluate.nonuniform_scores`)."""
        alphas = sorted({float(a) for a in self.P.get("alpha_tests", [])})
        if float(alpha_test) not in alphas:
            raise ValueError(f"alpha_test {alpha_test} is not among the profile's alpha_tests {alphas}")
        return {**nonuniform_scores(self.nonuniform_examples(run), alpha_test), "alpha_test": float(alpha_test)}

    def predictions(self, run: RunResult, eps: float | None = None, metric: Any = None) -> dict[str, Any]:
        """Clean and PGD predictions (at the profile's ε, or ``eps``) on the evaluation inputs, with
        the clean predictions' entropy (nats); the attack's norm is the profile's ``norm`` (ℓ∞ by default): ``{"y", "clean", "pgd", "entropy"}`` as NumPy arrays
        (cached next to the run).

        ``metric`` (an (m, m) label metric): the attack maximises the metric's expected cost
        ``Σ_j softmax_j·metric[y, j]`` (WPGD's loss with p = 1 and no entropy term) instead of
        cross-entropy — a cost-aware attacker."""
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
        attack = PGD(run.model, eps=P["eps"] if eps is None else float(eps), steps=P["eval_steps"], seed=0,
                     norm=P.get("norm", "linf"), **loss)
        key["attack"] = repr(attack)

        def compute() -> dict:
            with torch.no_grad():
                ent = torch.cat([prediction_entropy(run.model(x[i:i + 512])) for i in range(0, len(y), 512)])
            _, pgd = adversarial_predictions(attack, x, y)
            return {"y": y.tolist(), "clean": predict(run.model, x).tolist(), "pgd": pgd.tolist(), "entropy": ent.tolist()}

        res = self.cached(run, "preds", key, compute)
        return {k: np.asarray(v) for k, v in res.items()}

    def cost_report(self, run: RunResult, cost: Any, sensitive_only: bool = False, steps: int | None = None) -> Report:
        """Targeted-PGD report for a cost matrix (robust cost, cost-sensitive robust error, pairwise
        errors; :func:`csr.evaluate.attack_report`; ``sensitive_only``: only Ω's pairs are
        attacked), ``steps`` PGD steps (default the profile's ``eval_steps``), cached next to the
        run."""
        P = self.P
        C = self.cost(cost)
        attack = PGD(run.model, eps=P["eps"], steps=int(steps or P["eval_steps"]), seed=0)
        spec: dict[str, Any] = {"cost": C.to_list(), "attack": repr(attack), "n": len(self.S.y_eval)}
        if sensitive_only:
            spec["pairs"] = "sensitive"
        return cached(run.run_dir / f"eval-cost-{config_hash(spec)}.json",
                      lambda: attack_report(run.model, attack, self.S.x_eval, self.S.y_eval, C, sensitive_only=sensitive_only))
