"""Cost-sensitive randomized smoothing (Xin et al.): the protocol on top of the trainer.

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

from .. import evaluate, store
from ..metrics import cost_sensitive_errors_per_example
from ..stats import clopper_pearson, format_interval, paired_bootstrap
from ..certify.smoothing import RULES, Counts, CSCertificate, Smooth
from ..train import METHODS, RunResult, TrainConfig
from ..utils import config_hash
from .base import ParameterError, Study, check_numbers

__all__ = ["SmoothingStudy", "TASKS", "LABELS", "PAPER_TASKS", "PAPER_ROWS", "PAPER_METHODS", "paper_results"]

# Xin et al.'s tasks (CIFAR-10 indices: cat 3, bird 2, deer 4, dog 5; the same indices on MNIST).
TASKS = ["single_seed:3", "seed_set:[2,4]", "single_pair:3,5", "multi_pair:[(3,2),(3,4),(3,5)]"]
LABELS = {"single_seed:3": "seedwise single (3)", "seed_set:[2,4]": "seedwise multi (2, 4)",
          "single_pair:3,5": "pairwise single (3→5)",
          "multi_pair:[(3,2),(3,4),(3,5)]": "pairwise multi (3→2,4,5)"}
# The paper's names for them.
PAPER_TASKS = {
    "seedwise single": "single_seed:3",
    "seedwise multi": "seed_set:[2,4]",
    "pairwise single": "single_pair:3,5",
    "pairwise multi": "multi_pair:[(3,2),(3,4),(3,5)]",
}

# Where the paper prints each task (Tables 1/2 at σ = 0.5, Tables 6/7 at σ = 0.25; CIFAR-10 rows)
# and how it names the methods.
PAPER_ROWS = {"single_seed:3": ("Single (3)", "table_1", "table_6"), "seed_set:[2,4]": ("Multi (2, 4)", "table_1", "table_6"),
              "single_pair:3,5": ("Single (3 → 5)", "table_2", "table_7"),
              "multi_pair:[(3,2),(3,4),(3,5)]": ("Multi (3 → 2, 4, 5)", "table_2", "table_7")}
PAPER_METHODS = {"Gaussian": "Cohen", "MACER": "MACER", "Cohen-R": "Cohen-R", "CS-MACER": "Ours"}
#: "similar accuracy": CS-MACER's accuracy at most this far below the baseline's (our reading)
ACC_TOLERANCE = 0.02

_COMMON = dict(dataset="mnist5k", model="mlp", batch_size=64, optimizer="adam", lr=1e-3,
               lr_schedule="multistep", beta=16.0, lam=3.0, alpha=0.001, certify_batch=2000,
               sigma=0.5, sigma_low=0.25, eps=0.5, cifar=False)



class SmoothingStudy(Study):
    """Training, sampling and certification for a notebook :class:`~csr.profiles.Setup` ``S``."""

    name = "cs_randomized_smoothing"
    title = "Cost-sensitive randomized smoothing (Xin et al.)"
    paper = "cs_randomized_smoothing"
    tasks = TASKS
    labels = LABELS
    types = {
        "sigma": (int, float), "sigma_low": (int, float), "k": (int,), "lam": (int, float), "beta": (int, float),
        "n0": (int,), "n": (int,), "alpha": (int, float), "certify_batch": (int,), "tasks": (list,),
        "low_sigma_tasks": (list,), "gamma_grid": (list,), "cohen_r_alphas": (list,), "omega_sizes": (list,),
        "eps_list": (list,), "cifar": (bool,), "optimizer": (str,), "lr_schedule": (str,), "lr_milestones": (list,),
        "model_kwargs": (dict,), "cohen_r_alpha": (int, float), "seeds": (list,), "rule": (str,),
    }
    profiles = {
        "smoke": dict(_COMMON, model_kwargs={"hidden": [64]}, n_train=600, n_eval=100, epochs=3, threads=2,
                      lr_milestones=[2], k=4, n0=20, n=200, eps_list=[0.25, 0.5],
                      tasks=["single_seed:3", "single_pair:3,5"], low_sigma_tasks=["single_seed:3"],
                      gamma_grid=[[4.0, 16.0], [8.0, 16.0]], cohen_r_alphas=[1.2, 2.0], cohen_r_alpha=1.2,
                      omega_sizes=[1, 3, 9], seeds=[0, 1], rule="paper"),
        # mnist5k: 3,000 training digits, all 1,000 test digits certified (~100 sensitive digits per
        # seed class), one hidden layer of 256 units, k = 8 noise samples per input in training
        # (the paper: 16), n = 1,000 (the paper: 100,000); the tables' models trained with 3 seeds;
        # Cohen-R's weight swept over the paper's {1.0, 1.1, ..., 2.0}, 1.2 (its choice) in the
        # tables; the γ grid of Table 5, {2, 4, 6, 8} × {8, 10, 12, 16}.
        "cpu": dict(_COMMON, model_kwargs={"hidden": [256]}, n_train=None, n_eval=None, epochs=15, threads=2,
                    lr_milestones=[10], k=8, n0=100, n=1000, eps_list=[0.25, 0.5, 1.0],
                    tasks=TASKS, low_sigma_tasks=["single_seed:3", "single_pair:3,5"],
                    gamma_grid=[[g1, g2] for g1 in (2.0, 4.0, 6.0, 8.0) for g2 in (8.0, 10.0, 12.0, 16.0)],
                    cohen_r_alphas=[round(1.0 + 0.1 * i, 1) for i in range(11)], cohen_r_alpha=1.2,
                    omega_sizes=[1, 3, 5, 7, 9], seeds=[0, 1, 2], rule="paper"),
        # The public code's CIFAR-10 settings: ResNet-56, 440 epochs of SGD (lr 0.01, ×0.1 at 200
        # and 400), k = 16, β = 16, λ = 3; certification n0 = 100, n = 100,000, α = 0.001 on 500
        # test images.
        "gpu": dict(_COMMON, dataset="cifar10", model="resnet56", model_kwargs={}, n_train=None, n_eval=500,
                    threads=None, epochs=440, optimizer="sgd", lr=0.01, lr_milestones=[200, 400], k=16, n0=100,
                    n=100_000, certify_batch=4000, eps_list=[0.25, 0.5, 1.0], tasks=TASKS,
                    low_sigma_tasks=TASKS,
                    gamma_grid=[[g1, g2] for g1 in (2.0, 4.0, 6.0, 8.0) for g2 in (8.0, 10.0, 12.0, 16.0)],
                    cohen_r_alphas=[round(1.0 + 0.1 * i, 1) for i in range(11)], cohen_r_alpha=1.2,
                    omega_sizes=[1, 3, 5, 7, 9], seeds=[0, 1, 2], rule="paper", cifar=True),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        for name in ("sigma", "sigma_low"):
            v = out.get(name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ParameterError(f"parameter {name!r} (noise level) must be a finite number > 0, got {v!r}")
        a = out["alpha"]
        if not 0 < a < 1:
            raise ParameterError(f"parameter 'alpha' (failure probability) must lie strictly between 0 and 1, got {a!r}")
        if out["n0"] > out["n"]:
            raise ParameterError(f"parameter 'n0' ({out['n0']}) must not exceed 'n' ({out['n']})")
        check_numbers("'eps_list'", out["eps_list"], lambda e: np.isfinite(e) and e >= 0, "finite numbers >= 0")
        if out.get("rule", "paper") not in RULES:
            raise ParameterError(f"parameter 'rule' must be one of {', '.join(RULES)}, got {out['rule']!r}")

    def __init__(self, S: Any, user_picked_model: bool = False):
        super().__init__(S, user_picked_model)
        if self.P.get("eps") is not None and self.P["eps"] not in self.P["eps_list"]:
            self.P["eps_list"] = sorted([*self.P["eps_list"], self.P["eps"]])  # the tables' ε is always reported

    # --- training ---------------------------------------------------------------------------
    def config(self, method: str, sigma: float, cost: Any = None, seed: int | None = None,
               **method_kwargs: Any) -> TrainConfig:
        """The run's config: the profile's data, model and optimiser; ``sigma`` (and the profile's
        ``k``, ``lam``, ``beta`` for MACER-type methods) as method parameters; the last epoch kept;
        ``seed`` the training seed (None: the profile's)."""
        P = self.P
        kw: dict[str, Any] = {"sigma": float(sigma)}
        if method in ("macer", "cs_macer"):
            kw.update(k=P["k"], lam=P["lam"], beta=P["beta"])
        kw.update(method_kwargs)
        kw = METHODS.get(method).resolve_kwargs(kw)  # every parameter explicit: one run per setting
        common = self.common()
        if seed is not None:
            common["seed"] = int(seed)
        return TrainConfig(
            **common, method=method,
            method_kwargs=kw, cost_matrix=None if cost is None else self.cost(cost).to_list(),
            epochs=P["epochs"], batch_size=P["batch_size"], optimizer=P["optimizer"], lr=P["lr"],
            lr_schedule=P["lr_schedule"], lr_milestones=list(P["lr_milestones"]), lr_gamma=0.1,
            n_train=P["n_train"], select_metric="epoch", select_mode="max",
        )

    def run(self, method: str, sigma: float, cost: Any = None, seed: int | None = None,
            **method_kwargs: Any) -> RunResult:
        return self.train(self.config(method, sigma, cost, seed, **method_kwargs))

    # --- sampling & certification ---------------------------------------------------------------
    def counts(self, run: RunResult, sigma: float | None = None) -> Counts:
        """The evaluation inputs' noise counts (n0 selection + n estimation samples), drawn once per
        model and cached in its run directory."""
        P = self.P
        sigma = float(run.config.method_kwargs["sigma"] if sigma is None else sigma)
        key = config_hash({"n0": P["n0"], "n": P["n"], "sigma": sigma, "seed": P.get("seed", 0),
                           "n_eval": len(self.S.y_eval)})
        path = Path(run.run_dir) / f"rs-counts-{key}.npz"
        if path.exists():
            return Counts.load(path)
        smooth = Smooth(run.model, self.m, sigma, batch_size=P["certify_batch"])
        counts = smooth.sample(self.S.x_eval, self.S.y_eval, n0=P["n0"], n=P["n"], seed=P.get("seed", 0))
        counts.save(path)
        return counts

    def certificate(self, run: RunResult, cost: Any, union: str = "bonferroni", rule: str | None = None) -> CSCertificate:
        """Algorithm 1 on the run's cached noise counts; ``rule`` None: the profile's (``paper``:
        Algorithm 1 and Eq. 2 as printed; ``sound``: one α budget, Cohen's abstention)."""
        if union == "reference":
            rule = "sound"  # the public code's variant takes no rule
        rule = self.P.get("rule", "paper") if rule is None else rule
        return self.counts(run).cost_sensitive(self.cost(cost), alpha=self.P["alpha"], union=union, rule=rule)

    def report(self, run: RunResult, cost: Any, eps_list: list[float] | None = None, union: str = "bonferroni",
               abstain_robust: bool = False, rule: str | None = None) -> pd.DataFrame:
        """Metrics per ε (see :meth:`CSCertificate.metrics`), saved as ``eval-rs-<key>.json`` next to
        the run and read back from there."""
        C = self.cost(cost)
        rule = "sound" if union == "reference" else (self.P.get("rule", "paper") if rule is None else rule)
        eps_list = list(self.P["eps_list"] if eps_list is None else eps_list)
        key = config_hash({"cost": C.to_list(), "alpha": self.P["alpha"], "union": union, "eps": eps_list,
                           "abstain_robust": abstain_robust, "n0": self.P["n0"], "n": self.P["n"],
                           "n_eval": len(self.S.y_eval), "rule": rule})

        def compute() -> dict[str, Any]:
            table = self.certificate(run, C, union, rule).table(eps_list, abstain_robust)
            return {"cost_matrix": C.to_list(), "alpha": self.P["alpha"], "union": union, "rule": rule, "n0": self.P["n0"],
                    "n": self.P["n"], "rows": table.to_dict("records")}

        doc = store.cached_json(Path(run.run_dir) / f"eval-rs-{key}.json", compute)
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

    # --- the tables' comparison: four methods, several training seeds, paper | ours -----------------
    def table_runs(self, task: Any, sigma: float, seed: int | None = None) -> dict[str, RunResult]:
        """The four models of a Table 1/2 row: Gaussian (the paper's "Cohen"), MACER, Cohen-R at
        the profile's ``cohen_r_alpha`` and CS-MACER, trained with ``seed``."""
        return {"Gaussian": self.run("gaussian", sigma, seed=seed), "MACER": self.run("macer", sigma, seed=seed),
                "Cohen-R": self.run("cohen_r", sigma, task, seed=seed, alpha=self.P["cohen_r_alpha"]),
                "CS-MACER": self.run("cs_macer", sigma, task, seed=seed)}

    def hits(self, run: RunResult, cost: Any, eps: float, rule: str | None = None) -> dict[str, np.ndarray]:
        """Per-example indicators (acc over all; rob_cs / rob_std over the sensitive examples;
        rob_non over the others) of :meth:`CSCertificate.hits`."""
        return self.certificate(run, cost, rule=rule).hits(eps)

    def seeds_hits(self, task: Any, sigma: float, eps: float, seeds: list[int] | None = None,
                   rule: str | None = None) -> dict[str, list[dict[str, np.ndarray]]]:
        """``{method: [hits of seed s for s in seeds]}`` for the four table methods."""
        seeds = list(self.P.get("seeds") or [self.P.get("seed", 0)]) if seeds is None else list(seeds)
        out: dict[str, list[dict[str, np.ndarray]]] = {}
        for sd in seeds:
            for name, run in self.table_runs(task, sigma, sd).items():
                out.setdefault(name, []).append(self.hits(run, task, eps, rule))
        return out

    def vs_paper(self, task: Any, sigma: float, eps: float, seeds: list[int] | None = None,
                 rule: str | None = None) -> pd.DataFrame:
        """One row per method: the paper's CIFAR-10 cells (Table 1/2, or 6/7 at σ = 0.25) beside
        ours — the first seed with a Clopper–Pearson 95 % interval, and the mean and range over
        the seeds."""
        H = self.seeds_hits(task, sigma, eps, seeds, rule)
        paper = self._paper_rows(task, sigma)
        rows = []
        for name, per_seed in H.items():
            row: dict[str, Any] = {"method": name}
            for col, pcol in (("acc", "Acc"), ("rob_cs", "Rob_c-s"), ("rob_std", "Rob_std"), ("rob_non", "Rob_non")):
                if paper is not None and pcol in paper.columns:
                    row[f"paper {pcol}"] = paper.loc[PAPER_METHODS[name], pcol] if PAPER_METHODS[name] in paper.index else np.nan
                h0 = per_seed[0][col]
                row[f"ours {col} [95 %]"] = format_interval(h0.mean(), *clopper_pearson(int(h0.sum()), len(h0)))
                if len(per_seed) > 1:
                    v = [h[col].mean() for h in per_seed]
                    row[f"{col} over {len(v)} seeds"] = f"{np.mean(v):.3f} ({min(v):.3f}–{max(v):.3f})"
            rows.append(row)
        return pd.DataFrame(rows).set_index("method")

    def claims(self, tasks: list[Any], sigma: float, eps: float, seeds: list[int] | None = None,
               rule: str | None = None) -> pd.DataFrame:
        """The paper's main claim on every task: CS-MACER has the higher Rob_cs than Gaussian,
        MACER and Cohen-R, at an accuracy no more than :data:`ACC_TOLERANCE` below theirs. Ours:
        the difference averaged over the training seeds (per example, then a paired bootstrap over
        the test examples), each seed's own difference, and a verdict from the interval."""
        rows = []
        for task in tasks:
            H = self.seeds_hits(task, sigma, eps, seeds, rule)
            paper = self._paper_rows(task, sigma)
            for base in ("Gaussian", "MACER", "Cohen-R"):
                for col, what in (("rob_cs", "Rob_cs higher"), ("acc", f"Acc within {ACC_TOLERANCE:g}")):
                    b = np.mean([h[col] for h in H[base]], axis=0)
                    c = np.mean([h[col] for h in H["CS-MACER"]], axis=0)
                    d = paired_bootstrap(b, c)
                    per_seed = [hc[col].mean() - hb[col].mean() for hb, hc in zip(H[base], H["CS-MACER"])]
                    pd_ = (paper.loc["Ours", "Rob_c-s" if col == "rob_cs" else "Acc"]
                           - paper.loc[PAPER_METHODS[base], "Rob_c-s" if col == "rob_cs" else "Acc"]) if paper is not None else np.nan
                    if col == "rob_cs":
                        verdict = "yes" if d[1] > 0 else ("no" if d[2] < 0 else "not resolved")
                    else:
                        verdict = "yes" if d[1] >= -ACC_TOLERANCE else ("no" if d[2] < -ACC_TOLERANCE else "not resolved")
                    rows.append({"task": self.label(task), "claim": f"CS-MACER vs {base}: {what}",
                                 "paper (CIFAR-10)": f"{pd_:+.3f}" if np.isfinite(pd_) else "—",
                                 "ours (95 %)": format_interval(*d),
                                 "per seed": " ".join(f"{v:+.3f}" for v in per_seed), "holds here?": verdict})
        return pd.DataFrame(rows)

    # --- Table 4: the convex-relaxation method of Zhang & Evans in ℓ2 -------------------------------
    def convex_l2(self, task: Any, eps: float, epochs: int | None = None) -> dict[str, Any]:
        """Zhang & Evans' cost-sensitive robust training (3.2) with exact Wong–Kolter bounds in ℓ2
        (the extension Table 4 compares with), on the profile's data and model: ε ramped from 0
        over half the epochs, α = 1, the last epoch kept; certified on the evaluation digits.
        Returns the run, the certified report and per-example indicators: ``rob_cs`` over the
        sensitive digits (no Ω_y target reachable), ``acc`` (clean) over all."""
        P = self.P
        C = self.cost(task)
        n_ep = int(epochs or P["epochs"])
        cfg = TrainConfig(**self.common(), method="cs_robust", cost_matrix=C.to_list(), norm="l2", eps=float(eps),
                          eps_start=0.0, eps_warmup_epochs=max(1, n_ep // 2), epochs=n_ep, batch_size=P["batch_size"],
                          optimizer=P["optimizer"], lr=P["lr"], n_train=P["n_train"], select_metric="epoch",
                          select_mode="max", method_kwargs={"alpha": 1.0, "bound": "wk"})
        run = self.train(cfg)
        x, y = self.S.x_eval, self.S.y_eval
        key = config_hash({"cost": C.to_list(), "eps": float(eps), "norm": "l2", "n": len(y)})
        rep = evaluate.cached(Path(run.run_dir) / f"eval-cert-{key}.json", lambda: evaluate.certified_report(
            run.model, x, y, C, float(eps), norm="l2", method="wk", all_pairs=False))
        yn = y.cpu().numpy()
        return {"run": run, "report": rep, "rob_cs": ~cost_sensitive_errors_per_example(rep.reach, yn, C),
                "acc": rep.pred == yn}

    def _paper_rows(self, task: Any, sigma: float) -> pd.DataFrame | None:
        if task not in PAPER_ROWS:
            return None
        kind, t_main, t_low = PAPER_ROWS[task]
        name = t_main if abs(sigma - 0.5) < 1e-9 else (t_low if abs(sigma - 0.25) < 1e-9 else None)
        if name is None:
            return None
        pt = self.paper_table(name).rename(columns={"Methods": "Method"})
        pt = pt[(pt["Dataset"] == "CIFAR-10") & (pt["Type"] == kind)]
        return pt.set_index("Method") if len(pt) else None


#: The paper's published numbers and settings (``SmoothingStudy.paper_results``), for the notebook.
paper_results = SmoothingStudy.paper_results
