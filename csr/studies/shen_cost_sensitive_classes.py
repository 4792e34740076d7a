"""Shen et al., cost-sensitive adversarial training for protected classes (CSA / CSE): the protocol.

One model per protected class p (the matrix ``protect:p,c`` of Eq. 3), evaluated on the test
images of class p, clean and under the paper's six attacks (FGSM, PGD, CW, MIA, L2BIA,
LinfBIA) in pixel space. Tables II–IV print only the protected class's accuracy of the model
trained to protect it; :meth:`Shen.hits` keeps each of those images' outcome so that every rate
gets a Clopper–Pearson interval and every difference between two models a paired bootstrap over
the same images.

ε: the paper attacks MNIST at "ε = 0.3" after normalising the inputs with Table I's
μ = 0.1307, σ = 0.3081 (Section IV); the authors' code attacks in those normalised units too,
so ε = 0.3 · 0.3081 ≈ 0.0924 in pixels (:data:`MNIST_EPS`). CIFAR-10's ε = 8/255 is read as a
pixel radius (in normalised units it would be ≈ 0.006 px, under which an undefended LeNet would
not fall to the 2–26 % of Table III).

Example
-------
>>> from csr.profiles import setup
>>> S = setup("shen_cost_sensitive_classes", profile="smoke", verbose=False)
>>> study = Shen(S)
>>> cfg = study.config("csa", cost="protect:3")
>>> cfg.method, round(cfg.eps, 4), cfg.method_kwargs["update"], cfg.optimizer  # smoke: Adam
('csa', 0.0924, 'two_step', 'adam')
>>> {k: Shen.settings("cpu")[k] for k in ("optimizer", "lr", "momentum")}  # the paper's MNIST optimiser
{'optimizer': 'sgd', 'lr': 0.01, 'momentum': 0.95}
>>> sorted(study.attacks(study.run("standard").model))
['CW', 'FGSM', 'L2BIA', 'LinfBIA', 'MIA', 'PGD']
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..attacks import BIM, CWL2, FGSM, MIM, PGD, Attack, adversarial_predictions, predict
from ..stats import clopper_pearson, format_interval, paired_bootstrap
from ..train import RunResult
from .base import ParameterError, grid, headline
from .empirical import EmpiricalStudy

__all__ = ["Shen", "MNIST_EPS", "ATTACKS", "METHODS_OF_TABLES", "paper_results"]

#: ε = 0.3 in Table I's normalised MNIST units, in pixels
MNIST_EPS = 0.3 * 0.3081
#: the attacks in the paper's order and names (Advertorch's MIA = momentum iterative, BIA = basic iterative)
ATTACKS = ["FGSM", "PGD", "CW", "MIA", "L2BIA", "LinfBIA"]
#: the tables' models (the paper's names) and ours beside them
METHODS_OF_TABLES = ["STD", "CSE", "CSA", "CSE+ADV"]
EXTRA_METHODS = ["ADV", "CSA+L2"]
_PAPER_TABLE = {"mnist": "table_2", "mnist5k": "table_2", "cifar10": "table_3", "cifar100": "table_4"}

# MNIST (Section IV-A): LeNet, SGD lr 0.01 momentum 0.95, batch 256, 20 epochs — the first 10 on
# clean examples, the last 10 on PGD examples for CSA and CSE+ADV; c = 10.
_COMMON = dict(dataset="mnist5k", model="lenet", model_kwargs={}, eps=MNIST_EPS, eps_l2=MNIST_EPS, c=10.0, lam=1.0,
               gamma=1.0, regularizer="eq9", l2=1e-3, batch_size=256, optimizer="sgd", lr=0.01, momentum=0.95,
               lr_schedule="constant", lr_step=10, lr_gamma=0.5, clean_epochs=10, update="two_step",
               attack_loss="ce", cifar=False)


def _num(v: Any) -> float:
    """A paper cell as a float; NaN where the paper prints none (Table III's CW rows for p ≥ 5)."""
    return float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else np.nan


class Shen(EmpiricalStudy):
    """Shen et al.'s protocol: profiles, the Table II–IV models, the six attacks, paper | ours."""

    name = "shen_cost_sensitive_classes"
    title = "Shen et al.: cost-sensitive adversarial training for protected classes"
    paper = "shen_cost_sensitive_classes"
    types = {
        "train_steps": (int,), "eval_steps": (int,), "protected": (list, int), "c": (int, float),
        "lam": (int, float), "gamma": (int, float), "l2": (int, float), "eps_l2": (int, float),
        "fig_protected": (int,), "cifar": (bool,), "regularizer": (str,), "optimizer": (str,),
        "momentum": (int, float), "lr_schedule": (str,), "lr_step": (int,), "lr_gamma": (int, float),
        "clean_epochs": (int,), "update": (str,), "attack_loss": (str,), "cw": (dict,), "seeds": (list,),
        "seed_classes": (list,), "model_kwargs": (dict,), "weight_decay": (int, float),
    }
    profiles = {
        # smoke: Adam (SGD at lr 0.01 does not move LeNet in 30 updates), for nbval only
        "smoke": dict(_COMMON, n_train=600, n_eval=200, epochs=3, clean_epochs=1, batch_size=64, optimizer="adam",
                      lr=1e-3, train_steps=3, eval_steps=5, threads=2, protected=[3], fig_protected=3, seeds=[0],
                      seed_classes=[], cw=dict(c=0.1, steps=10, binary_search_steps=1, lr=0.01)),
        # mnist5k (3,000 training digits, all 1,000 test digits, ~100 per protected class): the
        # paper's LeNet, optimiser and clean-then-adversarial schedule, with batch 64 so that the
        # 3,000 digits give enough updates (47 per epoch) and 10 epochs (5 clean + 5 adversarial),
        # PGD with 5 steps in training and 10 in evaluation (α = 2.5ε/10); C&W with 50 Adam steps and 3 rounds
        # of the search on c; 3 training seeds for the models protecting fig_protected.
        "cpu": dict(_COMMON, n_train=None, n_eval=None, epochs=10, clean_epochs=5, batch_size=64, train_steps=5,
                    eval_steps=10, threads=2, protected=list(range(10)), fig_protected=3, seeds=[0, 1, 2],
                    seed_classes=[3], cw=dict(c=0.1, steps=50, binary_search_steps=3, lr=0.01)),
        # The paper's settings: full MNIST, 20 epochs (10 clean + 10 PGD), PGD with Advertorch's 40
        # steps; C&W with Advertorch's defaults (c = 1e-3, 9 search rounds, 10,000 steps).
        # The validation part (2 %: 1,200 MNIST / 1,000 CIFAR images; the paper trains on all) only
        # tracks the PGD accuracy of Fig. 5.
        "gpu": dict(_COMMON, dataset="mnist", n_train=None, n_eval=None, val_fraction=0.02, epochs=20, threads=None,
                    train_steps=40,
                    eval_steps=40, protected=list(range(10)), fig_protected=1, seeds=[0, 1, 2], seed_classes=[1],
                    cw=dict(c=1e-3, steps=10_000, binary_search_steps=9, lr=0.01), cifar=True,
                    datasets={
                        # Section IV-B: LeNet without padding on conv1, Adam lr 0.01 halved every
                        # 10 epochs, 50 epochs, batch 256, clean and PGD examples every iteration
                        "cifar10": dict(model="lenet", model_kwargs={"pad1": 0}, eps=8 / 255, eps_l2=8 / 255,
                                        epochs=50, optimizer="adam", lr=0.01, lr_schedule="step", lr_step=10,
                                        lr_gamma=0.5, clean_epochs=0, fig_protected=0, seed_classes=[0]),
                        # Section IV-C: ResNet18, SGD lr 0.1 halved every 60 epochs, 180 epochs,
                        # batch 256, c = 10, clean and adversarial updates alternating; p ∈ {9, 21, 36}
                        "cifar100": dict(model="resnet18", model_kwargs={}, eps=8 / 255, eps_l2=8 / 255, epochs=180,
                                         optimizer="sgd", lr=0.1, momentum=0.9, lr_schedule="step", lr_step=60,
                                         lr_gamma=0.5, clean_epochs=0, protected=[9, 21, 36], fig_protected=21,
                                         seed_classes=[21]),
                    }),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        prot = out["protected"]
        prot = [prot] if isinstance(prot, int) and not isinstance(prot, bool) else prot
        top = 99 if out.get("dataset") == "cifar100" else 9
        if not prot or any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= top for p in prot):
            raise ParameterError(f"parameter 'protected' must be a class index 0..{top} or a non-empty list of them, "
                                 f"got {out['protected']!r}")
        out["protected"] = list(prot)
        if not (math.isfinite(out["c"]) and out["c"] > 0):
            raise ParameterError(f"parameter 'c' (cost of the protected class) must be a finite number > 0, got {out['c']!r}")
        from ..train.adversarial import REGULARIZERS

        if out["regularizer"] not in REGULARIZERS:
            raise ParameterError(f"parameter 'regularizer' must be one of {', '.join(REGULARIZERS)}, got {out['regularizer']!r}")

    # --- the models --------------------------------------------------------------------------
    def protect(self, p: int, c: float | None = None) -> str:
        """The builder spec of Eq. 3's matrix for protected class ``p`` (cost ``c``, default the profile's)."""
        return f"protect:{int(p)},c={float(self.P['c'] if c is None else c):g}"

    def shen_kwargs(self, adversarial: bool) -> dict[str, Any]:
        """The profile's method parameters of Shen et al.'s losses."""
        P = self.P
        kw: dict[str, Any] = {"lam": P["lam"]}
        if adversarial:
            kw.update(clean_epochs=P["clean_epochs"], update=P["update"], attack_loss=P["attack_loss"])
        return kw

    @grid
    def models(self, p: int, seed: int | None = None, track: tuple[str, ...] = (),
               regularizer: str | None = None) -> dict[str, RunResult]:
        """The models of protected class ``p``: the tables' STD, CSE, CSA and CSE+ADV, and ADV
        (standard adversarial training: CSA with c = 1 and no cost term, the same schedule) and
        CSA+L2 (Eq. 7). STD and ADV do not depend on ``p``."""
        P = self.P
        reg = P["regularizer"] if regularizer is None else regularizer
        t = dict(track=track, val_attack=bool(track), seed=seed)
        adv, clean = self.shen_kwargs(True), self.shen_kwargs(False)
        return {
            "STD": self.run("standard", **t),
            "CSE": self.run("cse", self.protect(p), gamma=P["gamma"], regularizer=reg, **clean, **t),
            "CSA": self.run("csa", self.protect(p), **adv, **t),
            "CSE+ADV": self.run("cse_adv", self.protect(p), gamma=P["gamma"], regularizer=reg, **adv, **t),
            "ADV": self.run("csa", self.protect(p, c=1.0), **{**adv, "lam": 0.0}, **t),
            "CSA+L2": self.run("csa_l2", self.protect(p), l2=P["l2"], **adv, **t),
        }

    # --- evaluation ----------------------------------------------------------------------------
    def attacks(self, model: torch.nn.Module) -> dict[str, Attack]:
        """The paper's six attacks at the profile's ε (ℓ∞) and ``eps_l2`` (ℓ2); CW is Carlini &
        Wagner's ℓ2 optimisation attack, unbounded (accuracy = the share it fails on) with the
        profile's budget ``cw``."""
        P = self.P
        e, k = P["eps"], P["eval_steps"]
        return {
            "FGSM": FGSM(model, eps=e),
            "PGD": PGD(model, eps=e, steps=k, seed=0),
            "CW": CWL2(model, eps=math.inf, **P["cw"]),
            "MIA": MIM(model, eps=e, steps=k),
            "L2BIA": BIM(model, eps=P["eps_l2"], steps=k, norm="l2"),
            "LinfBIA": BIM(model, eps=e, steps=k),
        }

    def hits(self, run: RunResult, p: int) -> dict[str, np.ndarray]:
        """Per test image of class ``p`` (in order): correct clean (``"clean"``) and under each
        attack (cached next to the run)."""
        x, y = self.S.x_eval, self.S.y_eval
        keep = y == int(p)
        x, y = x[keep], y[keep]
        attacks = self.attacks(run.model)
        key = {"attacks": {k: repr(a) for k, a in attacks.items()}, "p": int(p), "n": int(len(y)),
               "n_eval": int(len(self.S.y_eval))}

        def compute() -> dict[str, list[bool]]:
            out = {"clean": (predict(run.model, x) == y).tolist()}
            for name, attack in attacks.items():
                _, pred = adversarial_predictions(attack, x, y)
                out[name] = (pred == y).tolist()
            return out

        res = self.cached(run, "protected-hits", key, compute)
        return {k: np.asarray(v, dtype=bool) for k, v in res.items()}

    def all_hits(self, protected: list[int] | None = None, seed: int | None = None,
                 track: tuple[str, ...] = ()) -> dict[int, dict[str, dict[str, np.ndarray]]]:
        """``{p: {model: hits}}`` for every protected class."""
        protected = self.P["protected"] if protected is None else protected
        return {p: {name: self.hits(run, p) for name, run in self.models(p, seed, track).items()} for p in protected}

    # --- the paper's tables and claims ----------------------------------------------------------
    @property
    def paper_table_name(self) -> str:
        return _PAPER_TABLE.get(self.P["dataset"], "table_2")

    def paper_cell(self, attack: str, model: str, p: int) -> float:
        """The paper's accuracy of protected class ``p`` for ``model`` under ``attack`` in this
        dataset's table; NaN where it prints none (our ADV and CSA+L2, Table III's CW for p ≥ 5)."""
        if not hasattr(self, "_paper_cells"):
            t = self.paper_table(self.paper_table_name)
            self._paper_cells = {(r["attack"], r["model_canonical"], c): _num(r[c])
                                 for r in t.to_dict("records") for c in t.columns if c.startswith("O_")}
        return self._paper_cells.get((attack, model, f"O_{p}, p={p}"), np.nan)

    @headline
    def vs_paper(self, H: dict[int, dict[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
        """Table II/III/IV as printed beside ours: one row per (attack, model), one column per
        protected class "paper / ours", and the mean over the protected classes with ours'
        Clopper–Pearson interval over the pooled protected images. Our extra models (ADV,
        CSA+L2) have no paper cells."""
        rows = []
        for attack in ATTACKS:
            for model in METHODS_OF_TABLES + EXTRA_METHODS:
                row: dict[str, Any] = {"attack": attack, "model": model}
                for p in H:
                    pv, ov = self.paper_cell(attack, model, p), H[p][model][attack].mean()
                    row[f"p={p}"] = f"{pv:.3f} / {ov:.3f}" if np.isfinite(pv) else f"— / {ov:.3f}"
                pooled = np.concatenate([H[p][model][attack] for p in H])
                pm = self._paper_mean(attack, model, list(H))
                row["paper mean"] = round(pm, 3) if np.isfinite(pm) else np.nan
                row["ours pooled [95 %]"] = format_interval(pooled.mean(), *clopper_pearson(int(pooled.sum()), len(pooled)))
                rows.append(row)
        return pd.DataFrame(rows).set_index(["attack", "model"])

    def _paper_mean(self, attack: str, model: str, protected: list[int]) -> float:
        """The mean of the paper's cells over ``protected``; NaN if any is missing."""
        return float(np.mean([self.paper_cell(attack, model, p) for p in protected]))

    @headline
    def claims(self, H: dict[int, dict[str, dict[str, np.ndarray]]], attack: str = "PGD",
               seeds_hits: dict[int, dict[int, dict[str, dict[str, np.ndarray]]]] | None = None) -> pd.DataFrame:
        """The paper's claims about the protected class's accuracy under ``attack``, each a
        difference of two models over the same protected images of every p (pooled; paired
        bootstrap), with the paper's difference of means, the share of protected classes where it
        holds, and — where ``seeds_hits`` (``{seed: {p: {model: hits}}}``) has extra seeds —
        each seed's difference on those classes."""
        ps = list(H)
        rows = []
        for what, a, b in (("CSE raises it over STD (without adversarial training)", "CSE", "STD"),
                           ("CSA raises it over STD", "CSA", "STD"),
                           ("CSE+ADV raises it over STD", "CSE+ADV", "STD"),
                           ("CSE+ADV beats CSA", "CSE+ADV", "CSA"),
                           ("CSA+L2 beats ADV (ADV < CSA+L2)", "CSA+L2", "ADV"),
                           ("CSA beats CSA+L2 (CSA+L2 < CSA)", "CSA", "CSA+L2")):
            va = np.concatenate([H[p][a][attack] for p in ps]).astype(float)
            vb = np.concatenate([H[p][b][attack] for p in ps]).astype(float)
            d = paired_bootstrap(vb, va)  # a − b
            wins = sum(H[p][a][attack].mean() > H[p][b][attack].mean() for p in ps)
            pa, pb = self._paper_mean(attack, a, ps), self._paper_mean(attack, b, ps)
            per_seed = ""
            if seeds_hits and len(seeds_hits) > 1:
                per_seed = " ".join(
                    f"s{sd}:{np.mean([hs[p][a][attack].mean() - hs[p][b][attack].mean() for p in hs]):+.3f}"
                    for sd, hs in seeds_hits.items() if hs)
            rows.append({"claim": what, "attack": attack,
                         "paper": f"{pa - pb:+.3f}" if np.isfinite(pa) and np.isfinite(pb) else "—",
                         "ours (95 %)": format_interval(*d), "classes where it holds": f"{wins} of {len(ps)}",
                         "per seed": per_seed,
                         "holds here?": "yes" if d[1] > 0 else ("no" if d[2] < 0 else "not resolved")})
        return pd.DataFrame(rows)


#: The paper's published numbers and settings (``Shen.paper_results``), for the notebook.
paper_results = Shen.paper_results
