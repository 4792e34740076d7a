"""Model zoo: every model takes pixel-space input in [0, 1] and starts with :class:`Normalize`.

``build_model(name, input_shape=..., num_classes=..., mean=..., std=...)`` returns an
``nn.Sequential`` whose element ``[0]`` is :class:`Normalize` (identity statistics when
``mean`` / ``std`` are None).

========================  ===============================================================
name                      architecture (kwargs)
========================  ===============================================================
``mlp``                   Flatten, [Linear, ReLU] × len(hidden), Linear (``hidden=(256, 256)``)
``mnist_small``           Wong & Kolter (2018): conv16 4×4/2, conv32 4×4/2, fc100, fc m
``lenet``                 LeNet-5 style (Shen et al.): conv6 5×5, pool, conv16 5×5, pool,
                          fc120, fc84, fc m
``cifar_small``           Wong et al. (2018) small: conv16 4×4/2, conv32 4×4/2, fc100, fc m
``cifar_large``           Wong et al. (2018) large: conv32, conv32/2, conv64, conv64/2,
                          fc512, fc512, fc m
``resnet20``/``resnet56`` He et al. (2016) CIFAR ResNets, 16/32/64 channels
                          (``shortcut="A"`` zero-padding identity, or ``"B"`` 1×1 conv)
``resnet18``              CIFAR-style ResNet-18 (3×3 stem, no max-pool)
``wrn``                   WideResNet (``depth=28``, ``width=10``, ``dropout=0.0``)
========================  ===============================================================

``mlp``, ``mnist_small``, ``cifar_small`` and ``cifar_large`` are plain ``nn.Sequential`` of only
Normalize / Conv2d / ReLU / Flatten / Linear modules, which the convex-relaxation certifier walks
layer by layer.

Example
-------
>>> import torch
>>> m = build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10,
...                 mean=(0.13,), std=(0.31,))
>>> m(torch.rand(2, 1, 28, 28)).shape
torch.Size([2, 10])
>>> count_parameters(m)
166406
"""
from __future__ import annotations

import inspect
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from csr.registry import Registry

__all__ = [
    "Normalize",
    "MODELS",
    "SEQUENTIAL_MODELS",
    "CERTIFIABLE_LAYERS",
    "build_model",
    "count_parameters",
]


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel (dim 1), for ``(N, C, H, W)`` or ``(N, d)`` inputs.

    ``mean`` / ``std`` are stored as 1-D buffers of length C (moved with ``.to(device)`` and
    saved in ``state_dict``). A length-1 statistic broadcasts over all channels.

    >>> import torch
    >>> Normalize((0.5,), (0.25,))(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise ValueError(
                f"Normalize needs non-empty mean and std of equal length, got {len(mean_t)} "
                f"and {len(std_t)} values"
            )
        if not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            raise ValueError("Normalize mean and std must be finite")
        if (std_t <= 0).any():
            raise ValueError(f"Normalize std must be positive, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def _view(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return t.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"Normalize expects (N, C, ...) input, got shape {tuple(x.shape)}")
        return (x - self._view(self.mean, x)) / self._view(self.std, x)

    def extra_repr(self) -> str:
        f = lambda t: "(" + ", ".join(f"{v:.4g}" for v in t.tolist()) + ")"  # noqa: E731
        return f"mean={f(self.mean)}, std={f(self.std)}"


MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

#: models built as plain ``nn.Sequential`` of :data:`CERTIFIABLE_LAYERS` only
SEQUENTIAL_MODELS = ("mlp", "mnist_small", "cifar_small", "cifar_large")
CERTIFIABLE_LAYERS = (Normalize, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _image_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(
            f"model {name!r} needs image input_shape (C, H, W), got {input_shape}; "
            f"use 'mlp' for (d,) inputs"
        )
    return input_shape  # type: ignore[return-value]


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _positive_int(name: str, key: str, v: object, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"model {name!r}: {key} must be an integer >= {minimum}, got {v!r}")
    return v


def _conv_stack(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    convs: Sequence[tuple[int, int, int, int]],
    fcs: Sequence[int],
) -> list[nn.Module]:
    """Conv2d/ReLU layers ``(out, kernel, stride, pad)``, Flatten, Linear/ReLU ``fcs``, Linear."""
    c, h, w = _image_shape(name, input_shape)
    layers: list[nn.Module] = []
    for out, k, s, p in convs:
        layers += [nn.Conv2d(c, out, k, stride=s, padding=p), nn.ReLU()]
        c, h, w = out, _conv_out(h, k, s, p), _conv_out(w, k, s, p)
        if h < 1 or w < 1:
            raise ValueError(f"model {name!r}: input_shape {input_shape} is too small")
    layers.append(nn.Flatten())
    d = c * h * w
    for f in fcs:
        layers += [nn.Linear(d, f), nn.ReLU()]
        d = f
    layers.append(nn.Linear(d, num_classes))
    return layers


# --------------------------------------------------------------------------------------------
# small, certifiable nets (plain Sequential)
# --------------------------------------------------------------------------------------------
@MODELS.register("mlp")
def _mlp(input_shape, num_classes, hidden: Sequence[int] = (256, 256)) -> list[nn.Module]:
    """Flatten → [Linear, ReLU] per hidden size → Linear(m). Works on any input shape."""
    if isinstance(hidden, int) or not isinstance(hidden, (list, tuple)):
        raise ValueError(f"model 'mlp': hidden must be a list/tuple of ints, got {hidden!r}")
    d = 1
    for s in input_shape:
        d *= s
    layers: list[nn.Module] = [nn.Flatten()]
    for hs in hidden:
        hs = _positive_int("mlp", "hidden sizes", hs)
        layers += [nn.Linear(d, hs), nn.ReLU()]
        d = hs
    layers.append(nn.Linear(d, num_classes))
    return layers


@MODELS.register("mnist_small")
def _mnist_small(input_shape, num_classes) -> list[nn.Module]:
    """Wong & Kolter (2018) MNIST net: conv16 4×4/2 p1, conv32 4×4/2 p1, fc100, fc m."""
    return _conv_stack("mnist_small", input_shape, num_classes,
                       [(16, 4, 2, 1), (32, 4, 2, 1)], [100])


@MODELS.register("cifar_small")
def _cifar_small(input_shape, num_classes) -> list[nn.Module]:
    """Wong et al. (2018) small CIFAR net: conv16 4×4/2 p1, conv32 4×4/2 p1, fc100, fc m."""
    return _conv_stack("cifar_small", input_shape, num_classes,
                       [(16, 4, 2, 1), (32, 4, 2, 1)], [100])


@MODELS.register("cifar_large")
def _cifar_large(input_shape, num_classes) -> list[nn.Module]:
    """Wong et al. (2018) large CIFAR net: conv32 3/1, conv32 4/2, conv64 3/1, conv64 4/2,
    fc512, fc512, fc m (all padding 1, ReLU)."""
    return _conv_stack("cifar_large", input_shape, num_classes,
                       [(32, 3, 1, 1), (32, 4, 2, 1), (64, 3, 1, 1), (64, 4, 2, 1)],
                       [512, 512])


# --------------------------------------------------------------------------------------------
# LeNet
# --------------------------------------------------------------------------------------------
@MODELS.register("lenet")
def _lenet(input_shape, num_classes, pad1: int = 2) -> list[nn.Module]:
    """LeNet-5 style: conv6 5×5 (padding ``pad1``), ReLU, maxpool2, conv16 5×5, ReLU, maxpool2,
    fc120, fc84, fc m.

    ``pad1=2`` keeps the input size (Shen et al.'s MNIST LeNet, "the padding is set to 2");
    ``pad1=0`` is their CIFAR-10 LeNet ("it does not need padding"). The second convolution is
    padded (p2) when the input is too small for a valid one (8×8).
    """
    c, h, w = _image_shape("lenet", input_shape)
    if not isinstance(pad1, int) or isinstance(pad1, bool) or pad1 < 0:
        raise ValueError(f"model 'lenet': pad1 must be an integer >= 0, got {pad1!r}")
    h1, w1 = (h + 2 * pad1 - 4) // 2, (w + 2 * pad1 - 4) // 2
    if h1 < 1 or w1 < 1:
        raise ValueError(f"model 'lenet': input_shape {input_shape} is too small")
    pad2 = 0 if min(h1, w1) - 4 >= 2 else 2
    h2, w2 = (h1 + 2 * pad2 - 4) // 2, (w1 + 2 * pad2 - 4) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"model 'lenet': input_shape {input_shape} is too small")
    return [
        nn.Conv2d(c, 6, 5, padding=pad1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * h2 * w2, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    ]


# --------------------------------------------------------------------------------------------
# ResNets
# --------------------------------------------------------------------------------------------
class _ShortcutA(nn.Module):
    """He et al. option A: subsample spatially and zero-pad the extra channels."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad = planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers with a residual connection (post-activation)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = _ShortcutA(in_planes, planes, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet of BasicBlocks: stem conv–BN–ReLU, stages, global avg-pool, fc.

    ``stem="cifar"``: one 3×3 stride-1 conv (He et al.'s CIFAR networks); ``stem="imagenet"``:
    a 7×7 stride-2 conv and a 3×3 stride-2 max-pool (ImageNet networks; a quarter of the
    spatial size before the first stage)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int],
        blocks: Sequence[int],
        shortcut: str = "B",
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False)
            self.pool0: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
            self.pool0 = nn.Identity()
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        in_planes = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            layers = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(in_planes, w, stride, shortcut))
                in_planes = w
            stages.append(nn.Sequential(*layers))
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out" if isinstance(m, nn.Conv2d)
                                        else "fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool0(F.relu(self.bn1(self.conv1(x))))
        out = self.layers(out)
        return self.fc(torch.flatten(self.pool(out), 1))


def _check_shortcut(name: str, shortcut: object) -> str:
    if shortcut not in ("A", "B"):
        raise ValueError(f"model {name!r}: shortcut must be 'A' or 'B', got {shortcut!r}")
    return shortcut  # type: ignore[return-value]


def _check_stem(name: str, stem: object) -> str:
    if stem not in ("cifar", "imagenet"):
        raise ValueError(f"model {name!r}: stem must be 'cifar' or 'imagenet', got {stem!r}")
    return stem  # type: ignore[return-value]


def _check_widths(name: str, widths: object, stages: int, default: tuple[int, ...]) -> tuple[int, ...]:
    if widths is None:
        return default
    if (not isinstance(widths, (list, tuple)) or len(widths) != stages
            or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths)):
        raise ValueError(f"model {name!r}: widths must be {stages} positive integers, got {widths!r}")
    return tuple(widths)


@MODELS.register("resnet20")
def _resnet20(input_shape, num_classes, shortcut: str = "A") -> nn.Module:
    """He et al. ResNet-20 (3×3 blocks per stage, 16/32/64 channels, ≈0.27M parameters)."""
    c, _, _ = _image_shape("resnet20", input_shape)
    return ResNet(c, num_classes, (16, 32, 64), (3, 3, 3), _check_shortcut("resnet20", shortcut))


@MODELS.register("resnet56")
def _resnet56(input_shape, num_classes, shortcut: str = "A", stem: str = "cifar",
              widths: Sequence[int] | None = None) -> nn.Module:
    """He et al. ResNet-56 (9 blocks per stage, 16/32/64 channels, ≈0.85M parameters).

    ``stem="imagenet"``, ``widths=[64, 128, 256]``, ``shortcut="B"`` give the CS-RS code's
    network for its 299-pixel HAM10k (and 160-pixel Imagenette) inputs (``archs/ham_resnet.py``:
    7×7 stride-2 stem and max-pool, 64/128/256 channels, 1×1 projection shortcuts)."""
    c, _, _ = _image_shape("resnet56", input_shape)
    return ResNet(c, num_classes, _check_widths("resnet56", widths, 3, (16, 32, 64)), (9, 9, 9),
                  _check_shortcut("resnet56", shortcut), _check_stem("resnet56", stem))


@MODELS.register("resnet18")
def _resnet18(input_shape, num_classes, stem: str = "cifar") -> nn.Module:
    """ResNet-18: 64/128/256/512 × 2 blocks (≈11.2M). ``stem="cifar"``: 3×3 stem, no max-pool
    (CIFAR-style); ``stem="imagenet"``: torchvision's 7×7 stride-2 stem and max-pool."""
    c, _, _ = _image_shape("resnet18", input_shape)
    return ResNet(c, num_classes, (64, 128, 256, 512), (2, 2, 2, 2), "B", _check_stem("resnet18", stem))


# --------------------------------------------------------------------------------------------
# WideResNet
# --------------------------------------------------------------------------------------------
class WideBlock(nn.Module):
    """Pre-activation wide block: BN–ReLU–conv3×3–(dropout)–BN–ReLU–conv3×3 + shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.equal = in_planes == planes and stride == 1
        self.shortcut: nn.Module = (
            nn.Identity() if self.equal
            else nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        out = self.conv1(o)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        # the projection shortcut sees the pre-activated input (Zagoruyko & Komodakis)
        return out + (x if self.equal else self.shortcut(o))


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` (Zagoruyko & Komodakis 2016); ``(depth - 4) % 6 == 0``."""

    def __init__(
        self, in_channels: int, num_classes: int, depth: int = 28, width: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks = []
        in_planes = widths[0]
        for i, w in enumerate(widths[1:]):
            for j in range(n):
                blocks.append(WideBlock(in_planes, w, 2 if (i > 0 and j == 0) else 1, dropout))
                in_planes = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.conv1(x))
        out = F.relu(self.bn(out))
        return self.fc(torch.flatten(self.pool(out), 1))


@MODELS.register("wrn")
def _wrn(input_shape, num_classes, depth: int = 28, width: int = 10,
         dropout: float = 0.0) -> nn.Module:
    """WideResNet-depth-width; depth must satisfy (depth - 4) % 6 == 0 (10, 16, 22, 28, 34, …)."""
    c, _, _ = _image_shape("wrn", input_shape)
    depth = _positive_int("wrn", "depth", depth, minimum=10)
    if (depth - 4) % 6 != 0:
        raise ValueError(f"model 'wrn': depth must satisfy (depth - 4) % 6 == 0 "
                         f"(10, 16, 22, 28, 34, ...), got {depth}")
    width = _positive_int("wrn", "width", width)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"model 'wrn': dropout must be a number in [0, 1), got {dropout!r}")
    return WideResNet(c, num_classes, depth, width, float(dropout))


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def _check_shape(input_shape: object) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)  # type: ignore[arg-type]
    except TypeError:
        shape = ()
    if len(shape) not in (1, 3) or any(
        isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape
    ):
        raise ValueError(
            f"input_shape must be (d,) or (C, H, W) of positive ints, got {input_shape!r}"
        )
    return shape


def _check_stats(key: str, v: object, channels: int) -> tuple[float, ...]:
    try:
        vals = tuple(float(t) for t in torch.as_tensor(v, dtype=torch.float64).flatten())
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{key} must be a sequence of numbers, got {v!r}") from None
    if len(vals) not in (1, channels):
        raise ValueError(f"{key} must have 1 or {channels} values (one per channel), "
                         f"got {len(vals)}")
    return vals


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs,
) -> nn.Module:
    """Build model ``name`` as ``nn.Sequential(Normalize(mean, std), ...)``.

    Parameters
    ----------
    name: one of ``MODELS.names()``.
    input_shape: one example's shape, ``(C, H, W)`` or ``(d,)`` (only ``mlp`` takes ``(d,)``).
    num_classes: number of output logits ``m`` (>= 2).
    mean, std: per-channel statistics (e.g. ``Splits.mean`` / ``Splits.std``); None → identity.
    **kwargs: architecture options (``hidden`` for mlp, ``shortcut`` for resnet20/56,
        ``depth`` / ``width`` / ``dropout`` for wrn). Unknown ones raise ``ValueError``.

    Example
    -------
    >>> m = build_model("mlp", input_shape=(2,), num_classes=3, hidden=(64, 64))
    >>> type(m[0]).__name__, m[-1].out_features
    ('Normalize', 3)
    """
    factory = MODELS.get(name)
    shape = _check_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    params = list(inspect.signature(factory).parameters)[2:]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        allowed = ", ".join(params) if params else "none"
        raise ValueError(
            f"model {name!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"accepted options: {allowed}"
        )
    channels = shape[0]
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if mean is None:
        mean_v, std_v = (0.0,) * channels, (1.0,) * channels
    else:
        mean_v, std_v = _check_stats("mean", mean, channels), _check_stats("std", std, channels)
    norm = Normalize(mean_v, std_v)
    body = factory(shape, num_classes, **kwargs)
    if isinstance(body, nn.Module):
        return nn.Sequential(norm, body)
    return nn.Sequential(norm, *body)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model``.

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
