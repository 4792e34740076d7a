"""First-order adversarial attacks in pixel space, with pluggable losses and norms.

One engine drives every attack: starting from the clean input (or a random point of the
ε-ball), it repeatedly takes a steepest-ascent step on a per-example loss and projects back
onto the ε-ball around ``x`` intersected with the ``[0, 1]`` box.

* Losses (:data:`LOSSES`): ``ce`` (cross-entropy) and ``cw`` (Carlini–Wagner margin
  ``max_{j≠label} z_j − z_label``), or any callable ``loss(logits, labels) -> (N,)``.
  Untargeted attacks *maximise* the loss at the true label; targeted attacks *minimise* it at
  the target label.
* Norms: ``linf`` (sign steps, box projection) and ``l2`` (normalised-gradient steps,
  radial projection).
* Attacks (:data:`ATTACKS`): :class:`FGSM`, :class:`PGD`, :class:`BIM`, :class:`MIM`,
  :class:`CW`. The default step size of the iterative attacks is ``alpha = 2.5 * eps / steps``
  (Madry et al.), so that a path of ``steps`` steps can cross the ball 2.5 times.

Every attack evaluates the model in eval mode (``eval_mode=True``) and restores the
``training`` flag of every submodule afterwards, even on error; it never touches parameter
``.grad`` or ``requires_grad`` (gradients are taken with :func:`torch.autograd.grad` with
respect to the input only) and runs on whatever device ``x`` lives on.

Example
-------
>>> import torch
>>> from torch import nn
>>> from csr.attacks import PGD, robust_accuracy
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
>>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
>>> attack = PGD(model, eps=0.1, steps=5)
>>> x_adv = attack(x, y)
>>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
True
>>> 0.0 <= robust_accuracy(attack, x, y) <= 1.0
True
"""
from __future__ import annotations

import contextlib
import inspect
import math
import numbers
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from csr import progress
from csr.registry import Registry
from csr.utils import batched

__all__ = [
    "LossFn",
    "LOSSES",
    "NORMS",
    "ATTACKS",
    "CostPGD",
    "log_expected_cost",
    "ce_loss",
    "cw_loss",
    "resolve_loss",
    "Norm",
    "LinfNorm",
    "L2Norm",
    "Attack",
    "FGSM",
    "PGD",
    "BIM",
    "MIM",
    "CW",
    "CWL2",
    "MarginPGD",
    "prob_margin",
    "sensitive_targets",
    "gaussian_start",
    "MARGIN_STARTS",
    "margin_weights",
    "build_attack",
    "predict",
    "adversarial_predictions",
    "robust_accuracy",
    "pairwise_reach",
]

#: A per-example attack loss: ``loss(logits (N, m), labels (N,)) -> (N,)``.
LossFn = Callable[[Tensor, Tensor], Tensor]

LOSSES: Registry[LossFn] = Registry("attack loss")
"""Registry of attack losses (``ce``, ``cw``); see :func:`resolve_loss`.

>>> LOSSES.names()
['ce', 'cw']
"""


# --------------------------------------------------------------------------------------- losses
@LOSSES.register("ce")
def ce_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example cross-entropy.

    Args:
        logits: ``(N, m)`` model outputs.
        labels: ``(N,)`` int64 labels.

    Returns:
        ``(N,)`` losses.

    >>> import torch
    >>> ce_loss(torch.zeros(2, 4), torch.tensor([0, 3]))  # log 4
    tensor([1.3863, 1.3863])
    """
    return F.cross_entropy(logits, labels, reduction="none")


@LOSSES.register("cw")
def cw_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example Carlini–Wagner margin ``max_{j≠label} z_j − z_label`` (no clamping).

    Positive iff some other class beats ``label``. Maximising it at the true label finds a
    misclassification; minimising it at a target label makes the target the arg-max.

    Args:
        logits: ``(N, m)`` model outputs, ``m >= 2``.
        labels: ``(N,)`` int64 labels.

    Returns:
        ``(N,)`` margins.

    >>> import torch
    >>> cw_loss(torch.tensor([[1.0, 3.0, 2.0]]), torch.tensor([0])).tolist()
    [2.0]
    """
    true = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    is_label = F.one_hot(labels, logits.shape[1]).bool()
    other = logits.masked_fill(is_label, float("-inf")).amax(dim=1)
    return other - true


def resolve_loss(loss: str | LossFn) -> tuple[str, LossFn]:
    """Return ``(name, fn)`` for a loss given by registry name or as a callable.

    >>> resolve_loss("cw")[0]
    'cw'
    >>> resolve_loss("hinge")
    Traceback (most recent call last):
    ...
    ValueError: unknown attack loss 'hinge'; known attack losses: ce, cw
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            known = ", ".join(LOSSES.names())
            raise ValueError(f"unknown attack loss {loss!r}; known attack losses: {known}")
        return loss, LOSSES.get(loss)
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__), loss
    raise ValueError(f"loss must be a registered name or a callable, got {loss!r}")


# ---------------------------------------------------------------------------------------- norms
def _per_example_norm(t: Tensor, p: float) -> Tensor:
    """``(N, ...)`` → ``(N, 1, ..., 1)`` p-norm of each example, broadcastable against ``t``."""
    n = t.flatten(1).norm(p=p, dim=1)
    return n.view(-1, *([1] * (t.dim() - 1)))


class Norm:
    """Geometry of an ε-ball: projection, steepest-ascent step and random start.

    All methods take ``(N, ...)`` tensors and work per example.

    >>> import torch
    >>> x = torch.full((1, 3), 0.5)
    >>> NORMS.get("linf").project(torch.tensor([[0.0, 0.55, 2.0]]), x, 0.1)
    tensor([[0.4000, 0.5500, 0.6000]])
    """

    name: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def project(self, x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
        """Project ``x_adv`` onto ``{x' : ||x' − x|| ≤ eps} ∩ [0, 1]^d``."""
        raise NotImplementedError

    def step(self, grad: Tensor, alpha: float) -> Tensor:
        """Steepest-ascent step of size ``alpha`` along ``grad``."""
        raise NotImplementedError

    def random_delta(self, x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
        """A random perturbation inside the ε-ball (not yet box-clipped)."""
        raise NotImplementedError

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """``(N,)`` distance of each ``x_adv`` from ``x`` in this norm."""
        raise NotImplementedError


class LinfNorm(Norm):
    """L∞ ball: sign steps, coordinate-wise clipping, uniform random start.

    >>> import torch
    >>> LinfNorm().step(torch.tensor([[-3.0, 0.0, 2.0]]), 0.1)
    tensor([[-0.1000,  0.0000,  0.1000]])
    """

    name = "linf"

    def project(self, x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
        delta = torch.clamp(x_adv - x, min=-eps, max=eps)
        return torch.clamp(x + delta, min=0.0, max=1.0)

    def step(self, grad: Tensor, alpha: float) -> Tensor:
        return alpha * grad.sign()

    def random_delta(self, x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (2.0 * u - 1.0) * eps

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return (x_adv - x).flatten(1).abs().amax(dim=1)


class L2Norm(Norm):
    """L2 ball: normalised-gradient steps, radial projection; random start with a uniform
    direction and a radius drawn uniformly from ``[0, eps]``.

    >>> import torch
    >>> L2Norm().step(torch.tensor([[3.0, 4.0]]), 1.0)
    tensor([[0.6000, 0.8000]])
    """

    name = "l2"
    _tiny = 1e-12

    def project(self, x_adv: Tensor, x: Tensor, eps: float) -> Tensor:
        delta = x_adv - x
        factor = torch.clamp(eps / (_per_example_norm(delta, 2) + self._tiny), max=1.0)
        # Clipping to the box only shrinks |delta| coordinate-wise, so it stays in the ball.
        return torch.clamp(x + delta * factor, min=0.0, max=1.0)

    def step(self, grad: Tensor, alpha: float) -> Tensor:
        return alpha * grad / (_per_example_norm(grad, 2) + self._tiny)

    def random_delta(self, x: Tensor, eps: float, generator: torch.Generator | None) -> Tensor:
        d = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        d = d / (_per_example_norm(d, 2) + self._tiny)
        r = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        return d * (eps * r).view(-1, *([1] * (x.dim() - 1)))

    def distance(self, x_adv: Tensor, x: Tensor) -> Tensor:
        return (x_adv - x).flatten(1).norm(p=2, dim=1)


NORMS: Registry[Norm] = Registry("norm")
"""Registry of ball geometries: ``linf``, ``l2``.

>>> NORMS.get("l2")
L2Norm()
"""
NORMS.register("linf", LinfNorm())
NORMS.register("l2", L2Norm())


# ------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _model_mode(model: nn.Module, eval_mode: bool) -> Iterator[None]:
    """Put ``model`` in eval mode (if asked) and restore every submodule's flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        if eval_mode:
            model.eval()
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _check_number(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not positive and v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_labels(name: str, labels: object, n: int, device: torch.device) -> Tensor:
    if isinstance(labels, numbers.Integral) and not isinstance(labels, bool):
        labels = torch.full((n,), int(labels), dtype=torch.long, device=device)
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape ({n},), got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    labels = labels.to(device=device, dtype=torch.long)
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices")
    return labels


def _check_inputs(x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"x must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension, shape (N, ...); got {tuple(x.shape)}")
    if x.numel() and (bool(x.min() < 0) or bool(x.max() > 1)):
        raise ValueError(
            f"x must lie in [0, 1] (pixel space), got values in [{float(x.min()):g}, {float(x.max()):g}]"
        )
    return x


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return repr(v)


# ---------------------------------------------------------------------------------------- attack
def _declare_settings(cls: type[Attack]) -> None:
    """Merge ``cls``'s declared ``defaults`` and ``hints`` with its bases' and give it an
    ``__init__`` whose signature is ``(self, model, eps, *, <keywords with their defaults>)``.

    Called for :class:`Attack` and (through ``__init_subclass__``) every subclass; a subclass
    that writes its own ``__init__`` keeps it.
    """
    defaults: dict[str, object] = {}
    hints: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        defaults.update(base.__dict__.get("defaults", {}))
        hints.update(base.__dict__.get("hints", {}))
    name = cls.__name__
    missing = [k for k in cls.keywords if k not in defaults or k not in hints]
    if missing:
        raise TypeError(f"{name}.keywords names settings without a default or a hint: {', '.join(missing)}")
    cls.defaults = MappingProxyType(defaults)
    cls.hints = MappingProxyType(hints)
    if "__init__" in cls.__dict__:
        return
    keywords = frozenset(cls.keywords)

    def __init__(self: Attack, model: nn.Module, eps: float, **settings: object) -> None:
        for key in settings:
            if key not in keywords:
                raise TypeError(f"{name}.__init__() got an unexpected keyword argument {key!r}")
        self._configure(model, eps, {**cls.defaults, **settings})

    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD),
              P("model", P.POSITIONAL_OR_KEYWORD, annotation="nn.Module"),
              P("eps", P.POSITIONAL_OR_KEYWORD, annotation="float")]
    params += [P(k, P.KEYWORD_ONLY, default=defaults[k], annotation=hints[k]) for k in cls.keywords]
    __init__.__signature__ = inspect.Signature(params, return_annotation="None")  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__module__ = cls.__module__
    shown = ", ".join(f"{k}={defaults[k]!r}" for k in cls.keywords)
    __init__.__doc__ = f"Validate and store the settings (keywords and defaults: {shown}); see :class:`{name}`."
    cls.__init__ = __init__  # type: ignore[method-assign]


class Attack:
    """Base class and engine of the first-order attacks.

    ``attack(x, y)`` runs an untargeted attack (maximise ``loss(model(x'), y)``),
    ``attack(x, y, target=t)`` a targeted one (minimise ``loss(model(x'), t)``).

    Subclasses declare their settings, not an ``__init__``: ``keywords`` (the keyword
    arguments, in signature order; inherited when omitted), ``defaults`` (only the values they
    change or add; merged with the bases' when the class is created, after which
    ``cls.defaults`` is the full read-only mapping) and ``hints`` (the annotations of added
    settings). A setting that is not one of the class's ``keywords`` is pinned at its default
    (``FGSM`` takes one step, ``CW`` always uses the ``cw`` loss). Each class gets a generated
    ``__init__`` with the real signature (``inspect.signature``, ``help`` and Python's own
    ``TypeError`` for a misspelt keyword); :meth:`_configure` validates the values and is
    extended by the subclasses that add settings (:class:`MIM`, :class:`MarginPGD`).
    :class:`MIM` also overrides :meth:`_direction`.

    Args:
        model: classifier mapping ``(N, ...)`` pixels in ``[0, 1]`` to ``(N, m)`` logits.
        eps: radius of the ball (``>= 0``; ``0`` returns ``x`` unchanged).
        alpha: step size (``> 0``); default ``2.5 * eps / steps``.
        steps: number of gradient steps (``>= 1``).
        norm: ``"linf"`` or ``"l2"``.
        loss: a :data:`LOSSES` name or a callable ``loss(logits, labels) -> (N,)``.
        random_start: start from a random point of the ball instead of ``x``.
        restarts: number of random restarts (``> 1`` needs ``random_start``); per example the
            first restart that succeeds is kept, else the one with the highest objective.
        eval_mode: run the model in eval mode (flags are restored afterwards either way).
        seed: if given, each call draws its random start from a fresh generator seeded with
            it (same input → same output); otherwise the global torch RNG is used.

    Example
    -------
    >>> import inspect, torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    >>> attack = Attack(model, eps=0.1, steps=3, norm="l2")
    >>> x_adv = attack(torch.rand(2, 4), torch.tensor([0, 2]))
    >>> x_adv.shape
    torch.Size([2, 4])
    >>> PGD.defaults["random_start"], BIM.defaults["random_start"], CW.defaults["loss"]
    (True, False, 'cw')
    >>> inspect.signature(BIM)
    <Signature (model: 'nn.Module', eps: 'float', *, alpha: 'float | None' = None, steps: 'int' = 10, norm: 'str' = 'linf', loss: 'str | LossFn' = 'ce', eval_mode: 'bool' = True) -> 'None'>
    """

    #: Keyword arguments of ``__init__`` after ``model, eps``, in signature order.
    keywords: ClassVar[tuple[str, ...]] = (
        "alpha", "steps", "norm", "loss", "random_start", "restarts", "eval_mode", "seed",
    )
    #: Default of every setting (a subclass declares only what it changes or adds).
    defaults: ClassVar[Mapping[str, object]] = {
        "alpha": None, "steps": 10, "norm": "linf", "loss": "ce", "random_start": False,
        "restarts": 1, "eval_mode": True, "seed": None,
    }
    #: Annotation of every setting, for the generated signatures.
    hints: ClassVar[Mapping[str, str]] = {
        "alpha": "float | None", "steps": "int", "norm": "str", "loss": "str | LossFn",
        "random_start": "bool", "restarts": "int", "eval_mode": "bool", "seed": "int | None",
    }
    _repr_fields: ClassVar[tuple[str, ...]] = (
        "eps", "alpha", "steps", "norm", "loss", "random_start", "restarts",
    )

    eps: float
    alpha: float
    steps: int
    norm: str
    loss: str
    loss_fn: LossFn
    random_start: bool
    restarts: int
    eval_mode: bool
    seed: int | None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _declare_settings(cls)

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        """Validate ``model``, ``eps`` and the (merged) ``settings`` and store them; every bad
        value raises ``ValueError``. Subclasses that add settings extend this."""
        s = settings
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.eps = _check_number("eps", eps, positive=False)
        self.steps = _check_int("steps", s["steps"], 1)
        if s["alpha"] is None:
            self.alpha = 2.5 * self.eps / self.steps
        else:
            self.alpha = _check_number("alpha", s["alpha"], positive=True)
        norm = s["norm"]
        if not isinstance(norm, str) or norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known norms: {', '.join(NORMS.names())}")
        self.norm = norm
        self._norm = NORMS.get(norm)
        self.loss, self.loss_fn = resolve_loss(s["loss"])  # type: ignore[arg-type]
        random_start = s["random_start"]
        if not isinstance(random_start, bool):
            raise ValueError(f"random_start must be True or False, got {random_start!r}")
        self.random_start = random_start
        self.restarts = _check_int("restarts", s["restarts"], 1)
        if self.restarts > 1 and not self.random_start:
            raise ValueError(
                f"restarts={self.restarts} needs random_start=True (restarts without a random "
                "start would all be identical)"
            )
        eval_mode = s["eval_mode"]
        if not isinstance(eval_mode, bool):
            raise ValueError(f"eval_mode must be True or False, got {eval_mode!r}")
        self.eval_mode = eval_mode
        seed = s["seed"]
        if seed is not None:
            seed = _check_int("seed", seed, 0)
        self.seed = seed  # type: ignore[assignment]

    # ------------------------------------------------------------------ public
    def __call__(self, x: Tensor, y: Tensor, target: Tensor | int | None = None) -> Tensor:
        """Attack a batch.

        Args:
            x: ``(N, ...)`` float inputs in ``[0, 1]``.
            y: ``(N,)`` int64 true labels.
            target: ``(N,)`` int64 target labels (or one int for all); ``None`` = untargeted.

        Returns:
            ``(N, ...)`` detached adversarial inputs, same dtype and device as ``x``, inside
            the ε-ball around ``x`` and ``[0, 1]``.
        """
        x = _check_inputs(x)
        n = x.shape[0]
        y = _check_labels("y", y, n, x.device)
        targeted = target is not None
        labels = _check_labels("target", target, n, x.device) if targeted else y
        return self._perturb(x, labels, targeted, self._generator(x.device))

    def __repr__(self) -> str:
        parts = [f"{f}={_fmt(getattr(self, f))}" for f in self._repr_fields]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if not self.eval_mode:
            parts.append("eval_mode=False")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ------------------------------------------------------------------ engine
    def _generator(self, device: torch.device) -> torch.Generator | None:
        """The random source of one call: a fresh generator seeded with ``seed``, or ``None``
        (the global torch RNG)."""
        if self.seed is None:
            return None
        generator = torch.Generator(device=device)
        generator.manual_seed(self.seed)
        return generator

    def _perturb(
        self, x: Tensor, labels: Tensor, targeted: bool, generator: torch.Generator | _GroupedStarts | None
    ) -> Tensor:
        """The attack on validated inputs: ``labels`` are the true labels (untargeted) or the
        targets; ``generator`` as from :meth:`_generator` (or :class:`_GroupedStarts`)."""
        if x.shape[0] == 0 or self.eps == 0:
            return x.detach().clone()
        # Gradients are needed even when called under no_grad / inference_mode; cloning inside
        # the context turns a caller's inference tensor into an ordinary one.
        with torch.inference_mode(False), torch.enable_grad(), _model_mode(self.model, self.eval_mode):
            x, labels = x.detach().clone(), labels.clone()
            return self._attack(x, labels, targeted, generator).detach()

    def _objective(self, logits: Tensor, labels: Tensor, targeted: bool, validate: bool = False) -> Tensor:
        """``(N,)`` quantity to maximise: the loss (untargeted) or its negation (targeted)."""
        if validate:
            if logits.dim() != 2 or logits.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"model must return (N, m) logits; got shape {tuple(logits.shape)} for N={labels.shape[0]}"
                )
            if int(labels.max()) >= logits.shape[1]:
                raise ValueError(
                    f"labels must be < the number of classes {logits.shape[1]}, got {int(labels.max())}"
                )
        value = self.loss_fn(logits, labels)
        if not isinstance(value, Tensor) or value.shape != labels.shape:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"attack loss {self.loss!r} must return a (N,) tensor, got {got}")
        return -value if targeted else value

    def _succeeded(self, pred: Tensor, labels: Tensor, targeted: bool) -> Tensor:
        """``(N,)`` bool: a restart that reached this needs no further restarts."""
        return pred == labels if targeted else pred != labels

    def _direction(self, grad: Tensor, state: dict) -> Tensor:
        """Ascent direction from the raw gradient (MIM adds momentum here)."""
        return grad

    def _start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """First iterate: a uniform point of the ball (``random_start``) or ``x`` itself."""
        if self.random_start:
            if isinstance(generator, _GroupedStarts):
                delta = generator.random_delta(self._norm, x, self.eps)
            else:
                delta = self._norm.random_delta(x, self.eps, generator)
            return self._norm.project(x + delta, x, self.eps)
        return x.clone()

    def _run(self, x: Tensor, labels: Tensor, targeted: bool, generator: torch.Generator | None) -> Tensor:
        """One restart: returns the final iterate ``(N, ...)``."""
        x_adv = self._start(x, generator)
        norm, eps = self._norm, self.eps
        state: dict = {}
        for t in range(self.steps):
            x_adv.requires_grad_(True)
            obj = self._objective(self.model(x_adv), labels, targeted, validate=t == 0)
            (grad,) = torch.autograd.grad(obj.sum(), x_adv)
            x_adv = x_adv.detach() + norm.step(self._direction(grad, state), self.alpha)
            x_adv = norm.project(x_adv, x, eps).detach()
        return x_adv

    def _attack(self, x: Tensor, labels: Tensor, targeted: bool, generator: torch.Generator | None) -> Tensor:
        if self.restarts == 1:
            return self._run(x, labels, targeted, generator)
        best = x.clone()
        best_obj = torch.full((x.shape[0],), float("-inf"), device=x.device, dtype=x.dtype)
        best_ok = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for _ in range(self.restarts):
            idx = (~best_ok).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            gen = generator.subset(idx) if isinstance(generator, _GroupedStarts) else generator
            xa = self._run(x[idx], labels[idx], targeted, gen)  # type: ignore[arg-type]
            with torch.no_grad():
                logits = self.model(xa)
                obj = self._objective(logits, labels[idx], targeted).to(x.dtype)
                pred = logits.argmax(dim=1)
            ok = self._succeeded(pred, labels[idx], targeted)
            better = ok | (obj > best_obj[idx])
            upd = idx[better]
            best[upd] = xa[better]
            best_obj[upd] = obj[better]
            best_ok[upd] = ok[better]
        return best


_declare_settings(Attack)


class _GroupedStarts:
    """Random starts for one engine call that stacks several independent calls ("groups").

    The rows of each group are contiguous and in group order. Each group draws from its own
    source (a freshly seeded generator, or ``None`` for the global RNG) exactly the tensors a
    separate call on that group would have drawn: the restart-``r`` draw of a group has the
    shape of that group's rows still attacked, and a group with none left draws nothing.
    """

    def __init__(self, sizes: list[int], generators: list[torch.Generator | None]) -> None:
        self.sizes = sizes
        self.generators = generators

    def subset(self, idx: Tensor) -> _GroupedStarts:
        """The same groups restricted to the (sorted) rows ``idx``; generators are shared, so
        their streams continue."""
        gid = torch.repeat_interleave(
            torch.arange(len(self.sizes), device=idx.device), torch.tensor(self.sizes, device=idx.device)
        )
        counts = torch.bincount(gid[idx], minlength=len(self.sizes)).tolist()
        return _GroupedStarts(counts, self.generators)

    def random_delta(self, norm: Norm, x: Tensor, eps: float) -> Tensor:
        parts = [
            norm.random_delta(part, eps, gen)
            for part, gen in zip(x.split(self.sizes), self.generators)
            if part.shape[0]
        ]
        return torch.cat(parts) if parts else torch.zeros_like(x)


class FGSM(Attack):
    """Fast gradient (sign) method: one step of size ``eps`` from ``x`` (Goodfellow et al.).

    With ``norm="l2"`` the step is ``eps * g / ||g||_2`` (fast gradient method). Keywords:
    ``norm``, ``loss``, ``eval_mode`` (see :class:`Attack`).

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> FGSM(nn.Linear(4, 3), eps=0.1)
    FGSM(eps=0.1, norm='linf', loss='ce')
    """

    keywords = ("norm", "loss", "eval_mode")
    defaults = {"steps": 1}
    _repr_fields = ("eps", "norm", "loss")

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        eps = _check_number("eps", eps, positive=False)
        super()._configure(model, eps, {**settings, "alpha": eps if eps > 0 else None})

    def _run(self, x: Tensor, labels: Tensor, targeted: bool, generator: torch.Generator | None) -> Tensor:
        # x + eps·direction, clipped to the box; the step already has norm eps, so skipping the
        # ε-ball re-projection keeps the result bit-identical to the textbook formula.
        x_adv = x.clone().requires_grad_(True)
        obj = self._objective(self.model(x_adv), labels, targeted, validate=True)
        (grad,) = torch.autograd.grad(obj.sum(), x_adv)
        return torch.clamp(x + self._norm.step(grad, self.eps), min=0.0, max=1.0).detach()


class PGD(Attack):
    """Projected gradient descent (Madry et al.): random start, ``steps`` projected steps of size
    ``alpha`` (default ``2.5 * eps / steps``), optional ``restarts``. Keywords: all of
    :class:`Attack`'s; ``random_start`` defaults to ``True``.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> PGD(nn.Linear(4, 3), eps=0.3, alpha=0.01, steps=40)
    PGD(eps=0.3, alpha=0.01, steps=40, norm='linf', loss='ce', random_start=True, restarts=1)
    """

    defaults = {"random_start": True}


class BIM(Attack):
    """Basic iterative method (Kurakin et al.): PGD without random start, starting at ``x``;
    ``norm="linf"`` (I-FGSM) or ``norm="l2"`` (iterative fast gradient method). Keywords:
    ``alpha``, ``steps``, ``norm``, ``loss``, ``eval_mode`` (see :class:`Attack`).

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> BIM(nn.Linear(4, 3), eps=0.5, steps=5, norm="l2")
    BIM(eps=0.5, alpha=0.25, steps=5, norm='l2', loss='ce')
    """

    keywords = ("alpha", "steps", "norm", "loss", "eval_mode")
    _repr_fields = ("eps", "alpha", "steps", "norm", "loss")


class MIM(Attack):
    """Momentum iterative method (MI-FGSM, Dong et al.): ``g ← decay·g + ∇/||∇||_1`` (per
    example), then a steepest-ascent step along ``g`` (sign for linf, ``g/||g||_2`` for l2).
    Keywords: ``alpha``, ``steps``, ``decay`` (``>= 0``, default ``1.0``), ``norm``, ``loss``,
    ``eval_mode`` (see :class:`Attack`); no random start.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> MIM(nn.Linear(4, 3), eps=0.1, steps=10)
    MIM(eps=0.1, alpha=0.025, steps=10, decay=1, norm='linf', loss='ce')
    """

    keywords = ("alpha", "steps", "decay", "norm", "loss", "eval_mode")
    defaults = {"decay": 1.0}
    hints = {"decay": "float"}
    _repr_fields = ("eps", "alpha", "steps", "decay", "norm", "loss")

    decay: float

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        super()._configure(model, eps, settings)
        self.decay = _check_number("decay", settings["decay"], positive=False)

    def _direction(self, grad: Tensor, state: dict) -> Tensor:
        g = grad / (_per_example_norm(grad, 1) + 1e-12)
        if "momentum" in state:
            g = g + self.decay * state["momentum"]
        state["momentum"] = g
        return g


class CW(PGD):
    """PGD on the Carlini–Wagner margin loss (``PGD(..., loss="cw")``), as used in robustness
    evaluations inside an ε-ball — not the original optimisation-based C&W attack, which is
    :class:`CWL2`. Keywords: :class:`PGD`'s without ``loss``.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> CW(nn.Linear(4, 3), eps=0.1, steps=10)
    CW(eps=0.1, alpha=0.025, steps=10, norm='linf', loss='cw', random_start=True, restarts=1)
    """

    keywords = ("alpha", "steps", "norm", "random_start", "restarts", "eval_mode", "seed")
    defaults = {"loss": "cw"}


def sensitive_targets(targets: Any, device: torch.device | str | None = None) -> Tensor:
    """The ``(m, m)`` bool mask ``Ω`` (``Ω[i, j]``: turning class ``i`` into ``j`` costs something)
    as a tensor: :attr:`csr.costs.CostMatrix.sensitive_mask` of ``targets`` — a ``CostMatrix`` or
    anything it accepts (an ``(m, m)`` array / tensor / nested list of costs, or a bool mask with
    a false diagonal); a bad matrix raises :class:`csr.costs.CostMatrixError` naming the problem.

    >>> sensitive_targets([[0, 2], [0, 0]]).tolist()
    [[False, True], [False, False]]
    """
    from .costs import CostMatrix

    if not isinstance(targets, CostMatrix):
        values = targets.detach().cpu().numpy() if isinstance(targets, Tensor) else targets
        targets = CostMatrix(np.asarray(values, dtype=float))
    return torch.as_tensor(targets.sensitive_mask, device=device)


def prob_margin(logits: Tensor, labels: Tensor, targets: Tensor | None = None) -> Tensor:
    """Probability margin ``p_y − max_{j≠y} p_j`` of the softmax outputs, in ``[−1, 1]``.

    Negative iff the example is misclassified (Zeng et al.'s margin of an adversarial example).
    With ``targets`` (an ``(m, m)`` bool mask Ω, :func:`sensitive_targets`) it is the
    **cost-sensitive margin** ``p_y − max_{t∈Ω_y} p_t``: only the classes whose confusion costs
    something compete; an example whose class has no sensitive target (``Ω_y = ∅``) gets the
    largest margin, 1 — nothing it can be turned into costs anything.

    Args:
        logits: ``(N, m)``; labels: ``(N,)`` int64; targets: ``(m, m)`` bool or None.

    Returns:
        ``(N,)`` margins (differentiable).

    >>> import torch
    >>> [round(v, 4) for v in prob_margin(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([0, 1])).tolist()]
    [0.0, -0.7616]
    >>> omega = torch.tensor([[False, False, True], [False, False, False], [False, False, False]])
    >>> [round(v, 4) for v in prob_margin(torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 1]), omega).tolist()]
    [0.0, 1.0]
    """
    p = logits.softmax(dim=1)
    py = p.gather(1, labels.unsqueeze(1)).squeeze(1)
    if targets is None:
        other = p.masked_fill(F.one_hot(labels, p.shape[1]).bool(), float("-inf")).amax(dim=1)
        return py - other
    if tuple(targets.shape) != (p.shape[1], p.shape[1]):
        raise ValueError(f"the sensitive targets must be {p.shape[1]}x{p.shape[1]} for {p.shape[1]} classes, "
                         f"got shape {tuple(targets.shape)}")
    allowed = targets.to(device=p.device, dtype=torch.bool)[labels]
    # softmax outputs are >= 0, so filling the other classes with 0 leaves the max over Ω_y as is
    other = p.masked_fill(~allowed, 0.0).amax(dim=1)
    return torch.where(allowed.any(dim=1), py - other, torch.ones_like(py))


def margin_weights(logits: Tensor, labels: Tensor, alpha: float, normalize: bool = True,
                   targets: Tensor | None = None) -> Tensor:
    """Zeng et al.'s importance weights ``w = exp(−α·margin)`` (see :func:`prob_margin`; with
    ``targets`` the cost-sensitive margin).

    ``normalize=True`` divides by their sum (a distribution over the batch); ``alpha = 0`` gives
    uniform weights. Differentiable in ``logits``.

    Args:
        logits: ``(N, m)``; labels: ``(N,)``; alpha: ``>= 0``; targets: ``(m, m)`` bool or None.

    Returns:
        ``(N,)`` weights.

    >>> import torch
    >>> margin_weights(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 2.0).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    w = torch.exp(-alpha * prob_margin(logits, labels, targets))
    return w / w.sum() if normalize else w


def gaussian_start(x: Tensor, sigma: float = 0.001, generator: torch.Generator | None = None) -> Tensor:
    """``x + sigma·N(0, I)`` clipped to ``[0, 1]`` (detached): the start of TRADES' inner loop and
    of Zeng et al.'s Algorithm 1 (``sigma = 0.001``)."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + sigma * noise).clamp(0.0, 1.0).detach()


#: Where :class:`MarginPGD` starts: Algorithm 1's ``x + 0.001·N(0, I)``, a uniform point of the
#: ball (the authors' code), or ``x`` itself.
MARGIN_STARTS = ("gaussian", "ball", "none")


class MarginPGD(PGD):
    """Zeng et al.'s margin-weighted PGD (their Algorithm 1): each example's step ascends
    ``exp(−α·margin(x'))·CE(x')`` — the weight is part of the objective and differentiated, so
    the attack spends itself on the examples closest to (or across) the decision boundary.

    ``start``: ``"gaussian"`` (default) is Algorithm 1's ``x' = x + 0.001·ξ``, ``ξ ~ N(0, I)``;
    ``"ball"`` a uniform point of the ε-ball (the authors' public code); ``"none"`` ``x``.
    ``targets`` (a cost matrix or ``(m, m)`` mask, :func:`sensitive_targets`): the weight uses the
    cost-sensitive margin ``p_y − max_{t∈Ω_y} p_t`` (an extension beyond the paper).
    ``weight_alpha = 0`` with ``start="ball"`` is plain PGD on CE. The normalising constant of
    the batch weights is a positive factor of every example's objective and is left out (steps
    are sign / normalised per example, so it would not change them). Keywords:
    ``weight_alpha`` (``>= 0``, default ``1.0``), ``alpha``, ``steps``, ``norm``, ``start``,
    ``targets``, ``eval_mode``, ``seed`` (see :class:`Attack`); one restart.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> MarginPGD(nn.Linear(4, 3), eps=0.3, steps=40, alpha=0.01, weight_alpha=1.5)
    MarginPGD(eps=0.3, alpha=0.01, steps=40, weight_alpha=1.5, norm='linf', start='gaussian')
    >>> MarginPGD(nn.Linear(4, 3), eps=0.3, steps=40, start="ball", targets=[[0, 1, 1], [0, 0, 0], [0, 0, 0]])
    MarginPGD(eps=0.3, alpha=0.01875, steps=40, weight_alpha=1, norm='linf', start='ball', targets=<2 sensitive pairs>)
    """

    keywords = ("weight_alpha", "alpha", "steps", "norm", "start", "targets", "eval_mode", "seed")
    defaults = {"weight_alpha": 1.0, "start": "gaussian", "targets": None}
    hints = {"weight_alpha": "float", "start": "str", "targets": "Any"}
    _repr_fields = ("eps", "alpha", "steps", "weight_alpha", "norm", "start")

    weight_alpha: float
    start: str
    targets: Tensor | None

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        wa = _check_number("weight_alpha", settings["weight_alpha"], positive=False)
        start = settings["start"]
        if start not in MARGIN_STARTS:
            raise ValueError(f"unknown start {start!r}; known starts: {', '.join(MARGIN_STARTS)}")
        targets = settings["targets"]
        mask = None if targets is None else sensitive_targets(
            targets, targets.device if isinstance(targets, Tensor) else None)

        def margin_weighted_ce(logits: Tensor, labels: Tensor) -> Tensor:
            return margin_weights(logits, labels, wa, normalize=False, targets=mask) * ce_loss(logits, labels)

        super()._configure(model, eps, {**settings, "loss": margin_weighted_ce, "random_start": start == "ball"})
        self.weight_alpha, self.start, self.targets = wa, str(start), mask

    def _start(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.start != "gaussian":
            return super()._start(x, generator)
        if isinstance(generator, _GroupedStarts):
            parts = [gaussian_start(part, 0.001, gen) for part, gen in zip(x.split(generator.sizes), generator.generators)
                     if part.shape[0]]
            x0 = torch.cat(parts) if parts else x.clone()
        else:
            x0 = gaussian_start(x, 0.001, generator)
        return self._norm.project(x0, x, self.eps)

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.targets is None:
            return text
        return f"{text[:-1]}, targets=<{int(self.targets.sum())} sensitive pairs>)"


def log_expected_cost(logits: Tensor, labels: Tensor, cost: Tensor) -> Tensor:
    """``(N,)`` ``log Σ_j softmax(logits)_j · cost[y, j]`` computed in log space (stable when the
    costly classes are improbable), ``0`` for examples whose row of ``cost`` is all zero (no
    sensitive target: nothing to gain, no gradient).

    >>> C = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    >>> log_expected_cost(torch.zeros(2, 2), torch.tensor([0, 1]), C).exp().tolist()  # 0.5·2, none
    [1.0, 1.0]
    """
    rows = cost.to(logits.dtype)[labels]
    has = rows.sum(1) > 0
    z = logits.log_softmax(1) + torch.where(rows > 0, rows.log(), torch.full_like(rows, float("-inf")))
    z = torch.where(has[:, None], z, logits.log_softmax(1))  # finite, so no NaN gradient flows back
    return torch.where(has, torch.logsumexp(z, 1), torch.zeros_like(has, dtype=logits.dtype))


class CostPGD(PGD):
    """The cost-aware attack: PGD that maximises the expected cost ``Σ_j softmax_j · C[y, j]`` of
    the model's prediction under a cost matrix ``C`` (in log space, the same ascent directions:
    a positive factor does not change a sign or normalised step). It pushes each example towards
    the classes its row of ``C`` makes costly, weighted by their costs, in one run — where
    :func:`pairwise_reach` runs a targeted attack per class. On a single-pair matrix ``s → t`` it
    is targeted PGD towards ``t`` on the examples of ``s`` (log of ``softmax_t``: minus the
    targeted cross-entropy); examples of a class with no costly target stay where they start.
    A restart that lands on a costly class succeeds. Untargeted only. Keywords: ``cost`` (a
    :class:`csr.costs.CostMatrix` or anything :func:`csr.costs.as_cost` takes; required),
    ``alpha``, ``steps``, ``norm``, ``random_start``, ``restarts``, ``eval_mode``, ``seed``.

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> CostPGD(nn.Linear(4, 3), eps=0.3, steps=20, cost=[[0, 1, 5], [0, 0, 0], [1, 0, 0]])
    CostPGD(eps=0.3, alpha=0.0375, steps=20, norm='linf', random_start=True, restarts=1, cost=<3 sensitive pairs>)
    """

    keywords = ("cost", "alpha", "steps", "norm", "random_start", "restarts", "eval_mode", "seed")
    defaults = {"cost": None}
    hints = {"cost": "Any"}
    _repr_fields = ("eps", "alpha", "steps", "norm", "random_start", "restarts")

    cost: Tensor

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        from .costs import as_cost

        if settings["cost"] is None:
            raise ValueError("CostPGD needs cost=...: the cost matrix whose expected cost it maximises")
        C = as_cost(settings["cost"])
        cost = torch.tensor(C.values, dtype=torch.float32)

        def expected_cost(logits: Tensor, labels: Tensor) -> Tensor:
            if cost.shape[0] != logits.shape[1]:
                raise ValueError(f"CostPGD: the cost matrix is {cost.shape[0]}×{cost.shape[0]} but the model has "
                                 f"{logits.shape[1]} classes")
            return log_expected_cost(logits, labels, cost.to(logits.device))

        super()._configure(model, eps, {**settings, "loss": expected_cost})
        self.loss = "expected_cost"
        self.cost, self._n_pairs = cost, len(C.pairs)

    def __call__(self, x: Tensor, y: Tensor, target: Tensor | int | None = None) -> Tensor:
        if target is not None:
            raise ValueError("CostPGD is untargeted: its targets are the costly classes of each example's row of C")
        return super().__call__(x, y)

    def _succeeded(self, pred: Tensor, labels: Tensor, targeted: bool) -> Tensor:
        return self.cost.to(pred.device)[labels, pred] > 0

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, cost=<{self._n_pairs} sensitive pairs>)"


class CWL2(Attack):
    """Carlini & Wagner's ℓ2 attack (2017): the optimisation attack, not PGD on its loss.

    Per example it minimises ``‖x' − x‖₂² + c · max(z_y − max_{j≠y} z_j + κ, 0)`` over
    ``x' = (tanh(w) + 1) / 2`` (the change of variables keeps ``x'`` in ``[0, 1]`` without
    clipping) with Adam (learning rate ``lr``) for up to ``steps`` iterations, and searches the
    constant ``c`` by bisection over ``binary_search_steps`` rounds: it starts at ``c``, is
    halved towards the last failure after a success and multiplied by 10 while no success has
    been seen. The smallest successful perturbation over all rounds is kept. ``abort_early``:
    a round ends when the batch objective, checked every ``steps // 10`` iterations, has not
    decreased. This follows Advertorch's ``CarliniWagnerL2Attack`` (the attack Shen et al.
    evaluate with), whose defaults these are: ``c = 1e-3`` (its ``initial_const``), 9 search
    rounds, 10,000 iterations, ``lr = 0.01``, ``κ = 0`` and the start ``w = artanh((2x − 1)(1 −
    1e-6))``. Targeted (``target=t``): the margin is ``max_{j≠t} z_j − z_t``.

    ``eps`` is the ℓ2 budget the result is judged at: an example keeps its adversarial input
    only if one with ``‖x' − x‖₂ ≤ eps`` was found (else ``x`` is returned), so
    :func:`robust_accuracy` is the accuracy at radius ``eps``; ``eps = inf`` reports every
    success (the unbounded attack: accuracy = the share where C&W found nothing).

    Example
    -------
    >>> import torch
    >>> from torch import nn
    >>> CWL2(nn.Linear(4, 3), eps=float("inf"), steps=100)
    CWL2(eps=inf, c=0.001, kappa=0, steps=100, lr=0.01, binary_search_steps=9, abort_early=True)
    """

    keywords = ("c", "kappa", "steps", "lr", "binary_search_steps", "abort_early", "eval_mode")
    defaults = {"c": 1e-3, "kappa": 0.0, "steps": 10_000, "lr": 0.01, "binary_search_steps": 9,
                "abort_early": True, "norm": "l2", "loss": "cw"}
    hints = {"c": "float", "kappa": "float", "lr": "float", "binary_search_steps": "int", "abort_early": "bool"}
    _repr_fields = ("eps", "c", "kappa", "steps", "lr", "binary_search_steps", "abort_early")

    c: float
    kappa: float
    lr: float
    binary_search_steps: int
    abort_early: bool

    def _configure(self, model: nn.Module, eps: float, settings: dict[str, object]) -> None:
        inf = isinstance(eps, numbers.Real) and not isinstance(eps, bool) and float(eps) == math.inf
        super()._configure(model, 1.0 if inf else eps, {**settings, "alpha": None, "random_start": False,
                                                         "restarts": 1, "seed": None})
        if inf:
            self.eps = math.inf
        self.alpha = math.nan  # no step size: Adam's learning rate is ``lr``
        self.c = _check_number("c", settings["c"], positive=True)
        self.kappa = _check_number("kappa", settings["kappa"], positive=False)
        self.lr = _check_number("lr", settings["lr"], positive=True)
        self.binary_search_steps = _check_int("binary_search_steps", settings["binary_search_steps"], 1)
        if not isinstance(settings["abort_early"], bool):
            raise ValueError(f"abort_early must be True or False, got {settings['abort_early']!r}")
        self.abort_early = settings["abort_early"]

    def _margin(self, logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
        onehot = F.one_hot(labels, logits.shape[1]).bool()
        real = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
        other = logits.masked_fill(onehot, float("-inf")).amax(dim=1)
        return (other - real if targeted else real - other) + self.kappa

    def _success(self, logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
        z = logits.detach().clone()
        z[torch.arange(len(labels), device=z.device), labels] += -self.kappa if targeted else self.kappa
        pred = z.argmax(dim=1)
        return pred == labels if targeted else pred != labels

    def _attack(self, x: Tensor, labels: Tensor, targeted: bool, generator: object) -> Tensor:
        n = x.shape[0]
        flat = lambda t: t.reshape(n, -1)
        w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))
        lower = torch.zeros(n, dtype=torch.float64, device=x.device)
        upper = torch.full((n,), 1e10, dtype=torch.float64, device=x.device)
        const = torch.full((n,), self.c, dtype=torch.float64, device=x.device)
        best_l2 = torch.full((n,), math.inf, device=x.device)
        best = x.clone()
        check_every = max(self.steps // 10, 1)
        for _ in range(self.binary_search_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=self.lr)
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            prev = math.inf
            cw = const.to(x.dtype)
            for it in range(self.steps):
                adv = (torch.tanh(w) + 1) / 2
                l2 = flat(adv - x).pow(2).sum(1)
                logits = self.model(adv)
                if it == 0:
                    self._objective(logits, labels, targeted, validate=True)
                loss = (l2 + cw * self._margin(logits, labels, targeted).clamp(min=0)).sum()
                (grad,) = torch.autograd.grad(loss, w)
                opt.zero_grad(set_to_none=True)
                w.grad = grad
                opt.step()
                with torch.no_grad():
                    ok = self._success(logits, labels, targeted)
                    found |= ok
                    better = ok & (l2 < best_l2)
                    best_l2 = torch.where(better, l2.detach(), best_l2)
                    best[better] = adv.detach()[better]
                if self.abort_early and it % check_every == 0:
                    if loss.item() > prev * (1 - 1e-6):
                        break
                    prev = loss.item()
            # bisection on c per example (Carlini & Wagner; Advertorch's update)
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            bounded = upper < 1e9
            const = torch.where(bounded, (lower + upper) / 2, const * 10)
        keep = best_l2.sqrt() <= self.eps
        out = torch.where(keep.view(-1, *([1] * (x.dim() - 1))), best, x)
        return out


ATTACKS: Registry[type[Attack]] = Registry("attack")
"""Registry of attack classes: ``fgsm``, ``pgd``, ``bim``, ``mim``, ``cw`` (PGD on the C&W
margin), ``cw_l2`` (Carlini & Wagner's optimisation attack), ``margin_pgd``, ``cost_pgd`` (the
cost-aware attack).

>>> ATTACKS.names()
['bim', 'cost_pgd', 'cw', 'cw_l2', 'fgsm', 'margin_pgd', 'mim', 'pgd']
"""
for _cls in (FGSM, PGD, BIM, MIM, CW):
    ATTACKS.register(_cls.__name__.lower(), _cls)
ATTACKS.register("cw_l2", CWL2)
ATTACKS.register("margin_pgd", MarginPGD)
ATTACKS.register("cost_pgd", CostPGD)
del _cls


def build_attack(name: str, model: nn.Module, **kwargs: object) -> Attack:
    """Build the attack registered as ``name`` (see :data:`ATTACKS`).

    Unknown names or keyword arguments raise ``ValueError``.

    >>> from torch import nn
    >>> build_attack("pgd", nn.Linear(4, 3), eps=0.3, steps=40, alpha=0.01)
    PGD(eps=0.3, alpha=0.01, steps=40, norm='linf', loss='ce', random_start=True, restarts=1)
    """
    cls = ATTACKS.get(name)
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "model")]
    unexpected = [k for k in kwargs if k not in accepted]
    if unexpected:
        raise ValueError(
            f"attack {name!r} got unexpected argument(s) {', '.join(unexpected)}; "
            f"accepted: {', '.join(accepted)}"
        )
    if "eps" not in kwargs:
        raise ValueError(f"attack {name!r} needs eps")
    return cls(model, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ evaluation tools
def predict(model: nn.Module, x: Tensor, batch_size: int = 512, *, eval_mode: bool = True) -> Tensor:
    """Arg-max predictions without gradients (eval mode by default; flags restored).

    Args:
        model: classifier returning ``(N, m)`` logits.
        x: ``(N, ...)`` inputs.
        batch_size: examples per forward pass.

    Returns:
        ``(N,)`` int64 labels on ``x.device``.

    >>> import torch
    >>> from torch import nn
    >>> predict(nn.Linear(4, 3), torch.rand(5, 4)).shape
    torch.Size([5])
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    out = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    with torch.no_grad(), _model_mode(model, eval_mode):
        for s in batched(x.shape[0], batch_size):
            out[s] = model(x[s]).argmax(dim=1)
    return out


def adversarial_predictions(
    attack: Attack, x: Tensor, y: Tensor, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Run an untargeted ``attack`` in batches and classify its outputs with the attack's model
    (in the attack's evaluation mode, no gradients).

    Args:
        attack: an :class:`Attack`.
        x: ``(N, ...)`` inputs in ``[0, 1]``.
        y: ``(N,)`` int64 labels.

    Returns:
        ``(logits (N, m), pred (N,))`` at the adversarial examples.

    >>> import torch
    >>> from torch import nn
    >>> logits, pred = adversarial_predictions(FGSM(nn.Linear(4, 3), eps=0.1), torch.rand(5, 4), torch.zeros(5, dtype=torch.long))
    >>> tuple(logits.shape), tuple(pred.shape)
    ((5, 3), (5,))
    """
    outs = []
    for s in batched(len(y), batch_size):
        x_adv = attack(x[s], y[s])
        with torch.no_grad(), _model_mode(attack.model, attack.eval_mode):
            outs.append(attack.model(x_adv))
    logits = torch.cat(outs)
    return logits, logits.argmax(dim=1)


def robust_accuracy(attack: Attack, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Fraction of examples still classified correctly after ``attack`` (untargeted).

    Args:
        attack: an :class:`Attack`.
        x: ``(N, ...)`` inputs in ``[0, 1]``, ``N >= 1``.
        y: ``(N,)`` int64 labels.

    >>> import torch
    >>> from torch import nn
    >>> robust_accuracy(FGSM(nn.Linear(4, 3), eps=0.0), torch.rand(4, 4), torch.zeros(4, dtype=torch.long)) <= 1
    True
    """
    if not isinstance(attack, Attack):
        raise ValueError(f"attack must be a csr.attacks.Attack, got {type(attack).__name__}")
    x = _check_inputs(x)
    if x.shape[0] == 0:
        raise ValueError("robust_accuracy needs at least one example")
    y = _check_labels("y", y, x.shape[0], x.device)
    _, pred = adversarial_predictions(attack, x, y, batch_size)
    return int((pred == y).sum()) / x.shape[0]


def _reach_pairs(y: Tensor, m: int, batch_size: int, pairs: Tensor | None = None) -> tuple[Tensor, Tensor, list[int]]:
    """The (example, target) pairs of :func:`pairwise_reach`, in the order of its reference loop:
    for each block of ``batch_size`` examples, for each class ``j``, the block's examples with
    ``y ≠ j`` (and ``pairs[y, j]`` when given). Returns ``(rows (P,), targets (P,), group
    sizes)``; a group is one (block, ``j``) with at least one example, so ``P = N·(m − 1)``
    without ``pairs``."""
    rows, targets, sizes = [], [], []
    classes = torch.arange(m, device=y.device)
    for s in batched(y.shape[0], batch_size):
        keep = y[s].unsqueeze(0) != classes.unsqueeze(1)  # (m, B): class j, example r
        if pairs is not None:
            keep &= pairs[y[s]].T
        j, r = keep.nonzero(as_tuple=True)  # sorted by j, then r
        rows.append(r + s.start)
        targets.append(j)
        sizes += [c for c in keep.sum(dim=1).tolist() if c]
    return torch.cat(rows), torch.cat(targets), sizes


def pairwise_reach(
    attack: Attack, x: Tensor, y: Tensor, num_classes: int, batch_size: int = 256,
    chunk_size: int = 4096, pairs: Any = None,
) -> Tensor:
    """Which wrong classes each example can be pushed into, found by targeted attacks.

    ``reach[n, j]`` is True iff some point found in the ball around ``x[n]`` — the clean
    ``x[n]`` itself, or the output of the attack targeted at any class — is classified as
    ``j ≠ y[n]``. The attack is run targeted at every class ``j ≠ y[n]`` for every example
    (``N·(m − 1)`` targeted runs in all); whatever class each run lands on is recorded.
    ``reach[n, y[n]]`` is False.

    The result is that of the reference loop ``for each block of batch_size examples: for j in
    range(m): attack(xb[yb != j], yb[yb != j], target=j)``, but the ``(example, target)`` pairs
    of consecutive (block, ``j``) groups are stacked into one attack call of at most
    ``chunk_size`` pairs (a group is never split; a group larger than ``chunk_size`` is a call
    of its own). Random starts are drawn per group, from a fresh generator seeded with the
    attack's ``seed`` (or the global RNG when unseeded) and with the group's shape, so every
    pair starts where the reference loop started it; restarts continue each group's own stream.
    The engine is per example, so the results are the reference loop's (up to the floating-point
    differences of the model's kernels between batch sizes), provided the attack's loss and the
    model treat examples independently (no batch-coupled loss, no BatchNorm in train mode).
    Unseeded attacks with ``restarts > 1`` interleave the groups' draws from the global RNG
    differently (same distribution, other samples). An attack that overrides ``__call__`` or
    ``_start`` is called once per group, exactly as in the reference loop.

    Args:
        attack: an :class:`Attack` (its ``model`` is the classifier).
        x: ``(N, ...)`` inputs in ``[0, 1]``.
        y: ``(N,)`` int64 labels in ``0..num_classes-1``.
        num_classes: ``m``.
        batch_size: examples per block of the reference loop (it fixes which pairs share a
            random-start draw) and per forward pass of the clean predictions.
        chunk_size: most ``(example, target)`` pairs per attack call (memory grows with it).
        pairs: optional ``(m, m)`` bool (array or tensor, e.g. ``CostMatrix.sensitive_mask``):
            attack only the pairs with ``pairs[y, j]`` (the others are never targeted, so their
            ``reach`` is only what the clean prediction and the other runs happened to hit: a
            lower bound). What depends on the sensitive pairs alone — cost-sensitive robust
            error, robust cost — is then the full loop's at a fraction of the runs.

    Returns:
        ``(N, m)`` bool tensor on ``x.device``.

    >>> import torch
    >>> from torch import nn
    >>> atk = BIM(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), eps=0.2, steps=3)
    >>> reach = pairwise_reach(atk, torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2]), 3)
    >>> reach.shape, reach.dtype, bool(reach[0, 0])
    (torch.Size([6, 3]), torch.bool, False)
    """
    if not isinstance(attack, Attack):
        raise ValueError(f"attack must be a csr.attacks.Attack, got {type(attack).__name__}")
    m = _check_int("num_classes", num_classes, 2)
    _check_int("batch_size", batch_size, 1)
    _check_int("chunk_size", chunk_size, 1)
    x = _check_inputs(x)
    n = x.shape[0]
    y = _check_labels("y", y, n, x.device)
    if n and int(y.max()) >= m:
        raise ValueError(f"labels must be < num_classes={m}, got {int(y.max())}")
    reach = torch.zeros(n, m, dtype=torch.bool, device=x.device)
    if n == 0:
        return reach
    model, ev = attack.model, attack.eval_mode
    reach[torch.arange(n, device=x.device), predict(model, x, batch_size, eval_mode=ev)] = True
    if pairs is not None:
        pairs = torch.as_tensor(np.asarray(pairs.cpu() if isinstance(pairs, Tensor) else pairs), dtype=torch.bool,
                                device=x.device)
        if pairs.shape != (m, m):
            raise ValueError(f"pairs must be a ({m}, {m}) bool matrix, got shape {tuple(pairs.shape)}")
    rows, targets, sizes = _reach_pairs(y, m, batch_size, pairs)
    if not sizes:
        reach[torch.arange(n, device=x.device), y] = False
        return reach
    # Stack whole groups: the engine's own random start can be drawn per group; anything else
    # (a custom __call__ or start) gets one call per group, as in the reference loop.
    cls = type(attack)
    stack = cls.__call__ is Attack.__call__ and cls._start is Attack._start
    chunks, lo, g = [], 0, 0
    while g < len(sizes):
        group_sizes = [sizes[g]]
        g += 1
        while stack and g < len(sizes) and sum(group_sizes) + sizes[g] <= chunk_size:
            group_sizes.append(sizes[g])
            g += 1
        chunks.append((lo, lo + sum(group_sizes), group_sizes))
        lo += sum(group_sizes)
    for lo, hi, group_sizes in progress.bar(chunks, desc=f"pairwise {type(attack).__name__}", unit="chunk"):
        r, t = rows[lo:hi], targets[lo:hi]
        if stack:
            starts = _GroupedStarts(group_sizes, [attack._generator(x.device) for _ in group_sizes])
            xa = attack._perturb(x[r], t, True, starts)
        else:
            xa = attack(x[r], y[r], target=t)
        reach[r, predict(model, xa, hi - lo, eval_mode=ev)] = True
    reach[torch.arange(n, device=x.device), y] = False
    return reach
