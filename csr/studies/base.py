"""The one skeleton every paper's study shares.

A :class:`Study` is one paper's (or the quickstart's) experimental protocol on top of the
engines: it declares its **profiles** (``smoke`` / ``cpu`` / ``gpu`` settings, with optional
per-dataset sections), its **parameter schema** (types of the parameters it adds to the common
ones, plus a :meth:`Study.check` hook for value checks), its **tasks** and the paper's
**labels** for them, and the name of its **paper-results** file. An instance wraps a notebook's
:class:`~csr.profiles.Setup` and builds run configs, trains (cached by config) and caches
evaluations as ``eval-<kind>-<hash>.json`` next to the run it evaluates.

:func:`csr.profiles.setup` knows no notebook: it looks the study up by name in
:data:`csr.studies.STUDIES`. Adding a sixth paper is one module here plus one notebook.

Example
-------
>>> from csr.studies import STUDIES
>>> cls = STUDIES.get("quickstart")
>>> cls.settings("smoke")["dataset"], cls.paper is None
('mnist5k', True)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from .. import costs, store
from ..utils import config_hash, paper_results as _paper_results

if TYPE_CHECKING:  # pragma: no cover
    from ..profiles import Setup
    from ..train import RunResult, TrainConfig

__all__ = ["Study", "ParameterError", "COMMON_TYPES", "check_type", "check_numbers", "verdict"]


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value; the message names it."""


# Types of the parameters every study may take (None is always allowed where the profile fills it).
COMMON_TYPES: dict[str, tuple[type, ...]] = {
    "profile": (str,), "dataset": (str,), "model": (str,), "eps": (int, float), "epochs": (int,),
    "seed": (int,), "device": (str,), "download": (bool,), "threads": (int,), "n_train": (int,),
    "n_val": (int,), "n_eval": (int,), "batch_size": (int,), "lr": (int, float), "val_fraction": (int, float),
    "resolution": (int,),
}

# Counts that must be >= 1 wherever a study has them.
_POSITIVE_COUNTS = ("epochs", "n_train", "n_val", "n_eval", "train_steps", "eval_steps", "eval_restarts",
                    "batch_size", "k", "n0", "n", "certify_batch", "threads", "resolution")


def verdict(lo: float, hi: float, threshold: float = 0.0) -> str:
    """``"yes"`` when a 95 % interval lies above ``threshold``, ``"no"`` when below, else
    ``"not resolved"``.

    >>> verdict(0.01, 0.05), verdict(-0.03, -0.01), verdict(-0.01, 0.02)
    ('yes', 'no', 'not resolved')
    """
    return "yes" if lo > threshold else ("no" if hi < threshold else "not resolved")


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _as_bool(name: str, value: Any) -> Any:
    """A bool parameter from the spellings users pass (``-p download true`` gives papermill's
    string ``"true"``): true/false, yes/no, on/off, 1/0 in any case; other values unchanged."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE or v in _FALSE:
            return v in _TRUE
        raise ParameterError(f"parameter {name!r} must be true or false, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _check_pixel_radius(name: str, v: Any) -> None:
    """An ℓ∞ radius in pixel space (inputs in [0, 1]): above 1 every image is in the ball."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1:
        raise ParameterError(
            f"parameter {name!r} = {v!r} is an l_inf radius in pixel space, where inputs lie in [0, 1]: above 1 the "
            f"attacker may reach every image. Radii quoted on the 0-255 scale are divided by 255 "
            f"(did you mean {v:g}/255 = {v / 255:.4f}?)")


def check_type(name: str, value: Any, types: tuple[type, ...]) -> None:
    """Raise :class:`ParameterError` unless ``value`` is one of ``types`` (a bool is never a number)."""
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        want = "number" if set(types) == {int, float} else " or ".join(t.__name__ for t in types)
        raise ParameterError(
            f"parameter {name!r} must be {want}, got {type(value).__name__} {value!r} "
            f"(papermill: -p {name} VALUE passes numbers, True/False and text; use -y for lists)"
        )


def check_numbers(label: str, values: list, ok: Callable[[float], bool], what: str) -> None:
    """Every entry of ``values`` a real number (not a bool) with ``ok(v)``, else one ParameterError
    naming the parameter(s) ``label`` (quoted, e.g. ``"'eps_list'"``)."""
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not ok(v):
            raise ParameterError(f"parameter {label} must hold {what}, got {v!r}")


class Study:
    """One paper's protocol. Subclasses set the class attributes and add their methods.

    Class attributes
    ----------------
    name: the notebook (and registry) name. ``paper``: stem of ``data/paper_results/<paper>.json``
    (None: no paper). ``profiles``: ``{profile: {parameter: default}}``; a profile may hold a
    ``"datasets"`` entry ``{dataset: {parameter: default}}`` applied when that dataset is chosen.
    ``types``: the study's own parameter types (added to :data:`COMMON_TYPES`). ``tasks`` /
    ``labels``: the paper's task specs and how the paper names them.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: The norm of the study's ``eps`` / ``eps_list``: an ℓ∞ radius in pixel space must lie in [0, 1].
    eps_norm: ClassVar[str] = "linf"
    paper: ClassVar[str | None] = None
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    types: ClassVar[dict[str, tuple[type, ...]]] = {}
    tasks: ClassVar[list[str]] = []
    labels: ClassVar[dict[str, str]] = {}

    # --- parameters (class level: used by csr.profiles.setup before any data is loaded) -------
    @classmethod
    def parameter_types(cls) -> dict[str, tuple[type, ...]]:
        return {**COMMON_TYPES, **cls.types}

    @classmethod
    def settings(cls, profile: str, **overrides: Any) -> dict[str, Any]:
        """The profile's settings (with the chosen dataset's section) and every non-None override
        applied, types and values checked. Raises :class:`ParameterError` naming the parameter."""
        check_type("profile", profile, (str,))
        if profile not in cls.profiles:
            raise ParameterError(f"unknown profile {profile!r}; known profiles: {', '.join(cls.profiles)}")
        base = dict(cls.profiles[profile])
        sections = base.pop("datasets", {})
        types = cls.parameter_types()
        overrides = {name: _as_bool(name, v) if types.get(name) == (bool,) else v for name, v in overrides.items()}
        for name, value in overrides.items():
            if value is not None and name in types:
                check_type(name, value, types[name])
        dataset = overrides.get("dataset") or base.get("dataset")
        out = {**base, **sections.get(dataset, {})}
        out.update({k: v for k, v in overrides.items() if v is not None})
        for name in _POSITIVE_COUNTS:
            v = out.get(name)
            if v is not None and v < 1:
                raise ParameterError(f"parameter {name!r} must be >= 1, got {v}")
        eps = out.get("eps")
        if eps is not None and not (math.isfinite(eps) and eps >= 0):
            raise ParameterError(f"parameter 'eps' must be a finite number >= 0, got {eps!r}")
        if cls.eps_norm == "linf":
            for name in ("eps", "eps_list"):
                for v in (out.get(name) if name == "eps_list" else [out.get(name)]) or []:
                    _check_pixel_radius(name, v)
        vf = out.get("val_fraction")
        if vf is not None and not 0 < vf < 1:
            raise ParameterError(f"parameter 'val_fraction' must lie strictly between 0 and 1, got {vf!r}")
        cls.check(out)
        return out

    @classmethod
    def check(cls, settings: dict[str, Any]) -> None:
        """Study-specific value checks on the resolved settings (may normalise them in place)."""

    @classmethod
    def paper_results(cls) -> dict[str, Any]:
        """The paper's published numbers and settings (``data/paper_results/<paper>.json``)."""
        if cls.paper is None:
            raise ValueError(f"study {cls.name!r} reproduces no paper")
        return _paper_results(cls.paper)

    @classmethod
    def paper_table(cls, name: str) -> "Any":
        """One table of the paper as printed (``from_paper.tables[name]`` of the paper-results
        file) as a DataFrame, one row per printed row; raises naming the known tables."""
        import pandas as pd

        tables = cls.paper_results()["from_paper"]["tables"]
        if name not in tables:
            raise ValueError(f"{cls.name}: no paper table {name!r}; known: {', '.join(sorted(tables))}")
        return pd.DataFrame(tables[name]["rows"])

    @classmethod
    def label(cls, spec: Any) -> str:
        """The paper's name for a task spec (the spec itself when the paper has none)."""
        return cls.labels.get(spec, spec) if isinstance(spec, str) else str(spec)

    # --- an instance: one notebook's setup ----------------------------------------------------
    def __init__(self, S: "Setup", user_picked_model: bool = False):
        self.S, self.P = S, S.settings
        self.m, self.names = S.splits.num_classes, S.splits.class_names
        self.model_kwargs = {} if user_picked_model else dict(self.P.get("model_kwargs", {}))

    def cost(self, spec: Any, **kw: Any) -> costs.CostMatrix:
        """A cost matrix for this dataset from anything :func:`csr.costs.load` accepts."""
        return costs.load(spec, self.m, class_names=self.names, **kw)

    def common(self) -> dict[str, Any]:
        """TrainConfig fields every study takes from its settings."""
        P = self.P
        return dict(dataset=P["dataset"], model=P["model"], model_kwargs=self.model_kwargs, seed=P.get("seed", 0),
                    device=P.get("device", "auto"), threads=P.get("threads"), val_fraction=P.get("val_fraction"),
                    progress=False)

    def train(self, config: "TrainConfig") -> "RunResult":
        """Train ``config`` on the setup's splits (or load the finished run with that config)."""
        from ..train import train

        return train(config, splits=self.S.splits)

    def cached(self, run: "RunResult", kind: str, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """``compute()``'s JSON result cached as ``eval-<kind>-<hash(key)>.json`` in the run's folder."""
        path = Path(run.run_dir) / f"eval-{kind}-{config_hash(key)}.json"
        return store.cached_json(path, lambda: {"key": key, "result": compute()})["result"]
