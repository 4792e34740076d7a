"""Certified training methods (Wong & Kolter 2018; Zhang & Evans 2019), registered in the trainer.

Both use lower bounds ``J[n, j] ≤ min_{x'} f_y(x') − f_j(x')`` from
:func:`csr.certify.convex.bounds`; ``−J`` is an upper bound on the logit gap ``f_j − f_y``.

* ``robust`` — overall robust loss (Zhang & Evans eq. 2.7, Wong & Kolter):
  ``mean_n CE(−J[n], y_n)`` (``−J[n, y_n] = 0``).
* ``cs_robust`` — cost-sensitive robust loss (Zhang & Evans eq. 3.2):
  ``mean_n CE(f(x_n), y_n) + α · Σ_k mean_{n: y_n = k} log(1 + Σ_{j ∈ Ω_k} C[k, j] e^{−J[n, j]})``,
  binary or real-valued C; only the bounds for j ∈ Ω_{y_n} are computed.

Method parameters: ``bound`` (``wk``, ``wk_proj``, ``ibp``, ``crown_ibp``), ``proj`` (number of
random projections for ``wk_proj``), and ``alpha`` for ``cs_robust``.

Example (the paper's MNIST schedule: ε from 0.05 to the target over 20 epochs, then the
learning rate halved every 10 epochs)::

    TrainConfig(method="cs_robust", cost_matrix="single_seed:0", eps=0.2, eps_start=0.05,
                eps_warmup_epochs=20, lr_schedule="step", lr_step_start=20, lr_step=10,
                lr_gamma=0.5, epochs=60, method_kwargs={"alpha": 1.0, "bound": "wk"})
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .methods import MethodContext, cost_sensitive_penalty, register_method

__all__ = ["robust", "cs_robust"]


def _bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext, spec=None) -> torch.Tensor:
    from ..certify.convex import bounds

    kwargs = {}
    if ctx.kwargs["bound"] == "wk_proj":
        kwargs["k"] = ctx.kwargs["proj"]
    return bounds(model, x, y, ctx.eps, norm=ctx.norm, method=ctx.kwargs["bound"], spec=spec,
                  num_classes=ctx.num_classes, **kwargs)


@register_method("robust", defaults={"bound": "wk", "proj": 50}, adversarial=True)
def robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Overall certified robust loss (Zhang & Evans eq. 2.7): CE(−J, y)."""
    J = _bounds(model, x, y, ctx)
    upper = -J
    loss = F.cross_entropy(upper, y)
    return loss, {"robust_err": (J < 0).any(1).float().mean().item()}  # J[n, y_n] = 0


@register_method("cs_robust", defaults={"alpha": 1.0, "bound": "wk", "proj": 50}, needs_cost=True, adversarial=True)
def cs_robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Cost-sensitive certified robust loss (Zhang & Evans eq. 3.2)."""
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    C = ctx.cost_tensor(x.device)
    J = _bounds(model, x, y, ctx, spec=ctx.cost)
    sensitive = ctx.cost.sensitive_targets(y)  # (N, m): j ∈ Ω_{y_n}
    upper = torch.where(sensitive, -J, torch.zeros_like(J))  # +inf bounds of unused pairs masked out
    pen = cost_sensitive_penalty(upper, y, C)
    reach = sensitive & (J < 0)
    cand = sensitive.any(1)
    cs_err = reach.any(1)[cand].float().mean().item() if cand.any() else 0.0
    return ce + ctx.kwargs["alpha"] * pen, {
        "acc": (logits.argmax(1) == y).float().mean().item(),
        "ce": ce.item(),
        "penalty": pen.item(),
        "cs_robust_err": cs_err,
    }
