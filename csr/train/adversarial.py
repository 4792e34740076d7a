"""Empirical adversarial training methods (registered in :data:`csr.train.METHODS`).

TRADES and Zeng et al.'s weighted minimax:

* ``trades`` — Zhang et al. (2019): ``CE(f(x), y) + β·KL(p(x) ‖ p(x'))``, where ``x'`` starts at
  ``x + 0.001·N(0, I)`` and takes ``steps`` projected ascent steps on the KL term.
* ``pgd_weighted`` — Zeng et al.: PGD examples from the margin-weighted attack
  (:class:`csr.attacks.MarginPGD`, ``w = exp(−α·margin)`` inside the objective, recomputed at
  every step) and the outer loss ``mean_n w_n·CE(f(x'_n), y_n)``, ``w`` from the adversarial
  outputs' probability margin ``p_y − max_{j≠y} p_j`` and differentiated (as the reference code;
  ``normalize`` / ``detach_weights`` give the weighted average / constant weights instead).
* ``trades_weighted`` — the same weighting on TRADES: the inner loop ascends ``w·KL`` and the
  outer loss is ``CE(f(x), y) + β·mean_n w_n·KL_n``; ``α = 0`` is TRADES.
  ``steps = 0`` reproduces the reference code, whose inner loop ``break``\\ s before its first step:
  ``x'`` is then the 0.001-Gaussian start, a nearly clean input.

Shen et al.'s cost-sensitive training (the run's cost matrix, normally ``protect:p`` — eq. 3, the
protected class's errors cost ``c``, every other error 1; our convention is ``C[true, pred]``):

* ``csa`` — eq. 6: ``L(x) = CE(f(x), y) + λ·E_cost(x)``, ``E_cost(x) = Σ_j softmax_j(f(x))·C[y, j]``
  (the expected cost of the prediction), on the clean batch and on ``x'`` from an FGSM or PGD
  attack on CE (``attack_loss="ce"``; ``"train"`` attacks ``L`` itself, as the authors' code);
  Algorithm 1's two updates per batch, clean then adversarial (``update="two_step"``; ``"sum"``
  takes one step on their sum); the first ``clean_epochs`` epochs train on clean inputs only.
* ``csa_l2`` — eq. 7's ablation: ``csa`` plus ``l2·Σ‖W_conv‖²`` (the conv weights' squared norm).
* ``cse`` — eq. 10: ``CE(f(x), y) + λ·E_cost(x) + γ·Fuzziness(W_conv)`` on clean inputs, no
  adversarial examples; ``regularizer`` (:data:`REGULARIZERS`): ``"eq9"`` Eqs. 8–9 as printed
  (default), ``"minmax"`` the repair (:func:`csr.metrics.fuzziness` per layer), ``"l1_l2"`` the
  authors' code's ``‖W‖₁ − ‖W‖₂`` per conv layer.
* ``cse_adv`` — the ``cse`` loss on clean and PGD examples (CSE+ADV).

Example
-------
>>> import torch
>>> from csr.train import METHODS, MethodContext
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> spec = METHODS.get("trades")
>>> ctx = MethodContext(num_classes=3, eps=0.1, kwargs=spec.resolve_kwargs({"steps": 2}))
>>> loss, stats = spec.fn(net, torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2]), ctx)
>>> loss.ndim, sorted(stats)
(0, ['acc', 'adv_acc', 'ce', 'kl'])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attacks import FGSM, MARGIN_STARTS, PGD, MarginPGD, _model_mode, gaussian_start, margin_weights, sensitive_targets
from ..metrics import conv_weights, fuzziness, fuzziness_eq9
from .methods import MethodContext, Stages, register_method

__all__ = ["expected_cost", "kl_per_example", "trades_start", "TradesAttack", "REGULARIZERS", "MARGINS"]


def _acc(logits: Tensor, y: Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def expected_cost(logits: Tensor, y: Tensor, C: Tensor) -> Tensor:
    """Per-example expected cost ``Σ_j softmax_j(logits)·C[y, j]`` (Shen et al.'s cost term).

    logits : (N, m); y : (N,); C : (m, m) in ``C[true, pred]`` → (N,).
    """
    return (logits.softmax(dim=1) * C[y]).sum(dim=1)


def kl_per_example(p_clean: Tensor, logits_adv: Tensor) -> Tensor:
    """``KL(p_clean ‖ softmax(logits_adv))`` per example: (N, m), (N, m) → (N,)."""
    return (p_clean * (torch.log(p_clean.clamp_min(1e-12)) - logits_adv.log_softmax(dim=1))).sum(dim=1)


class TradesAttack(PGD):
    """TRADES' inner maximisation: ``steps`` projected ascent steps on a per-example objective
    ``loss(logits, labels)`` from ``x + 0.001·N(0, I)`` (clipped to the box), not from a uniform
    point of the ball."""

    def _start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return trades_start(x, generator)


def trades_start(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """TRADES' starting point ``x + 0.001·N(0, I)``, clipped to ``[0, 1]`` (detached)."""
    return gaussian_start(x, 0.001, generator)


def _trades_inner(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext, weight_alpha: float | None,
                  targets: Tensor | None = None) -> Tensor:
    """x' maximising KL(p(x) ‖ p(x')) (times exp(−α·margin(x')) when ``weight_alpha`` is given;
    ``targets``: the cost-sensitive margin's Ω)."""
    k = ctx.kwargs
    if k["steps"] == 0:
        return trades_start(x)
    with torch.no_grad(), _model_mode(model, k["eval_mode"]):
        p_clean = model(x).softmax(dim=1)

    def objective(logits: Tensor, labels: Tensor) -> Tensor:
        kl = kl_per_example(p_clean, logits)
        if weight_alpha is None:
            return kl
        return margin_weights(logits, labels, weight_alpha, normalize=False, targets=targets) * kl

    attack = TradesAttack(model, eps=ctx.eps, steps=k["steps"], alpha=k["step_size"] or None, norm=ctx.norm,
                          loss=objective, eval_mode=k["eval_mode"])
    return attack(x, y)


def _margin_targets(ctx: MethodContext, device: torch.device) -> Tensor | None:
    """Ω of the cost-sensitive margin (``margin="cost"``: from the run's cost matrix) or None
    (``margin="all"``: the paper's margin over every wrong class)."""
    k = ctx.kwargs
    if k["margin"] == "all":
        return None
    if ctx.cost is None:
        raise ValueError("margin='cost' weights by the margin toward the sensitive targets and needs the run's cost "
                         "matrix (TrainConfig.cost_matrix)")
    key = f"omega:{device}"
    if key not in ctx._cache:
        ctx._cache[key] = sensitive_targets(ctx.cost, device)
    return ctx._cache[key]


def _weighted_mean(losses: Tensor, logits_adv: Tensor, y: Tensor, k: dict, targets: Tensor | None = None) -> Tensor:
    """Zeng et al.'s outer risk: ``mean_n w_n·ℓ_n`` with ``w = exp(−α·margin)`` of the adversarial
    outputs, not detached (the reference code's form; ``α = 0`` is the plain mean), or with
    ``normalize`` the weighted average ``Σ w·ℓ / Σ w`` (denominator detached)."""
    w = margin_weights(logits_adv, y, k["alpha"], normalize=False, targets=targets)
    if k["detach_weights"]:
        w = w.detach()
    if k["normalize"]:
        return (w * losses).sum() / w.sum().detach()
    return (w * losses).mean()


#: The margins a weighted method can weight by: ``"all"`` the paper's ``p_y − max_{j≠y} p_j``,
#: ``"cost"`` the cost-sensitive ``p_y − max_{t∈Ω_y} p_t`` (Ω from the run's cost matrix).
MARGINS = ("all", "cost")
_ZENG = {"alpha": 1.0, "normalize": False, "detach_weights": False, "margin": "all"}
_TRADES = {"beta": 6.0, "steps": 10, "step_size": 0.0, "eval_mode": True}


@register_method("trades", defaults=dict(_TRADES), adversarial=True)
def trades(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """TRADES (Zhang et al. 2019): CE(f(x), y) + β·KL(p(x) ‖ p(x')), KL-maximising inner loop."""
    x_adv = _trades_inner(model, x, y, ctx, None)
    logits, logits_adv = model(x), model(x_adv)
    ce = F.cross_entropy(logits, y)
    kl = kl_per_example(logits.softmax(dim=1), logits_adv).mean()
    return ce + ctx.kwargs["beta"] * kl, {"acc": _acc(logits, y), "adv_acc": _acc(logits_adv, y),
                                          "ce": ce.item(), "kl": kl.item()}


@register_method("trades_weighted", defaults=dict(_TRADES, **_ZENG), adversarial=True, choices={"margin": MARGINS})
def trades_weighted(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Zeng et al.'s weighted TRADES: margin-weighted inner loop and KL term (``steps=0``: the
    reference code's inner loop that breaks before its first step)."""
    k = ctx.kwargs
    omega = _margin_targets(ctx, x.device)
    x_adv = _trades_inner(model, x, y, ctx, k["alpha"], omega)
    logits, logits_adv = model(x), model(x_adv)
    ce = F.cross_entropy(logits, y)
    kl = _weighted_mean(kl_per_example(logits.softmax(dim=1), logits_adv), logits_adv, y, k, omega)
    return ce + k["beta"] * kl, {"acc": _acc(logits, y), "adv_acc": _acc(logits_adv, y), "ce": ce.item(),
                                 "kl": kl.item()}


@register_method(
    "pgd_weighted",
    defaults={"steps": 10, "step_size": 0.0, "start": "gaussian", "eval_mode": True, **_ZENG},
    adversarial=True,
    choices={"margin": MARGINS, "start": MARGIN_STARTS},
)
def pgd_weighted(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Zeng et al.'s weighted PGD training: margin-weighted PGD examples (Algorithm 1; ``start``
    as :class:`csr.attacks.MarginPGD`: ``"gaussian"`` the paper's, ``"ball"`` the code's), Σ w̄·CE
    outer loss; ``margin="cost"`` weights by the cost-sensitive margin."""
    k = ctx.kwargs
    omega = _margin_targets(ctx, x.device)
    attack = MarginPGD(model, eps=ctx.eps, weight_alpha=k["alpha"], steps=k["steps"], alpha=k["step_size"] or None,
                       norm=ctx.norm, start=k["start"], targets=omega, eval_mode=k["eval_mode"])
    x_adv = attack(x, y)
    logits = model(x_adv)
    loss = _weighted_mean(F.cross_entropy(logits, y, reduction="none"), logits, y, k, omega)
    return loss, {"adv_acc": _acc(logits, y)}


# ------------------------------------------------------------------------------------ Shen et al.
def _shen_regularizer(model: nn.Module, k: dict) -> tuple[Tensor | None, dict[str, float]]:
    """γ·(a fuzziness of the conv weights, or the authors' code's ‖W‖₁ − ‖W‖₂) and l2·Σ‖W‖²."""
    terms, stats = [], {}
    ws = conv_weights(model)
    if k.get("gamma"):
        if k["regularizer"] == "eq9":
            r = fuzziness_eq9(ws)
        elif k["regularizer"] == "minmax":
            r = sum(fuzziness(w) for w in ws)
        elif k["regularizer"] == "l1_l2":
            r = sum(w.abs().sum() - w.pow(2).sum().sqrt() for w in ws)
        else:
            raise ValueError(f"unknown regularizer {k['regularizer']!r}; known: {', '.join(REGULARIZERS)}")
        terms.append(k["gamma"] * r)
        stats[k["regularizer"]] = float(r.detach())
    if k.get("l2"):
        sq = sum(w.pow(2).sum() for w in ws)
        terms.append(k["l2"] * sq)
        stats["conv_l2"] = float(sq.detach())
    return (sum(terms) if terms else None), stats


def _shen_loss(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext, adversarial: bool):
    """CE + λ·E_cost over the stage's inputs, plus the weight regulariser.

    Adversarial stage (epochs ≥ ``clean_epochs``): ``x'`` comes from an FGSM or PGD attack on the
    current weights that maximises ``attack_loss`` — ``"ce"``: L alone (Eqs. 4–6 put the max on
    L; the default), ``"train"``: the whole per-example training loss, as the authors' code.
    ``update="two_step"`` (Algorithm 1, the default): the adversarial examples are drawn first
    (line 7), then one update on the clean batch (Stage 1) and one on the adversarial batch
    (Stage 2), each minimising the full loss; ``update="sum"``: one update on
    ``clean_weight·L(x) + L(x')``.
    """
    k = ctx.kwargs
    C = ctx.cost_tensor(x.device)

    def per_example(logits: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits, labels, reduction="none") + k["lam"] * expected_cost(logits, labels, C)

    stats: dict[str, float] = {}

    def stage(inputs: Tensor, prefix: str, weight: float = 1.0) -> Tensor:
        logits = model(inputs)
        loss = weight * per_example(logits, y).mean()
        stats[f"{prefix}acc"] = _acc(logits, y)
        stats[f"{prefix}expected_cost"] = expected_cost(logits, y, C).mean().item()
        return loss

    def regularised(loss: Tensor) -> Tensor:
        reg, reg_stats = _shen_regularizer(model, k)
        stats.update(reg_stats)
        return loss if reg is None else loss + reg

    if not (adversarial and ctx.epoch >= k["clean_epochs"]):
        return regularised(stage(x, "")), stats
    if k["attack_loss"] == "ce":
        attack_loss = "ce"
    elif k["attack_loss"] == "train":
        attack_loss = per_example
    else:
        raise ValueError(f"unknown attack_loss {k['attack_loss']!r}; known: ce, train")
    a = k["attack"]
    if a == "fgsm":
        attack = FGSM(model, eps=ctx.eps, norm=ctx.norm, loss=attack_loss, eval_mode=k["eval_mode"])
    elif a == "pgd":
        attack = PGD(model, eps=ctx.eps, steps=k["steps"], alpha=k["step_size"] or None, norm=ctx.norm,
                     loss=attack_loss, random_start=k["random_start"], eval_mode=k["eval_mode"])
    else:
        raise ValueError(f"unknown inner attack {a!r}; known: fgsm, pgd")
    x_adv = attack(x, y)
    if k["update"] == "two_step":
        return Stages([lambda: regularised(stage(x, "")), lambda: regularised(stage(x_adv, "adv_"))]), stats
    if k["update"] != "sum":
        raise ValueError(f"unknown update {k['update']!r}; known: two_step, sum")
    return regularised(stage(x, "", k["clean_weight"]) + stage(x_adv, "adv_")), stats


_SHEN = {"lam": 1.0, "attack": "pgd", "steps": 10, "step_size": 0.0, "random_start": True, "clean_epochs": 0,
         "clean_weight": 1.0, "eval_mode": True, "update": "two_step", "attack_loss": "ce"}
#: CSE's weight regularisers: ``eq9`` — Eqs. 8–9 as printed (:func:`csr.metrics.fuzziness_eq9`,
#: all conv weights as one vector; the default); ``minmax`` — our repair, the fuzziness of the
#: memberships |w|/max|w| summed over the conv layers (:func:`csr.metrics.fuzziness`), which is
#: 0 exactly at the Min-Max property; ``l1_l2`` — the authors' code's ‖W‖₁ − ‖W‖₂ per layer.
REGULARIZERS = ("eq9", "minmax", "l1_l2")
_FUZZ = {"gamma": 1.0, "regularizer": "eq9"}


@register_method("csa", defaults=dict(_SHEN), needs_cost=True, adversarial=True)
def csa(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Shen et al.'s CSA (eq. 6): CE + λ·expected cost on clean and adversarial examples."""
    return _shen_loss(model, x, y, ctx, adversarial=True)


@register_method("csa_l2", defaults=dict(_SHEN, l2=1e-3), needs_cost=True, adversarial=True)
def csa_l2(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Eq. 7's ablation: CSA plus ``l2``·Σ‖W_conv‖² (a plain weight penalty in place of fuzziness)."""
    return _shen_loss(model, x, y, ctx, adversarial=True)


@register_method("cse", defaults={"lam": 1.0, **_FUZZ}, needs_cost=True)
def cse(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Shen et al.'s CSE (eq. 10): CE + λ·expected cost + γ·fuzziness of the conv weights, clean inputs."""
    return _shen_loss(model, x, y, ctx, adversarial=False)


@register_method("cse_adv", defaults=dict(_SHEN, **_FUZZ), needs_cost=True, adversarial=True)
def cse_adv(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """CSE's loss on clean and adversarial examples (CSE+ADV)."""
    return _shen_loss(model, x, y, ctx, adversarial=True)
