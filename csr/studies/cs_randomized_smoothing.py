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
from .base import ParameterError, Study, check_numbers, grid, headline

__all__ = ["SmoothingStudy", "TASKS", "IMAGENETTE_TASKS", "HAM_TASK", "LABELS", "PAPER_TASKS", "PAPER_ROWS",
           "PAPER_METHODS", "TABLE3_METHODS", "GPU_SETTINGS", "paper_results"]

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

# Imagenette's tasks (Section 5.1; wnid folders in sorted order: 3 chain saw, 7 gas pump, 2 cassette
# player, 4 church, 6 garbage truck).
IMAGENETTE_TASKS = ["single_seed:7", "seed_set:[3,7]", "single_pair:7,2", "multi_pair:[(7,2),(7,4),(7,6)]"]
LABELS.update({"single_seed:7": "seedwise single (7)", "seed_set:[3,7]": "seedwise multi (3, 7)",
               "single_pair:7,2": "pairwise single (7→2)", "multi_pair:[(7,2),(7,4),(7,6)]": "pairwise multi (7→2,4,6)"})
# HAM10k (Section 5.2): benign 0, malignant 1; only malignant → benign is sensitive.
HAM_TASK = "single_pair:1,0"
LABELS[HAM_TASK] = "malignant → benign"

# Where the paper prints each task (Tables 1/2 at σ = 0.5, Tables 6/7 at σ = 0.25) and how it
# names the methods; the rows of the paper's dataset (mnist5k stands in for CIFAR-10).
PAPER_ROWS = {"single_seed:3": ("Single (3)", "table_1", "table_6"), "seed_set:[2,4]": ("Multi (2, 4)", "table_1", "table_6"),
              "single_pair:3,5": ("Single (3 → 5)", "table_2", "table_7"),
              "multi_pair:[(3,2),(3,4),(3,5)]": ("Multi (3 → 2, 4, 5)", "table_2", "table_7"),
              "single_seed:7": ("Single (7)", "table_1", "table_6"), "seed_set:[3,7]": ("Multi (3, 7)", "table_1", "table_6"),
              "single_pair:7,2": ("Single (7 → 2)", "table_2", "table_7"),
              "multi_pair:[(7,2),(7,4),(7,6)]": ("Multi (7 → 2, 4, 6)", "table_2", "table_7")}
PAPER_DATASET = {"imagenette": "Imagenette"}  # every other dataset is compared with CIFAR-10's rows
PAPER_METHODS = {"Gaussian": "Cohen", "MACER": "MACER", "Cohen-R": "Cohen-R", "CS-MACER": "Ours"}
#: Table 3's methods: Cohen-R-I / -II are Cohen-R with weights 1.1 / 1.2 (Section 5.2)
TABLE3_METHODS = {"Cohen": ("gaussian", {}), "Cohen-R-I": ("cohen_r", {"alpha": 1.1}),
                  "Cohen-R-II": ("cohen_r", {"alpha": 1.2}), "MACER": ("macer", {}), "Ours": ("cs_macer", {})}
#: "similar accuracy": CS-MACER's accuracy at most this far below the baseline's (our reading)
ACC_TOLERANCE = 0.02

#: The ``gpu`` profile against its sources, one row per setting: what the paper says (Section 5,
#: "we follow Zhai et al. (2020)'s settings for training"), the MACER code (``main.py``), the
#: CS-RS code (``main.py`` / ``train.py`` / ``certify.py`` / ``architectures.py``), ours, and
#: where ours departs and why.
GPU_SETTINGS = [
    {"setting": "optimiser", "paper": "not stated (Zhai et al.'s settings)", "MACER code": "SGD, lr 0.01, momentum 0.9, weight decay 5e-4",
     "CS-RS code": "SGD, lr 0.01, momentum 0.9, weight decay 5e-4", "ours (gpu)": "SGD, lr 0.01, momentum 0.9, weight decay 5e-4", "departure": ""},
    {"setting": "epochs, schedule", "paper": "not stated", "MACER code": "440; lr x0.1 at 200 and 400",
     "CS-RS code": "440; lr x0.1 at 200 and 400", "ours (gpu)": "440; lr x0.1 at 200 and 400", "departure": ""},
    {"setting": "batch size", "paper": "not stated", "MACER code": "64", "CS-RS code": "64", "ours (gpu)": "64", "departure": ""},
    {"setting": "augmentation (CIFAR-10)", "paper": "not stated", "MACER code": "RandomCrop(32, padding=4) + horizontal flip",
     "CS-RS code": "RandomCrop(32, padding=4) + horizontal flip", "ours (gpu)": "crop_flip (the same)", "departure": ""},
    {"setting": "augmentation (Imagenette)", "paper": "not stated", "MACER code": "—",
     "CS-RS code": "RandomResizedCrop(160, scale 0.35-1) + flip of the JPEG", "ours (gpu)": "resized_crop_flip of the 160-px tensor",
     "departure": "the crop is cut from the already resized image (the splits are fixed tensors), so small crops are blurrier"},
    {"setting": "HAM10k input", "paper": "not stated", "MACER code": "—",
     "CS-RS code": "Resize(299), CenterCrop(299), ImageNet mean/std; no augmentation", "ours (gpu)": "the same 299 px; no augmentation",
     "departure": "the normalisation is the model's first layer with the training split's statistics"},
    {"setting": "architecture (CIFAR-10)", "paper": "ResNet-56", "MACER code": "ResNet-110", "CS-RS code": "cifar_resnet56",
     "ours (gpu)": "resnet56", "departure": ""},
    {"setting": "architecture (HAM10k)", "paper": "ResNet-56 (as Cohen et al.)", "MACER code": "—",
     "CS-RS code": "ham_resnet: 7x7/2 stem + max-pool, 64/128/256 x 9 blocks, 10 outputs",
     "ours (gpu)": "resnet56(stem='imagenet', widths=[64,128,256], shortcut='B'), 2 outputs",
     "departure": "2 outputs for the binary task (the code's 8 unused outputs could win a noisy vote)"},
    {"setting": "architecture (Imagenette)", "paper": "ResNet18 (following Pethick et al.)", "MACER code": "—",
     "CS-RS code": "ham_resnet (the HAM network)", "ours (gpu)": "resnet18(stem='imagenet') (torchvision's layout)",
     "departure": "the paper's network, not the code's"},
    {"setting": "noise samples k", "paper": "not stated", "MACER code": "16", "CS-RS code": "16", "ours (gpu)": "16", "departure": ""},
    {"setting": "lambda", "paper": "not stated", "MACER code": "12", "CS-RS code": "3 (lbd1 = lbd2; README: --lbd 3)",
     "ours (gpu)": "3", "departure": ""},
    {"setting": "beta", "paper": "not stated", "MACER code": "16", "CS-RS code": "16", "ours (gpu)": "16", "departure": ""},
    {"setting": "gamma", "paper": "MACER 8; ours gamma1 = 4 (normal), gamma2 = 16 (sensitive)", "MACER code": "8",
     "CS-RS code": "gamma1 = 16 (sensitive), gamma2 = 4 (normal): the names swapped", "ours (gpu)": "gamma1 = 4, gamma2 = 16", "departure": ""},
    {"setting": "I3 lower limit", "paper": "-gamma2 (Eq. 4)", "MACER code": "—", "CS-RS code": "--left -16",
     "ours (gpu)": "-gamma2 (floor=None); floor=-16 is the code's", "departure": "the paper's, not the code's (equal at gamma2 = 16)"},
    {"setting": "Cohen-R weight", "paper": "swept over {1.0, ..., 2.0}; 1.2 in the tables; 1.1 / 1.2 in Table 3", "MACER code": "—",
     "CS-RS code": "—", "ours (gpu)": "the same", "departure": ""},
    {"setting": "certification", "paper": "n0, n, alpha not stated", "MACER code": "n0 100, n 100,000, alpha 0.001; 500 test images",
     "CS-RS code": "n0 100, n 100,000, alpha 0.001; every test image", "ours (gpu)": "n0 100, n 100,000, alpha 0.001; every test image",
     "departure": ""},
    {"setting": "training images (CIFAR-10)", "paper": "not stated", "MACER code": "all 50,000", "CS-RS code": "all 50,000",
     "ours (gpu)": "49,000 (val_fraction 0.02)", "departure": "every split holds a validation part (unused: the last epoch is kept)"},
    {"setting": "training seeds", "paper": "one run reported", "MACER code": "—", "CS-RS code": "--seed 1",
     "ours (gpu)": "0, 1, 2 (the method comparison); one on HAM10k", "departure": "three seeds so the claims can be judged"},
]

_COMMON = dict(dataset="mnist5k", model="mlp", batch_size=64, optimizer="adam", lr=1e-3,
               lr_schedule="multistep", beta=16.0, lam=3.0, alpha=0.001, certify_batch=2000,
               sigma=0.5, sigma_low=0.25, eps=0.5, momentum=0.9, weight_decay=0.0, augment=None,
               sections=["tables", "fig1", "fig2", "gamma", "table4", "low_sigma", "reference_bug", "real_valued",
                         "table3"],
               table4_task="single_pair:3,5")



class SmoothingStudy(Study):
    """Training, sampling and certification for a notebook :class:`~csr.profiles.Setup` ``S``."""

    name = "cs_randomized_smoothing"
    eps_norm = "l2"  # certified ℓ2 radii
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
        "momentum": (int, float), "weight_decay": (int, float), "augment": (str,), "sections": (list,),
        "table4_task": (str,),
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
        # The paper's settings (Section 5: "we follow Zhai et al. (2020)'s settings for training"),
        # read from the MACER and CS-RS code where the paper is silent; every row of GPU_SETTINGS
        # says where each value comes from and where we depart.
        "gpu": dict(_COMMON, dataset="cifar10", model="resnet56", model_kwargs={}, n_train=None, n_eval=None,
                    threads=None, epochs=440, batch_size=64, optimizer="sgd", lr=0.01, momentum=0.9,
                    weight_decay=5e-4, lr_milestones=[200, 400], augment="crop_flip", k=16, n0=100,
                    n=100_000, certify_batch=4000, eps_list=[0.25, 0.5, 1.0], tasks=TASKS,
                    low_sigma_tasks=TASKS,
                    gamma_grid=[[g1, g2] for g1 in (2.0, 4.0, 6.0, 8.0) for g2 in (8.0, 10.0, 12.0, 16.0)],
                    cohen_r_alphas=[round(1.0 + 0.1 * i, 1) for i in range(11)], cohen_r_alpha=1.2,
                    omega_sizes=[1, 3, 5, 7, 9], seeds=[0, 1, 2], rule="paper",
                    datasets={
                        # 49,000 of the 50,000 training images (the code trains on all; our splits
                        # always hold a validation part, unused here: the last epoch is kept)
                        "cifar10": dict(val_fraction=0.02),
                        # Imagenette: ResNet18 (the paper, "following Pethick et al."; the code builds
                        # its HAM network instead), 160-px images, the code's RandomResizedCrop + flip
                        "imagenette": dict(model="resnet18", model_kwargs={"stem": "imagenet"},
                                           augment="resized_crop_flip", tasks=IMAGENETTE_TASKS,
                                           low_sigma_tasks=IMAGENETTE_TASKS,
                                           sections=["tables", "fig2", "low_sigma", "reference_bug", "table3"],
                                           table4_task="single_pair:7,2"),
                        # HAM10k (Table 3): the code's ResNet-56 with an ImageNet stem on 299-px
                        # images, no augmentation; malignant → benign only
                        "ham10000": dict(model="resnet56", model_kwargs={"stem": "imagenet", "widths": [64, 128, 256],
                                                                         "shortcut": "B"},
                                         augment=None, tasks=[HAM_TASK], low_sigma_tasks=[], omega_sizes=[1],
                                         gamma_grid=[], cohen_r_alphas=[1.1, 1.2], seeds=[0],
                                         sections=["table3"], table4_task=HAM_TASK),
                    }),
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
        from ..augment import AUGMENTATIONS

        if out.get("augment") is not None and out["augment"] not in AUGMENTATIONS:
            raise ParameterError(f"parameter 'augment' must be one of {', '.join(AUGMENTATIONS.names())} or None, "
                                 f"got {out['augment']!r}")

    def __init__(self, S: Any, user_picked_model: bool = False):
        super().__init__(S, user_picked_model)
        #: the paper's dataset whose cells ours are compared with
        self.paper_dataset = PAPER_DATASET.get(self.P["dataset"], "CIFAR-10")
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
            momentum=float(P.get("momentum", 0.9)), weight_decay=float(P.get("weight_decay", 0.0)),
            augment=P.get("augment"),
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

    @headline
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
    @grid
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

    @headline
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

    @headline
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
                                 f"paper ({self.paper_dataset})": f"{pd_:+.3f}" if np.isfinite(pd_) else "—",
                                 "ours (95 %)": format_interval(*d),
                                 "per seed": " ".join(f"{v:+.3f}" for v in per_seed), "holds here?": verdict})
        return pd.DataFrame(rows)

    # --- Table 3: HAM10k, Cohen-R at two weights ----------------------------------------------------
    @headline
    def table3(self, task: Any = None, sigma: float | None = None, eps: float | None = None,
               seed: int | None = None, rule: str | None = None) -> dict[str, pd.DataFrame]:
        """Table 3's five models (Cohen, Cohen-R-I / -II at weights 1.1 / 1.2, MACER, Ours) for
        ``task`` (default: malignant → benign, :data:`HAM_TASK`), certified at ``eps``.

        ``table``: paper | ours per method (Acc over all examples, Rob_cs over the sensitive
        ones, Clopper–Pearson 95 %). ``claims``: Section 5.2's three statements, each from a
        paired bootstrap over the test examples: raising Cohen-R's weight from 1.1 to 1.2 raises
        Rob_cs and lowers Acc, and ours trades better — Rob_cs above Cohen's and MACER's at an
        accuracy within :data:`ACC_TOLERANCE` of Cohen's."""
        task = HAM_TASK if task is None else task
        sigma = float(self.P["sigma"] if sigma is None else sigma)
        eps = float(self.P["eps"] if eps is None else eps)
        H: dict[str, dict[str, np.ndarray]] = {}
        for name, (method, kw) in TABLE3_METHODS.items():
            cost = task if METHODS.get(method).needs_cost else None
            H[name] = self.hits(self.run(method, sigma, cost, seed=seed, **kw), task, eps, rule)
        paper = self.paper_table("table_3").set_index("Method")
        rows = []
        for name, h in H.items():
            row: dict[str, Any] = {"method": name}
            for col, pcol in (("acc", "Acc"), ("rob_cs", "Rob_c-s")):
                row[f"paper {pcol}"] = paper.loc[name, pcol]
                row[f"ours {col} [95 %]"] = format_interval(h[col].mean(), *clopper_pearson(int(h[col].sum()), len(h[col])))
            rows.append(row)

        def diff(a: str, b: str, col: str) -> tuple[float, float, float]:
            return paired_bootstrap(H[b][col].astype(float), H[a][col].astype(float))  # a − b

        def p(a: str, b: str, col: str) -> float:
            pc = "Acc" if col == "acc" else "Rob_c-s"
            return float(paper.loc[a, pc] - paper.loc[b, pc])

        claims = []
        for what, a, b, col, sign in (
                ("a larger Cohen-R weight raises Rob_cs", "Cohen-R-II", "Cohen-R-I", "rob_cs", +1),
                ("... and lowers Acc", "Cohen-R-II", "Cohen-R-I", "acc", -1),
                ("ours: higher Rob_cs than Cohen", "Ours", "Cohen", "rob_cs", +1),
                ("ours: higher Rob_cs than MACER", "Ours", "MACER", "rob_cs", +1),
                (f"ours: Acc within {ACC_TOLERANCE:g} of Cohen", "Ours", "Cohen", "acc", 0),
                (f"ours: Acc within {ACC_TOLERANCE:g} of Cohen-R-II or above", "Ours", "Cohen-R-II", "acc", 0)):
            d = diff(a, b, col)
            if sign > 0:
                verdict = "yes" if d[1] > 0 else ("no" if d[2] < 0 else "not resolved")
            elif sign < 0:
                verdict = "yes" if d[2] < 0 else ("no" if d[1] > 0 else "not resolved")
            else:
                verdict = "yes" if d[1] >= -ACC_TOLERANCE else ("no" if d[2] < -ACC_TOLERANCE else "not resolved")
            claims.append({"claim": what, "difference": f"{a} − {b} ({col})", "paper": f"{p(a, b, col):+.3f}",
                           "ours (95 %)": format_interval(*d), "holds here?": verdict})
        return {"table": pd.DataFrame(rows).set_index("method"), "claims": pd.DataFrame(claims)}

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
        pt = pt[(pt["Dataset"] == self.paper_dataset) & (pt["Type"] == kind)]
        return pt.set_index("Method") if len(pt) else None


#: The paper's published numbers and settings (``SmoothingStudy.paper_results``), for the notebook.
paper_results = SmoothingStudy.paper_results
