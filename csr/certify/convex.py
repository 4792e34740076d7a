"""Certified lower bounds on pairwise logit margins of sequential ReLU networks.

For a batch ``x`` of ``N`` inputs in ``[0, 1]`` with labels ``y`` and a radius ``eps``,
:func:`bounds` returns ``J`` of shape ``(N, m)`` with

.. math::

    J[n, j] \\;\\le\\; \\min_{x' \\in \\mathcal{B}(x_n)} f_{y_n}(x') - f_j(x'),

where the perturbation set is

* ``norm="linf"``: ``{x' : ||x' - x||_∞ <= eps, 0 <= x' <= 1}``, i.e. the box
  ``[max(x - eps, 0), min(x + eps, 1)]`` (the clipping to ``[0, 1]`` is part of the set, as
  ``bounded_input=True`` in ``convex_adversarial``);
* ``norm="l2"``: ``{x' : ||x' - x||_2 <= eps}``. The ``[0, 1]`` box is **ignored** for ℓ2: the
  bound holds on the whole ball, hence also on its intersection with the box (sound, slightly
  loose near the border of the pixel cube). This is what ``convex_adversarial`` does for ℓ2.

``J[n, j] > 0`` proves that no point of the set is classified ``j``. :func:`certify` turns
``J`` into the *certified reach matrix* consumed by :mod:`csr.metrics`: ``reach[n, j]`` is True
when class ``j != y_n`` is **not** excluded (``J[n, j] <= 0``; a tie is not a certificate).

Supported networks: ``nn.Sequential`` of :class:`csr.models.Normalize`, ``nn.Conv2d``
(``groups=1``, ``dilation=1``, zero padding), ``nn.Linear`` (on flattened inputs), ``nn.ReLU``
and ``nn.Flatten``; any other layer raises ``ValueError`` naming its type and index.

Methods (:data:`BOUND_METHODS`)
------------------------------
``wk``
    Wong & Kolter (2018) dual network. Intermediate pre-activation bounds are computed layer by
    layer with the dual network itself (identity objectives over every unit), crossing ReLUs use
    the same slope ``d = u / (u - l)`` in the upper and lower relaxation (1 if ``l >= 0``, 0 if
    ``u <= 0``). Values equal ``convex_adversarial`` 0.4.4 (``DualNetwork``; ``bounded_input=True``
    for ℓ∞) up to floating-point rounding.

    Implementation: every dual pass runs *backwards* (objective → input); the lower and upper
    bound of a unit share one pass (the relaxation is symmetric). Bounds of a convolution's
    outputs keep the dual variables of each output unit as a local *patch* (its receptive field):
    down to the first ReLU they are one kernel shared by all positions and examples, so every
    term is a single convolution of a per-example map (slopes, ``l``, the input box); the common
    case conv → ReLU → conv → input is finished with one convolution of the slopes with a combined
    kernel; deeper stacks push per-example patches back with ``conv_transpose2d``. Bounds of a
    ``Linear`` layer's outputs use dense ``(N, units, *shape)`` dual variables (``conv_transpose2d``
    through convolutions). Nothing of the size ``units × input`` per example is formed for
    convolutional stages; ``convex_adversarial`` propagates the identity over the input forwards,
    i.e. ``(N, input, *shape)`` tensors, which is what makes it slow and memory hungry.
``wk_proj``
    Wong et al. (2018) "Scaling provable adversarial defenses": the ℓ1 terms of the intermediate
    bounds (input term and each ReLU's ``Σ l [ν]_+`` term) are estimated with ``k`` Cauchy random
    projections and the median estimator (ℓ2: Gaussian projections, ``||·||_2 ≈ ||ν G|| / sqrt(k)``),
    propagated forwards. A layer with at most ``k`` units (or an input with at most ``k`` pixels)
    is computed exactly. **The result is a randomised estimate, not a certificate**: use it for
    training only; :func:`certify` refuses it. Options: ``k=50``, ``seed=None``.
``ibp``
    Interval bound propagation (Gowal et al. 2018). The last ``Linear`` layer is elided:
    ``J[n, j] = min_{h ∈ [l, u]} (W_y - W_j) h + b_y - b_j`` over the last hidden interval.
    For ℓ2 the first affine block (up to the first ReLU) is bounded exactly.
``crown_ibp``
    CROWN-IBP (Zhang et al. 2020): IBP intermediate bounds, one CROWN backward pass from the
    specification with upper slope ``u / (u - l)`` and adaptive lower slope ``1[u >= -l]``.

Cost-sensitive specifications
-----------------------------
With ``spec`` (a :class:`~csr.costs.CostMatrix`, or anything :func:`csr.costs.as_cost` accepts:
an ``(m, m)`` array, a bool mask, a spec string such as ``"odd"``; an all-zero matrix is allowed)
only the entries ``j ∈ Ω_{y_n}`` are computed — the pairs of
:meth:`csr.costs.CostMatrix.spec_mask`; ``spec=None`` is every pair (the ``overall`` matrix).
Examples with ``Ω_{y_n} = ∅`` (not :meth:`~csr.costs.CostMatrix.candidates`) are skipped
altogether (no intermediate bounds either) and the final pass uses the objectives
``c = e_{y_n} - e_j`` of the specified pairs only (rows of a batch are padded with ``c = 0`` to
the largest ``|Ω_{y_n}|`` present, so the final pass stays one batched computation). Entries not computed are ``+inf``; the diagonal is 0. (For training,
``+inf`` entries become ``-inf`` logits in ``CE(-J, y)``, which contribute nothing.)
:func:`count_spec_columns` gives the number of specification columns ``Σ_n |Ω_{y_n}|`` and
:func:`last_bound_stats` what the last call actually computed.

Example
-------
>>> import torch
>>> from torch import nn
>>> from csr.certify import bounds, certify
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
>>> J = bounds(net, x, y, 0.05)                       # (N, m) lower bounds on f_y - f_j
>>> J.shape, bool((J[torch.arange(5), y] == 0).all())
(torch.Size([5, 3]), True)
>>> margins = net(x) - net(x).gather(1, y[:, None])   # f_j - f_y at the clean point
>>> bool((J <= -margins + 1e-6).all())                # a bound never exceeds the clean margin
True
>>> certify(net, x, y, 0.05).shape
torch.Size([5, 3])
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from csr import costs as costs_mod
from csr.models import Normalize
from csr.registry import Registry

__all__ = [
    "BOUND_METHODS",
    "NORMS",
    "BoundMethod",
    "bounds",
    "certify",
    "intermediate_bounds",
    "spec_mask",
    "count_spec_columns",
    "last_bound_stats",
]

NORMS: Registry[str] = Registry("norm")
NORMS.register("linf", "linf")
NORMS.register("l2", "l2")

SUPPORTED_LAYERS = "Normalize, Conv2d, Linear, ReLU, Flatten"


# ============================================================================================
# parsed network
# ============================================================================================
class _Op:
    """One layer of the parsed network; shapes are per example (no batch dimension)."""

    kind = "op"

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        self.in_shape = in_shape
        self.out_shape = out_shape

    # forward on (B, *in_shape) → (B, *out_shape), with bias
    def fwd(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    # linear part on (B, Q, *in_shape) → (B, Q, *out_shape)
    def lin(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    # transposed linear part on (B, Q, *out_shape) → (B, Q, *in_shape)
    def back(self, lam: Tensor) -> Tensor:
        raise NotImplementedError

    # Σ lam · bias on (B, Q, *out_shape) → (B, Q) (None: no bias)
    def bias_dot(self, lam: Tensor) -> Tensor | None:
        return None

    # interval propagation: centre and radius (B, *in_shape) → (B, *out_shape)
    def interval(self, c: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class _NormalizeOp(_Op):
    kind = "normalize"

    def __init__(self, layer: Normalize, in_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape, in_shape)
        c = in_shape[0]
        std, mean = layer.std.flatten(), layer.mean.flatten()
        if std.numel() not in (1, c):
            raise ValueError(
                f"Normalize has {std.numel()} channel statistics but its input has {c} channels"
            )
        self.scale_c = (1.0 / std).expand(c)  # (C,)
        self.shift_c = (-mean / std).expand(c)
        view = (c,) + (1,) * (len(in_shape) - 1)
        self.scale = self.scale_c.reshape(view).expand(in_shape)
        self.shift = self.shift_c.reshape(view).expand(in_shape)

    def fwd(self, z: Tensor) -> Tensor:
        return z * self.scale + self.shift

    def lin(self, t: Tensor) -> Tensor:
        return t * self.scale

    def back(self, lam: Tensor) -> Tensor:
        return lam * self.scale

    def bias_dot(self, lam: Tensor) -> Tensor:
        return lam.flatten(2) @ self.shift.reshape(-1)

    def interval(self, c: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        return c * self.scale + self.shift, r * self.scale  # scale > 0


class _LinearOp(_Op):
    kind = "linear"

    def __init__(self, layer: nn.Linear, in_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape, (layer.out_features,))
        self.weight, self.bias = layer.weight, layer.bias

    def fwd(self, z: Tensor) -> Tensor:
        return F.linear(z, self.weight, self.bias)

    def lin(self, t: Tensor) -> Tensor:
        return F.linear(t, self.weight)

    def back(self, lam: Tensor) -> Tensor:
        return lam @ self.weight

    def bias_dot(self, lam: Tensor) -> Tensor | None:
        return None if self.bias is None else lam @ self.bias

    def interval(self, c: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        return F.linear(c, self.weight, self.bias), F.linear(r, self.weight.abs())


class _ConvOp(_Op):
    kind = "conv"

    def __init__(self, layer: nn.Conv2d, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        super().__init__(in_shape, out_shape)
        self.weight, self.bias = layer.weight, layer.bias
        self.stride = tuple(layer.stride)
        self.padding = tuple(layer.padding)
        kh, kw = self.weight.shape[-2:]
        (_, hi, wi), (_, ho, wo) = in_shape, out_shape
        # output_padding making conv_transpose2d return exactly the input size
        self.out_pad = (
            hi - ((ho - 1) * self.stride[0] - 2 * self.padding[0] + kh),
            wi - ((wo - 1) * self.stride[1] - 2 * self.padding[1] + kw),
        )

    def fwd(self, z: Tensor) -> Tensor:
        return F.conv2d(z, self.weight, self.bias, self.stride, self.padding)

    def lin(self, t: Tensor) -> Tensor:
        b, q = t.shape[:2]
        out = F.conv2d(t.reshape(b * q, *self.in_shape), self.weight, None, self.stride, self.padding)
        return out.view(b, q, *self.out_shape)

    def back(self, lam: Tensor) -> Tensor:
        b, q = lam.shape[:2]
        out = F.conv_transpose2d(
            lam.reshape(b * q, *self.out_shape), self.weight, None, self.stride, self.padding, self.out_pad
        )
        return out.view(b, q, *self.in_shape)

    def bias_dot(self, lam: Tensor) -> Tensor | None:
        return None if self.bias is None else lam.sum((-2, -1)) @ self.bias

    def interval(self, c: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        return (
            F.conv2d(c, self.weight, self.bias, self.stride, self.padding),
            F.conv2d(r, self.weight.abs(), None, self.stride, self.padding),
        )


class _FlattenOp(_Op):
    kind = "flatten"

    def fwd(self, z: Tensor) -> Tensor:
        return z.reshape(z.shape[0], *self.out_shape)

    def lin(self, t: Tensor) -> Tensor:
        return t.reshape(*t.shape[:2], *self.out_shape)

    def back(self, lam: Tensor) -> Tensor:
        return lam.reshape(*lam.shape[:2], *self.in_shape)

    def interval(self, c: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        return self.fwd(c), self.fwd(r)


class _ReLUOp(_Op):
    kind = "relu"


def _parse(model: nn.Module, in_shape: tuple[int, ...]) -> list[_Op]:
    """Validate ``model`` and turn it into a list of ops with known per-example shapes."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"the convex certifier needs an nn.Sequential of {SUPPORTED_LAYERS}; "
            f"got {type(model).__name__}"
        )
    if len(model) == 0:
        raise ValueError("model is an empty nn.Sequential")
    ops: list[_Op] = []
    shape = tuple(in_shape)
    for i, layer in enumerate(model):
        name = type(layer).__name__
        where = f"layer {i} ({name})"
        if isinstance(layer, Normalize):
            if len(shape) < 1:
                raise ValueError(f"{where} needs (N, C, ...) input")
            op: _Op = _NormalizeOp(layer, shape)
        elif isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
                raise ValueError(f"{where}: only groups=1, dilation=1 convolutions are supported")
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise ValueError(f"{where}: only explicit zero padding (an int or a pair) is supported")
            if len(shape) != 3 or shape[0] != layer.in_channels:
                raise ValueError(
                    f"{where} expects (N, {layer.in_channels}, H, W) input, got per-example shape {shape}"
                )
            kh, kw = layer.kernel_size
            (sh, sw), (ph, pw) = layer.stride, layer.padding
            ho, wo = (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1
            if ho < 1 or wo < 1:
                raise ValueError(f"{where}: input {shape} is smaller than the kernel")
            op = _ConvOp(layer, shape, (layer.out_channels, ho, wo))
        elif isinstance(layer, nn.Linear):
            if len(shape) != 1 or shape[0] != layer.in_features:
                raise ValueError(
                    f"{where} expects flattened (N, {layer.in_features}) input, got per-example shape {shape}"
                )
            op = _LinearOp(layer, shape)
        elif isinstance(layer, nn.ReLU):
            op = _ReLUOp(shape, shape)
        elif isinstance(layer, nn.Flatten):
            nd = len(shape) + 1
            start, end = layer.start_dim % nd, layer.end_dim % nd
            if start != 1 or end != nd - 1:
                raise ValueError(f"{where}: only Flatten(start_dim=1, end_dim=-1) is supported")
            op = _FlattenOp(shape, (int(np.prod(shape)),))
        else:
            raise ValueError(
                f"layer {i} ({name}) is not supported by the convex certifier; "
                f"supported layers: {SUPPORTED_LAYERS}"
            )
        ops.append(op)
        shape = op.out_shape
    if len(shape) != 1:
        raise ValueError(f"model must output (N, m) logits; its per-example output shape is {shape}")
    return ops


# ============================================================================================
# input sets and ReLU relaxations
# ============================================================================================
class _InputSet:
    """ℓ∞ box ``[lo, hi]`` (already clipped to [0, 1]) or ℓ2 ball around ``x``."""

    def __init__(self, norm: str, x: Tensor, eps: float, lo: Tensor | None = None, hi: Tensor | None = None):
        self.norm, self.x, self.eps = norm, x, eps
        if norm == "linf" and lo is None:
            lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
        self.lo, self.hi = lo, hi

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    def term(self, lam: Tensor) -> tuple[Tensor, Tensor]:
        """min / max over the set of ``lam · x``: lam (Bp, Q, *in) → two (B, Q)."""
        lam = lam.flatten(2)
        if self.norm == "linf":
            pos = lam.clamp(min=0)
            neg = lam - pos
            lo, hi = self.lo.flatten(1).unsqueeze(-1), self.hi.flatten(1).unsqueeze(-1)
            lower = (pos @ lo + neg @ hi).squeeze(-1)
            upper = (pos @ hi + neg @ lo).squeeze(-1)
            return lower, upper
        centre = (lam @ self.x.flatten(1).unsqueeze(-1)).squeeze(-1)
        rad = self.eps * lam.norm(dim=-1)
        return centre - rad, centre + rad

    def term_patches(self, P: Tensor, g: "_Geom") -> tuple[Tensor, Tensor]:
        """Same for patches P (Bp, Ck, Hk, Wk, C, Kh, Kw) → two (B, Ck, Hk, Wk)."""
        hk, wk = P.shape[2:4]
        dims = (-3, -2, -1)
        if self.norm == "linf":
            lo, hi = _patchify(self.lo, g, hk, wk), _patchify(self.hi, g, hk, wk)
            pos = P.clamp(min=0)
            neg = P - pos
            lower = (pos * lo).sum(dims) + (neg * hi).sum(dims)
            upper = (pos * hi).sum(dims) + (neg * lo).sum(dims)
            return lower, upper
        centre = (P * _patchify(self.x, g, hk, wk)).sum(dims)
        rad = self.eps * P.flatten(-3).norm(dim=-1)
        return centre - rad, centre + rad

    def term_unfold(self, P: Tensor, g: "_Geom", hk: int, wk: int) -> tuple[Tensor, Tensor]:
        """Same for patches in unfold layout P (Bp, Ck, C, Kh*Kw, hk*wk) → two (B, Ck, hk*wk)."""
        dims = (2, 3)
        if self.norm == "linf":
            lo, hi = _unfold(self.lo, g, hk, wk).unsqueeze(1), _unfold(self.hi, g, hk, wk).unsqueeze(1)
            pos = P.clamp(min=0)
            neg = P - pos
            lower = (pos * lo).sum(dims) + (neg * hi).sum(dims)
            upper = (pos * hi).sum(dims) + (neg * lo).sum(dims)
            return lower, upper
        centre = (P * _unfold(self.x, g, hk, wk).unsqueeze(1)).sum(dims)
        rad = self.eps * P.flatten(2, 3).norm(dim=2)
        return centre - rad, centre + rad

    def term_kernel(self, A: Tensor, g: "_Geom", hk: int, wk: int) -> tuple[Tensor, Tensor]:
        """Same for a position-independent kernel A (Ck, C, kh, kw) → two (B, Ck, hk, wk)."""
        if self.norm == "linf":
            pos, neg = A.clamp(min=0), A.clamp(max=0)
            lower = _kconv(self.lo, pos, g, hk, wk) + _kconv(self.hi, neg, g, hk, wk)
            upper = _kconv(self.hi, pos, g, hk, wk) + _kconv(self.lo, neg, g, hk, wk)
            return lower, upper
        centre = _kconv(self.x, A, g, hk, wk)
        ones = torch.ones((1,) + tuple(self.x.shape[1:]), dtype=A.dtype, device=A.device)
        sq = _kconv(ones, A * A, g, hk, wk)
        pos = sq > 0
        rad = self.eps * torch.where(pos, torch.where(pos, sq, torch.ones_like(sq)).sqrt(), torch.zeros_like(sq))
        return centre - rad, centre + rad

    def centre_radius(self) -> tuple[Tensor, Tensor]:
        return (self.lo + self.hi) / 2, (self.hi - self.lo) / 2


@dataclass
class _ReluInfo:
    """Relaxation of one ReLU layer for a batch; all tensors (B, *shape)."""

    lower: Tensor  # pre-activation bounds
    upper: Tensor
    d: Tensor  # upper-relaxation slope (1 active, 0 inactive, u/(u-l) crossing)
    lI: Tensor  # l on crossing units, 0 elsewhere (intercept of the upper relaxation is -d·l)
    alpha: Tensor | None = None  # lower-relaxation slope where it differs from d (CROWN)


def _relu_info(lower: Tensor, upper: Tensor, adaptive: bool = False) -> _ReluInfo:
    """Triangle relaxation; ``adaptive`` adds CROWN's lower slope ``1[u >= -l]`` on crossing units."""
    crossing = ((upper > 0) & (lower < 0)).detach()
    active = (lower >= 0).to(lower.dtype)
    denom = torch.where(crossing, upper - lower, torch.ones_like(upper))
    d = torch.where(crossing, upper / denom, active)
    lI = torch.where(crossing, lower, torch.zeros_like(lower))
    alpha = None
    if adaptive:
        alpha = torch.where(crossing, (upper >= -lower).to(lower.dtype), active).detach()
    return _ReluInfo(lower, upper, d, lI, alpha)


# ============================================================================================
# backward (dual) passes
# ============================================================================================
def _backward_dense(
    ops: list[_Op], infos: dict[int, _ReluInfo], t: int, lam: Tensor, inp: _InputSet, both: bool
) -> tuple[Tensor, Tensor | None]:
    """Bounds of ``lam · z_t`` (``z_t`` = output of op ``t``; ``t = -1``: the input).

    ``lam``: (Bp, Q, *ops[t].out_shape), Bp ∈ {1, B}. Returns ``lower`` (B, Q) and, with
    ``both`` (symmetric relaxations only: no ``alpha``), ``upper`` (B, Q); else ``None``.
    This is the Wong–Kolter dual network with ``ν = -lam``.
    """
    lo: Tensor | float = 0.0
    hi: Tensor | float = 0.0
    for i in range(t, -1, -1):
        op = ops[i]
        if op.kind == "relu":
            info = infos[i]
            d = info.d.unsqueeze(1)
            lI = info.lI.flatten(1).unsqueeze(-1)  # (B, n, 1)
            if info.alpha is None:
                lam = lam * d
                flat = lam.flatten(2)
                lo = lo - (flat.clamp(max=0) @ lI).squeeze(-1)
                if both:
                    hi = hi - (flat.clamp(min=0) @ lI).squeeze(-1)
            else:  # CROWN lower bound: α on positive coefficients, d (with intercept) on negative
                assert not both, "upper bounds need a symmetric relaxation"
                pos = lam.clamp(min=0)
                neg = (lam - pos) * d
                lo = lo - (neg.flatten(2) @ lI).squeeze(-1)
                lam = pos * info.alpha.unsqueeze(1) + neg
        else:
            b = op.bias_dot(lam)
            if b is not None:
                lo = lo + b
                hi = hi + b
            lam = op.back(lam)
    il, iu = inp.term(lam)
    return lo + il, (hi + iu) if both else None


@dataclass(frozen=True)
class _Geom:
    """Patch geometry: the patch of output position (h, w) covers rows ``h*sh - ph + [0, kh)``."""

    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int


def _patchify(t: Tensor, g: _Geom, hk: int, wk: int) -> Tensor:
    """(B, C, H, W) → view (B, 1, hk, wk, C, kh, kw) of the zero-padded patches of ``t``."""
    h, w = t.shape[-2:]
    bottom = max(0, (hk - 1) * g.sh - g.ph + g.kh - h)
    right = max(0, (wk - 1) * g.sw - g.pw + g.kw - w)
    t = F.pad(t, (g.pw, right, g.ph, bottom))
    t = t.unfold(2, g.kh, g.sh).unfold(3, g.kw, g.sw)[:, :, :hk, :wk]  # (B, C, hk, wk, kh, kw)
    return t.permute(0, 2, 3, 1, 4, 5).unsqueeze(1)


def _unfold(t: Tensor, g: _Geom, hk: int, wk: int) -> Tensor:
    """(B, C, H, W) → (B, C, kh*kw, hk*wk) zero-padded patches (F.unfold layout)."""
    b, c, h, w = t.shape
    bottom = max(0, (hk - 1) * g.sh - g.ph + g.kh - h)
    right = max(0, (wk - 1) * g.sw - g.pw + g.kw - w)
    t = F.pad(t, (g.pw, right, g.ph, bottom))
    lh = (t.shape[-2] - g.kh) // g.sh + 1
    lw = (t.shape[-1] - g.kw) // g.sw + 1
    u = F.unfold(t, (g.kh, g.kw), stride=(g.sh, g.sw))
    if (lh, lw) != (hk, wk):
        u = u.reshape(b, -1, lh, lw)[:, :, :hk, :wk]
    return u.reshape(b, c, g.kh * g.kw, hk * wk)


def _kconv(t: Tensor, kernel: Tensor, g: _Geom, hk: int, wk: int) -> Tensor:
    """``Σ_patch kernel ⊙ patch(t)`` for every output position: (B, C, H, W) → (B, K, hk, wk).

    Equal to ``(kernel ⊙ _patchify(t)).sum(...)`` for a position-independent ``kernel``
    (K, C, kh, kw), computed as one convolution (zero padding = entries outside the map)."""
    h, w = t.shape[-2:]
    bottom = max(0, (hk - 1) * g.sh - g.ph + g.kh - h)
    right = max(0, (wk - 1) * g.sw - g.pw + g.kw - w)
    t = F.pad(t, (g.pw, right, g.ph, bottom))
    return F.conv2d(t, kernel, None, (g.sh, g.sw))[:, :, :hk, :wk]


def _compose(g: _Geom, op: "_ConvOp", kh: int, kw: int) -> _Geom:
    """Geometry of patches pushed back through convolution ``op`` (new kernel size kh × kw)."""
    return _Geom(
        kh, kw, g.sh * op.stride[0], g.sw * op.stride[1],
        g.ph * op.stride[0] + op.padding[0], g.pw * op.stride[1] + op.padding[1],
    )


def _combined_kernel(A: Tensor, W: Tensor, stride: tuple[int, int]) -> Tensor:
    """Kernel of "A after W": (Ck, C, ka, kb) and (C, Ci, kh, kw) → (Ck, Ci, Kh, Kw, C, ka, kb) with
    ``K[k, i, a*s + p, b*s + q, c, a, b] = A[k, c, a, b] W[c, i, p, q]`` (no sum over c, a, b)."""
    ck, c, ka, kb = A.shape
    ci, kh, kw = W.shape[1:]
    sh, sw = stride
    Kh, Kw = (ka - 1) * sh + kh, (kb - 1) * sw + kw
    rows = []
    for a in range(ka):
        cols = []
        for b in range(kb):
            blk = torch.einsum("kc,cipq->kipqc", A[:, :, a, b], W)  # (Ck, Ci, kh, kw, C)
            cols.append(F.pad(blk, (0, 0, b * sw, Kw - kw - b * sw, a * sh, Kh - kh - a * sh)))
        rows.append(torch.stack(cols, -1))  # (Ck, Ci, Kh, Kw, C, kb)
    return torch.stack(rows, -2)  # (Ck, Ci, Kh, Kw, C, ka, kb)


def _backward_patches(
    ops: list[_Op], infos: dict[int, _ReluInfo], t: int, inp: _InputSet
) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds (B, *ops[t].out_shape) of every unit of conv op ``t``.

    The dual variables of unit (c, h, w) are non-zero only on its receptive field. While they are
    the same for every position and example (from conv ``t`` down to the first ReLU), they are a
    kernel and every term is one convolution of a per-example map. After a ReLU they become
    per-example *patches* ``P`` (B, C_t, H_t, W_t, C_i, Kh, Kw) on the map of layer i (entries
    outside the map kept at zero), pushed back with ``conv_transpose2d``. The common case
    conv → ReLU → [Normalize] conv → [Normalize] input is computed with one convolution of the
    ReLU's slopes with a combined kernel.
    """
    conv = ops[t]
    assert isinstance(conv, _ConvOp)
    ck, hk, wk = conv.out_shape
    dims = (-3, -2, -1)
    A = conv.weight
    g = _Geom(A.shape[2], A.shape[3], conv.stride[0], conv.stride[1], conv.padding[0], conv.padding[1])
    lo: Tensor | float = 0.0
    hi: Tensor | float = 0.0
    if conv.bias is not None:
        lo = hi = conv.bias.reshape(1, ck, 1, 1)
    i = t - 1
    # ---- kernel state: A is the same for every position and example
    while i >= 0 and ops[i].kind == "normalize":
        op = ops[i]
        assert isinstance(op, _NormalizeOp)
        b = _kconv(op.shift.unsqueeze(0), A, g, hk, wk)
        lo, hi = lo + b, hi + b
        A = A * op.scale_c.reshape(1, -1, 1, 1)
        i -= 1
    if i < 0:
        il, iu = inp.term_kernel(A, g, hk, wk)
        return lo + il, hi + iu
    if ops[i].kind == "relu":
        r, info = i, infos[i]
        D = info.d
        lId = info.lI * D  # d >= 0: [d·a]_± = d·[a]_±
        lo = lo - _kconv(lId, A.clamp(max=0), g, hk, wk)
        hi = hi - _kconv(lId, A.clamp(min=0), g, hk, wk)
        below = ops[:r]
        conv_idx = [j for j, o in enumerate(below) if o.kind == "conv"]
        if len(conv_idx) == 1 and all(o.kind in ("conv", "normalize") for o in below):
            jb = conv_idx[0]
            for j in range(r - 1, jb, -1):  # Normalize between that conv and the ReLU
                op = ops[j]
                assert isinstance(op, _NormalizeOp)
                b = _kconv(D * op.shift, A, g, hk, wk)
                lo, hi = lo + b, hi + b
                D = D * op.scale
            cb = ops[jb]
            assert isinstance(cb, _ConvOp)
            if cb.bias is not None:
                b = _kconv(D, A * cb.bias.reshape(1, -1, 1, 1), g, hk, wk)
                lo, hi = lo + b, hi + b
            K = _combined_kernel(A, cb.weight, cb.stride)  # (Ck, Ci, Kh, Kw, C, ka, kb)
            ci, kh2, kw2 = K.shape[1:4]
            P = _kconv(D, K.reshape(ck * ci * kh2 * kw2, *K.shape[4:]), g, hk, wk)
            # "unfold" layout (B, Ck, Ci, Kh*Kw, hk*wk): contiguous, matches F.unfold of the input
            P = P.reshape(-1, ck, ci, kh2 * kw2, hk * wk)
            g = _compose(g, cb, kh2, kw2)
            ones = torch.ones((1, 1) + cb.in_shape[1:], dtype=P.dtype, device=P.device)
            P = P * _unfold(ones, g, hk, wk).unsqueeze(1)
            for j in range(jb - 1, -1, -1):  # only Normalize layers are left below
                op = ops[j]
                assert isinstance(op, _NormalizeOp)
                b = (P.sum(3) * op.shift_c.reshape(-1, 1)).sum(2).reshape(-1, ck, hk, wk)
                lo, hi = lo + b, hi + b
                P = P * op.scale_c.reshape(-1, 1, 1)
            il, iu = inp.term_unfold(P, g, hk, wk)
            return lo + il.reshape(-1, ck, hk, wk), hi + iu.reshape(-1, ck, hk, wk)
        else:
            P = A.reshape(1, ck, 1, 1, *A.shape[1:]) * _patchify(D, g, hk, wk)
            i = r - 1
    else:  # a convolution (or other op) right below: materialise the masked patches
        shape = ops[i].out_shape
        ones = torch.ones((1, 1) + shape[1:], dtype=A.dtype, device=A.device)
        P = A.reshape(1, ck, 1, 1, *A.shape[1:]) * _patchify(ones, g, hk, wk)
    # ---- generic patches
    for i in range(i, -1, -1):
        op = ops[i]
        if op.kind == "relu":
            info = infos[i]
            P = P * _patchify(info.d, g, hk, wk)
            lI = _patchify(info.lI, g, hk, wk)
            lo = lo - (lI * P.clamp(max=0)).sum(dims)
            hi = hi - (lI * P.clamp(min=0)).sum(dims)
        elif op.kind == "normalize":
            assert isinstance(op, _NormalizeOp)
            b = P.sum((-2, -1)) @ op.shift_c
            lo, hi = lo + b, hi + b
            P = P * op.scale_c.reshape(-1, 1, 1)
        elif op.kind == "conv":
            assert isinstance(op, _ConvOp)
            if op.bias is not None:
                b = P.sum((-2, -1)) @ op.bias
                lo, hi = lo + b, hi + b
            bp, c = P.shape[0], P.shape[4]
            out = F.conv_transpose2d(P.reshape(-1, c, g.kh, g.kw), op.weight, None, op.stride)
            P = out.view(bp, ck, hk, wk, *out.shape[1:])
            g = _compose(g, op, out.shape[-2], out.shape[-1])
            ones = torch.ones((1, 1) + op.in_shape[1:], dtype=P.dtype, device=P.device)
            P = P * _patchify(ones, g, hk, wk)
        else:  # unreachable for valid nets: convolutions only follow (N, C, H, W) layers
            raise ValueError(f"internal error: {op.kind} layer before a convolution")
    il, iu = inp.term_patches(P, g)
    return lo + il, hi + iu


def _preactivation_bounds(
    ops: list[_Op], infos: dict[int, _ReluInfo], t: int, inp: _InputSet
) -> tuple[Tensor, Tensor]:
    """WK bounds (B, *shape) of every unit of the output of op ``t`` (``-1``: the input)."""
    if t >= 0 and ops[t].kind == "conv":
        return _backward_patches(ops, infos, t, inp)
    shape = ops[t].out_shape if t >= 0 else tuple(inp.x.shape[1:])
    q = int(np.prod(shape))
    x = inp.x
    eye = torch.eye(q, dtype=x.dtype, device=x.device).reshape(1, q, *shape)
    lo, hi = _backward_dense(ops, infos, t, eye, inp, both=True)
    return lo.reshape(-1, *shape), hi.reshape(-1, *shape)


# ============================================================================================
# specifications
# ============================================================================================
def _spec_cost(spec: Any, num_classes: int) -> "costs_mod.CostMatrix | None":
    """The cost matrix whose sensitive pairs a certificate bounds: ``spec`` through
    :func:`csr.costs.as_cost` (all-zero allowed), ``None`` → every pair (``overall``; ``None`` is
    kept for a single-output model, which has no pair)."""
    m = num_classes
    if spec is None:
        return costs_mod.overall(m) if m >= 2 else None
    try:
        return costs_mod.as_cost(spec, m, allow_empty=True)
    except costs_mod.CostMatrixSizeError as e:
        raise ValueError(f"spec is for {e.size} classes but the model has m = {m} outputs") from None


def _spec_rows(C: "costs_mod.CostMatrix | None", y: Tensor, m: int) -> Tensor:
    """(N, m) bool on ``y``'s device: the pairs to bound of each example."""
    if C is None:
        return torch.zeros((y.shape[0], m), dtype=torch.bool, device=y.device)
    return C.spec_mask(y)


def spec_mask(spec: Any, num_classes: int) -> np.ndarray:
    """Boolean (m, m) mask of the pairs to bound: True at (i, j) when j ∈ Ω_i (diagonal False).

    ``spec``: None (every pair), a :class:`~csr.costs.CostMatrix`, or anything
    :func:`csr.costs.as_cost` accepts (a spec string such as ``"odd"``, an (m, m) bool mask or
    non-negative array: > 0 marks a pair). The mask is :meth:`csr.costs.CostMatrix.spec_mask`.

    >>> spec_mask(None, 3).astype(int).tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    >>> spec_mask([[0, 2, 0], [0, 0, 0], [1, 0, 0]], 3).sum()
    np.int64(2)
    """
    C = _spec_cost(spec, num_classes)
    if C is None:
        return np.zeros((num_classes, num_classes), dtype=bool)
    return np.array(C.spec_mask())


def count_spec_columns(y: Any, spec: Any, num_classes: int) -> int:
    """Number of specification columns ``Σ_n |Ω_{y_n}|`` that :func:`bounds` evaluates
    (:meth:`csr.costs.CostMatrix.spec_columns`).

    >>> count_spec_columns([0, 1, 2, 0], None, 3), count_spec_columns([0, 1, 2, 0], "single_seed:0", 3)
    (8, 4)
    """
    C = _spec_cost(spec, num_classes)
    if isinstance(y, Tensor):
        y = y.detach().cpu()
    return 0 if C is None else C.spec_columns(y)


@dataclass
class _Spec:
    """Specification of the active examples: ``targets`` (Na, Q) with Q = max_n |Ω_{y_n}|, rows
    padded with the label itself (c = 0 there), ``valid`` (Na, Q) marks real targets and
    ``c`` (Na, Q, m) holds the rows e_y - e_j."""

    y: Tensor
    targets: Tensor
    valid: Tensor
    c: Tensor


def _make_spec(y: Tensor, mt: Tensor, dtype: torch.dtype) -> _Spec:
    """``mt`` (Na, m) bool: the pairs to bound of each active example."""
    m = mt.shape[1]
    q = int(mt.sum(1).max()) if y.numel() else 0
    order = torch.argsort((~mt).to(torch.int8), dim=1, stable=True)[:, :q]  # targets first, ascending
    valid = torch.gather(mt, 1, order)
    targets = torch.where(valid, order, y.unsqueeze(1))
    eye = torch.eye(m, dtype=dtype, device=y.device)
    c = eye[y].unsqueeze(1) - eye[targets]
    return _Spec(y, targets, valid, c)


_STATS: dict[str, Any] = {}


def last_bound_stats() -> dict[str, Any]:
    """What the last :func:`bounds` call computed: ``examples`` (with Ω_y ≠ ∅),
    ``spec_columns`` (specification objectives, Σ_n |Ω_{y_n}|), ``computed_columns`` (objective
    columns of the final pass: the active examples × max_n |Ω_{y_n}|, short rows padded with
    c = 0), ``all_pairs_columns``
    (N·(m−1), what ``spec=None`` would cost), ``intermediate_units`` (per-example units whose
    bounds were computed, summed over the active batch) and ``method``/``norm``."""
    return dict(_STATS)


# ============================================================================================
# methods
# ============================================================================================
@dataclass(frozen=True)
class BoundMethod:
    """A registered bound method: ``fn(ops, inp, spec, **options) -> (values (Na, Q), relu infos)``."""

    name: str
    fn: Callable[..., list[Tensor]]
    sound: bool
    options: tuple[str, ...] = ()
    description: str = ""


BOUND_METHODS: Registry[BoundMethod] = Registry("bound method")


def _relu_layers(ops: list[_Op]) -> list[int]:
    return [i for i, op in enumerate(ops) if op.kind == "relu"]


def _final_backward(ops: list[_Op], infos: dict[int, _ReluInfo], inp: _InputSet, spec: _Spec) -> Tensor:
    """Dual / CROWN backward pass from c = e_y - e_j: lower bounds (Na, Q)."""
    lo, _ = _backward_dense(ops, infos, len(ops) - 1, spec.c, inp, both=False)
    return lo


def wk_intermediate(ops: list[_Op], inp: _InputSet) -> dict[int, _ReluInfo]:
    infos: dict[int, _ReluInfo] = {}
    for r in _relu_layers(ops):
        lo, hi = _preactivation_bounds(ops, infos, r - 1, inp)
        infos[r] = _relu_info(lo, hi)
    return infos


def _wk(ops, inp, spec, **_):
    infos = wk_intermediate(ops, inp)
    return _final_backward(ops, infos, inp, spec), infos


def _cauchy(shape: tuple[int, ...], like: Tensor, gen: torch.Generator | None) -> Tensor:
    return torch.empty(shape, dtype=like.dtype, device=like.device).cauchy_(generator=gen)


def wk_proj_intermediate(ops: list[_Op], inp: _InputSet, k: int, gen: torch.Generator | None) -> dict[int, _ReluInfo]:
    """Forward-mode dual network with random projections of the ℓ1 (ℓ2) terms."""
    x = inp.x
    in_shape = tuple(x.shape[1:])
    n = int(np.prod(in_shape))
    if inp.norm == "linf":
        centre, radius = inp.centre_radius()
    else:
        centre, radius = x, None
    # stream of the input term: columns R with ||row(M) diag(radius)||_1 ≈ median |M R|
    in_exact = n <= k
    if in_exact:
        R = torch.eye(n, dtype=x.dtype, device=x.device).reshape(1, n, *in_shape)
    elif inp.norm == "linf":
        R = _cauchy((1, k) + in_shape, x, gen)
    else:
        R = torch.empty((1, k) + in_shape, dtype=x.dtype, device=x.device).normal_(generator=gen)
    if radius is not None:
        R = R * radius.unsqueeze(1)
    relu_streams: list[tuple[Tensor, Tensor, bool]] = []  # (M (d⊙lI), M(d⊙lI⊙R), exact)
    infos: dict[int, _ReluInfo] = {}
    relus = _relu_layers(ops)
    last = relus[-1] if relus else -1
    for i, op in enumerate(ops[: last + 1]):
        if op.kind != "relu":
            centre = op.fwd(centre)
            R = op.lin(R)
            relu_streams = [(op.lin(v.unsqueeze(1)).squeeze(1), op.lin(p), ex) for v, p, ex in relu_streams]
            continue
        if inp.norm == "linf":
            rad = R.abs().sum(1) if in_exact else R.abs().median(1).values
        else:
            rad = inp.eps * (R.norm(dim=1) if in_exact else R.norm(dim=1) / math.sqrt(k))
        lo, hi = centre - rad, centre + rad
        for v, p, ex in relu_streams:
            a = p.abs().sum(1) if ex else p.abs().median(1).values
            lo = lo - a / 2 - v / 2
            hi = hi + a / 2 - v / 2
        info = _relu_info(lo, hi)
        infos[i] = info
        d = info.d
        centre = centre * d
        R = R * d.unsqueeze(1)
        relu_streams = [(v * d, p * d.unsqueeze(1), ex) for v, p, ex in relu_streams]
        v = d * info.lI
        width = int(np.prod(op.out_shape))
        if width <= k:
            p = torch.eye(width, dtype=x.dtype, device=x.device).reshape(1, width, *op.out_shape)
            relu_streams.append((v, p * v.unsqueeze(1), True))
        else:
            relu_streams.append((v, _cauchy((1, k) + op.out_shape, x, gen) * v.unsqueeze(1), False))
    return infos


def _wk_proj(ops, inp, spec, k: int = 50, seed: int | None = None, **_):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"wk_proj: k (number of random projections) must be an integer >= 1, got {k!r}")
    gen = None
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"wk_proj: seed must be a non-negative integer, got {seed!r}")
        gen = torch.Generator(device=inp.x.device)
        gen.manual_seed(int(seed))
    infos = wk_proj_intermediate(ops, inp, int(k), gen)
    if spec is None:
        return None, infos
    return _final_backward(ops, infos, inp, spec), infos


def ibp_intervals(
    ops: list[_Op], inp: _InputSet, stop: int
) -> tuple[dict[int, tuple[Tensor, Tensor]], tuple[Tensor, Tensor]]:
    """Interval bounds at the input of every ReLU before op ``stop`` and (centre, radius) at the
    input of op ``stop``. For ℓ2 the first affine block is bounded exactly (dual of a linear
    function over the ball)."""
    relus = [r for r in _relu_layers(ops) if r < stop]
    pre: dict[int, tuple[Tensor, Tensor]] = {}
    if inp.norm == "linf":
        start = 0
        c, r = inp.centre_radius()
    else:
        start = relus[0] if relus else stop
        lo, hi = _preactivation_bounds(ops, {}, start - 1, inp)
        c, r = (lo + hi) / 2, (hi - lo) / 2
    for i in range(start, stop):
        op = ops[i]
        if op.kind == "relu":
            lo, hi = c - r, c + r
            pre[i] = (lo, hi)
            lo, hi = lo.clamp(min=0), hi.clamp(min=0)
            c, r = (lo + hi) / 2, (hi - lo) / 2
        else:
            c, r = op.interval(c, r)
    return pre, (c, r)


def _ibp(ops, inp, spec, **_):
    last = ops[-1]
    if inp.norm == "l2" and not _relu_layers(ops):  # affine network: exact
        return _final_backward(ops, {}, inp, spec), {}
    elide = isinstance(last, _LinearOp)
    pre, (c, r) = ibp_intervals(ops, inp, len(ops) - 1 if elide else len(ops))
    infos = {i: _relu_info(lo, hi) for i, (lo, hi) in pre.items()}
    if elide:
        wd = spec.c @ last.weight  # (Na, Q, F): rows W_y - W_j
        val = (wd @ c.unsqueeze(-1) - wd.abs() @ r.unsqueeze(-1)).squeeze(-1)
        if last.bias is not None:
            val = val + spec.c @ last.bias
    else:
        lo, hi = c - r, c + r
        val = lo.gather(1, spec.y.unsqueeze(1)) - hi.gather(1, spec.targets)
    return val, infos


def _crown_ibp(ops, inp, spec, **_):
    pre, _ = ibp_intervals(ops, inp, len(ops))
    infos = {i: _relu_info(lo, hi, adaptive=True) for i, (lo, hi) in pre.items()}
    return _final_backward(ops, infos, inp, spec), infos


BOUND_METHODS.register("wk", BoundMethod(
    "wk", _wk, True, (), "Wong & Kolter (2018) dual network, exact intermediate bounds"))
BOUND_METHODS.register("wk_proj", BoundMethod(
    "wk_proj", _wk_proj, False, ("k", "seed"),
    "Wong et al. (2018) random projections (median estimator); an estimate, training only"))
BOUND_METHODS.register("ibp", BoundMethod(
    "ibp", _ibp, True, (), "interval bound propagation with an elided last layer"))
BOUND_METHODS.register("crown_ibp", BoundMethod(
    "crown_ibp", _crown_ibp, True, (), "IBP intermediate bounds + CROWN backward pass (Zhang et al. 2020)"))


# ============================================================================================
# public API
# ============================================================================================
def _check_eps(eps: Any) -> float:
    if isinstance(eps, Tensor):
        if eps.numel() != 1:
            raise ValueError(f"eps must be a single number, got a tensor of shape {tuple(eps.shape)}")
        eps = eps.item()
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise ValueError(f"eps must be a number, got {type(eps).__name__}")
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    return eps


def _prepare(model, x, y, eps, norm, method, spec, num_classes):
    if not isinstance(norm, str) or norm not in NORMS:
        NORMS.get(norm if isinstance(norm, str) else repr(norm))
    if not isinstance(method, str) or method not in BOUND_METHODS:
        BOUND_METHODS.get(method if isinstance(method, str) else repr(method))
    eps = _check_eps(eps)
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError("x must be a floating-point tensor of shape (N, ...) with N >= 0")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(
            f"x must lie in [0, 1] (pixel space); got range [{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    p = next(iter(model.parameters()), None)
    if p is not None and (p.dtype != x.dtype or p.device != x.device):
        raise ValueError(
            f"x ({x.dtype}, {x.device}) must have the model's dtype and device ({p.dtype}, {p.device})"
        )
    ops = _parse(model, tuple(x.shape[1:]))
    m = ops[-1].out_shape[0]
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if num_classes != m:
            raise ValueError(f"num_classes = {num_classes} but the model has {m} outputs")
    if isinstance(y, Tensor):
        yt = y.detach()
    else:
        try:
            yt = torch.as_tensor(np.asarray(y))
        except (TypeError, ValueError):
            raise ValueError("y must be a sequence of integer labels") from None
    if yt.is_floating_point() or yt.is_complex() or yt.dtype == torch.bool:
        raise ValueError(f"y must hold integer labels, got dtype {yt.dtype}")
    yt = yt.reshape(-1) if yt.dim() == 0 and x.shape[0] == 1 else yt
    if yt.dim() != 1 or yt.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(yt.shape)}")
    yt = yt.to(device=x.device, dtype=torch.long)
    if yt.numel() and (int(yt.min()) < 0 or int(yt.max()) >= m):
        raise ValueError(f"labels must lie in 0..{m - 1}; got range {int(yt.min())}..{int(yt.max())}")
    C = _spec_cost(spec, m)
    return ops, m, eps, yt, C


def _check_options(method: str, options: dict[str, Any]) -> BoundMethod:
    meth = BOUND_METHODS.get(method)
    bad = sorted(set(options) - set(meth.options))
    if bad:
        known = ", ".join(meth.options) or "none"
        raise ValueError(f"unknown option(s) {', '.join(bad)} for bound method {method!r}; known options: {known}")
    return meth


def bounds(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    *,
    norm: str = "linf",
    method: str = "wk",
    spec: Any = None,
    num_classes: int | None = None,
    **method_kwargs: Any,
) -> Tensor:
    """Lower bounds ``J`` (N, m) on ``f_y(x') - f_j(x')`` over the perturbation set of each example.

    Args:
        model: ``nn.Sequential`` of Normalize / Conv2d / Linear / ReLU / Flatten.
        x: ``(N, ...)`` inputs in ``[0, 1]`` (dtype and device of the model).
        y: ``(N,)`` integer labels in ``0..m-1``.
        eps: radius ``>= 0``.
        norm: ``"linf"`` (set clipped to ``[0, 1]``) or ``"l2"`` (box ignored; see module doc).
        method: a :data:`BOUND_METHODS` name: ``wk``, ``wk_proj``, ``ibp``, ``crown_ibp``.
        spec: ``None`` (every target) or a CostMatrix / anything :func:`csr.costs.as_cost` accepts
            ((m, m) array, bool mask, cost-matrix spec string): only ``j ∈ Ω_{y_n}`` is computed
            (:meth:`csr.costs.CostMatrix.spec_mask`).
        num_classes: optional check of ``m``.
        method_kwargs: method options (``wk_proj``: ``k=50``, ``seed=None``).

    Returns:
        ``(N, m)`` tensor on ``x.device``; ``J[n, y_n] = 0``; entries not in the specification are
        ``+inf``. Differentiable with respect to the model parameters.

    Raises:
        ValueError: unsupported layer (naming type and index), bad ``eps``/labels/spec, unknown
        method or norm (listing the known ones), unknown method option.

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> J = bounds(net, torch.rand(2, 2), torch.tensor([0, 2]), 0.1, spec=[[0, 1, 0], [0, 0, 0], [1, 1, 0]])
    >>> torch.isinf(J).tolist()
    [[False, False, True], [False, False, False]]
    """
    ops, m, eps, y, C = _prepare(model, x, y, eps, norm, method, spec, num_classes)
    meth = _check_options(method, method_kwargs)
    n = x.shape[0]
    J = torch.full((n, m), float("inf"), dtype=x.dtype, device=x.device)
    if n:
        J[torch.arange(n, device=x.device), y] = 0.0
    candidates = C.candidates(y) if C is not None else torch.zeros_like(y, dtype=torch.bool)
    active = candidates.nonzero().squeeze(1)  # examples with Ω_{y_n} ≠ ∅
    sp = _make_spec(y[active], _spec_rows(C, y[active], m), x.dtype)
    _STATS.clear()
    _STATS.update(
        method=method, norm=norm, examples=int(active.numel()),
        spec_columns=int(sp.valid.sum()), computed_columns=int(sp.valid.numel()),
        all_pairs_columns=int(n * (m - 1)), intermediate_units=0,
    )
    if active.numel() == 0:
        return J
    inp = _InputSet(norm, x[active], eps)
    values, infos = meth.fn(ops, inp, sp, **method_kwargs)
    _STATS["intermediate_units"] = int(active.numel()) * sum(
        int(np.prod(ops[i].in_shape)) for i in infos
    )
    rows = active.unsqueeze(1).expand_as(sp.targets)[sp.valid]
    return J.index_put((rows, sp.targets[sp.valid]), values[sp.valid])


def intermediate_bounds(
    model: nn.Module, x: Tensor, eps: float, *, norm: str = "linf", method: str = "wk", **method_kwargs: Any
) -> list[tuple[Tensor, Tensor]]:
    """Pre-activation bounds ``(lower, upper)``, each ``(N, *shape)``, of every ReLU layer in order,
    as used by ``method`` (``wk``/``wk_proj``: dual network; ``ibp``/``crown_ibp``: intervals).

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> [tuple(t.shape) for t in intermediate_bounds(net, torch.rand(5, 2), 0.1)[0]]
    [(5, 4), (5, 4)]
    """
    y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device) if isinstance(x, Tensor) else None
    ops, m, eps, _, _ = _prepare(model, x, y, eps, norm, method, None, None)
    _check_options(method, method_kwargs)
    inp = _InputSet(norm, x, eps)
    if method == "wk":
        infos = wk_intermediate(ops, inp)
    elif method == "wk_proj":
        _, infos = _wk_proj(ops, inp, None, **method_kwargs)
    else:
        pre, _ = ibp_intervals(ops, inp, len(ops))
        return [pre[i] for i in sorted(pre)]
    return [(infos[i].lower, infos[i].upper) for i in sorted(infos)]


def certify(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    cost: Any = None,
    norm: str = "linf",
    method: str = "wk",
    batch_size: int = 50,
) -> Tensor:
    """Certified reach matrix (N, m) bool: True where class ``j != y_n`` is **not** excluded.

    ``reach[n, j] = J[n, j] <= 0`` for the pairs in the specification (``cost``: None for every
    pair, or a CostMatrix / mask as in :func:`bounds`); pairs outside it and the diagonal are
    False. Feed it to :func:`csr.metrics.cost_sensitive_robust_error` & co. for *certified*
    (upper-bound) robust errors. Runs without gradients in chunks of ``batch_size``.
    ``wk_proj`` is refused: its bounds are estimates, not certificates. (:func:`last_bound_stats`
    then describes the last chunk only.)

    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    >>> certify(net, torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), 0.0, cost="single_seed:0").dtype
    torch.bool
    """
    if isinstance(method, str) and method in BOUND_METHODS and not BOUND_METHODS.get(method).sound:
        sound = ", ".join(n for n in BOUND_METHODS.names() if BOUND_METHODS.get(n).sound)
        raise ValueError(
            f"bound method {method!r} gives a randomised estimate, not a certificate; "
            f"certify with one of: {sound}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    ops, m, eps, yt, C = _prepare(model, x, y, eps, norm, method, cost, None)
    spec = cost if C is None else C  # parsed once, not per chunk
    n = x.shape[0]
    reach = torch.zeros((n, m), dtype=torch.bool, device=x.device)
    with torch.no_grad():
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            J = bounds(model, x[s:e], yt[s:e], eps, norm=norm, method=method, spec=spec)
            r = ~(J > 0)
            r[torch.arange(e - s, device=x.device), yt[s:e]] = False
            reach[s:e] = r
    return reach
