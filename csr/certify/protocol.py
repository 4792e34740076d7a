"""Zhang & Evans (2019)'s experimental protocol on top of the trainer and the certifier.

One object holds what every experiment of the paper shares — the data, the profile's training
settings (ε schedule, learning-rate steps, model selection on the validation split under a
clean-error threshold), α per task (tuned as in Appendix A, or fixed) and certified evaluation
cached next to each run — so the notebook only says *which* models to train and compare.

Example
-------
>>> from csr.profiles import setup
>>> S = setup("zhang_evans_2019", profile="smoke", cost_matrix="odd", verbose=False)
>>> Z = ZhangEvans(S)
>>> cfg = Z.config("cs_robust", Z.task("single_pair:0,2"), alpha=2.0)
>>> cfg.method, cfg.eps, cfg.method_kwargs["alpha"], cfg.select_metric
('cs_robust', 0.1, 2.0, 'val_cert_cs_robust_error')
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from .. import costs, evaluate
from ..profiles import ZE_TASK_LABELS, Setup
from ..train import RunResult, TrainConfig, train, tuning
from .. import utils
from ..utils import config_hash

__all__ = ["ZhangEvans", "paper_results"]


def paper_results() -> dict[str, Any]:
    """The published numbers recorded in ``data/paper_results/zhang_evans_2019.json``."""
    return utils.paper_results("zhang_evans_2019")


class ZhangEvans:
    """The paper's protocol for a notebook :class:`~csr.profiles.Setup` ``S``.

    ``model_kwargs`` apply to the profile's model (ignored when the user picked another model);
    ``alpha_grid`` replaces the coarse α grid when tuning.
    """

    def __init__(self, S: Setup, user_picked_model: bool = False, alpha_grid: Sequence[float] | None = None,
                 labels: dict[str, str] | None = None):
        self.S, self.P = S, S.settings
        self.m, self.names = S.splits.num_classes, S.splits.class_names
        self.overall = costs.overall(self.m)
        self.model_kwargs = {} if user_picked_model else dict(self.P.get("model_kwargs", {}))
        self.alpha_grid = tuple(alpha_grid) if alpha_grid is not None else tuning.COARSE_ALPHAS
        self.xv, self.yv = (t.to(S.device) for t in S.splits.val.tensors)
        self._paper_alpha = {r["task"]: r["alpha"] for r in
                             paper_results()["table1"] + paper_results()["table2"] if r.get("alpha")}
        self.labels = ZE_TASK_LABELS if labels is None else labels  # spec → the paper's task name
        self._pairwise_val: Any = None
        self.trials: list[pd.DataFrame] = []

    # --- what to train ------------------------------------------------------------------
    def config(self, method: str, cost: costs.CostMatrix | None = None, eps: float | None = None,
               alpha: float | None = None) -> TrainConfig:
        """The run's config: the profile's data/model/optimiser; for certified methods the paper's
        ε ramp from 0.05, learning-rate halving and certified model selection."""
        P = self.P
        e = P["eps"] if eps is None else eps
        kw: dict[str, Any] = dict(
            dataset=P["dataset"], model=P["model"], model_kwargs=self.model_kwargs, epochs=P["epochs"],
            n_train=P["n_train"], n_val=P["n_val"], batch_size=P["batch_size"], lr=P["lr"],
            seed=P.get("seed", 0), device=P.get("device", "auto"), progress=False,
        )
        if method in ("robust", "cs_robust"):
            kw.update(eps=e, eps_start=min(P["eps_start"], e), eps_warmup_epochs=P["eps_warmup_epochs"],
                      lr_schedule="step", lr_step_start=P["lr_step_start"], lr_step=P["lr_step"], lr_gamma=0.5,
                      val_certify={"method": "wk"}, select_mode="min", select_max_val_err=P["max_clean_error"],
                      select_metric="val_cert_robust_error", method_kwargs={"bound": P["bound"]})
        if method in ("cs_robust", "cs_ce"):
            if cost is None:
                raise ValueError(f"method {method!r} needs a cost matrix")
            kw["cost_matrix"] = cost.to_list()
            kw["method_kwargs"] = {**kw.get("method_kwargs", {}), "alpha": 1.0 if alpha is None else float(alpha)}
        if method == "cs_robust":
            kw["select_metric"] = "val_cert_cs_robust_error" if cost.is_binary else "val_cert_robust_cost"
        return TrainConfig(method=method, **kw)

    def run(self, method: str, cost: costs.CostMatrix | None = None, eps: float | None = None,
            alpha: float | None = None) -> RunResult:
        """Train (or load the cached) run of :meth:`config`."""
        return train(self.config(method, cost, eps, alpha), splits=self.S.splits)

    def task(self, spec: Any) -> costs.CostMatrix:
        """A task's matrix; ``top_k`` uses the baseline's certified pairwise errors on the
        validation split (set by :meth:`set_baseline`)."""
        return costs.load(spec, self.m, class_names=self.names, pairwise_errors=self._pairwise_val)

    def set_baseline(self, run: RunResult) -> None:
        self._pairwise_val = self.certified(run, self.overall, on="val").pairwise

    # --- α ----------------------------------------------------------------------------------
    def alpha(self, cost: costs.CostMatrix, spec: Any = None) -> float:
        """α for a task: tuned on the validation split when the profile says so (the trials are
        appended to :attr:`trials`); else the ``alpha`` parameter; else the paper's tuned α for
        that task; else 1."""
        P = self.P
        if P.get("tune_alpha"):
            best, trials = tuning.tune_alpha(
                self.config("cs_robust", cost), lambda r: self.certified(r, cost, on="val").row,
                max_clean_error=P["max_clean_error"], coarse=self.alpha_grid, splits=self.S.splits)
            self.trials.append(trials.assign(task=str(spec)))
            return best
        if P.get("alpha") is not None:
            return float(P["alpha"])
        label = self.labels.get(spec, "") if isinstance(spec, str) else ""
        return float(self._paper_alpha.get(label, 1.0))

    # --- evaluation ---------------------------------------------------------------------------
    def certified(self, run: RunResult, cost: costs.CostMatrix, eps: float | None = None,
                  on: str = "eval") -> evaluate.Report:
        """Certified (``wk``) report, cached next to the run: all pairs for the overall matrix
        (so it scores any task), only Ω for a cost-sensitive one."""
        e = self.P["eps"] if eps is None else eps
        x, y = (self.S.x_eval, self.S.y_eval) if on == "eval" else (self.xv, self.yv)
        all_pairs = cost == self.overall
        key = config_hash({"cost": cost.to_list(), "eps": e, "on": on, "n": len(y), "all": all_pairs})
        return evaluate.cached(run.run_dir / f"eval-cert-{key}.json", lambda: evaluate.certified_report(
            run.model, x, y, cost, e, method="wk", all_pairs=all_pairs))

    def score(self, report: evaluate.Report, cost: costs.CostMatrix) -> dict[str, Any]:
        """Score an (all-pairs) report's reach matrix with another cost matrix."""
        return evaluate.report_from_reach(report.reach, report.pred, self.S.y_eval, cost).row
