"""One trainer for every method (:func:`train`); methods are registered loss functions.

>>> from csr.train import METHODS
>>> {"standard", "cs_ce", "pgd_at", "robust", "cs_robust", "gaussian", "macer", "cs_macer"} <= set(METHODS.names())
True
"""
from .methods import METHODS, MethodContext, MethodSpec, cost_sensitive_penalty, register_method
from .trainer import TRACKERS, RunResult, TrainConfig, eps_at, load_run, lr_at, train
from . import certified  # noqa: E402,F401  (registers the certified methods: robust, cs_robust)
from . import smoothing  # noqa: E402,F401  (registers gaussian, cohen_r, macer, cs_macer)
from . import adversarial  # noqa: E402,F401  (trades, csa, csa_l2, cse, cse_adv, pgd_weighted, trades_weighted)
from . import wpgd  # noqa: E402,F401  (wpgd)

__all__ = [
    "METHODS",
    "MethodContext",
    "MethodSpec",
    "RunResult",
    "TRACKERS",
    "TrainConfig",
    "cost_sensitive_penalty",
    "eps_at",
    "load_run",
    "lr_at",
    "register_method",
    "train",
]
