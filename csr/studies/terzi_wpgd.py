"""Terzi et al., directional adversarial training (WPGD) over a label metric: the protocol.

CE, PGD and WPGD (p grows) on mnist5k with the visual metric; the toy 3-class problem; binary
similar / dissimilar pairs, balanced and 0.3-unbalanced. ε = 0.2 (reached after a warm-up): at
ε = 0.1 PGD training costs mnist5k no clean accuracy, so there is nothing for WPGD to keep.
λ = inf drops the entropy term from the p sweep (with the metric scaled to 1 an entropy weight of
1/log K outweighs the transport term and blunts the attack); ``lam_list`` is the entropy sweep at
the largest p.

Example
-------
>>> from csr.profiles import setup
>>> S = setup("terzi_wpgd", profile="smoke", verbose=False)
>>> cfg = Terzi(S).config("wpgd", "overall", p=2.0, lam=float("inf"))
>>> cfg.method, cfg.method_kwargs["p"], S.settings["p_list"]
('wpgd', 2.0, [1.0, 10.0])
"""
from __future__ import annotations

import math
from typing import Any

from .base import check_numbers
from .empirical import EmpiricalStudy

__all__ = ["Terzi", "paper_results"]

_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.2, eps_warmup_epochs=2, lam=float("inf"),
               lam_list=[1.0, 10.0, 100.0], batch_size=64, lr=1e-3, toy_eps=[0.05, 0.15], toy_epochs=20,
               pairs=["mnist5k_49", "mnist5k_01"], cifar=False)



class Terzi(EmpiricalStudy):
    """Terzi et al.'s protocol (profiles and schema; evaluation in :class:`EmpiricalStudy`)."""

    name = "terzi_wpgd"
    title = "Terzi et al.: WPGD"
    paper = "terzi_wpgd"
    types = {
        "train_steps": (int,), "eval_steps": (int,), "eps_warmup_epochs": (int,), "p": (int, float),
        "p_list": (list,), "lam": (int, float), "lam_list": (list,), "toy_eps": (list,), "toy_epochs": (int,),
        "pairs": (list,), "pair_epochs": (int,), "cifar": (bool,),
    }
    profiles = {
        "smoke": dict(_COMMON, n_train=600, n_eval=200, epochs=2, eps_warmup_epochs=1, train_steps=3, eval_steps=5,
                      p_list=[1.0, 10.0], lam_list=[1.0], toy_eps=[0.15], toy_epochs=5, pairs=["mnist5k_49"],
                      pair_epochs=2, threads=2),
        "cpu": dict(_COMMON, n_train=None, n_eval=None, epochs=8, train_steps=5, eval_steps=20,
                    p_list=[1.0, 2.5, 10.0], pair_epochs=8, threads=2),
        # MNIST's usual ε = 0.3, 40-step attacks; CIFAR-10 (dataset="cifar10") ResNet-18 at ε = 8/255.
        "gpu": dict(_COMMON, dataset="mnist", n_train=None, n_eval=None, eps=0.3, eps_warmup_epochs=5, epochs=30,
                    train_steps=40, eval_steps=40, p_list=[1.0, 2.5, 10.0], pair_epochs=30, cifar=True, threads=None,
                    datasets={"cifar10": dict(model="resnet18", eps=8 / 255, epochs=100)}),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        if out.get("p") is not None:
            out["p_list"] = [out["p"]]
        check_numbers("'p' / 'p_list'", out["p_list"], lambda v: math.isfinite(v) and v > 0, "finite numbers > 0")
        check_numbers("'lam' / 'lam_list'", [out["lam"], *out["lam_list"]], lambda v: v > 0,
                      "numbers > 0 (inf: no entropy term)")


#: The paper's published numbers and settings (``Terzi.paper_results``), for the notebook.
paper_results = Terzi.paper_results
