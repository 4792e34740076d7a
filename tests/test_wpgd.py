"""WPGD (Terzi et al.): the closed-form Wasserstein loss against an exact transport LP, the
directional effect of the attack, label metrics and the analyses' formulas by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from csr import costs
from csr.attacks import PGD, predict
from csr.label_metrics import (accuracy_gap, cifar10_semantic_metric, gap_correlation, tree_metric, visual_metric,
                               weighted_score)
from csr.train import METHODS, MethodContext, TrainConfig, train
from csr.train.wpgd import prediction_entropy, wasserstein_loss, wasserstein_objective

TOY_C = [[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]  # the paper's toy metric


def _exact_ot(q: np.ndarray, target: np.ndarray, M: np.ndarray) -> float:
    """min Σ P_ij M_ij s.t. P ≥ 0, P·1 = q, Pᵀ·1 = target (a linear program)."""
    K = len(q)
    A = np.zeros((2 * K, K * K))
    for i in range(K):
        A[i, i * K:(i + 1) * K] = 1  # row sums
        A[K + i, i::K] = 1  # column sums
    res = linprog(M.ravel(), A_eq=A, b_eq=np.concatenate([q, target]), bounds=(0, None), method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("p", [1.0, 2.5, 10.0])
def test_wasserstein_loss_matches_exact_transport(p):
    rng = np.random.default_rng(0)
    for K in (3, 5, 10):
        D = rng.uniform(0.1, 1, (K, K))
        D = (D + D.T) / 2
        np.fill_diagonal(D, 0)
        logits = torch.tensor(rng.normal(size=(6, K)))
        y = torch.tensor(rng.integers(0, K, 6))
        ours = wasserstein_loss(logits, y, torch.tensor(D), p=p, lam=math.inf)
        q = logits.softmax(1).numpy()
        for n in range(6):
            want = _exact_ot(q[n], np.eye(K)[int(y[n])], D**p)
            assert float(ours[n]) == pytest.approx(want, rel=1e-7, abs=1e-9)


def test_entropy_term_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    C = torch.tensor(TOY_C)
    H = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert float(prediction_entropy(logits)) == pytest.approx(H, rel=1e-6)
    cost = 0.3 * 10 + 0.2 * 0.01
    assert float(wasserstein_loss(logits, torch.tensor([0]), C, lam=2.0)) == pytest.approx(cost - H / (2 * math.log(3)), rel=1e-6)
    assert float(wasserstein_loss(logits, torch.tensor([0]), C, p=2.0, lam=math.inf)) == pytest.approx(0.3 * 100 + 0.2 * 1e-4, rel=1e-6)


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    cfg = TrainConfig(dataset="toy3", model="mlp", model_kwargs={"hidden": [32]}, epochs=5, progress=False, lr=1e-2)
    r = train(cfg, runs_root=tmp_path_factory.mktemp("runs"))
    x, y = r.splits.test.tensors
    return r.model, x, y


def test_wpgd_attack_goes_where_the_metric_is_far(toy_model):
    """On the toy problem class 0 is far from 1 (10) and close to 2 (0.01): the Wasserstein attack
    sends class-0 points to class 1, plain PGD to whichever is nearer in input space."""
    model, x, y = toy_model
    C = torch.tensor(TOY_C)
    keep = y == 0
    x0, y0 = x[keep], y[keep]
    eps = 0.15
    pgd = PGD(model, eps=eps, steps=30, seed=0)
    w = PGD(model, eps=eps, steps=30, seed=0, loss=wasserstein_objective(C, 1.0, math.inf))
    cost = lambda xa: float(C[y0, predict(model, xa)].mean())
    assert cost(w(x0, y0)) > cost(pgd(x0, y0)) + 0.5, (cost(w(x0, y0)), cost(pgd(x0, y0)))
    assert float((predict(model, w(x0, y0)) == 1).float().mean()) > float((predict(model, pgd(x0, y0)) == 1).float().mean())


def test_wpgd_trains_and_validates(tmp_path):
    cfg = TrainConfig(dataset="toy3", model="mlp", model_kwargs={"hidden": [16]}, method="wpgd", eps=0.1, epochs=2,
                      cost_matrix=TOY_C, method_kwargs={"p": 2.5, "steps": 3}, progress=False)
    r = train(cfg, runs_root=tmp_path)
    assert len(r.history) == 2 and np.isfinite(r.history["train_loss"]).all()
    with pytest.raises(ValueError, match="needs a cost_matrix"):
        TrainConfig(dataset="toy3", method="wpgd", eps=0.1).validate()
    spec = METHODS.get("wpgd")
    ctx = MethodContext(num_classes=3, eps=0.1, cost=costs.CostMatrix(np.array(TOY_C, float)),
                        kwargs=spec.resolve_kwargs({"p": -1.0}))
    with pytest.raises(ValueError, match="p and lam must be > 0"):
        spec.fn(nn.Linear(2, 3), torch.rand(4, 2), torch.tensor([0, 1, 2, 0]), ctx)


def test_tree_metric_by_hand():
    tree = {"root": {"a": ["x", "y"], "b": ["z"]}}
    D = tree_metric(tree, ["x", "y", "z"])
    assert D.tolist() == [[0, 0.5, 1], [0.5, 0, 1], [1, 1, 0]]
    with pytest.raises(ValueError, match="not leaves"):
        tree_metric(tree, ["x", "w"])
    S = cifar10_semantic_metric()
    assert np.allclose(S, S.T) and np.all(np.diag(S) == 0)
    assert S[3, 5] < S[3, 2] < S[3, 9]  # cat: dog < bird < truck


def test_visual_metric_on_mnist5k():
    from csr.data import load_dataset

    s = load_dataset("mnist5k")
    x, y = s.train.tensors
    D = visual_metric(x, y, 10, max_iter=200)
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0) and D.max() == 1.0
    assert D[4, 9] < D[0, 1] and D[3, 5] < D[0, 1]  # similar-looking digits are close


def test_gap_and_score_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    a = np.array([0, 1, 1, 1, 2, 0])
    b = np.array([0, 0, 1, 1, 2, 2])
    G = accuracy_gap(a, b, y, 3)
    assert G.tolist() == [[0.5, 0.5, 0], [0, 0, 0], [0.5, 0, 0.5]]
    D = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)
    off = ~np.eye(3, dtype=bool)
    assert gap_correlation(G, D) == pytest.approx(np.corrcoef(G[off], D[off])[0, 1])
    assert weighted_score(a, y, D) == pytest.approx(0.5 * 1 + 0.5 * 2)
    with pytest.raises(ValueError, match="square"):
        gap_correlation(G, D[:2])
