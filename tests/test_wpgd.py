"""WPGD (Terzi et al.): the closed-form Wasserstein loss against an exact transport LP, the
directional effect of the attack, label metrics and the analyses' formulas by hand."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from csr import costs
from csr.attacks import PGD, predict
from csr.label_metrics import (MetricError, accuracy_gap, check_metric, cifar10_semantic_metric, confusion_rates,
                               distance_groups, gap_correlation, mean_by_distance, metric_violation, tree_metric,
                               visual_metric, weighted_score)
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


def _triangle_ok(D: np.ndarray) -> bool:
    """The oracle: every (i, j, k) triple by loops."""
    m = len(D)
    return all(D[i, k] <= D[i, j] + D[j, k] + 1e-9 for i in range(m) for j in range(m) for k in range(m))


def test_check_metric_names_each_violation():
    good = [[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]]
    assert check_metric(good).tolist() == [[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]]
    cases = {
        "non-negative: D[0,1] = -1": [[0, -1], [-1, 0]],
        "itself must be 0: D[1,1] = 0.5 (class 1 (b))": [[0, 1], [1, 0.5]],
        "not symmetric: D[0,1] = 1 but D[1,0] = 2 (classes 0 (a) and 1 (b))": [[0, 1], [2, 0]],
        "must be apart: D[0,1] = 0": [[0, 0], [0, 0]],
    }
    for msg, D in cases.items():
        with pytest.raises(MetricError, match=re.escape(msg)):
            check_metric(D, class_names=["a", "b"])
    # the paper's own toy matrix is no metric: 0 → 1 costs 10, 0 → 2 → 1 costs 1.01
    assert metric_violation(TOY_C).startswith("triangle inequality fails for i = 0, j = 2, k = 1")
    with pytest.raises(MetricError, match="square"):
        check_metric([[0, 1, 2]])
    with pytest.raises(MetricError, match="not finite"):
        check_metric([[0, np.nan], [np.nan, 0]])
    with pytest.raises(MetricError, match="2 class names"):
        check_metric(good, class_names=["a", "b"])
    assert check_metric(costs.CostMatrix(good, name="g")).shape == (3, 3)
    assert metric_violation(np.array(good) + 1e-12 * np.eye(3)) is None  # rounding slack


def test_triangle_check_against_loops():
    rng = np.random.default_rng(0)
    found = {True: 0, False: 0}
    for trial in range(200):
        m = int(rng.integers(3, 8))
        A = rng.uniform(0.1, 1, (m, m))
        D = (A + A.T) / 2
        np.fill_diagonal(D, 0)
        if trial % 2:  # shortest paths: a metric by construction
            for k in range(m):
                D = np.minimum(D, D[:, [k]] + D[[k], :])
        ok = _triangle_ok(D)
        found[ok] += 1
        assert (metric_violation(D) is None) == ok
    assert found[True] >= 100 and found[False] > 10  # both branches exercised
    # m = 200 (Tiny ImageNet) in blocks: the semantic metric of a balanced tree passes
    tree = {"r": {f"g{a}": {f"h{a}{b}": [f"c{a}{b}{c}" for c in range(10)] for b in range(4)} for a in range(5)}}
    classes = [f"c{a}{b}{c}" for a in range(5) for b in range(4) for c in range(10)]
    D = tree_metric(tree, classes)
    assert D.shape == (200, 200) and metric_violation(D) is None
    D[0, 199] = D[199, 0] = 5.0
    assert "triangle inequality fails for i = 0, j =" in metric_violation(D)


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


def test_binary_metric_without_entropy_is_plain_pgd():
    """With two classes and λ = ∞ the Wasserstein loss is q_other·c, a monotone function of the
    cross-entropy −log(1 − q_other): the sign-gradient steps, hence the attacks, coincide."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    x = torch.rand(64, 6, dtype=torch.float64)
    y = torch.randint(0, 2, (64,))
    C = torch.tensor([[0.0, 3.0], [3.0, 0.0]], dtype=torch.float64)
    a = PGD(model, eps=0.2, steps=10, seed=1)(x, y)
    b = PGD(model, eps=0.2, steps=10, seed=1, loss=wasserstein_objective(C, 2.5, math.inf))(x, y)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    # with the entropy term it is a different attack
    c = PGD(model, eps=0.2, steps=10, seed=1, loss=wasserstein_objective(C, 1.0, 0.01))(x, y)
    assert (c - a).abs().max() > 0.1


def test_a_heavy_entropy_term_blunts_the_attack(toy_model):
    """λ → 0 leaves −H/(λ log K): the attacker then seeks *confident* outputs, which from a
    correctly classified input means more confidence in the true class — fewer successes."""
    model, x, y = toy_model
    C = torch.tensor(TOY_C)
    right = predict(model, x) == y
    x, y = x[right], y[right]
    wins = lambda lam: float((predict(model, PGD(model, eps=0.15, steps=20, seed=0,
                                                 loss=wasserstein_objective(C, 1.0, lam))(x, y)) != y).float().mean())
    assert wins(math.inf) > 0.2 and wins(1e-3) < 0.5 * wins(math.inf), (wins(math.inf), wins(1e-3))


def test_distance_groups_and_means_by_hand():
    D = np.array([[0, 1, 4, 2], [1, 0, 3, 5], [4, 3, 0, 6], [2, 5, 6, 0]], float)
    g = distance_groups(D, q=0.25)
    # off-diagonal values 1,1,2,2,3,3,4,4,5,5,6,6: the 0.25 / 0.75 quantiles are 2 and 5
    assert sorted(map(tuple, np.argwhere(g["similar"]).tolist())) == [(0, 1), (0, 3), (1, 0), (3, 0)]
    assert sorted(map(tuple, np.argwhere(g["dissimilar"]).tolist())) == [(1, 3), (2, 3), (3, 1), (3, 2)]
    M = np.arange(16, dtype=float).reshape(4, 4)
    got = mean_by_distance(M, D, q=0.25)
    assert got == {"similar": pytest.approx((1 + 3 + 4 + 12) / 4), "dissimilar": pytest.approx((7 + 11 + 13 + 14) / 4)}
    y = np.array([0, 0, 1, 1])
    assert confusion_rates(np.array([0, 1, 1, 0]), y, 2).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    with pytest.raises(ValueError, match="q must lie"):
        distance_groups(D, q=0.7)
    with pytest.raises(ValueError, match="at least 3 classes"):
        distance_groups(D[:2, :2])
    with pytest.raises(ValueError, match="M has shape"):
        mean_by_distance(M[:3, :3], D)


def test_cost_aware_predictions_are_the_wasserstein_attack(tmp_path):
    """``Terzi.predictions(run, metric=D)``: PGD on the metric's expected cost, cached
    next to the run under a key that holds the metric."""
    from types import SimpleNamespace

    from csr.profiles import setup
    from csr.studies.terzi_wpgd import Terzi

    S = setup("terzi_wpgd", profile="smoke", verbose=False)
    study = Terzi(S)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    run = SimpleNamespace(model=model, run_dir=str(tmp_path))
    D = np.random.default_rng(0).uniform(0.1, 1, (10, 10))
    np.fill_diagonal(D, 0)
    got = study.predictions(run, metric=D)
    want = PGD(model, eps=S.settings["eps"], steps=S.settings["eval_steps"], seed=0,
               loss=wasserstein_objective(torch.tensor(D, dtype=torch.float32), 1.0, math.inf))(S.x_eval, S.y_eval)
    np.testing.assert_array_equal(got["pgd"], predict(model, want).numpy())
    plain = study.predictions(run)
    assert len(list(tmp_path.glob("eval-preds-*.json"))) == 2
    assert weighted_score(got["pgd"], got["y"], D) > weighted_score(plain["pgd"], plain["y"], D)
    with pytest.raises(ValueError, match="must be 10x10"):
        study.predictions(run, metric=D[:3, :3])


def test_terzi_profile_entropy_weights():
    from csr.profiles import ParameterError, settings_for

    assert settings_for("terzi_wpgd", "cpu", lam=math.inf)["lam"] == math.inf
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ParameterError, match="'lam' / 'lam_list' must hold numbers > 0"):
            settings_for("terzi_wpgd", "smoke", lam=bad)
    with pytest.raises(ParameterError, match="'lam_list'"):
        settings_for("terzi_wpgd", "smoke", lam_list=[1.0, 0.0])


def test_visual_metric_does_not_depend_on_the_thread_count():
    """The metric is fitted with one BLAS thread: bit-identical under OMP_NUM_THREADS = 1 and 2."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, torch; from csr.data import load_dataset; from csr.label_metrics import visual_metric;"
            "s = load_dataset('mnist5k'); x, y = s.train.tensors;"
            "print(visual_metric(x[:1500], y[:1500], 10).tobytes().hex())")
    outs = []
    for n in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout)
    assert outs[0] == outs[1]
