"""The one trainer: optimizer, LR schedule, ε ramp, per-epoch metrics, checkpoints, resume.

A run lives in ``runs_dir()/<method>-<hash of the config>/``:

* ``config.json`` — the full :class:`TrainConfig` (cost matrix as a nested list, ``threads``
  resolved to the count training ran with);
* ``env.json`` — versions, device, threads;
* ``metrics.csv`` — one row per finished epoch;
* ``checkpoint.pt`` — model, optimizer and RNG state after the last finished epoch;
* ``best.pt`` — weights of the selected epoch (see ``select_*``); ``done.json`` when finished.

Every file is written atomically through :mod:`csr.store`, so a kill at any moment leaves the
previous version of each intact.

Calling :func:`train` again with the same config resumes after the last checkpoint and ends
with the same weights and metrics as an uninterrupted run (CPU: the thread count is part of the
config, see ``TrainConfig.threads``), or returns the finished run at once.

Example
-------
>>> from csr.train import TrainConfig, train
>>> cfg = TrainConfig(dataset="digits", model="mlp", epochs=1, progress=False)
>>> result = train(cfg, runs_root="/tmp/csr-doctest-runs")  # doctest: +SKIP
>>> result.history[["epoch", "val_acc"]]  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import costs as costs_mod
from .. import claims, progress
from ..augment import AUGMENTATIONS, augment_batch
from ..data import DATASETS, Splits, load_dataset, subsample
from ..metrics import layer_fuzziness, model_fuzziness_eq9
from ..models import MODELS, build_model
from ..registry import Registry
from .. import store
from ..utils import batched, config_hash, environment, resolve_device, runs_dir, seed_everything, to_jsonable
from .methods import METHODS, MethodContext, Stages

__all__ = ["TrainConfig", "RunResult", "TRACKERS", "train", "load_run", "lr_at", "eps_at"]

#: Per-epoch statistics of the model itself (``fn(model) -> {column: float}``), named in
#: ``TrainConfig.track``; their columns join ``metrics.csv``.
TRACKERS: Registry[Callable[[nn.Module], dict[str, float]]] = Registry("tracker")
TRACKERS.register("fuzziness", layer_fuzziness)  # the Min-Max repair, per conv layer
TRACKERS.register("fuzziness_eq9", model_fuzziness_eq9)  # Eqs. 8-9 as printed, all conv weights

_OPTIMIZERS = ("sgd", "adam")
_SCHEDULES = ("constant", "step", "multistep", "cosine")


@dataclass
class TrainConfig:
    """Everything that determines a training run (and so its run directory).

    ``device`` and ``progress`` do not enter the hash: the same config on another device
    resumes the same run directory.

    ``threads``: the CPU thread count training runs with (``torch.set_num_threads``; the
    previous count is restored afterwards). CPU results depend on it (reductions split
    differently), so the *resolved* count — ``None`` means the current
    ``torch.get_num_threads()`` — always enters the run hash and ``config.json``: a run cached
    with 1 thread is not reused at 2. Set it explicitly to share runs between machines.
    """

    dataset: str = "mnist5k"
    model: str = "mnist_small"
    method: str = "standard"
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    cost_matrix: Any = None  # builder name, file path, nested list or CostMatrix
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False  # SGD with Nesterov momentum (Terzi et al.'s WRNs)
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    lr_step: int = 10  # 'step': multiply by lr_gamma every lr_step epochs (after lr_step_start)
    lr_step_start: int = 0
    lr_gamma: float = 0.5
    lr_milestones: list[int] = field(default_factory=list)  # 'multistep'
    eps: float = 0.0
    norm: str = "linf"
    eps_start: float = 0.0
    eps_warmup_epochs: int = 0  # ε grows linearly (per batch) from eps_start to eps over these epochs
    clip_grad: float | None = None
    # Training-batch augmentation from csr.augment.AUGMENTATIONS ("crop_flip", "flip",
    # "resized_crop_flip"); None: none. Image datasets only.
    augment: str | None = None
    n_train: int | None = None  # class-balanced subsample of the training split
    n_val: int | None = None
    data_seed: int = 0
    val_fraction: float | None = None  # torchvision datasets: share of the training files held out (None: 5,000)
    seed: int = 0
    select_metric: str = "val_acc"  # model selection on the validation split
    select_mode: str = "max"
    select_max_val_err: float | None = None  # only epochs with val error under this compete
    val_attack: dict[str, Any] | None = None  # e.g. {"name": "pgd", "eps": 0.1, "steps": 10, "n": 200}
    # Certified validation metrics each epoch at the target ε (Zhang & Evans' model selection):
    # e.g. {"method": "wk"} adds val_cert_robust_error and, with a cost matrix,
    # val_cert_cs_robust_error (binary C) / val_cert_robust_cost; "all_pairs": False certifies
    # only Ω's pairs (cheaper; then no val_cert_robust_error).
    val_certify: dict[str, Any] | None = None
    # Per-epoch model statistics from :data:`TRACKERS`, e.g. ["fuzziness"] (per conv layer)
    track: list[str] = field(default_factory=list)
    threads: int | None = None  # CPU threads; None → torch.get_num_threads() (resolved value is hashed)
    device: str = "auto"
    progress: bool = True

    _UNHASHED = ("device", "progress")

    def validate(self) -> None:
        """Raise ValueError naming the first bad field (before any work or file is written)."""
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"TrainConfig: {msg}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for name in ("dataset", "model", "method", "optimizer", "lr_schedule", "norm", "select_metric"):
            check(isinstance(getattr(self, name), str), f"{name} must be a string, got {getattr(self, name)!r}")
        check(is_int(self.epochs) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}")
        check(is_int(self.batch_size) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        check(is_num(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr!r}")
        check(is_num(self.eps) and self.eps >= 0, f"eps must be a number >= 0, got {self.eps!r}")
        check(is_num(self.eps_start) and 0 <= self.eps_start <= self.eps or self.eps_warmup_epochs == 0,
              f"eps_start must lie in [0, eps], got {self.eps_start!r}")
        check(is_int(self.eps_warmup_epochs) and self.eps_warmup_epochs >= 0, "eps_warmup_epochs must be an integer >= 0")
        check(self.optimizer in _OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; known: {', '.join(_OPTIMIZERS)}")
        check(self.lr_schedule in _SCHEDULES, f"unknown lr_schedule {self.lr_schedule!r}; known: {', '.join(_SCHEDULES)}")
        check(self.norm in ("linf", "l2"), f"unknown norm {self.norm!r}; known: linf, l2")
        check(self.select_mode in ("max", "min"), f"select_mode must be 'max' or 'min', got {self.select_mode!r}")
        check(self.n_train is None or (is_int(self.n_train) and self.n_train > 0), "n_train must be a positive integer or None")
        check(self.n_val is None or (is_int(self.n_val) and self.n_val > 0), "n_val must be a positive integer or None")
        check(isinstance(self.method_kwargs, dict), "method_kwargs must be a dict")
        check(isinstance(self.model_kwargs, dict), "model_kwargs must be a dict")
        check(self.threads is None or (is_int(self.threads) and self.threads >= 1),
              f"threads must be an integer >= 1 or None, got {self.threads!r}")
        check(isinstance(self.track, list), f"track must be a list of names, got {self.track!r}")
        for name in self.track:
            TRACKERS.get(name)
        check(self.augment is None or isinstance(self.augment, str), f"augment must be a name or None, got {self.augment!r}")
        if self.augment is not None:
            AUGMENTATIONS.get(self.augment)
        DATASETS.get(self.dataset)  # unknown names → ValueError listing the known ones
        MODELS.get(self.model)
        spec = METHODS.get(self.method)
        spec.resolve_kwargs(self.method_kwargs)
        check(not spec.needs_cost or self.cost_matrix is not None, f"method {self.method!r} needs a cost_matrix")
        check(not spec.adversarial or self.eps > 0, f"method {self.method!r} trains against perturbations: set eps > 0")

    def resolved_threads(self) -> int:
        """``threads``, or the current ``torch.get_num_threads()`` when it is None."""
        return int(self.threads) if self.threads is not None else torch.get_num_threads()

    def hashed_dict(self) -> dict[str, Any]:
        """The fields that identify the run: all but ``device``/``progress``, and only those that
        differ from their defaults, so adding a new field (with a default) to the config later
        keeps existing run directories valid — except ``threads``, always present with its
        resolved value (:meth:`resolved_threads`), since CPU results depend on it."""
        d = dataclasses.asdict(self)
        defaults = dataclasses.asdict(TrainConfig())
        for k in self._UNHASHED:
            d.pop(k, None)
        if isinstance(self.cost_matrix, costs_mod.CostMatrix):
            d["cost_matrix"] = self.cost_matrix.to_list()
        d["threads"] = self.resolved_threads()  # never equal to the default None: always hashed
        return to_jsonable({k: v for k, v in d.items() if k not in defaults or v != defaults[k]})

    def run_name(self) -> str:
        return f"{self.method}-{config_hash(self.hashed_dict())}"


@dataclass
class RunResult:
    """A finished run: ``model`` (selected epoch's weights, eval mode), ``history`` (one row per
    epoch), ``run_dir``, ``config``, ``splits`` and the resolved ``cost`` matrix (or None)."""

    model: nn.Module
    history: pd.DataFrame
    run_dir: Path
    config: TrainConfig
    splits: Splits
    cost: costs_mod.CostMatrix | None
    best_epoch: int

    def save_json(self, name: str, obj: Any) -> Path:
        """Write an evaluation result next to the run (``<run_dir>/<name>.json``)."""
        return store.write_json(self.run_dir / f"{name}.json", obj)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch``."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "step":
        k = max(0, epoch - cfg.lr_step_start) // cfg.lr_step if epoch >= cfg.lr_step_start else 0
        return cfg.lr * cfg.lr_gamma**k
    if cfg.lr_schedule == "multistep":
        return cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.lr_milestones)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))  # cosine


def ramp_at(cfg: TrainConfig, epoch: int, frac: float = 0.0) -> float:
    """Fraction of the ε warm-up done at ``epoch`` + ``frac`` of its batches (1 without one)."""
    if cfg.eps_warmup_epochs <= 0:
        return 1.0
    return min(1.0, (epoch + frac) / cfg.eps_warmup_epochs)


def eps_at(cfg: TrainConfig, epoch: int, frac: float = 0.0) -> float:
    """ε at ``epoch`` + ``frac`` of its batches: linear ramp over the warm-up epochs."""
    if cfg.eps_warmup_epochs <= 0:
        return cfg.eps
    return cfg.eps_start + ramp_at(cfg, epoch, frac) * (cfg.eps - cfg.eps_start)


def _prepare(cfg: TrainConfig, splits: Splits | None) -> tuple[Splits, costs_mod.CostMatrix | None]:
    cfg.validate()
    if splits is None:
        splits = load_dataset(cfg.dataset, seed=cfg.data_seed, val_fraction=cfg.val_fraction)
    cost = None
    if cfg.cost_matrix is not None:
        cost = costs_mod.load(cfg.cost_matrix, splits.num_classes, class_names=splits.class_names)
    return splits, cost


def _build(cfg: TrainConfig, splits: Splits, device: torch.device) -> nn.Module:
    """The config's model for the dataset's shape, classes and normalisation, on ``device``."""
    return build_model(cfg.model, input_shape=splits.input_shape, num_classes=splits.num_classes,
                       mean=splits.mean, std=splits.std, **cfg.model_kwargs).to(device)


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, bs: int = 512) -> dict[str, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for sl in batched(len(y), bs):
            xb, yb = x[sl].to(device), y[sl].to(device)
            out = model(xb)
            loss += F.cross_entropy(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()
    return {"val_loss": loss / len(y), "val_acc": correct / len(y)}


def _attack_eval(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, spec: dict[str, Any]) -> dict[str, float]:
    from ..attacks import build_attack, robust_accuracy

    spec = dict(spec)
    name = spec.pop("name", "pgd")
    n = spec.pop("n", None)
    if n is not None:
        x, y = x[:n], y[:n]
    attack = build_attack(name, model, **spec)
    model.eval()
    acc = robust_accuracy(attack, x.to(device), y.to(device))
    return {f"val_{name}_acc": acc}


def _certify_eval(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  cfg: TrainConfig, cost: costs_mod.CostMatrix | None) -> dict[str, float]:
    from ..evaluate import certified_report

    spec = dict(cfg.val_certify or {})
    method = spec.pop("method", "wk")
    all_pairs = spec.pop("all_pairs", True)
    if spec:
        raise ValueError(f"val_certify takes only 'method' and 'all_pairs'; got {sorted(spec)}")
    if not isinstance(all_pairs, bool):
        raise ValueError(f"val_certify 'all_pairs' must be True or False, got {all_pairs!r}")
    model.eval()
    C = cost if cost is not None else costs_mod.overall(int(model(x[:1].to(device)).shape[1]))
    # all_pairs=False with a cost matrix: only the pairs of Ω (what cost-sensitive selection
    # reads), so no overall robust error
    partial = cost is not None and not all_pairs
    row = certified_report(model, x.to(device), y.to(device), C, cfg.eps, norm=cfg.norm, method=method,
                           all_pairs=not partial).row
    out = {} if partial else {"val_cert_robust_error": row["overall_robust_error"]}
    if cost is not None:
        out["val_cert_robust_cost"] = row["robust_cost"]
        if cost.is_binary:
            out["val_cert_cs_robust_error"] = row["cs_robust_error"]
    return out


def train(
    config: TrainConfig,
    splits: Splits | None = None,
    runs_root: str | Path | None = None,
    resume: bool = True,
) -> RunResult:
    """Train (or resume, or load the finished) run for ``config``. See the module docstring.

    Runs with ``torch.set_num_threads(config.resolved_threads())`` and restores the previous
    thread count afterwards (also on errors)."""
    config.validate()
    threads = config.resolved_threads()
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        return _train(config, threads, splits, runs_root, resume)
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _train(cfg: TrainConfig, threads: int, splits: Splits | None, runs_root: str | Path | None,
           resume: bool) -> RunResult:
    splits, cost = _prepare(cfg, splits)
    if cfg.augment is not None and len(splits.input_shape) != 3:
        raise ValueError(f"TrainConfig: augment={cfg.augment!r} needs image inputs (C, H, W); "
                         f"dataset {cfg.dataset!r} has input shape {tuple(splits.input_shape)}")
    spec = METHODS.get(cfg.method)
    method_kwargs = spec.resolve_kwargs(cfg.method_kwargs)
    device = resolve_device(cfg.device)

    run_dir = Path(runs_root) if runs_root is not None else runs_dir()
    run_dir = run_dir / dataclasses.replace(cfg, threads=threads).run_name()
    run_dir.mkdir(parents=True, exist_ok=True)
    # One worker trains a run at a time (csr.claims): another one waits, then loads the result.
    with claims.claim(run_dir, run_dir / ("done.json" if resume else ".retrain")):
        return _train_in(cfg, threads, splits, cost, spec, method_kwargs, device, run_dir, resume)


def _train_in(cfg: TrainConfig, threads: int, splits: Splits, cost: Any, spec: Any, method_kwargs: dict[str, Any],
              device: torch.device, run_dir: Path, resume: bool) -> RunResult:
    full = to_jsonable({k: v for k, v in dataclasses.asdict(cfg).items() if k not in cfg._UNHASHED})
    full["threads"] = threads
    if cost is not None:
        full["cost_matrix"] = cost.to_list()
    store.write_json(run_dir / "config.json", full)
    store.write_json(run_dir / "env.json", environment(device))

    # data (class-balanced subsets are seeded by data_seed: part of the config)
    train_ds = subsample(splits.train, cfg.n_train, seed=cfg.data_seed) if cfg.n_train else splits.train
    val_ds = subsample(splits.val, cfg.n_val, seed=cfg.data_seed) if cfg.n_val else splits.val
    xtr, ytr = train_ds.tensors
    xval, yval = val_ds.tensors

    seed_everything(cfg.seed)
    model = _build(cfg, splits, device)
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
            nesterov=cfg.nesterov,
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = run_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        ckpt = store.load_torch(ckpt_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)
        random.setstate(_python_state_from(ckpt["python_rng"]))
        start_epoch = int(ckpt["epoch"]) + 1
        metrics_csv = run_dir / "metrics.csv"
        if metrics_csv.exists():
            history = store.read_csv(metrics_csv).to_dict("records")[:start_epoch]

    ctx = MethodContext(num_classes=splits.num_classes, norm=cfg.norm, cost=cost, kwargs=method_kwargs)
    n = len(ytr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        seen = 0
        batches = list(batched(n, cfg.batch_size))
        iterator = progress.bar(batches, desc=f"{cfg.method} epoch {epoch + 1}/{cfg.epochs}",
                                unit="batch") if cfg.progress else batches
        for b, sl in enumerate(iterator):
            idx = perm[sl]
            xb, yb = xtr[idx].to(device), ytr[idx].to(device)
            if cfg.augment is not None:
                xb = augment_batch(cfg.augment, xb, seed=cfg.seed * 1_000_003 + epoch * steps_per_epoch + b)
            ctx.eps = eps_at(cfg, epoch, b / steps_per_epoch)
            ctx.ramp = ramp_at(cfg, epoch, b / steps_per_epoch)
            ctx.epoch, ctx.step = epoch, epoch * steps_per_epoch + b
            model.train()
            loss, stats = spec.fn(model, xb, yb, ctx)
            stages = list(loss) if isinstance(loss, Stages) else [lambda loss=loss: loss]
            total = 0.0
            for stage in stages:
                stage_loss = stage()
                if not torch.isfinite(stage_loss):
                    raise FloatingPointError(f"{cfg.method}: non-finite loss at epoch {epoch + 1}, batch {b}")
                opt.zero_grad(set_to_none=True)
                stage_loss.backward()
                if cfg.clip_grad:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                opt.step()
                total += stage_loss.item()
            k = len(yb)
            seen += k
            sums["train_loss"] = sums.get("train_loss", 0.0) + total * k
            for key, v in stats.items():
                sums[f"train_{key}"] = sums.get(f"train_{key}", 0.0) + float(v) * k
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "eps": eps_at(cfg, epoch, 1.0)}
        row.update({k: v / seen for k, v in sums.items()})
        row.update(_evaluate(model, xval, yval, device))
        if cfg.val_attack:
            row.update(_attack_eval(model, xval, yval, device, cfg.val_attack))
        if cfg.val_certify:
            row.update(_certify_eval(model, xval, yval, device, cfg, cost))
        for name in cfg.track:
            row.update(TRACKERS.get(name)(model))
        row["time_s"] = time.perf_counter() - t0
        history.append(row)

        # checkpoint: metrics first, then the state that says this epoch is done
        store.write_csv(run_dir / "metrics.csv", history)
        if _is_best(cfg, history):
            store.save_torch(model.state_dict(), run_dir / "best.pt")
        state = {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": _python_state_to(random.getstate()),
        }
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        store.save_torch(state, ckpt_path)
        # who trained which epoch (after the checkpoint: an epoch is logged once it is kept)
        store.append_line(run_dir / "log.jsonl", store.dumps_json(
            {"epoch": epoch + 1, "worker": claims.worker_id(), "time_s": row["time_s"]}, indent=None))

    hist = pd.DataFrame(history)
    best_epoch = _best_epoch(cfg, history)
    best_path = run_dir / "best.pt"
    if best_path.exists():
        model.load_state_dict(store.load_torch(best_path, map_location=device))
    model.eval()
    store.write_json(run_dir / "done.json", {"epochs": cfg.epochs, "best_epoch": best_epoch, "final": history[-1]})
    return RunResult(model, hist, run_dir, cfg, splits, cost, best_epoch)


def _eligible(cfg: TrainConfig, row: dict[str, Any]) -> bool:
    return cfg.select_max_val_err is None or (1.0 - row["val_acc"]) <= cfg.select_max_val_err


def _best_epoch(cfg: TrainConfig, history: list[dict[str, Any]]) -> int:
    """1-based epoch selected on the validation split (the last epoch if none is eligible)."""
    rows = [r for r in history if _eligible(cfg, r) and cfg.select_metric in r]
    if not rows:
        return int(history[-1]["epoch"])
    sign = 1 if cfg.select_mode == "max" else -1
    best = max(rows, key=lambda r: (sign * r[cfg.select_metric], -r["epoch"]))  # earliest of ties
    return int(best["epoch"])


def _is_best(cfg: TrainConfig, history: list[dict[str, Any]]) -> bool:
    return _best_epoch(cfg, history) == history[-1]["epoch"]


def _python_state_to(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state_from(obj: list) -> tuple:
    version, internal, gauss = obj
    return (int(version), tuple(int(v) for v in internal), gauss)


def load_run(run_dir: str | Path, splits: Splits | None = None, device: str = "auto") -> RunResult:
    """Load a finished run directory (its ``config.json`` and ``best.pt``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "done.json").exists():
        raise FileNotFoundError(f"{run_dir} holds no finished run (no done.json); call train() to resume it")
    raw = store.read_json(run_dir / "config.json")
    cfg = TrainConfig(**{k: v for k, v in raw.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    cfg.device = device
    splits, cost = _prepare(cfg, splits)
    dev = resolve_device(device)
    model = _build(cfg, splits, dev)
    model.load_state_dict(store.load_torch(run_dir / "best.pt", map_location=dev))
    model.eval()
    hist = store.read_csv(run_dir / "metrics.csv")
    best = store.read_json(run_dir / "done.json")["best_epoch"]
    return RunResult(model, hist, run_dir, cfg, splits, cost, int(best))
