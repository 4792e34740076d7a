"""Plots in one consistent seaborn style for the book and the notebooks.

Every function calls :func:`set_style`, draws on ``ax`` (a new figure when omitted) and returns
the ``Axes``. Nothing here calls ``plt.show()`` or changes the matplotlib backend; notebooks
display figures themselves and tests select ``Agg``.

Conventions: in matrices, rows are the **seed** (true) class and columns the **target** class;
the diagonal is blank (it is never an error and never has a cost) and so are NaN cells
(e.g. classes without examples).

Example
-------
>>> import numpy as np
>>> from csr import metrics, plots
>>> y = np.array([0, 1, 2, 2]); reach = np.eye(3, dtype=bool)[[1, 2, 0, 1]]
>>> ax = plots.pairwise_heatmap(metrics.pairwise_error(reach, y, 3), title="PGD")
>>> len(ax.texts)          # one annotation per off-diagonal cell
6
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "PALETTE",
    "ERROR_CMAP",
    "COST_CMAP",
    "set_style",
    "pairwise_heatmap",
    "cost_matrix_heatmap",
    "learning_curves",
    "tradeoff_scatter",
    "save_figure",
]

#: Qualitative palette for lines and points (colour-blind safe).
PALETTE = "colorblind"
#: Sequential colour map for error rates (light = low).
ERROR_CMAP = "rocket_r"
#: Sequential colour map for costs (light = low).
COST_CMAP = "Reds"
DPI = 100


def set_style() -> None:
    """Apply the library style: seaborn ``whitegrid``, ``notebook`` context, fixed palette, dpi 100.

    Only rc parameters are changed (never the backend).
    """
    import seaborn as sns

    sns.set_theme(
        context="notebook",
        style="whitegrid",
        palette=PALETTE,
        rc={"figure.dpi": DPI, "savefig.dpi": DPI, "savefig.bbox": "tight"},
    )


def _new_ax(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _square_matrix(matrix: Any, name: str) -> np.ndarray:
    if hasattr(matrix, "detach") and hasattr(matrix, "cpu"):  # torch tensor
        matrix = matrix.detach().cpu().numpy()
    try:
        arr = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a numeric (m, m) matrix: {e}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a square (m, m) matrix, got shape {arr.shape}")
    return arr


def _tick_labels(class_names: Sequence[str] | None, m: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(m)]
    names = [str(c) for c in class_names]
    if len(names) != m:
        raise ValueError(f"class_names has {len(names)} entries but the matrix is {m}x{m}")
    return names


def _matrix_heatmap(
    arr: np.ndarray,
    class_names: Sequence[str] | None,
    ax: Any,
    title: str | None,
    *,
    vmin: float | None,
    vmax: float | None,
    annot: bool,
    fmt: str,
    cmap: str,
    cbar_label: str,
) -> Any:
    import seaborn as sns

    m = arr.shape[0]
    names = _tick_labels(class_names, m)
    mask = np.eye(m, dtype=bool) | np.isnan(arr)
    size = min(max(4.0, 0.55 * m + 2.0), 14.0)
    ax = _new_ax(ax, (size + 1.0, size))
    sns.heatmap(
        arr,
        mask=mask,
        vmin=vmin,
        vmax=vmax,
        cmap=cmap,
        annot=annot,
        fmt=fmt,
        annot_kws={"fontsize": 9 if m <= 10 else 7},
        linewidths=0.5,
        linecolor="white",
        square=True,
        xticklabels=names,
        yticklabels=names,
        cbar_kws={"label": cbar_label},
        ax=ax,
    )
    ax.set_xlabel("target class")
    ax.set_ylabel("seed class")
    ax.tick_params(axis="y", labelrotation=0)
    if title:
        ax.set_title(title)
    return ax


def pairwise_heatmap(
    matrix: Any,
    class_names: Sequence[str] | None = None,
    ax: Any = None,
    title: str | None = None,
    vmin: float | None = 0,
    vmax: float | None = 1,
    annot: bool = True,
    fmt: str = ".0%",
    cmap: str = ERROR_CMAP,
) -> Any:
    """Heatmap of an ``(m, m)`` seed → target matrix (e.g. :func:`csr.metrics.pairwise_error`).

    Rows are labelled "seed class", columns "target class". The diagonal and NaN cells are
    masked (blank), so with ``annot=True`` there are ``m * (m - 1)`` annotations when no cell
    is NaN. Returns the ``Axes``.
    """
    set_style()
    arr = _square_matrix(matrix, "matrix")
    return _matrix_heatmap(
        arr, class_names, ax, title, vmin=vmin, vmax=vmax, annot=annot, fmt=fmt, cmap=cmap,
        cbar_label="fraction of seed-class examples",
    )


def cost_matrix_heatmap(
    C: Any,
    class_names: Sequence[str] | None = None,
    ax: Any = None,
    title: str | None = None,
    annot: bool = True,
    fmt: str = "g",
) -> Any:
    """Heatmap of a cost matrix (array, nested list or :class:`csr.costs.CostMatrix`).

    ``class_names`` and ``title`` default to the CostMatrix's ``class_names`` / ``name`` when
    present. The diagonal (always zero cost) is blank; ``m * (m - 1)`` annotations. Colours run
    from 0 to the largest cost. Returns the ``Axes``.
    """
    set_style()
    values = C
    if not hasattr(C, "detach"):
        v = getattr(C, "values", None)
        if v is not None and not callable(v):
            values = v
    arr = _square_matrix(values, "cost matrix")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("cost matrix must be finite and non-negative")
    if class_names is None:
        class_names = getattr(C, "class_names", None)
    if title is None:
        name = getattr(C, "name", None)
        title = f"cost matrix: {name}" if isinstance(name, str) and name else "cost matrix"
    vmax = float(arr.max()) if arr.max() > 0 else 1.0
    return _matrix_heatmap(
        arr, class_names, ax, title, vmin=0.0, vmax=vmax, annot=annot, fmt=fmt, cmap=COST_CMAP,
        cbar_label="cost",
    )


def _check_df(df: Any, columns: Sequence[str], what: str) -> None:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} has no column(s) {', '.join(map(repr, missing))}; "
            f"columns: {', '.join(map(str, df.columns))}"
        )


def learning_curves(
    history: Any,
    metrics: Sequence[str] | str,
    ax: Any = None,
    by: str | None = None,
    title: str | None = None,
) -> Any:
    """Metric(s) against ``epoch`` from a training history (e.g. a run's ``metrics.csv``).

    One line per metric, and per group of column ``by`` (e.g. ``"run"`` or ``"method"``) when
    given: colour encodes the metric (or the group when ``by`` is set), line style the metric
    when both vary. Returns the ``Axes``; it holds ``len(metrics) * n_groups`` lines.
    """
    import seaborn as sns

    set_style()
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one column of history")
    cols = ["epoch", *metrics] + ([by] if by is not None else [])
    _check_df(history, cols, "history")
    id_vars = ["epoch"] + ([by] if by is not None else [])
    long = history[id_vars + metrics].melt(id_vars=id_vars, value_vars=metrics,
                                           var_name="metric", value_name="value")
    if by is None:
        hue, style = "metric", None
    elif len(metrics) == 1:
        hue, style = by, None
    else:
        hue, style = by, "metric"
    ax = _new_ax(ax, (6.4, 4.0))
    sns.lineplot(
        data=long, x="epoch", y="value", hue=hue, style=style, estimator=None,
        units=None, marker="o", markersize=4, palette=PALETTE, ax=ax,
    )
    # seaborn adds empty proxy lines to the Axes for its legend entries; the legend keeps its
    # own copies, so drop them and leave ax.lines holding only the data lines.
    for line in list(ax.lines):
        if len(line.get_xdata()) == 0:
            line.remove()
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "value")
    if title:
        ax.set_title(title)
    return ax


def tradeoff_scatter(
    df: Any,
    x: str,
    y: str,
    hue: str | None = None,
    label: str | None = None,
    ax: Any = None,
    title: str | None = None,
    x_interval: tuple[str, str] | None = None,
    y_interval: tuple[str, str] | None = None,
) -> Any:
    """Scatter of two columns of ``df`` (e.g. clean error vs cost-sensitive robust error).

    ``hue`` colours points by a column; ``label`` writes that column's value next to each point
    (rows with NaN coordinates are not labelled); ``x_interval`` / ``y_interval`` name the
    columns of an interval's lower and upper ends, drawn as error bars (NaN: none). Returns the
    ``Axes``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"m": ["a", "b"], "e": [0.1, 0.2], "e_lo": [0.05, 0.1], "e_hi": [0.2, 0.3], "c": [2.0, 1.0]})
    >>> ax = tradeoff_scatter(df, "e", "c", label="m", x_interval=("e_lo", "e_hi"))
    >>> len(ax.containers), [t.get_text() for t in ax.texts]  # one error-bar container, the labels
    (1, ['a', 'b'])
    """
    import seaborn as sns

    set_style()
    cols = [x, y] + [c for c in (hue, label) if c is not None] + list(x_interval or ()) + list(y_interval or ())
    _check_df(df, cols, "df")
    ax = _new_ax(ax, (5.6, 4.4))
    if x_interval or y_interval:
        def err(center: str, ends: tuple[str, str] | None) -> Any:
            if ends is None:
                return None
            c = df[center].to_numpy(float)
            return np.nan_to_num(np.stack([c - df[ends[0]].to_numpy(float), df[ends[1]].to_numpy(float) - c]))

        ax.errorbar(df[x].to_numpy(float), df[y].to_numpy(float), xerr=err(x, x_interval), yerr=err(y, y_interval),
                    fmt="none", ecolor="0.55", elinewidth=1, capsize=3, zorder=1)
    sns.scatterplot(data=df, x=x, y=y, hue=hue, palette=PALETTE if hue else None, s=60, ax=ax, zorder=2)
    if label is not None:
        for xv, yv, text in zip(df[x], df[y], df[label]):
            if np.isfinite(xv) and np.isfinite(yv):
                ax.annotate(str(text), (xv, yv), xytext=(4, 4), textcoords="offset points",
                            fontsize=9)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    return ax


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG (or the format of ``path``'s suffix) atomically; returns the path.

    Figures are functions of result files; this is how a notebook leaves them next to its
    tables (:mod:`csr.store`, so a reader never sees half a file).
    """
    from . import store

    path = Path(path)
    return store.save_figure(fig, path, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
