"""Directional adversarial training (Terzi et al.): WPGD, whose inner attack maximises a
Wasserstein loss over a label metric.

With a one-hot target the optimal transport from the prediction ``q = softmax(f(x))`` to
``δ_y`` is trivial — every unit of mass at class ``j`` moves to ``y``, at cost ``C[y, j]`` (the
metric's distance between the two classes) — so ``W_C(q, δ_y) = Σ_j q_j·C[y, j]`` needs no
solver (``tests/test_wpgd.py`` checks it against an exact linear-programming transport). The loss of the paper adds an entropic term,

    ``ℓ_W(x, y) = (C^{⊙p})_y · q − (λ⁻¹ / log K)·H(q)``,   ``H(q) = −Σ_j q_j log q_j``,

with ``C`` the label metric (a cost matrix, ``C[true, other]``), ``p`` the power that sharpens it
and ``K`` the number of classes. ``wpgd`` (registered in the trainer) runs PGD on ``ℓ_W`` and
minimises cross-entropy on the result: the attack spends its budget pushing examples towards
classes the metric calls far, at the cost of one PGD step per step.

Example
-------
>>> import torch
>>> C = torch.tensor([[0.0, 1.0, 4.0], [1.0, 0.0, 2.0], [4.0, 2.0, 0.0]])
>>> logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
>>> wasserstein_loss(logits, torch.tensor([0]), C, lam=float("inf")).tolist()  # 0.25·1 + 0.25·4
[1.25]
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import PGD
from .adversarial import expected_cost
from .methods import MethodContext, register_method

__all__ = ["wasserstein_loss", "wasserstein_objective", "prediction_entropy"]


def prediction_entropy(logits: Tensor) -> Tensor:
    """Shannon entropy (nats) of ``softmax(logits)``: (N, K) → (N,)."""
    logq = logits.log_softmax(dim=1)
    return -(logq.exp() * logq).sum(dim=1)


def wasserstein_loss(logits: Tensor, y: Tensor, C: Tensor, p: float = 1.0, lam: float = 1.0) -> Tensor:
    """Per-example ``ℓ_W = Σ_j softmax_j·C[y, j]^p − (1/(λ·log K))·H(softmax)``.

    logits : (N, K); y : (N,); C : (K, K) label metric / cost matrix (zero diagonal) → (N,).
    ``lam = inf`` drops the entropy term (the plain 1-Wasserstein distance to ``δ_y``).
    """
    K = logits.shape[1]
    M = C.to(logits.dtype) ** p if p != 1 else C.to(logits.dtype)
    cost = expected_cost(logits, y, M)
    if math.isinf(lam):
        return cost
    return cost - prediction_entropy(logits) / (lam * math.log(K))


def wasserstein_objective(C: Tensor, p: float, lam: float):
    """``loss(logits, labels) -> (N,)`` for :class:`csr.attacks.PGD` (``loss=``)."""

    def wasserstein(logits: Tensor, labels: Tensor) -> Tensor:
        return wasserstein_loss(logits, labels, C, p, lam)

    return wasserstein


@register_method(
    "wpgd",
    defaults={"p": 1.0, "lam": 1.0, "steps": 10, "step_size": 0.0, "random_start": True, "eval_mode": True},
    needs_cost=True,
    adversarial=True,
)
def wpgd(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Terzi et al.'s WPGD: CE on PGD examples that maximise the Wasserstein loss over the run's
    label metric (its cost matrix) raised to ``p``, with entropic weight ``1/(λ·log K)``."""
    k = ctx.kwargs
    if k["p"] <= 0 or k["lam"] <= 0:
        raise ValueError(f"wpgd: p and lam must be > 0, got p={k['p']}, lam={k['lam']}")
    C = ctx.cost_tensor(x.device)
    attack = PGD(model, eps=ctx.eps, steps=k["steps"], alpha=k["step_size"] or None, norm=ctx.norm,
                 loss=wasserstein_objective(C, k["p"], k["lam"]), random_start=k["random_start"],
                 eval_mode=k["eval_mode"])
    x_adv = attack(x, y)
    logits = model(x_adv)
    return F.cross_entropy(logits, y), {"adv_acc": (logits.argmax(1) == y).float().mean().item()}
