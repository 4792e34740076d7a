"""Training methods: each is a loss function registered in :data:`METHODS`.

A method is ``fn(model, x, y, ctx) -> (loss, stats)``: ``x`` (N, ...) in [0,1], ``y`` (N,),
``ctx`` a :class:`MethodContext`; ``loss`` a scalar tensor to minimise and ``stats`` a dict of
floats averaged into the epoch's metrics. The trainer is the same for every method; later
modules add methods with :func:`register_method`, never new trainers.

Example
-------
>>> import torch
>>> from csr.train.methods import METHODS, MethodContext
>>> net = torch.nn.Linear(4, 3)
>>> spec = METHODS.get("standard")
>>> loss, stats = spec.fn(net, torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1]), MethodContext(num_classes=3))
>>> loss.shape, sorted(stats)
(torch.Size([]), ['acc'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..costs import CostMatrix
from ..registry import Registry

__all__ = [
    "Stages",
    "MethodContext",
    "MethodSpec",
    "METHODS",
    "register_method",
    "cost_sensitive_penalty",
]


class Stages(tuple):
    """A method's loss as several optimiser updates on one batch: zero-argument callables, each
    returning the loss of its stage computed with the model as the previous stages left it. The
    trainer runs them in order, one ``backward`` and one ``step`` each (Shen et al.'s
    Algorithm 1: a clean update, then an adversarial one). The batch's reported loss is the sum
    of the stages' losses."""


@dataclass
class MethodContext:
    """What a method may use besides the batch.

    eps : the current (possibly ramped) training radius; norm : 'linf' or 'l2';
    cost : the run's :class:`~csr.costs.CostMatrix` (or None); kwargs : the method's
    hyper-parameters (validated against its defaults); epoch / step : 0-based counters;
    ramp : how far the ε warm-up has gone, 0 → 1 (1 without a warm-up), for schedules that
    follow it (CROWN-IBP's β and κ).
    """

    num_classes: int
    eps: float = 0.0
    norm: str = "linf"
    cost: CostMatrix | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    step: int = 0
    ramp: float = 1.0
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def cost_tensor(self, device: torch.device) -> torch.Tensor:
        """The cost matrix as a float tensor on ``device`` (cached)."""
        if self.cost is None:
            raise ValueError("this method needs a cost matrix")
        key = f"C:{device}"
        if key not in self._cache:
            self._cache[key] = self.cost.tensor(device)
        return self._cache[key]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, MethodContext], tuple[torch.Tensor, dict[str, float]]]
    defaults: dict[str, Any]
    needs_cost: bool = False
    adversarial: bool = False  # uses ctx.eps
    doc: str = ""
    #: ``{parameter: allowed strings}``: checked when the kwargs are resolved (before training).
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def resolve_kwargs(self, kwargs: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults updated with ``kwargs``; unknown keys or wrong types raise ValueError."""
        kwargs = dict(kwargs or {})
        unknown = sorted(set(kwargs) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"method {self.name!r} has no parameter(s) {unknown}; its parameters: {known}")
        out = dict(self.defaults)
        for k, v in kwargs.items():
            d = self.defaults[k]
            if d is not None and isinstance(d, (int, float)) and not isinstance(d, bool):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"method {self.name!r}: parameter {k!r} must be a number, got {v!r}")
                v = type(d)(v) if isinstance(d, float) else v
            elif isinstance(d, bool) and not isinstance(v, bool):
                raise ValueError(f"method {self.name!r}: parameter {k!r} must be True/False, got {v!r}")
            elif isinstance(d, str) and not isinstance(v, str):
                raise ValueError(f"method {self.name!r}: parameter {k!r} must be a string, got {v!r}")
            out[k] = v
        for k, allowed in self.choices.items():
            if out[k] not in allowed:
                raise ValueError(f"method {self.name!r}: unknown {k} {out[k]!r}; known: {', '.join(allowed)}")
        return out


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(
    name: str,
    *,
    defaults: dict[str, Any] | None = None,
    needs_cost: bool = False,
    adversarial: bool = False,
    choices: dict[str, tuple[str, ...]] | None = None,
) -> Callable:
    """Decorator: register ``fn(model, x, y, ctx) -> (loss, stats)`` as training method ``name``;
    ``choices`` names the allowed values of its string parameters."""

    def deco(fn: Callable) -> Callable:
        METHODS.register(
            name,
            MethodSpec(name, fn, dict(defaults or {}), needs_cost, adversarial, (fn.__doc__ or "").strip(),
                       dict(choices or {})),
        )
        return fn

    return deco


def _acc(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def cost_weighted_log1p(margins: torch.Tensor, y: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """``log(1 + Σ_{j: C[y_n, j] > 0} C[y_n, j] · exp(margins[n, j]))`` per example, computed as a
    log-sum-exp (stable for large margins); 0 where row ``y_n`` of ``C`` is empty.

    margins : (N, m); y : (N,); C : (m, m) → (N,). With ``C`` all ones off the diagonal and the
    clean logit differences as margins it is the cross-entropy.

    >>> import torch
    >>> z = torch.tensor([[2.0, 0.0, -1.0]]); y = torch.tensor([0])
    >>> ce = torch.nn.functional.cross_entropy(z, y, reduction="none")
    >>> C = torch.ones(3, 3) - torch.eye(3)
    >>> bool(torch.allclose(cost_weighted_log1p(z - z[:, :1], y, C), ce))
    True
    """
    Cy = C[y]  # (N, m)
    sensitive = Cy > 0
    logw = torch.where(sensitive, torch.log(Cy.clamp_min(1e-30)), torch.full_like(Cy, -float("inf")))
    terms = torch.cat([torch.zeros_like(margins[:, :1]), margins + logw], dim=1)
    return torch.logsumexp(terms, dim=1)


def cost_sensitive_penalty(margins: torch.Tensor, y: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Class-averaged cost-weighted soft penalty (Zhang & Evans eq. 3.2 / B.1).

    For each example n with seed class k = y_n and Ω_k ≠ ∅,
    ``ℓ_n = log(1 + Σ_{j∈Ω_k} C[k, j] · exp(margins[n, j]))``, where ``margins[n, j]`` is (an
    upper bound on) ``z_j − z_k``: the clean logit difference (cost-sensitive standard training,
    eq. B.1) or −J_ε(x, e_k − e_j) from a certificate (eq. 3.2). The penalty is
    ``Σ_k mean_{n: y_n = k} ℓ_n`` over the seed classes present in the batch, as the paper writes
    it (each seed class weighs the same, whatever its batch count).

    margins : (N, m); y : (N,); C : (m, m) → scalar tensor.
    """
    per_example = cost_weighted_log1p(margins, y, C)
    candidate = (C[y] > 0).any(dim=1)
    m = C.shape[0]
    counts = torch.bincount(y[candidate], minlength=m).to(margins.dtype)
    sums = torch.zeros(m, dtype=margins.dtype, device=margins.device).index_add(
        0, y[candidate], per_example[candidate]
    )
    present = counts > 0
    return (sums[present] / counts[present]).sum() if present.any() else margins.sum() * 0.0


@register_method("standard")
def standard(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Cross-entropy on clean inputs."""
    logits = model(x)
    return F.cross_entropy(logits, y), {"acc": _acc(logits, y)}


@register_method("cost_sensitive_ce", needs_cost=True)
def cost_sensitive_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Cost-sensitive cross-entropy (Khan et al. 2018; Zhang & Evans eq. B.1), alone:
    ``mean_n log(1 + Σ_{j≠y_n} C[y_n, j]·exp(z_j − z_{y_n}))`` — the cross-entropy when every
    off-diagonal cost is 1; an example whose row of C is empty adds 0."""
    logits = model(x)
    margins = logits - logits.gather(1, y[:, None])
    loss = cost_weighted_log1p(margins, y, ctx.cost_tensor(x.device)).mean()
    return loss, {"acc": _acc(logits, y)}


@register_method("cs_ce", defaults={"alpha": 1.0}, needs_cost=True)
def cs_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """CE + α·(the class-averaged cost penalty of eq. 3.2 on the clean logit differences): what
    this library called cost-sensitive standard training before ``cost_sensitive_ce``, which is
    eq. B.1 as the paper writes it (the penalty alone, averaged over examples)."""
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    margins = logits - logits.gather(1, y[:, None])
    pen = cost_sensitive_penalty(margins, y, ctx.cost_tensor(x.device))
    return ce + ctx.kwargs["alpha"] * pen, {"acc": _acc(logits, y), "ce": ce.item(), "penalty": pen.item()}


@register_method(
    "pgd_at",
    defaults={"steps": 10, "step_size": 0.0, "random_start": True, "eval_mode": True, "clean_weight": 0.0},
    adversarial=True,
)
def pgd_at(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ctx: MethodContext):
    """Madry et al. adversarial training: CE on PGD examples at the current ε
    (plus ``clean_weight``·CE on the clean batch, Goodfellow et al.'s mixed loss).

    ``step_size = 0`` means the attack's default 2.5·ε/steps.
    """
    from ..attacks import PGD

    k = ctx.kwargs
    if ctx.eps > 0:
        attack = PGD(
            model,
            eps=ctx.eps,
            steps=k["steps"],
            alpha=k["step_size"] or None,
            norm=ctx.norm,
            random_start=k["random_start"],
            eval_mode=k["eval_mode"],
        )
        x_adv = attack(x, y)
    else:
        x_adv = x
    logits = model(x_adv)
    loss = F.cross_entropy(logits, y)
    if k["clean_weight"]:
        loss = loss + k["clean_weight"] * F.cross_entropy(model(x), y)
    return loss, {"adv_acc": _acc(logits, y)}
