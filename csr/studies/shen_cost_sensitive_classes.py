"""Shen et al., cost-sensitive adversarial training for protected classes (CSA / CSE): the protocol.

One model per protected class p (the matrix ``protect:p,c``), evaluated per class, clean and
under six attacks (FGSM, PGD, CW, MIM, BIM-ℓ2, BIM-ℓ∞) at ε (ℓ∞) and ``eps_l2`` (ℓ2), in pixel
space. The authors' code attacks at ε = 0.3 in *normalised* MNIST units, i.e. ε ≈ 0.092 in
pixels: our ε = 0.1.

Example
-------
>>> import torch
>>> from csr.profiles import setup
>>> S = setup("shen_cost_sensitive_classes", profile="smoke", verbose=False)
>>> study = Shen(S)
>>> cfg = study.config("csa", cost="protect:3")
>>> cfg.method, cfg.eps, cfg.method_kwargs["steps"]
('csa', 0.1, 3)
>>> sorted(study.attacks(torch.nn.Linear(784, 10)))
['BIM-l2', 'BIM-linf', 'CW', 'FGSM', 'MIM', 'PGD']
"""
from __future__ import annotations

import math
from typing import Any

from .base import ParameterError
from .empirical import EmpiricalStudy

__all__ = ["Shen", "paper_results"]

_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.1, eps_l2=1.0, c=10.0, lam=1.0, gamma=1.0,
               l2=1e-3, batch_size=64, lr=1e-3, cifar=False)



class Shen(EmpiricalStudy):
    """Shen et al.'s protocol (profiles, schema, the six attacks of :class:`EmpiricalStudy`)."""

    name = "shen_cost_sensitive_classes"
    title = "Shen et al.: cost-sensitive adversarial training for protected classes"
    paper = "shen_cost_sensitive_classes"
    types = {
        "train_steps": (int,), "eval_steps": (int,), "protected": (list, int), "c": (int, float),
        "lam": (int, float), "gamma": (int, float), "l2": (int, float), "eps_l2": (int, float),
        "fig_protected": (int,), "cifar": (bool,),
    }
    profiles = {
        "smoke": dict(_COMMON, n_train=600, n_eval=200, epochs=2, train_steps=3, eval_steps=5, threads=2,
                      protected=[3], fig_protected=3),
        "cpu": dict(_COMMON, n_train=None, n_eval=None, epochs=6, train_steps=5, eval_steps=20, threads=2,
                    protected=list(range(10)), fig_protected=3),
        # The authors' code: LeNet, Adam 1e-3, 10 epochs per protected class (CIFAR-10: 50, at
        # ε = 8/255 and ℓ2 radius 0.5; chosen by dataset="cifar10").
        "gpu": dict(_COMMON, dataset="mnist", model="lenet", n_train=None, n_eval=None, epochs=10, threads=None,
                    train_steps=10, eval_steps=40, protected=list(range(10)), fig_protected=3, cifar=True,
                    datasets={"cifar10": dict(model="lenet", eps=8 / 255, eps_l2=0.5, epochs=50)}),
    }

    @classmethod
    def check(cls, out: dict[str, Any]) -> None:
        prot = out["protected"]
        prot = [prot] if isinstance(prot, int) and not isinstance(prot, bool) else prot
        if not prot or any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 9 for p in prot):
            raise ParameterError(f"parameter 'protected' must be a class index 0..9 or a non-empty list of them, got {out['protected']!r}")
        out["protected"] = list(prot)
        if not (math.isfinite(out["c"]) and out["c"] > 0):
            raise ParameterError(f"parameter 'c' (cost of the protected class) must be a finite number > 0, got {out['c']!r}")


#: The paper's published numbers and settings (``Shen.paper_results``), for the notebook.
paper_results = Shen.paper_results
