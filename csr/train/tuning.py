"""Hyper-parameter search for the cost-sensitive weight α (Zhang & Evans 2019, Appendix A).

Coarse grid ``{1e-2, 1e-1, 1, 1e1, 1e2}``, then a fine grid ``{2^-3, …, 2^3}·α_coarse``; each trial
is a full training run (cached in its own run directory) evaluated on the *validation* split.
The chosen α has the lowest validation objective (cost-sensitive robust error for binary C,
robust cost for real-valued C) among trials whose validation clean error is at most
``max_clean_error``; if no trial qualifies, the one with the lowest clean error is chosen and
the table says so.

Example
-------
>>> from csr.train import TrainConfig
>>> base = TrainConfig(method="cs_ce", cost_matrix="odd", dataset="digits", model="mlp")
>>> def fake_train(cfg, **kw):            # stands in for csr.train.train
...     return cfg.method_kwargs["alpha"]
>>> def fake_eval(alpha):                 # validation metrics of a "run"
...     return {"clean_error": 0.01 * alpha ** 0.5, "cs_robust_error": 1 / (1 + alpha)}
>>> best, table = tune_alpha(base, fake_eval, max_clean_error=0.05, train_fn=fake_train)
>>> best, len(table)          # 5 coarse + 6 new fine trials (10 is shared)
(20.0, 11)
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .trainer import TrainConfig, train

__all__ = ["COARSE_ALPHAS", "FINE_FACTORS", "tune_alpha"]

COARSE_ALPHAS: tuple[float, ...] = (1e-2, 1e-1, 1.0, 1e1, 1e2)
FINE_FACTORS: tuple[float, ...] = tuple(2.0**k for k in range(-3, 4))


def _pick(df: pd.DataFrame, objective: str) -> pd.Series:
    ok = df[df["eligible"]]
    if len(ok):
        return ok.sort_values([objective, "clean_error", "alpha"]).iloc[0]
    return df.sort_values(["clean_error", objective, "alpha"]).iloc[0]


def tune_alpha(
    base: TrainConfig,
    evaluate: Callable[[Any], dict[str, float]],
    *,
    max_clean_error: float,
    objective: str = "auto",
    coarse: Sequence[float] = COARSE_ALPHAS,
    fine_factors: Sequence[float] = FINE_FACTORS,
    train_fn: Callable[..., Any] = train,
    train_many: Callable[[list[TrainConfig]], Any] | None = None,
    **train_kwargs: Any,
) -> tuple[float, pd.DataFrame]:
    """Return ``(best_alpha, trials)``; ``trials`` has one row per trained α.

    base : a config of a method with an ``alpha`` parameter (``cs_robust``, ``cs_ce``, …);
    evaluate : run → dict with ``clean_error`` and the ``objective`` on the validation split;
    objective : ``"auto"`` uses ``cs_robust_error`` when the first trial reports a finite one
    (binary C) and ``robust_cost`` otherwise (real C); train_kwargs go to ``train_fn`` (e.g. ``splits``).
    Columns: stage, alpha, clean_error, <objective>, eligible, chosen.
    train_many : optional; trains a stage's configs as one grid (e.g. on a cluster,
    :func:`csr.executor.train_grid`) before they are evaluated one by one — the coarse trials
    are independent of each other, and so are the fine ones; the result is the same.
    """
    if not (isinstance(max_clean_error, (int, float)) and 0 <= max_clean_error <= 1):
        raise ValueError(f"max_clean_error must lie in [0, 1], got {max_clean_error!r}")
    if any(not (np.isfinite(a) and a >= 0) for a in list(coarse) + list(fine_factors)):
        raise ValueError("α grids must hold finite non-negative numbers")
    rows: list[dict[str, Any]] = []
    done: set[float] = set()

    def config(alpha: float) -> TrainConfig:
        cfg = dataclasses.replace(base, method_kwargs={**base.method_kwargs, "alpha": float(f"{alpha:.12g}")})
        cfg.validate()
        return cfg

    def stage_grid(alphas: Sequence[float]) -> None:
        todo = [a for a in alphas if float(f"{a:.12g}") not in done]
        if train_many is not None and len(todo) > 1:
            train_many([config(a) for a in todo])

    def run(alpha: float, stage: str) -> None:
        key = float(f"{alpha:.12g}")
        if key in done:
            return
        done.add(key)
        cfg = config(alpha)
        metrics = evaluate(train_fn(cfg, **train_kwargs))
        nonlocal objective
        if objective == "auto":
            cs = metrics.get("cs_robust_error", float("nan"))
            objective = "cs_robust_error" if np.isfinite(cs) else "robust_cost"
        for need in ("clean_error", objective):
            if need not in metrics:
                raise ValueError(f"evaluate() must return {need!r}; got keys {sorted(metrics)}")
        rows.append({"stage": stage, "alpha": key, "clean_error": float(metrics["clean_error"]),
                     objective: float(metrics[objective]),
                     "eligible": float(metrics["clean_error"]) <= max_clean_error})

    stage_grid(list(coarse))
    for a in coarse:
        run(a, "coarse")
    best_coarse = float(_pick(pd.DataFrame(rows), objective)["alpha"])
    stage_grid([best_coarse * f for f in fine_factors])
    for f in fine_factors:
        run(best_coarse * f, "fine")
    df = pd.DataFrame(rows)
    best = float(_pick(df, objective)["alpha"])
    df["chosen"] = df["alpha"] == best
    return best, df.reset_index(drop=True)
