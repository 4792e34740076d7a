"""Zeng et al., adversarial training with a margin-weighted (non-uniform) minimax risk: the protocol.

PGD and TRADES with and without the weights s = exp(−α·margin); models scored by natural
accuracy, A_rob (uniform PGD), A_sa (PGD examples scored under the weights at α_test) and A_tr
(the margin-weighted attack, own weights) — :meth:`EmpiricalStudy.nonuniform`.

Example
-------
>>> from csr.profiles import setup
>>> S = setup("zeng_weighted_minimax", profile="smoke", verbose=False)
>>> cfg = Zeng(S).config("pgd_weighted", alpha=2.0)
>>> cfg.method, cfg.eps, cfg.method_kwargs["alpha"]
('pgd_weighted', 0.2, 2.0)
"""
from __future__ import annotations

import math
from typing import Any

from .base import check_numbers
from .empirical import EmpiricalStudy

__all__ = ["Zeng", "paper_results"]

_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.3, beta=6.0, alpha_train=1.0,
               alpha_tests=[1.0, 1.5, 2.0], batch_size=64, lr=1e-3, cifar=False)



class Zeng(EmpiricalStudy):
    """Zeng et al.'s protocol (profiles and schema; evaluation in :class:`EmpiricalStudy`)."""

    name = "zeng_weighted_minimax"
    title = "Zeng et al.: weighted minimax risk"
    paper = "zeng_weighted_minimax"
    types = {
        "train_steps": (int,), "eval_steps": (int,), "eps_warmup_epochs": (int,), "beta": (int, float),
        "alpha_train": (int, float), "alpha_tests": (list,), "alpha_trains": (list,), "cifar": (bool,),
    }
    profiles = {
        "smoke": dict(_COMMON, eps=0.2, n_train=500, n_eval=200, epochs=2, eps_warmup_epochs=1, train_steps=3,
                      eval_steps=5, alpha_trains=[2.0], threads=2),
        # 3,000 digits cannot carry ε = 0.3 in a few epochs (PGD training stays at chance): ε = 0.2,
        # reached after 3 warm-up epochs.
        "cpu": dict(_COMMON, eps=0.2, n_train=None, n_eval=500, epochs=8, eps_warmup_epochs=3, train_steps=7,
                    eval_steps=20, alpha_trains=[0.5, 2.0], threads=2),
        # The public code's settings: MNIST ε = 0.3, 40 steps, 100 epochs; CIFAR-10 (dataset="cifar10")
        # ResNet-18, ε = 8/255, TRADES β = 5, α = 2.
        "gpu": dict(_COMMON, dataset="mnist", n_train=None, n_eval=None, epochs=100, eps_warmup_epochs=10,
                    train_steps=40, eval_steps=40, alpha_trains=[0.5, 1.5, 2.0], cifar=True, threads=None,
                    datasets={"cifar10": dict(model="resnet18", eps=8 / 255, epochs=100, beta=5.0, alpha_train=2.0)}),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        for name in ("alpha_tests", "alpha_trains"):
            check_numbers(repr(name), out[name], lambda a: math.isfinite(a) and a >= 0, "finite numbers >= 0")


#: The paper's published numbers and settings (``Zeng.paper_results``), for the notebook.
paper_results = Zeng.paper_results
