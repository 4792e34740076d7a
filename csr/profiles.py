"""Notebook profiles and parameter checks.

Every notebook has a ``parameters`` cell (papermill) and then calls :func:`setup`, which
checks the parameters' types and values, fills the ones left ``None`` from the profile, loads
the data and the cost matrix and prints the scale the outputs come from — so a bad parameter
fails in the first cell, before any training or file writing.

Profiles: ``smoke`` (≤ 60 s on 2 CPU cores: nbval and CI), ``cpu`` (the default of
``make book``: meaningful on mnist5k), ``gpu`` (the papers' settings on the full datasets).

Example
-------
>>> s = setup("quickstart", profile="smoke", cost_matrix="odd", verbose=False)
>>> s.settings["dataset"], s.cost.seeds
('mnist5k', [1, 3, 5, 7, 9])
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import costs as costs_mod
from .data import Splits, load_dataset, subsample
from .utils import environment, resolve_device, seed_everything

__all__ = ["PROFILES", "ParameterError", "Setup", "setup", "settings_for"]


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value; the message names it."""


# Zhang & Evans (2019) Table 1: the 13 binary MNIST tasks.
ZE_TASKS = ["single_pair:0,2", "single_pair:6,5", "single_pair:4,9", "single_seed:0", "single_seed:2",
            "single_seed:8", "single_target:1", "single_target:5", "single_target:8", "top_k:10",
            "random_k:10,seed=0", "odd", "even"]

# How the paper's tables name those tasks (and the real-valued ones).
ZE_TASK_LABELS = {
    "single_pair:0,2": "single pair (0,2)", "single_pair:6,5": "single pair (6,5)",
    "single_pair:4,9": "single pair (4,9)", "single_seed:0": "single seed 0", "single_seed:2": "single seed 2",
    "single_seed:8": "single seed 8", "single_target:1": "single target 1", "single_target:5": "single target 5",
    "single_target:8": "single target 8", "top_k:10": "multiple pairs top-10",
    "random_k:10,seed=0": "multiple pairs random-10", "odd": "seed set odd", "even": "seed set even",
    "small_large": "small-large", "large_small": "large-small",
}

# Zhang & Evans Table 3 (CIFAR-10) tasks, and how the paper names them.
ZE_CIFAR_TASKS = ["single_pair:6,2", "single_pair:3,0", "single_seed:5", "single_seed:9", "single_target:4",
                  "single_target:8", "animals_to_vehicles", "vehicles_to_animals", "vehicle"]
ZE_CIFAR_LABELS = {
    "single_pair:6,2": "single pair (frog, bird)", "single_pair:3,0": "single pair (cat, plane)",
    "single_seed:5": "single seed dog", "single_seed:9": "single seed truck",
    "single_target:4": "single target deer", "animals_to_vehicles": "multiple A-V (animal->vehicle)",
    "single_target:8": "single target ship", "vehicles_to_animals": "multiple V-A (vehicle->animal)",
    "vehicle": "vehicle (real-valued)",
}

# Per notebook, per profile: defaults for every parameter a user may leave as None.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "quickstart": {
        "smoke": dict(dataset="mnist5k", model="mnist_small", epochs=3, n_train=1500, n_eval=200,
                      train_steps=5, eval_steps=10, eval_restarts=1, batch_size=50, lr=1e-3,
                      eps_warmup_epochs=1),
        "cpu": dict(dataset="mnist5k", model="mnist_small", epochs=12, n_train=None, n_eval=None,
                    train_steps=10, eval_steps=20, eval_restarts=1, batch_size=50, lr=1e-3,
                    eps_warmup_epochs=4),
        "gpu": dict(dataset="mnist", model="mnist_small", epochs=20, n_train=None, n_eval=None,
                    train_steps=40, eval_steps=50, eval_restarts=2, batch_size=50, lr=1e-3,
                    eps_warmup_epochs=5),
    },
    "zhang_evans_2019": {
        "smoke": dict(dataset="mnist5k", model="mlp", model_kwargs={"hidden": [64]}, n_train=600,
                      n_val=200, n_eval=200, epochs=3, eps=0.1, eps_start=0.05, eps_warmup_epochs=1,
                      lr=1e-3, lr_step_start=2, lr_step=1, batch_size=50, bound="wk", alpha=None,
                      tune_alpha=False, max_clean_error=0.6,
                      tasks=["single_pair:0,2", "single_seed:8", "odd"], real_tasks=["small_large"],
                      eps_list=[0.05], alpha_list=[0.1], fig2_train_all=False, cifar=False),
        "cpu": dict(dataset="mnist5k", model="mlp", model_kwargs={"hidden": [256]}, n_train=None,
                    n_val=None, n_eval=None, epochs=10, eps=0.1, eps_start=0.05, eps_warmup_epochs=4,
                    lr=1e-3, lr_step_start=6, lr_step=2, batch_size=50, bound="wk", alpha=None,
                    tune_alpha=False, max_clean_error=0.2,
                    tasks=ZE_TASKS, real_tasks=["small_large", "large_small"],
                    eps_list=[0.05, 0.15], alpha_list=[0.1, 10.0], fig2_train_all=False, cifar=False),
        # The paper's MNIST settings: mnist_small, ε = 0.2 reached after 20 of 60 epochs, then the
        # learning rate halved every 10 epochs; α tuned per task on a validation split.
        "gpu": dict(dataset="mnist", model="mnist_small", model_kwargs={}, n_train=None, n_val=None,
                    n_eval=None, epochs=60, eps=0.2, eps_start=0.05, eps_warmup_epochs=20, lr=1e-3,
                    lr_step_start=20, lr_step=10, batch_size=50, bound="wk", alpha=None,
                    tune_alpha=True, max_clean_error=0.035,
                    tasks=ZE_TASKS, real_tasks=["small_large", "large_small"],
                    eps_list=[0.1, 0.15, 0.25], alpha_list=[0.1, 10.0], fig2_train_all=True,
                    # Table 3 / Fig. 4 when the CIFAR-10 files exist: Wong et al. (2018)'s large
                    # model at ε = 2/255, trained with 50 random projections (wk_proj)
                    cifar=True, cifar_model="cifar_large", cifar_eps=2 / 255, cifar_bound="wk_proj",
                    cifar_epochs=60, cifar_max_clean_error=0.35),
    },
}

# Xin et al.'s tasks (CIFAR-10 indices: cat 3, bird 2, deer 4, dog 5; the same indices on MNIST).
RS_TASKS = ["single_seed:3", "seed_set:[2,4]", "single_pair:3,5", "multi_pair:[(3,2),(3,4),(3,5)]"]
RS_TASK_LABELS = {"single_seed:3": "seedwise single (3)", "seed_set:[2,4]": "seedwise multi (2, 4)",
                  "single_pair:3,5": "pairwise single (3→5)",
                  "multi_pair:[(3,2),(3,4),(3,5)]": "pairwise multi (3→2,4,5)"}

_RS_COMMON = dict(dataset="mnist5k", model="mlp", batch_size=64, optimizer="adam", lr=1e-3,
                  lr_schedule="multistep", beta=16.0, lam=3.0, alpha=0.001, certify_batch=2000,
                  sigma=0.5, sigma_low=0.25, eps=0.5, cifar=False)
PROFILES["cs_randomized_smoothing"] = {
    "smoke": dict(_RS_COMMON, model_kwargs={"hidden": [64]}, n_train=600, n_eval=100, epochs=3,
                  lr_milestones=[2], k=4, n0=20, n=200, eps_list=[0.25, 0.5],
                  tasks=["single_seed:3", "single_pair:3,5"], low_sigma_tasks=["single_seed:3"],
                  gamma_grid=[[4.0, 16.0], [8.0, 16.0]], cohen_r_alphas=[2.0], omega_sizes=[1, 3, 9]),
    # mnist5k: 3,000 training digits, 500 certified test digits, one hidden layer of 256 units,
    # k = 8 noise samples per input in training (the paper: 16), n = 1,000 (the paper: 100,000).
    "cpu": dict(_RS_COMMON, model_kwargs={"hidden": [256]}, n_train=None, n_eval=500, epochs=15,
                lr_milestones=[10], k=8, n0=100, n=1000, eps_list=[0.25, 0.5, 1.0],
                tasks=RS_TASKS, low_sigma_tasks=["single_seed:3", "single_pair:3,5"],
                gamma_grid=[[4.0, 16.0], [8.0, 16.0], [4.0, 8.0], [8.0, 8.0]],
                cohen_r_alphas=[2.0, 5.0, 10.0], omega_sizes=[1, 3, 5, 7, 9]),
    # The public code's CIFAR-10 settings: ResNet-56, 440 epochs of SGD (lr 0.01, ×0.1 at 200
    # and 400), k = 16, β = 16, λ = 3; certification n0 = 100, n = 100,000, α = 0.001 on 500
    # test images.
    "gpu": dict(_RS_COMMON, dataset="cifar10", model="resnet56", model_kwargs={}, n_train=None, n_eval=500,
                epochs=440, optimizer="sgd", lr=0.01, lr_milestones=[200, 400], k=16, n0=100, n=100_000,
                certify_batch=4000, eps_list=[0.25, 0.5, 1.0], tasks=RS_TASKS,
                low_sigma_tasks=RS_TASKS, gamma_grid=[[g1, g2] for g1 in (2.0, 4.0, 8.0) for g2 in (8.0, 16.0, 32.0)],
                cohen_r_alphas=[1.1, 2.0, 5.0, 10.0], omega_sizes=[1, 3, 5, 7, 9], cifar=True),
}

# Shen et al.: one model per protected class p (protect:p, c = 10); six attacks at ε (ℓ∞) and
# eps_l2 (BIM-ℓ2), in pixel space. The authors' code attacks at ε = 0.3 in *normalised* MNIST
# units, i.e. ε ≈ 0.092 in pixels: our ε = 0.1.
_SHEN_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.1, eps_l2=1.0, c=10.0, lam=1.0, gamma=1.0,
                    l2=1e-3, batch_size=64, lr=1e-3, cifar=False)
PROFILES["shen_cost_sensitive_classes"] = {
    "smoke": dict(_SHEN_COMMON, n_train=600, n_eval=200, epochs=2, train_steps=3, eval_steps=5,
                  protected=[3], fig_protected=3),
    "cpu": dict(_SHEN_COMMON, n_train=None, n_eval=None, epochs=6, train_steps=5, eval_steps=20,
                protected=list(range(10)), fig_protected=3),
    # The authors' code: LeNet, Adam 1e-3, 10 epochs per protected class (CIFAR-10: 50).
    "gpu": dict(_SHEN_COMMON, dataset="mnist", model="lenet", n_train=None, n_eval=None, epochs=10,
                train_steps=10, eval_steps=40, protected=list(range(10)), fig_protected=3, cifar=True,
                cifar_model="lenet", cifar_eps=8 / 255, cifar_eps_l2=0.5, cifar_epochs=50),
}

# Zeng et al.: PGD / TRADES with and without the margin weights; A_rob, A_sa, A_tr at α_test.
_ZENG_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.3, beta=6.0, alpha_train=1.0,
                    alpha_tests=[1.0, 1.5, 2.0], batch_size=64, lr=1e-3, cifar=False)
PROFILES["zeng_weighted_minimax"] = {
    "smoke": dict(_ZENG_COMMON, eps=0.2, n_train=500, n_eval=200, epochs=2, eps_warmup_epochs=1, train_steps=3,
                  eval_steps=5, alpha_trains=[2.0]),
    # 3,000 digits cannot carry ε = 0.3 in a few epochs (PGD training stays at chance): ε = 0.2,
    # reached after 3 warm-up epochs.
    "cpu": dict(_ZENG_COMMON, eps=0.2, n_train=None, n_eval=500, epochs=8, eps_warmup_epochs=3, train_steps=7,
                eval_steps=20, alpha_trains=[0.5, 2.0]),
    # The public code's settings: MNIST ε = 0.3, 40 steps, 100 epochs; CIFAR-10 ResNet-18,
    # ε = 8/255, TRADES β = 5, α = 2.
    "gpu": dict(_ZENG_COMMON, dataset="mnist", n_train=None, n_eval=None, epochs=100, eps_warmup_epochs=10,
                train_steps=40, eval_steps=40, alpha_trains=[0.5, 1.5, 2.0], cifar=True, cifar_model="resnet18",
                cifar_eps=8 / 255, cifar_epochs=100, cifar_beta=5.0, cifar_alpha_train=2.0),
}

# Terzi et al.: CE, PGD and WPGD (p grows) on mnist5k with the visual metric; the toy 3-class
# problem; binary similar / dissimilar pairs, balanced and 0.3-unbalanced. ε = 0.2 (reached after
# a warm-up): at ε = 0.1 PGD training costs mnist5k no clean accuracy, so there is nothing for
# WPGD to keep. λ = inf drops the entropy term from the p sweep (with the metric scaled to 1 an
# entropy weight of 1/log K outweighs the transport term and blunts the attack); ``lam_list`` is
# the entropy sweep at the largest p.
_TERZI_COMMON = dict(dataset="mnist5k", model="mnist_small", eps=0.2, eps_warmup_epochs=2, lam=float("inf"),
                     lam_list=[1.0, 10.0, 100.0], batch_size=64, lr=1e-3, toy_eps=[0.05, 0.15], toy_epochs=20,
                     pairs=["mnist5k_49", "mnist5k_01"], cifar=False)
PROFILES["terzi_wpgd"] = {
    "smoke": dict(_TERZI_COMMON, n_train=600, n_eval=200, epochs=2, eps_warmup_epochs=1, train_steps=3, eval_steps=5,
                  p_list=[1.0, 10.0], lam_list=[1.0], toy_eps=[0.15], toy_epochs=5, pairs=["mnist5k_49"],
                  pair_epochs=2),
    "cpu": dict(_TERZI_COMMON, n_train=None, n_eval=None, epochs=8, train_steps=5, eval_steps=20,
                p_list=[1.0, 2.5, 10.0], pair_epochs=8),
    # MNIST's usual ε = 0.3, 40-step attacks.
    "gpu": dict(_TERZI_COMMON, dataset="mnist", n_train=None, n_eval=None, eps=0.3, eps_warmup_epochs=5, epochs=30,
                train_steps=40, eval_steps=40, p_list=[1.0, 2.5, 10.0], pair_epochs=30, cifar=True,
                cifar_model="resnet18", cifar_eps=8 / 255, cifar_epochs=100),
}

# Expected types of the common parameters (None always allowed where the profile fills it).
_TYPES: dict[str, tuple[type, ...]] = {
    "profile": (str,),
    "dataset": (str,),
    "model": (str,),
    "eps": (int, float),
    "epochs": (int,),
    "seed": (int,),
    "device": (str,),
    "download": (bool,),
    "n_train": (int,),
    "n_eval": (int,),
    "train_steps": (int,),
    "eval_steps": (int,),
    "eval_restarts": (int,),
    "batch_size": (int,),
    "lr": (int, float),
    "eps_warmup_epochs": (int,),
    "eps_start": (int, float),
    "n_val": (int,),
    "bound": (str,),
    "alpha": (int, float),
    "tune_alpha": (bool,),
    "max_clean_error": (int, float),
    "tasks": (list,),
    "real_tasks": (list,),
    "eps_list": (list,),
    "alpha_list": (list,),
    "fig2_train_all": (bool,),
    "cifar": (bool,),
    "sigma": (int, float),
    "sigma_low": (int, float),
    "k": (int,),
    "lam": (int, float),
    "beta": (int, float),
    "n0": (int,),
    "n": (int,),
    "certify_batch": (int,),
    "low_sigma_tasks": (list,),
    "gamma_grid": (list,),
    "cohen_r_alphas": (list,),
    "omega_sizes": (list,),
    "protected": (list, int),
    "c": (int, float),
    "gamma": (int, float),
    "eps_l2": (int, float),
    "alpha_tests": (list,),
    "alpha_trains": (list,),
    "alpha_train": (int, float),
    "p": (int, float),
    "p_list": (list,),
    "lam_list": (list,),
}


def _check_type(name: str, value: Any, types: tuple[type, ...]) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        want = "number" if set(types) == {int, float} else " or ".join(t.__name__ for t in types)
        raise ParameterError(
            f"parameter {name!r} must be {want}, got {type(value).__name__} {value!r} "
            f"(papermill: -p {name} VALUE passes numbers and true/false; use -y for lists)"
        )


def _check_numbers(label: str, values: list, ok: Callable[[float], bool], what: str) -> None:
    """Every entry of ``values`` a real number (not a bool) with ``ok(v)``, else one ParameterError
    naming the parameter(s) ``label`` (quoted, e.g. ``"'eps_list'"``)."""
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not ok(v):
            raise ParameterError(f"parameter {label} must hold {what}, got {v!r}")


def settings_for(notebook: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """The profile's settings with every non-None override applied (types checked)."""
    if notebook not in PROFILES:
        raise ParameterError(f"no profiles for notebook {notebook!r}; known: {', '.join(sorted(PROFILES))}")
    _check_type("profile", profile, (str,))
    table = PROFILES[notebook]
    if profile not in table:
        raise ParameterError(f"unknown profile {profile!r}; known profiles: {', '.join(table)}")
    out = dict(table[profile])
    for name, value in overrides.items():
        if value is None:
            continue
        if name in _TYPES:
            _check_type(name, value, _TYPES[name])
        out[name] = value
    for name in ("epochs", "n_train", "n_val", "n_eval", "train_steps", "eval_steps", "eval_restarts", "batch_size",
                 "k", "n0", "n", "certify_batch"):
        v = out.get(name)
        if v is not None and v < 1:
            raise ParameterError(f"parameter {name!r} must be >= 1, got {v}")
    eps = out.get("eps")
    if eps is not None and not (math.isfinite(eps) and eps >= 0):
        raise ParameterError(f"parameter 'eps' must be a finite number >= 0, got {eps!r}")
    for name in ("sigma", "sigma_low"):
        v = out.get(name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ParameterError(f"parameter {name!r} (noise level) must be a finite number > 0, got {v!r}")
    if notebook == "shen_cost_sensitive_classes":
        prot = out["protected"]
        prot = [prot] if isinstance(prot, int) and not isinstance(prot, bool) else prot
        if not prot or any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 9 for p in prot):
            raise ParameterError(f"parameter 'protected' must be a class index 0..9 or a non-empty list of them, got {out['protected']!r}")
        out["protected"] = list(prot)
        if not (math.isfinite(out["c"]) and out["c"] > 0):
            raise ParameterError(f"parameter 'c' (cost of the protected class) must be a finite number > 0, got {out['c']!r}")
    if notebook == "zeng_weighted_minimax":
        for name in ("alpha_tests", "alpha_trains"):
            _check_numbers(repr(name), out[name], lambda a: math.isfinite(a) and a >= 0, "finite numbers >= 0")
    if notebook == "terzi_wpgd":
        if out.get("p") is not None:
            out["p_list"] = [out["p"]]
        _check_numbers("'p' / 'p_list'", out["p_list"], lambda v: math.isfinite(v) and v > 0, "finite numbers > 0")
        _check_numbers("'lam' / 'lam_list'", [out["lam"], *out["lam_list"]], lambda v: v > 0,
                       "numbers > 0 (inf: no entropy term)")
    if notebook == "cs_randomized_smoothing":
        a = out["alpha"]
        if not 0 < a < 1:
            raise ParameterError(f"parameter 'alpha' (failure probability) must lie strictly between 0 and 1, got {a!r}")
        if out["n0"] > out["n"]:
            raise ParameterError(f"parameter 'n0' ({out['n0']}) must not exceed 'n' ({out['n']})")
        _check_numbers("'eps_list'", out["eps_list"], lambda e: math.isfinite(e) and e >= 0, "finite numbers >= 0")
    return out


@dataclass
class Setup:
    """What a notebook works with after :func:`setup`.

    ``settings``: resolved parameters; ``splits``: the dataset; ``cost``: the validated cost
    matrix (or None); ``device``; ``x_eval``/``y_eval``: the evaluation subset of the test split
    (on ``device``); ``scale``: the one-line description printed at the top.
    """

    notebook: str
    profile: str
    settings: dict[str, Any]
    splits: Splits
    cost: costs_mod.CostMatrix | None
    device: torch.device
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    scale: str


def setup(
    notebook: str,
    profile: str = "smoke",
    cost_matrix: Any = None,
    verbose: bool = True,
    **params: Any,
) -> Setup:
    """Validate parameters, resolve the profile, load data and cost matrix, print the scale.

    ``cost_matrix`` is a builder name (``"odd"``, ``"single_pair:0,2"``), a stored matrix name,
    a .csv/.json/.yaml path or an m×m nested list (also as the string papermill's ``-p`` makes
    of it). Raises :class:`ParameterError` / :class:`csr.costs.CostMatrixError` (both
    ``ValueError``) naming the problem.
    """
    s = settings_for(notebook, profile, **params)
    seed = s.get("seed", 0)
    device = resolve_device(s.get("device", "auto"))
    splits = load_dataset(s["dataset"], download=bool(s.get("download", False)))
    cost = None
    if cost_matrix is not None:
        cost = costs_mod.load(cost_matrix, splits.num_classes, class_names=splits.class_names)
    seed_everything(seed)
    test = subsample(splits.test, s["n_eval"], seed=0) if s.get("n_eval") else splits.test
    x_eval, y_eval = (t.to(device) for t in test.tensors)
    n_train = s.get("n_train") or len(splits.train)
    env = environment(device)
    scale = (
        f"Scale: profile={profile}, data={splits.name} ({min(n_train, len(splits.train))} train / "
        f"{len(splits.val)} val / {len(y_eval)} eval examples), model={s.get('model')}\n"
        f"       epochs={s.get('epochs')}, "
        + (f"sigma={s['sigma']}, n={s['n']} noise samples" if "sigma" in s else f"eps={s.get('eps')}")
        + f", device={env['device']} "
        f"({env['device_name']}, {env['torch_threads']} threads), torch {env['torch']}"
    )
    if verbose:
        print(scale)
        if cost is not None:
            d = cost.describe()
            print(f"Cost matrix {d['name']!r}: {d['type']}, {d['sensitive pairs']} sensitive pairs, "
                  f"seed classes {d['seed classes']}, sparsity {d['sparsity']}")
    return Setup(notebook, profile, s, splits, cost, device, x_eval, y_eval, scale)
