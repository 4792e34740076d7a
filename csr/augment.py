"""Training-time data augmentation on pixel-space image batches (the trainer's ``augment`` field).

The splits are fixed tensors in [0, 1] (``csr.data``), so augmentation is applied to each
training batch after it is drawn, on the batch's device, with its randomness taken from a
``torch.Generator`` the trainer seeds per (seed, epoch, batch): a resumed run repeats the
exact crops and flips it would have drawn.

Registered (``AUGMENTATIONS``):

- ``crop_flip`` — ``RandomCrop(H, padding=4)`` + ``RandomHorizontalFlip()``, the CIFAR
  convention (MACER, CS-RS, Wong et al.): each image is zero-padded by ``padding`` pixels
  on every side, a window of the original size is cut at a uniform offset, and the result is
  mirrored left–right with probability ½.
- ``flip`` — the horizontal flip alone.
- ``resized_crop_flip`` — ``RandomResizedCrop(H, scale=(0.35, 1), ratio=(3/4, 4/3))`` +
  flip, as the CS-RS code trains Imagenette: a window covering a uniform share of the area
  in ``scale`` with a log-uniform aspect ratio in ``ratio`` is cut (ten tries, then the
  centre crop at the clamped ratio, as torchvision) and resized back to H × W (bilinear).
  Here it acts on the already-resized tensors, not on the original JPEGs.

Example
-------
>>> import torch
>>> x = torch.rand(8, 3, 32, 32)
>>> aug = AUGMENTATIONS.get("crop_flip")
>>> out = aug(x, torch.Generator().manual_seed(0))
>>> out.shape, bool(out.min() >= 0), bool(out.max() <= 1)
(torch.Size([8, 3, 32, 32]), True, True)
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .registry import Registry

__all__ = ["AUGMENTATIONS", "crop_flip", "flip", "resized_crop_flip", "augment_batch"]

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def _check(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"augmentation {name!r} needs an image batch (N, C, H, W), got shape {tuple(x.shape)}")


def _flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mask = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


@AUGMENTATIONS.register("flip")
def flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left–right with probability ½. ``x``: (N, C, H, W)."""
    _check(x, "flip")
    return _flip(x, gen)


@AUGMENTATIONS.register("crop_flip")
def crop_flip(x: torch.Tensor, gen: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Zero-pad by ``padding``, cut an H × W window at a uniform offset, flip with probability ½.
    ``x``: (N, C, H, W) → (N, C, H, W)."""
    _check(x, "crop_flip")
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device).view(1, h))  # (N, H)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device).view(1, w))  # (N, W)
    idx_r = rows.view(n, 1, h, 1).expand(n, x.shape[1], h, padded.shape[-1])
    out = padded.gather(2, idx_r)
    idx_c = cols.view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    out = out.gather(3, idx_c)
    return _flip(out, gen)


def _resized_crop_box(h: int, w: int, gen: torch.Generator, scale: tuple[float, float],
                      ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``, drawn from ``gen``: (top, left, height, width)."""
    area = h * w
    log_r = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1], generator=gen).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_r[0], log_r[1], generator=gen)).item()
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


@AUGMENTATIONS.register("resized_crop_flip")
def resized_crop_flip(x: torch.Tensor, gen: torch.Generator, scale: tuple[float, float] = (0.35, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """A random window (share of the area in ``scale``, aspect ratio in ``ratio``) of each image
    resized back to H × W (bilinear), then flipped with probability ½. ``x``: (N, C, H, W)."""
    _check(x, "resized_crop_flip")
    _, _, h, w = x.shape
    out = torch.empty_like(x)
    for i in range(len(x)):
        top, left, ch, cw = _resized_crop_box(h, w, gen, scale, ratio)
        win = x[i:i + 1, :, top:top + ch, left:left + cw]
        out[i] = F.interpolate(win, size=(h, w), mode="bilinear", align_corners=False)[0]
    return _flip(out.clamp_(0.0, 1.0), gen)


def augment_batch(name: str | None, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Apply the registered augmentation ``name`` (None: none) with a generator seeded by ``seed``."""
    if name is None:
        return x
    return AUGMENTATIONS.get(name)(x, torch.Generator().manual_seed(int(seed)))
