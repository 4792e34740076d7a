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

import functools
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

from .. import costs, store
from ..utils import config_hash, paper_results as _paper_results

if TYPE_CHECKING:  # pragma: no cover
    from ..profiles import Setup
    from ..train import RunResult, TrainConfig

__all__ = ["Study", "ParameterError", "COMMON_TYPES", "check_type", "check_numbers", "verdict", "headline", "grid"]


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

F = TypeVar("F", bound=Callable[..., Any])

# Settings that do not change a result: left out of the results folder's key.
_NOT_IN_RESULTS_KEY = ("device", "threads", "download")


def _call_label(args: tuple, kw: dict[str, Any]) -> str:
    """The scalar arguments of a call, as a file-name suffix (``"single_seed_3-0.5-0.25"``)."""
    def simple(v: Any) -> bool:
        return v is None or isinstance(v, (str, int, float, bool)) or (
            isinstance(v, (list, tuple)) and len(v) <= 8 and all(simple(u) for u in v))

    parts = [str(v) for v in args if simple(v)] + [f"{k}={v}" for k, v in sorted(kw.items()) if simple(v)]
    label = re.sub(r"[^A-Za-z0-9.=+_-]+", "_", "-".join(parts)).strip("_-")
    return label if len(label) <= 60 else f"{label[:40]}-{config_hash(label)[:8]}"


def grid(fn: F) -> F:
    """Mark a study method that trains a grid of runs and returns them (e.g. a table's models
    for every seed). With a parallel executor (``$CSR_EXECUTOR`` / ``$CSR_DASK_SCHEDULER``, see
    :mod:`csr.executor`) a first pass only collects the configs the method would train, the grid
    is trained on the executor, and the method then runs as usual, loading the finished runs.
    Serially nothing changes. Nested grid methods join the outermost one's grid."""
    @functools.wraps(fn)
    def wrapper(self: "Study", *args: Any, **kw: Any) -> Any:
        from ..executor import current_name

        if self.__dict__.get("_collecting") is not None or current_name() == "serial":
            return fn(self, *args, **kw)
        self._collecting = []  # type: ignore[attr-defined]
        try:
            fn(self, *args, **kw)
            configs = self._collecting  # type: ignore[attr-defined]
        finally:
            self._collecting = None  # type: ignore[attr-defined]
        self.train_many(configs)
        return fn(self, *args, **kw)

    return wrapper  # type: ignore[return-value]


def headline(fn: F) -> F:
    """Mark a study method whose result is a headline table: every call also writes the
    DataFrame(s) it returns (a DataFrame; the DataFrames of a dict or tuple) as CSV and JSON into
    :meth:`Study.results_folder` — results are data, whatever notebook or script computed them.

    The file is ``<method>[-<scalar arguments>][-<k>].csv`` (``k`` counts repeated calls with the
    same scalar arguments in one study instance); see :meth:`Study.save_table`."""
    @functools.wraps(fn)
    def wrapper(self: "Study", *args: Any, **kw: Any) -> Any:
        out = fn(self, *args, **kw)
        self._save_headline(fn.__name__, _call_label(args, kw), out)
        return out

    return wrapper  # type: ignore[return-value]


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
                    progress=True)  # drawn only where csr.progress.mode() says someone watches

    def train(self, config: "TrainConfig") -> "RunResult":
        """Train ``config`` on the setup's splits (or load the finished run with that config).
        While a :func:`grid` method collects its configs, only records ``config`` (returns None)."""
        from ..train import train

        collecting = self.__dict__.get("_collecting")
        if collecting is not None:
            collecting.append(config)
            return None  # type: ignore[return-value]
        return train(config, splits=self.S.splits)

    def train_many(self, configs: list["TrainConfig"]) -> list["RunResult"]:
        """Train a grid of configs on the executor ``$CSR_EXECUTOR`` / ``$CSR_DASK_SCHEDULER``
        name (:func:`csr.executor.current`; serial by default) and return the finished runs in
        order — the same runs, bit for bit, as :meth:`train` one by one."""
        from ..executor import train_grid

        return train_grid(configs, splits=self.S.splits)

    # --- results as data ----------------------------------------------------------------------
    def results_key(self) -> dict[str, Any]:
        """What identifies this notebook's results: the settings (less device / threads /
        download) and the cost matrix."""
        key = {k: v for k, v in self.P.items() if k not in _NOT_IN_RESULTS_KEY}
        cost = getattr(self.S, "cost", None)
        return {"study": self.name, "settings": key, "cost_matrix": cost.to_list() if cost is not None else None}

    def results_folder(self) -> Path:
        """``<runs>/results/<study>-<hash of results_key()>``: where the headline tables go."""
        from ..utils import runs_dir

        return runs_dir() / "results" / f"{self.name}-{config_hash(self.results_key())}"

    def save_table(self, name: str, table: Any) -> Path:
        """Write one table (a DataFrame) as ``<name>.csv`` and ``<name>.json`` (rows, the settings
        and the cost matrix) into :meth:`results_folder`, atomically, and list it in the folder's
        ``index.json``. Returns the CSV's path."""
        import pandas as pd

        df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
            df = df.reset_index()
        df.columns = [str(c) for c in df.columns]
        folder = self.results_folder()
        csv = store.write_csv(folder / f"{name}.csv", df)
        store.write_json(folder / f"{name}.json", {**self.results_key(), "table": name,
                                                    "rows": df.to_dict("records")})
        index_path = folder / "index.json"
        index = store.read_json(index_path) if index_path.exists() else {**self.results_key(), "tables": []}
        if name not in index["tables"]:
            index["tables"].append(name)
            store.write_json(index_path, index)
        return csv

    def _save_headline(self, method: str, label: str, out: Any) -> None:
        import pandas as pd

        if isinstance(out, pd.DataFrame):
            tables = {"": out}
        elif isinstance(out, dict):
            tables = {str(k): v for k, v in out.items() if isinstance(v, pd.DataFrame)}
        elif isinstance(out, tuple):
            tables = {str(i) if i else "": v for i, v in enumerate(out) if isinstance(v, pd.DataFrame)}
        else:
            return
        stem = f"{method}-{label}" if label else method
        calls = self.__dict__.setdefault("_headline_calls", {})
        calls[stem] = calls.get(stem, 0) + 1
        if calls[stem] > 1:
            stem = f"{stem}-{calls[stem]}"
        for part, df in tables.items():
            self.save_table(f"{stem}.{part}" if part else stem, df)

    def cached(self, run: "RunResult", kind: str, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """``compute()``'s JSON result cached as ``eval-<kind>-<hash(key)>.json`` in the run's folder."""
        path = Path(run.run_dir) / f"eval-{kind}-{config_hash(key)}.json"
        return store.cached_json(path, lambda: {"key": key, "result": compute()})["result"]
