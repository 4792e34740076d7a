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

CROWN-IBP's schedules (Zhang et al. 2020), both linear in the ε warm-up's progress
``ctx.ramp`` (0 → 1):

* ``beta_start`` → ``beta_end``: with ``bound="crown_ibp"`` the bound trained on is
  ``β·J_CROWN-IBP + (1 − β)·J_IBP`` (CROWN-IBP's default: β from 1 to 0); 1 → 1 (the default)
  is plain CROWN-IBP. Any other bound takes only the default.
* ``kappa_start`` → ``kappa_end``: the loss is ``κ·CE(f(x), y) + (1 − κ)·L`` with ``L`` the
  method's certified loss above (CROWN-IBP's default: κ from 1 to 0). 0 → 0 (the default) is
  ``L`` itself. For ``cs_robust``, whose ``L`` already holds the clean cross-entropy, this is
  ``CE + (1 − κ)·α·penalty``.

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

__all__ = ["robust", "cs_robust", "schedule"]


_SCHEDULES = {"beta_start": 1.0, "beta_end": 1.0, "kappa_start": 0.0, "kappa_end": 0.0}


def schedule(ctx: MethodContext, name: str) -> float:
    """``<name>_start`` → ``<name>_end`` linearly in the ε warm-up's progress ``ctx.ramp``.

    >>> schedule(MethodContext(num_classes=2, ramp=0.25, kwargs={"kappa_start": 1.0, "kappa_end": 0.0}), "kappa")
    0.75
    """
    a, b = ctx.kwargs[f"{name}_start"], ctx.kwargs[f"{name}_end"]
    return a + min(1.0, max(0.0, ctx.ramp)) * (b - a)


def _check_schedules(ctx: MethodContext) -> None:
    for k in _SCHEDULES:
        v = ctx.kwargs[k]
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"method parameter {k!r} must lie in [0, 1], got {v!r}")
    if ctx.kwargs["bound"] != "crown_ibp" and (ctx.kwargs["beta_start"], ctx.kwargs["beta_end"]) != (1.0, 1.0):
        raise ValueError(f"beta_start / beta_end mix CROWN-IBP with IBP: they need bound='crown_ibp', "
                         f"got bound={ctx.kwargs['bound']!r}")


def _bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext, spec=None) -> torch.Tensor:
    from ..certify.convex import bounds

    _check_schedules(ctx)
    kwargs = {}
    if ctx.kwargs["bound"] == "wk_proj":
        kwargs["k"] = ctx.kwargs["proj"]

    def J(method: str) -> torch.Tensor:
        return bounds(model, x, y, ctx.eps, norm=ctx.norm, method=method, spec=spec,
                      num_classes=ctx.num_classes, **kwargs)

    if ctx.kwargs["bound"] != "crown_ibp":
        return J(ctx.kwargs["bound"])
    beta = schedule(ctx, "beta")
    if beta == 1.0:
        return J("crown_ibp")
    if beta == 0.0:
        return J("ibp")
    # +inf entries (pairs outside the spec) stay +inf; no inf − inf arises
    return beta * J("crown_ibp") + (1.0 - beta) * J("ibp")


def _mix_natural(loss: torch.Tensor, ce: torch.Tensor | None, logits_fn, y: torch.Tensor,
                 ctx: MethodContext) -> torch.Tensor:
    """κ·CE + (1 − κ)·loss (CROWN-IBP's κ schedule); ``loss`` unchanged while κ is 0."""
    kappa = schedule(ctx, "kappa")
    if kappa == 0.0:
        return loss
    if ce is None:
        ce = F.cross_entropy(logits_fn(), y)
    return kappa * ce + (1.0 - kappa) * loss


@register_method("robust", defaults={"bound": "wk", "proj": 50, **_SCHEDULES}, adversarial=True)
def robust(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Overall certified robust loss (Zhang & Evans eq. 2.7): CE(−J, y)."""
    J = _bounds(model, x, y, ctx)
    upper = -J
    loss = _mix_natural(F.cross_entropy(upper, y), None, lambda: model(x), y, ctx)
    return loss, {"robust_err": (J < 0).any(1).float().mean().item()}  # J[n, y_n] = 0


@register_method("cs_robust", defaults={"alpha": 1.0, "bound": "wk", "proj": 50, **_SCHEDULES}, needs_cost=True,
                 adversarial=True)
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
    return _mix_natural(ce + ctx.kwargs["alpha"] * pen, ce, lambda: logits, y, ctx), {
        "acc": (logits.argmax(1) == y).float().mean().item(),
        "ce": ce.item(),
        "penalty": pen.item(),
        "cs_robust_err": cs_err,
    }
