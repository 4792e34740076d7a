"""csr.plots: each function returns Axes with the expected artists, never shows or switches backend."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # test-only; the library never touches the backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from csr import plots  # noqa: E402

MATRIX = np.array([[0.0, 0.5, 0.25], [0.1, 0.0, 0.75], [0.3, 0.2, 0.0]])


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("plots must not call plt.show()")

    monkeypatch.setattr(plt, "show", fail)
    backend = matplotlib.get_backend()
    yield
    assert matplotlib.get_backend() == backend, "plots changed the matplotlib backend"
    plt.close("all")


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_set_style_applies_theme():
    plots.set_style()
    assert matplotlib.rcParams["figure.dpi"] == 100
    assert matplotlib.rcParams["axes.grid"] is True  # whitegrid


def test_pairwise_heatmap_annotations_labels_and_mask():
    ax = plots.pairwise_heatmap(MATRIX, class_names=["a", "b", "c"], title="PGD")
    assert isinstance(ax, Axes)
    assert len(ax.texts) == 3 * 2  # m * (m - 1): diagonal blank
    assert sorted(_texts(ax)) == sorted(["50%", "25%", "10%", "75%", "30%", "20%"])
    assert ax.get_xlabel() == "target class"
    assert ax.get_ylabel() == "seed class"
    assert ax.get_title() == "PGD"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    mesh = ax.collections[0]
    assert np.ma.count_masked(mesh.get_array()) == 3  # the diagonal


def test_pairwise_heatmap_nan_blank_annot_off_and_given_ax():
    m = MATRIX.copy()
    m[2] = np.nan  # class without examples
    fig, ax0 = plt.subplots()
    ax = plots.pairwise_heatmap(torch.tensor(m), ax=ax0)
    assert ax is ax0
    assert len(ax.texts) == 4  # row 2 blank, diagonal blank
    assert "nan" not in " ".join(_texts(ax))
    ax = plots.pairwise_heatmap(MATRIX, annot=False)
    assert len(ax.texts) == 0
    assert len(ax.collections) == 1


def test_pairwise_heatmap_validation():
    with pytest.raises(ValueError, match="square"):
        plots.pairwise_heatmap(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class_names"):
        plots.pairwise_heatmap(MATRIX, class_names=["a", "b"])


class FakeCostMatrix:
    def __init__(self, values, class_names=None, name=None):
        self.values = np.asarray(values, dtype=float)
        self.class_names = class_names
        self.name = name


def test_cost_matrix_heatmap_from_cost_matrix_like():
    C = FakeCostMatrix([[0, 1, 0], [0, 0, 2.5], [0, 0, 0]], ["cat", "dog", "car"], "toy")
    ax = plots.cost_matrix_heatmap(C)
    assert isinstance(ax, Axes)
    assert len(ax.texts) == 6
    assert sorted(_texts(ax)) == sorted(["1", "0", "0", "2.5", "0", "0"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "car"]
    assert "toy" in ax.get_title()
    assert ax.collections[0].get_clim() == (0.0, 2.5)


def test_cost_matrix_heatmap_from_list_and_real_cost_matrix():
    ax = plots.cost_matrix_heatmap([[0, 1], [1, 0]])
    assert len(ax.texts) == 2
    with pytest.raises(ValueError, match="non-negative"):
        plots.cost_matrix_heatmap([[0, -1], [1, 0]])
    costs = pytest.importorskip("csr.costs")
    ax = plots.cost_matrix_heatmap(costs.CostMatrix(np.ones((4, 4)) - np.eye(4)))
    assert len(ax.texts) == 12


HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2, 3] * 2,
        "run": ["a"] * 3 + ["b"] * 3,
        "loss": [1.0, 0.6, 0.4, 1.2, 0.9, 0.7],
        "robust_err": [0.9, 0.7, 0.5, 0.8, 0.6, 0.55],
    }
)


def test_learning_curves_lines_per_metric_and_group():
    ax = plots.learning_curves(HISTORY, ["loss", "robust_err"], by="run")
    assert isinstance(ax, Axes)
    assert len(ax.get_lines()) == 2 * 2
    assert all(len(line.get_xdata()) == 3 for line in ax.get_lines())
    assert ax.get_xlabel() == "epoch"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"a", "b", "loss", "robust_err"} <= set(legend)

    ax = plots.learning_curves(HISTORY[HISTORY.run == "a"], ["loss", "robust_err"])
    assert len(ax.get_lines()) == 2
    ax = plots.learning_curves(HISTORY, "loss", by="run")
    assert len(ax.get_lines()) == 2
    assert ax.get_ylabel() == "loss"


def test_learning_curves_validation():
    with pytest.raises(ValueError, match="nope"):
        plots.learning_curves(HISTORY, ["nope"])
    with pytest.raises(ValueError, match="group"):
        plots.learning_curves(HISTORY, ["loss"], by="group")
    with pytest.raises(ValueError, match="DataFrame"):
        plots.learning_curves(HISTORY.to_dict(), ["loss"])
    with pytest.raises(ValueError, match="at least one"):
        plots.learning_curves(HISTORY, [])


def test_tradeoff_scatter_points_and_labels():
    df = pd.DataFrame(
        {
            "clean_err": [0.02, 0.05, 0.04],
            "cs_robust_err": [0.4, 0.1, np.nan],
            "method": ["standard", "cost-sensitive", "overall"],
        }
    )
    ax = plots.tradeoff_scatter(df, "clean_err", "cs_robust_err", hue="method", label="method")
    assert isinstance(ax, Axes)
    assert len(ax.collections) == 1
    assert len(ax.collections[0].get_offsets()) == 2  # the NaN row is not drawn
    assert _texts(ax) == ["standard", "cost-sensitive"]  # NaN point unlabelled
    assert ax.get_xlabel() == "clean_err"
    assert ax.get_ylabel() == "cs_robust_err"
    ax = plots.tradeoff_scatter(df, "clean_err", "cs_robust_err")
    assert len(ax.texts) == 0
    with pytest.raises(ValueError, match="missing"):
        plots.tradeoff_scatter(df, "clean_err", "missing")
