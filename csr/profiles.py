"""Notebook set-up: parameters checked and resolved from a study's profile, data and cost matrix loaded.

Every notebook has a ``parameters`` cell (papermill) and then calls :func:`setup`, which finds
the notebook's study in :data:`csr.studies.STUDIES`, checks the parameters' types and values
against the study's schema, fills the ones left ``None`` from the study's profile, fixes the
CPU thread count, loads the data and the cost matrix and prints the scale the outputs come from
— so a bad parameter fails in the first cell, before any training or file writing. Nothing
here names a notebook: profiles, schemas and checks live in the study modules.

Profiles: ``smoke`` (≤ 60 s on 2 CPU cores: nbval and CI), ``cpu`` (the default of
``make book``: meaningful on mnist5k), ``gpu`` (the papers' settings on the full datasets).

Threads: the ``threads`` parameter (smoke/cpu profiles: 2; gpu: None = torch's default) is
applied with ``torch.set_num_threads``, so the checked outputs do not depend on the machine's
core count or ``OMP_NUM_THREADS``; the trainer records it in each run's config.

Example
-------
>>> s = setup("quickstart", profile="smoke", cost_matrix="odd", verbose=False)
>>> s.settings["dataset"], s.cost.seeds, s.settings["threads"]
('mnist5k', [1, 3, 5, 7, 9], 2)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from . import costs as costs_mod
from .data import Splits, load_dataset, subsample
from .studies import STUDIES
from .studies.base import ParameterError, Study
from .utils import environment, resolve_device, seed_everything

__all__ = ["ParameterError", "Setup", "setup", "settings_for", "study_for"]


def study_for(notebook: str) -> type[Study]:
    """The study class of a notebook (``ValueError`` listing the known ones otherwise)."""
    try:
        return STUDIES.get(notebook)
    except ValueError as e:
        raise ParameterError(str(e)) from None


def settings_for(notebook: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """The notebook's study's profile settings with every non-None override applied (checked)."""
    return study_for(notebook).settings(profile, **overrides)


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
    if s.get("threads"):
        torch.set_num_threads(int(s["threads"]))
    splits = load_dataset(s["dataset"], download=bool(s.get("download", False)), val_fraction=s.get("val_fraction"),
                          resolution=s.get("resolution"))
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
        + (f"sigma={s['sigma']}, n={s['n']} noise samples" if "sigma" in s and "n" in s else f"eps={s.get('eps')}")
        + f", device={env['device']} "
        f"({env['device_name']}, {env['torch_threads']} threads), torch {env['torch']}"
        + (f", CPU kernels {env['cpu_capability']}" + (" pinned (portable)" if env["portable_kernels"] else "")
           if env["device"] == "cpu" else "")
    )
    if verbose:
        print(scale)
        if cost is not None:
            d = cost.describe()
            print(f"Cost matrix {d['name']!r}: {d['type']}, {d['sensitive pairs']} sensitive pairs, "
                  f"seed classes {d['seed classes']}, sparsity {d['sparsity']}")
    return Setup(notebook, profile, s, splits, cost, device, x_eval, y_eval, scale)
