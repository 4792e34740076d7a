"""Training methods for smoothed classifiers (registered in :data:`csr.train.METHODS`).

* ``gaussian`` — Cohen et al. (2019): cross-entropy on ``x + δ``, ``δ ~ N(0, σ²I)``.
* ``cohen_r`` — the same with every *sensitive* example (Ω_y ≠ ∅ in the run's cost matrix)
  weighted ``alpha`` (the reweighting baseline "Cohen-R" of Xin et al.).
* ``macer`` — Zhai et al. (2020): ``k`` noisy copies per input;
  ``I1 = −log mean_k softmax(f(x+δ))_y`` and, on correctly classified examples, a hinge
  ``σ/2·max(0, γ − ξ)`` on ``ξ = Φ⁻¹(p̂_A) − Φ⁻¹(p̂_B)`` of the β-tempered smoothed scores
  ``p̂ = mean_k softmax(β f(x+δ))`` (examples with ``ξ > γ`` or non-finite ξ contribute nothing).
  Loss ``(ΣI1 + λ·ΣI_hinge) / B``.
* ``cs_macer`` — Xin et al.'s cost-sensitive MACER: ``I1 + λ·I2 + λ·I3`` where ``I2`` is MACER's
  hinge with margin ``gamma1`` on correctly classified examples of ``D_n`` (normal: Ω_y = ∅) or of
  ``D`` (all; footnote 2: ``i2_on``), and ``I3`` the hinge with margin ``gamma2`` on **every**
  sensitive example, misclassified ones included, on the cost-sensitive margin
  ``ξ_cs = Φ⁻¹(p̂_y) − Φ⁻¹(max_{j∈Ω_y} p̂_j)``, active for ``−gamma2 ≤ ξ_cs ≤ gamma2`` as the
  paper's ``L_M(·; −γ2, γ2)`` (eq. 4); ``floor`` replaces the lower limit −γ2 when given (an
  earlier version fixed it at −16, which admits margins the paper excludes whenever γ2 < 16).
  ``variant="seedwise"`` takes Ω_y = every other class for a sensitive seed (the seedwise cost
  matrices of the paper; then I2 defaults to D_n), ``"pairwise"`` the targets of the matrix
  (I2 defaults to D, so sensitive examples keep their standard radius); ``"auto"`` picks
  seedwise when every sensitive row of C is full.

All noise is in pixel space (the model normalises), ``sigma`` is a method parameter and must
match the σ used to certify.

Example
-------
>>> import torch
>>> from csr.train import METHODS, MethodContext
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> spec = METHODS.get("macer")
>>> ctx = MethodContext(num_classes=3, kwargs=spec.resolve_kwargs({"k": 4}))
>>> loss, stats = spec.fn(net, torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), ctx)
>>> loss.ndim, sorted(stats)
(0, ['acc', 'ce', 'hinge', 'hinge_frac'])
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .methods import MethodContext, register_method

__all__ = ["noisy_copies", "smoothed_scores", "hinge_terms", "cs_margin", "probit_gap"]


def _check(ctx: MethodContext, *names: str) -> None:
    k = ctx.kwargs
    if "sigma" in names and not k["sigma"] > 0:
        raise ValueError(f"sigma must be > 0, got {k['sigma']!r}")
    if "k" in names and not (isinstance(k["k"], int) and k["k"] >= 1):
        raise ValueError(f"k (noise samples per input) must be an integer >= 1, got {k['k']!r}")
    for g in ("gamma", "gamma1", "gamma2", "beta"):
        if g in names and not k[g] > 0:
            raise ValueError(f"{g} must be > 0, got {k[g]!r}")
    if "lam" in names and not k["lam"] >= 0:
        raise ValueError(f"lam must be >= 0, got {k['lam']!r}")


def noisy_copies(model: nn.Module, x: Tensor, sigma: float, k: int) -> Tensor:
    """Logits (B, k, m) of ``k`` Gaussian-noise copies of each input (pixel space)."""
    xr = x.unsqueeze(1).expand(x.shape[0], k, *x.shape[1:]).reshape(x.shape[0] * k, *x.shape[1:])
    logits = model(xr + sigma * torch.randn_like(xr))
    return logits.view(x.shape[0], k, -1)


def smoothed_scores(logits: Tensor, beta: float = 1.0) -> Tensor:
    """``mean_k softmax(β·logits)``: (B, k, m) → (B, m)."""
    return F.softmax(beta * logits, dim=2).mean(1)


def hinge_terms(xi: Tensor, gamma: float, active: Tensor, floor: float | None = None) -> tuple[Tensor, Tensor]:
    """``(γ − ξ)`` summed over ``active`` examples with finite ``ξ ≤ γ`` (and ``ξ ≥ floor``);
    returns (sum, mask used)."""
    use = active & torch.isfinite(xi) & (xi <= gamma)
    if floor is not None:
        use = use & (xi >= floor)
    return torch.where(use, gamma - xi, torch.zeros_like(xi)).sum(), use


_P_MIN = 1e-12  # Φ⁻¹(1e-12) ≈ −7.0; below it (and at 1) the probit's derivative overflows float32


def probit_gap(a: Tensor, b: Tensor, valid: Tensor | None = None) -> Tensor:
    """``Φ⁻¹(a) − Φ⁻¹(b)`` where both lie in ``[1e-12, 1)`` (and ``valid``), NaN elsewhere.

    Rows outside are never passed to Φ⁻¹, so they carry no infinite derivative into the backward
    pass (0 · ∞ = NaN would poison every parameter); a score under 1e-12 is hopeless for a
    hinge anyway and is left to the cross-entropy term."""
    ok = (a >= _P_MIN) & (a < 1) & (b >= _P_MIN) & (b < 1)
    if valid is not None:
        ok = ok & valid
    gap = torch.special.ndtri(torch.where(ok, a, 0.5)) - torch.special.ndtri(torch.where(ok, b, 0.5))
    return torch.where(ok, gap, torch.full_like(gap, float("nan")))


def cs_margin(p: Tensor, y: Tensor, omega: Tensor) -> Tensor:
    """``Φ⁻¹(p_y) − Φ⁻¹(max_{j∈Ω_y} p_j)``; p (B, m), omega (B, m) bool (rows without a target: NaN)."""
    py = p.gather(1, y[:, None])[:, 0]
    pj = torch.where(omega, p, torch.full_like(p, -1.0)).max(1).values
    return probit_gap(py, pj, omega.any(1))


def _top2_margin(p: Tensor) -> tuple[Tensor, Tensor]:
    top = p.topk(2, dim=1)
    return probit_gap(top.values[:, 0], top.values[:, 1]), top.indices[:, 0]


def _acc(logits: Tensor, y: Tensor) -> float:
    return (logits.argmax(-1) == y).float().mean().item()


def _sensitive(ctx: MethodContext, y: Tensor) -> Tensor:
    return ctx.cost.candidates(y)


@register_method("gaussian", defaults={"sigma": 0.25})
def gaussian(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Cohen et al.: cross-entropy on Gaussian-noise inputs."""
    _check(ctx, "sigma")
    logits = model(x + ctx.kwargs["sigma"] * torch.randn_like(x))
    return F.cross_entropy(logits, y), {"acc": _acc(logits, y)}


@register_method("cohen_r", defaults={"sigma": 0.25, "alpha": 2.0}, needs_cost=True)
def cohen_r(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Gaussian augmentation with sensitive examples (Ω_y ≠ ∅) weighted ``alpha``."""
    _check(ctx, "sigma")
    if not ctx.kwargs["alpha"] > 0:
        raise ValueError(f"alpha (weight of sensitive examples) must be > 0, got {ctx.kwargs['alpha']!r}")
    logits = model(x + ctx.kwargs["sigma"] * torch.randn_like(x))
    w = torch.where(_sensitive(ctx, y), ctx.kwargs["alpha"], 1.0)
    loss = (w * F.cross_entropy(logits, y, reduction="none")).sum() / x.shape[0]
    return loss, {"acc": _acc(logits, y)}


@register_method("macer", defaults={"sigma": 0.25, "k": 16, "beta": 16.0, "gamma": 8.0, "lam": 3.0})
def macer(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """MACER (Zhai et al. 2020): smoothed cross-entropy + λ·σ/2·hinge(γ − ξ) on correct examples."""
    _check(ctx, "sigma", "k", "beta", "gamma", "lam")
    k = ctx.kwargs
    logits = noisy_copies(model, x, k["sigma"], k["k"])
    p = smoothed_scores(logits)
    i1 = F.nll_loss(torch.log(p + 1e-10), y, reduction="sum")
    xi, top = _top2_margin(smoothed_scores(logits, k["beta"]))
    hinge, used = hinge_terms(xi, k["gamma"], top == y)
    loss = (i1 + k["lam"] * k["sigma"] / 2 * hinge) / x.shape[0]
    return loss, {"acc": _acc(p, y), "ce": i1.item() / x.shape[0],
                  "hinge": hinge.item() / x.shape[0], "hinge_frac": used.float().mean().item()}


@register_method(
    "cs_macer",
    defaults={"sigma": 0.25, "k": 16, "beta": 16.0, "lam": 3.0, "gamma1": 4.0, "gamma2": 16.0,
              "floor": None, "variant": "auto", "i2_on": "default"},
    needs_cost=True,
)
def cs_macer(model: nn.Module, x: Tensor, y: Tensor, ctx: MethodContext):
    """Cost-sensitive MACER (Xin et al.): I1 + λ·I2(γ1, normal/all) + λ·I3(γ2, sensitive)."""
    _check(ctx, "sigma", "k", "beta", "gamma1", "gamma2", "lam")
    k = ctx.kwargs
    if k["variant"] not in ("auto", "seedwise", "pairwise"):
        raise ValueError(f"variant must be 'auto', 'seedwise' or 'pairwise', got {k['variant']!r}")
    if k["i2_on"] not in ("default", "all", "normal"):
        raise ValueError(f"i2_on must be 'default', 'all' (D) or 'normal' (D_n), got {k['i2_on']!r}")
    C = torch.as_tensor(ctx.cost.sensitive_mask, device=x.device)
    variant = k["variant"]
    if variant == "auto":
        rows = C.any(1)
        full = C[rows].sum(1) == C.shape[0] - 1
        variant = "seedwise" if bool(full.all()) else "pairwise"
    i2_on = k["i2_on"] if k["i2_on"] != "default" else ("normal" if variant == "seedwise" else "all")
    sensitive = C[y].any(1)
    omega = C[y]
    if variant == "seedwise":
        omega = sensitive[:, None] & ~F.one_hot(y, C.shape[0]).bool()

    logits = noisy_copies(model, x, k["sigma"], k["k"])
    p = smoothed_scores(logits)
    i1 = F.nll_loss(torch.log(p + 1e-10), y, reduction="sum")
    pb = smoothed_scores(logits, k["beta"])
    xi, top = _top2_margin(pb)
    domain = (top == y) & (~sensitive if i2_on == "normal" else torch.ones_like(sensitive))
    i2, used2 = hinge_terms(xi, k["gamma1"], domain)
    if k["floor"] is not None and (isinstance(k["floor"], bool) or not isinstance(k["floor"], (int, float))):
        raise ValueError(f"floor must be a number or None (−gamma2), got {k['floor']!r}")
    floor = -k["gamma2"] if k["floor"] is None else float(k["floor"])  # eq. 4: L_M(R_cs; −γ2, γ2)
    i3, used3 = hinge_terms(cs_margin(pb, y, omega), k["gamma2"], sensitive, floor=floor)
    half = k["sigma"] / 2
    loss = (i1 + k["lam"] * half * (i2 + i3)) / x.shape[0]
    B = x.shape[0]
    return loss, {"acc": _acc(p, y), "ce": i1.item() / B, "i2": half * i2.item() / B,
                  "i3": half * i3.item() / B, "i3_frac": used3.float().mean().item()}
