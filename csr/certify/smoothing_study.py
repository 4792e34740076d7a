"""The cost-sensitive randomized-smoothing protocol (Xin et al.) on top of the trainer.

One object holds what the chapter's experiments share — data, the profile's training settings,
the noise samples of each model (drawn once, cached next to its run) and the certification
reports (saved next to the run, keyed by cost matrix, α, union rule and ε list) — so the
notebook only says which models to train and which matrices to score.

Example
-------
>>> from csr.profiles import setup
>>> S = setup("cs_randomized_smoothing", profile="smoke", verbose=False)
>>> study = SmoothingStudy(S)
>>> cfg = study.config("cs_macer", sigma=0.5, cost="single_seed:3")
>>> cfg.method, cfg.method_kwargs["sigma"], cfg.method_kwargs["k"]
('cs_macer', 0.5, 4)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import costs
from ..profiles import Setup
from ..train import METHODS, RunResult, TrainConfig, train
from .. import utils
from ..utils import config_hash
from .smoothing import Counts, CSCertificate, Smooth

__all__ = ["SmoothingStudy", "PAPER_TASKS", "paper_results"]


def paper_results() -> dict[str, Any]:
    """What ``data/paper_results/cs_randomized_smoothing.json`` records about the paper."""
    return utils.paper_results("cs_randomized_smoothing")

# The paper's CIFAR-10 tasks (cat = 3; bird 2, deer 4, dog 5), used with the same indices elsewhere.
PAPER_TASKS = {
    "seedwise single": "single_seed:3",
    "seedwise multi": "seed_set:[2,4]",
    "pairwise single": "single_pair:3,5",
    "pairwise multi": "multi_pair:[(3,2),(3,4),(3,5)]",
}


class SmoothingStudy:
    """Training, sampling and certification for a notebook :class:`~csr.profiles.Setup` ``S``."""

    def __init__(self, S: Setup, user_picked_model: bool = False):
        self.S, self.P = S, S.settings
        if self.P.get("eps") is not None and self.P["eps"] not in self.P["eps_list"]:
            self.P["eps_list"] = sorted([*self.P["eps_list"], self.P["eps"]])  # the tables' ε is always reported
        self.m = S.splits.num_classes
        self.model_kwargs = {} if user_picked_model else dict(self.P.get("model_kwargs", {}))

    def cost(self, spec: Any) -> costs.CostMatrix:
        return costs.load(spec, self.m, class_names=self.S.splits.class_names)

    # --- training ---------------------------------------------------------------------------
    def config(self, method: str, sigma: float, cost: Any = None, **method_kwargs: Any) -> TrainConfig:
        """The run's config: the profile's data, model and optimiser; ``sigma`` (and the profile's
        ``k``, ``lam``, ``beta`` for MACER-type methods) as method parameters; the last epoch kept."""
        P = self.P
        kw: dict[str, Any] = {"sigma": float(sigma)}
        if method in ("macer", "cs_macer"):
            kw.update(k=P["k"], lam=P["lam"], beta=P["beta"])
        kw.update(method_kwargs)
        kw = METHODS.get(method).resolve_kwargs(kw)  # every parameter explicit: one run per setting
        return TrainConfig(
            dataset=P["dataset"], model=P["model"], model_kwargs=self.model_kwargs, method=method,
            method_kwargs=kw, cost_matrix=None if cost is None else self.cost(cost).to_list(),
            epochs=P["epochs"], batch_size=P["batch_size"], optimizer=P["optimizer"], lr=P["lr"],
            lr_schedule=P["lr_schedule"], lr_milestones=list(P["lr_milestones"]), lr_gamma=0.1,
            n_train=P["n_train"], seed=P.get("seed", 0), select_metric="epoch", select_mode="max",
            device=P.get("device", "auto"), progress=False,
        )

    def run(self, method: str, sigma: float, cost: Any = None, **method_kwargs: Any) -> RunResult:
        return train(self.config(method, sigma, cost, **method_kwargs), splits=self.S.splits)

    # --- sampling & certification ---------------------------------------------------------------
    def counts(self, run: RunResult, sigma: float | None = None) -> Counts:
        """The evaluation inputs' noise counts (n0 selection + n estimation samples), drawn once per
        model and cached in its run directory."""
        P = self.P
        sigma = float(run.config.method_kwargs["sigma"] if sigma is None else sigma)
        key = config_hash({"n0": P["n0"], "n": P["n"], "sigma": sigma, "seed": P.get("seed", 0),
                           "n_eval": len(self.S.y_eval)})
        path = run.run_dir / f"rs-counts-{key}.npz"
        if path.exists():
            return Counts.load(path)
        smooth = Smooth(run.model, self.m, sigma, batch_size=P["certify_batch"])
        counts = smooth.sample(self.S.x_eval, self.S.y_eval, n0=P["n0"], n=P["n"], seed=P.get("seed", 0))
        counts.save(path)
        return counts

    def certificate(self, run: RunResult, cost: Any, union: str = "bonferroni") -> CSCertificate:
        return self.counts(run).cost_sensitive(self.cost(cost), alpha=self.P["alpha"], union=union)

    def report(self, run: RunResult, cost: Any, eps_list: list[float] | None = None, union: str = "bonferroni",
               abstain_robust: bool = False) -> pd.DataFrame:
        """Metrics per ε (see :meth:`CSCertificate.metrics`), saved as ``eval-rs-<key>.json`` next to
        the run and read back from there."""
        C = self.cost(cost)
        eps_list = list(self.P["eps_list"] if eps_list is None else eps_list)
        key = config_hash({"cost": C.to_list(), "alpha": self.P["alpha"], "union": union, "eps": eps_list,
                           "abstain_robust": abstain_robust, "n0": self.P["n0"], "n": self.P["n"],
                           "n_eval": len(self.S.y_eval)})

        def compute() -> dict[str, Any]:
            table = self.certificate(run, C, union).table(eps_list, abstain_robust)
            return {"cost_matrix": C.to_list(), "alpha": self.P["alpha"], "union": union, "n0": self.P["n0"],
                    "n": self.P["n"], "rows": table.to_dict("records")}

        doc = utils.cached_json(Path(run.run_dir) / f"eval-rs-{key}.json", compute)
        return pd.DataFrame(doc["rows"])

    def compare(self, runs: dict[str, RunResult], cost: Any, eps: float,
                columns: tuple[str, ...] = ("acc", "rob_cs", "rob_std", "rob_non")) -> pd.DataFrame:
        """One row per labelled run: its metrics for ``cost`` at ``eps`` (rounded to 3 digits)."""
        rows = [{"method": label, **{c: self.row(run, cost, eps)[c] for c in columns}} for label, run in runs.items()]
        return pd.DataFrame(rows).set_index("method").round(3)

    def row(self, run: RunResult, cost: Any, eps: float, **kw: Any) -> dict[str, float]:
        """The report's row at one ε (``eps`` must be in the profile's ε list or ``kw['eps_list']``)."""
        table = self.report(run, cost, **kw)
        hit = table[np.isclose(table["eps"], eps)]
        if hit.empty:
            raise ValueError(f"eps={eps} is not in the report's ε list {table['eps'].tolist()}")
        return hit.iloc[0].to_dict()
