"""Empirical cost-sensitive / weighted adversarial training (csr.train.adversarial) and the
metrics of its chapters: α = 0 equivalences, the c = 1 protect matrix, fuzziness by hand (and
falling under CSE training), the non-uniform accuracies' ordering, and bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from csr import costs
from csr.attacks import PGD, MarginPGD, margin_weights, prob_margin
from csr.evaluate import nonuniform_report, per_class_attack_accuracy
from csr.metrics import fuzziness, layer_fuzziness, sorted_weight_magnitudes, weighted_accuracy
from csr.train import METHODS, MethodContext, TrainConfig, train
from csr.train.adversarial import expected_cost, kl_per_example, trades_start


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(16, 1, 8, 8, generator=g), torch.arange(16) % 10


def _loss_and_grads(name, kwargs, x, y, cost=None, eps=0.1, seed=1):
    net = _net()
    spec = METHODS.get(name)
    ctx = MethodContext(num_classes=10, eps=eps, cost=cost, kwargs=spec.resolve_kwargs(kwargs))
    torch.manual_seed(seed)
    loss, _ = spec.fn(net, x, y, ctx)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    return loss.detach(), grads


def _same(a, b, tol=1e-6):
    la, ga = a
    lb, gb = b
    assert float(la) == pytest.approx(float(lb), abs=tol)
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=tol), float((u - v).abs().max())


# ------------------------------------------------------------------------------- α = 0 / c = 1
def test_margin_weights_alpha_zero_uniform_and_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    y = torch.tensor([0, 0])
    p = logits.softmax(1)
    m = prob_margin(logits, y)
    assert m.tolist() == pytest.approx([float(p[0, 0] - p[0, 1]), float(p[1, 0] - p[1, 1])])
    assert margin_weights(logits, y, 0.0).tolist() == [0.5, 0.5]
    w = margin_weights(logits, y, 2.0, normalize=False)
    assert w.tolist() == pytest.approx(torch.exp(-2 * m).tolist())
    assert w[1] > 1 > w[0]  # the misclassified example weighs more


def test_margin_pgd_alpha_zero_is_pgd(batch):
    x, y = batch
    net = _net().eval()
    a = MarginPGD(net, eps=0.1, steps=7, weight_alpha=0.0, start="ball", seed=3)(x, y)
    b = PGD(net, eps=0.1, steps=7, seed=3)(x, y)
    assert torch.equal(a, b)
    c = MarginPGD(net, eps=0.1, steps=7, weight_alpha=3.0, start="ball", seed=3)(x, y)
    assert not torch.equal(a, c)  # the weight enters the objective and its gradient


def test_margin_pgd_gaussian_start_is_algorithm_1(batch):
    """Algorithm 1 starts at x + 0.001·N(0, I): with one step the iterate is that start plus one
    signed step, projected — rebuilt by hand from the same generator."""
    from csr.attacks import gaussian_start

    x, y = batch
    net = _net().eval()
    got = MarginPGD(net, eps=0.1, steps=1, alpha=0.02, weight_alpha=1.5, seed=5)(x, y)
    g = torch.Generator().manual_seed(5)
    x0 = gaussian_start(x, 0.001, g).requires_grad_(True)
    logits = net(x0)
    obj = (margin_weights(logits, y, 1.5, normalize=False) * F.cross_entropy(logits, y, reduction="none")).sum()
    (grad,) = torch.autograd.grad(obj, x0)
    want = torch.min(torch.max(x0.detach() + 0.02 * grad.sign(), x - 0.1), x + 0.1).clamp(0, 1)
    assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="unknown start 'uniform'; known starts: gaussian, ball, none"):
        MarginPGD(net, eps=0.1, start="uniform")


def test_cost_sensitive_margin_by_hand():
    """p_y − max over the sensitive targets only; an empty Ω_y gives margin 1 (weight e^{−α})."""
    from csr.attacks import sensitive_targets

    C = costs.load("single_pair:0,2", 3)
    omega = sensitive_targets(C)
    assert omega.tolist() == [[False, False, True], [False, False, False], [False, False, False]]
    logits = torch.tensor([[1.0, 3.0, 0.5], [0.0, 2.0, 1.0]])
    y = torch.tensor([0, 1])
    p = logits.softmax(1)
    m = prob_margin(logits, y, omega)
    assert m.tolist() == pytest.approx([float(p[0, 0] - p[0, 2]), 1.0])
    assert prob_margin(logits, y).tolist() == pytest.approx([float(p[0, 0] - p[0, 1]), float(p[1, 1] - p[1, 2])])
    w = margin_weights(logits, y, 2.0, normalize=False, targets=omega)
    assert w.tolist() == pytest.approx([math.exp(-2 * float(m[0])), math.exp(-2.0)])
    # all-ones Ω is the paper's margin
    full = sensitive_targets(costs.overall(3))
    assert torch.allclose(prob_margin(logits, y, full), prob_margin(logits, y))
    with pytest.raises(ValueError, match="must be 3x3 for 3 classes, got shape \\(2, 2\\)"):
        prob_margin(logits, y, sensitive_targets([[0, 1], [0, 0]]))
    with pytest.raises(costs.CostMatrixError):
        sensitive_targets(np.zeros((2, 3)))


def test_cost_margin_training_needs_the_cost_and_uses_it(batch):
    x, y = batch
    with pytest.raises(ValueError, match="margin='cost'.*needs the run's cost matrix"):
        _loss_and_grads("pgd_weighted", {"alpha": 1.0, "steps": 2, "margin": "cost"}, x, y)
    with pytest.raises(ValueError, match="unknown margin 'sensitive'; known: all, cost"):
        METHODS.get("trades_weighted").resolve_kwargs({"margin": "sensitive"})
    # with every error costly the cost-sensitive margin is the paper's
    _same(_loss_and_grads("pgd_weighted", {"alpha": 2.0, "steps": 2, "margin": "cost"}, x, y, cost=costs.overall(10)),
          _loss_and_grads("pgd_weighted", {"alpha": 2.0, "steps": 2}, x, y))
    _same(_loss_and_grads("trades_weighted", {"alpha": 2.0, "steps": 2, "margin": "cost"}, x, y, cost=costs.overall(10)),
          _loss_and_grads("trades_weighted", {"alpha": 2.0, "steps": 2}, x, y))
    la, _ = _loss_and_grads("pgd_weighted", {"alpha": 2.0, "steps": 2, "margin": "cost"}, x, y, cost=costs.load("odd", 10))
    lb, _ = _loss_and_grads("pgd_weighted", {"alpha": 2.0, "steps": 2}, x, y)
    assert abs(float(la) - float(lb)) > 1e-4


def test_weighted_losses_with_alpha_zero_equal_unweighted(batch):
    x, y = batch
    _same(_loss_and_grads("pgd_weighted", {"alpha": 0.0, "steps": 5, "start": "ball"}, x, y),
          _loss_and_grads("pgd_at", {"steps": 5}, x, y))
    _same(_loss_and_grads("pgd_weighted", {"alpha": 0.0, "steps": 5, "normalize": True, "start": "ball"}, x, y),
          _loss_and_grads("pgd_at", {"steps": 5}, x, y))
    _same(_loss_and_grads("trades_weighted", {"alpha": 0.0, "steps": 5}, x, y),
          _loss_and_grads("trades", {"steps": 5}, x, y))
    # and with α > 0 they differ
    la, _ = _loss_and_grads("pgd_weighted", {"alpha": 2.0, "steps": 5}, x, y)
    lb, _ = _loss_and_grads("pgd_at", {"steps": 5}, x, y)
    assert abs(float(la) - float(lb)) > 1e-3


def test_weighted_outer_loss_by_hand(batch):
    x, y = batch
    net = _net()
    spec = METHODS.get("pgd_weighted")
    ctx = MethodContext(num_classes=10, eps=0.1, kwargs=spec.resolve_kwargs({"alpha": 1.5, "steps": 3}))
    torch.manual_seed(0)
    loss, _ = spec.fn(net, x, y, ctx)
    torch.manual_seed(0)
    x_adv = MarginPGD(net, eps=0.1, steps=3, weight_alpha=1.5, start="gaussian")(x, y)
    logits = net(x_adv)
    m = prob_margin(logits, y)
    want = (torch.exp(-1.5 * m) * F.cross_entropy(logits, y, reduction="none")).mean()
    assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-6)


def test_protect_with_c_one_is_overall(batch):
    x, y = batch
    C1 = costs.load("protect:3,c=1", 10)
    assert np.array_equal(C1.values, costs.overall(10).values)
    C10 = costs.load("protect:3", 10)
    assert C10.values[3, 5] == 10 and C10.values[5, 3] == 10 and C10.values[5, 4] == 1 and C10.values[3, 3] == 0
    one = {"steps": 3, "update": "sum"}
    _same(_loss_and_grads("csa", one, x, y, cost=C1), _loss_and_grads("csa", one, x, y, cost=costs.overall(10)))
    a, _ = _loss_and_grads("csa", one, x, y, cost=C10)
    b, _ = _loss_and_grads("csa", one, x, y, cost=C1)
    assert float(a) > float(b)


def test_expected_cost_and_kl_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    y = torch.tensor([0, 2])
    C = torch.tensor([[0.0, 10.0, 1.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    assert expected_cost(logits, y, C).tolist() == pytest.approx([0.3 * 10 + 0.2 * 1, 0.1 * 2 + 0.1 * 1])
    p = logits.softmax(1)
    assert kl_per_example(p, logits).abs().max() < 1e-6
    q = torch.log(torch.tensor([[0.2, 0.3, 0.5]]))
    want = sum(a * math.log(a / b) for a, b in zip([0.5, 0.3, 0.2], [0.2, 0.3, 0.5]))
    assert float(kl_per_example(p[:1], q)) == pytest.approx(want, rel=1e-5)


def test_lam_zero_csa_is_clean_plus_adversarial_ce(batch):
    x, y = batch
    la, _ = _loss_and_grads("csa", {"lam": 0.0, "steps": 3, "random_start": False, "update": "sum"}, x, y,
                            cost=costs.load("protect:0", 10))
    lb, _ = _loss_and_grads("pgd_at", {"steps": 3, "clean_weight": 1.0, "random_start": False}, x, y)
    # with λ = 0 CSA attacks and trains on the same CE objective as mixed adversarial training
    assert float(la) == pytest.approx(float(lb), rel=1e-5)


def test_csa_algorithm1_two_updates_per_batch(tmp_path):
    # Algorithm 1: adversarial examples from the weights before the batch (line 7), then a clean
    # update (Stage 1) and an adversarial update (Stage 2). Replayed by hand with plain SGD.
    from csr.data import subsample
    from csr.train.trainer import _build

    C = costs.load("protect:2", 10)
    kw = {"steps": 2, "random_start": False, "lam": 1.0}
    cfg = TrainConfig(dataset="digits", model="mnist_small", method="csa", method_kwargs=kw, epochs=1, n_train=20,
                      batch_size=20, eps=0.1, optimizer="sgd", momentum=0.0, lr=0.1, cost_matrix=C.to_list(),
                      progress=False, threads=1, select_metric="epoch")
    run = train(cfg, runs_root=tmp_path)
    splits = run.splits
    x, y = subsample(splits.train, 20, seed=0).tensors
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0 * 100_003 + 0))
    x, y = x[perm], y[perm]
    torch.manual_seed(0)
    net = _build(cfg, splits, torch.device("cpu"))
    Ct = C.tensor()
    per_ex = lambda z: F.cross_entropy(z, y, reduction="none") + expected_cost(z, y, Ct)
    x_adv = PGD(net, eps=0.1, steps=2, random_start=False)(x, y)  # CE, the paper's inner max
    for inputs in (x, x_adv):
        net.train()
        loss = per_ex(net(inputs)).mean()
        grads = torch.autograd.grad(loss, list(net.parameters()))
        with torch.no_grad():
            for p_, g in zip(net.parameters(), grads):
                p_ -= 0.1 * g
    for (name, a), b in zip(run.model.state_dict().items(), net.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
    # the one-step variant lands elsewhere
    other = train(TrainConfig(**{**cfg.__dict__, "method_kwargs": {**kw, "update": "sum"}}), runs_root=tmp_path)
    assert not torch.allclose(list(other.model.parameters())[0], list(run.model.parameters())[0], atol=1e-5)


def test_trades_break_leaves_nearly_clean_inputs(batch):
    x, y = batch
    torch.manual_seed(0)
    xs = trades_start(x)
    assert 0 < float((xs - x).abs().max()) < 0.006  # 0.001·N(0, 1): a few thousandths
    net = _net()
    spec = METHODS.get("trades_weighted")
    kls = []
    for steps in (0, 10):
        ctx = MethodContext(num_classes=10, eps=0.3, kwargs=spec.resolve_kwargs({"steps": steps}))
        torch.manual_seed(0)
        _, stats = spec.fn(net, x, y, ctx)
        kls.append(stats["kl"])
    assert kls[1] > 10 * kls[0], kls  # with its steps the inner loop finds a far larger KL


# --------------------------------------------------------------------------------- fuzziness
def test_fuzziness_by_hand():
    ln2 = math.log(2)
    assert float(fuzziness(torch.zeros(3, 3))) == 0.0  # all-zero
    assert float(fuzziness(torch.full((2, 5), 7.0))) == pytest.approx(0.0, abs=2e-5)  # all large, equal
    assert float(fuzziness(torch.tensor([0.0, -4.0, 4.0, 0.0]))) == pytest.approx(0.0, abs=2e-5)  # Min-Max
    assert float(fuzziness(torch.tensor([0.5, -0.5, 1.0]))) == pytest.approx(2 * ln2 / 3, abs=1e-5)
    w = torch.tensor([0.1, -0.3, 0.6, 1.2])
    mu = np.abs(w.numpy()) / 1.2
    mu = mu[mu < 1]
    want = -sum(u * math.log(u) + (1 - u) * math.log(1 - u) for u in mu) / 4
    assert float(fuzziness(w)) == pytest.approx(want, abs=2e-5)
    assert fuzziness([0.5, 1.0]) == pytest.approx(ln2 / 2, abs=1e-5)  # arrays too
    with pytest.raises(ValueError, match="empty"):
        fuzziness(torch.zeros(0))


def test_fuzziness_gradient_pushes_weights_to_min_or_max():
    w = torch.tensor([0.2, 0.45, 0.55, 0.8, 1.0], requires_grad=True)
    fuzziness(w).backward()
    g = w.grad
    assert g[0] > 0 and g[1] > 0  # descent shrinks the small ones towards 0
    assert g[2] < 0 and g[3] < 0  # and grows the large ones towards the max


def test_layer_fuzziness_and_sorted_magnitudes():
    net = _net()
    f = layer_fuzziness(net)
    assert list(f) == ["fuzz_conv1"] and 0 < f["fuzz_conv1"] < math.log(2)
    s = sorted_weight_magnitudes(net)
    assert s["conv1"].shape == (36,) and s["conv1"][-1] == 1.0 and np.all(np.diff(s["conv1"]) >= 0)


def test_eq9_fuzziness_closed_form_gradient_pushes_weights_outward():
    from csr.metrics import fuzziness_eq9

    w = torch.tensor([-2.0, -0.3, 0.0, 0.5, 4.0], requires_grad=True)
    f = fuzziness_eq9(w)
    rho = 1 / (1 + torch.exp(w.detach().abs()))
    H = -(rho * rho.log() + (1 - rho) * (1 - rho).log())
    assert f.item() == pytest.approx(float(H.mean()), rel=1e-6)
    f.backward()
    # dH/dρ = ln((1 − ρ)/ρ) = |w| and dρ/d|w| = −ρ(1 − ρ): dF/dw = −sign(w)·|w|·ρ(1 − ρ)/N
    want = -torch.sign(w.detach()) * w.detach().abs() * rho * (1 - rho) / len(w)
    assert torch.allclose(w.grad, want, atol=1e-7)
    # so gradient descent grows every |w|: the literal Eq. 8 does not pull weights toward 0
    assert bool((torch.sign(w.grad) == -torch.sign(w.detach()))[w.detach() != 0].all())
    assert float(fuzziness_eq9(torch.zeros(3))) == pytest.approx(math.log(2))


def test_cse_fuzziness_decreases_on_smoke_profile(tmp_path):
    from csr.profiles import settings_for

    P = settings_for("shen_cost_sensitive_classes", "smoke")
    common = dict(dataset=P["dataset"], model=P["model"], epochs=P["epochs"], n_train=P["n_train"], lr=P["lr"],
                  batch_size=P["batch_size"], progress=False, track=["fuzziness"], select_metric="epoch")
    cse = train(TrainConfig(method="cse", cost_matrix="protect:0", method_kwargs={"gamma": P["gamma"], "regularizer": "minmax"},
                            **common), runs_root=tmp_path)
    std = train(TrainConfig(method="standard", **common), runs_root=tmp_path)
    torch.manual_seed(0)
    from csr.train.trainer import _build

    init = layer_fuzziness(_build(TrainConfig(**{k: v for k, v in common.items() if k != "track"}), cse.splits, torch.device("cpu")))
    for col in init:
        h = cse.history[col].to_numpy()
        assert h[-1] < init[col] and h[-1] < h[0], (col, init[col], h)
        assert h[-1] < std.history[col].iloc[-1]


# ------------------------------------------------------------------------------- evaluation
def test_weighted_accuracy_and_bad_inputs():
    assert weighted_accuracy([1, 1, 0], [1.0, 1.0, 1.0]) == pytest.approx(2 / 3)
    assert weighted_accuracy(np.array([True, False]), np.array([0.0, 5.0])) == 0.0
    with pytest.raises(ValueError, match="weights must be finite"):
        weighted_accuracy([1, 0], [-1.0, 1.0])
    with pytest.raises(ValueError, match="weights must be finite"):
        weighted_accuracy([1, 0], [0.0, 0.0])
    with pytest.raises(ValueError):
        weighted_accuracy([1, 0, 1], [1.0, 1.0])


@pytest.fixture(scope="module")
def digits_model():
    cfg = TrainConfig(dataset="digits", model="mlp", model_kwargs={"hidden": [64]}, epochs=15, lr=3e-3, progress=False,
                      seed=0)
    import tempfile

    r = train(cfg, runs_root=tempfile.mkdtemp())
    x, y = r.splits.test.tensors
    return r.model, x, y


@pytest.mark.parametrize("alpha_test", [1.0, 1.5, 2.0])
def test_nonuniform_accuracies_are_ordered(digits_model, alpha_test):
    model, x, y = digits_model
    rep = nonuniform_report(model, x, y, eps=0.05, alpha_test=alpha_test, steps=20, batch_size=len(y))
    assert rep["natural"] > 0.85
    assert 0.0 < rep["A_tr"] <= rep["A_sa"] <= rep["A_rob"] <= rep["natural"], rep
    # A_sa re-scores the same PGD examples (one batch, so the seeded start is the same): by hand
    pgd = PGD(model, eps=0.05, steps=20, seed=0)
    xa = pgd(x, y)
    with torch.no_grad():
        logits = model(xa)
    ok = (logits.argmax(1) == y).float()
    w = torch.exp(-alpha_test * prob_margin(logits, y))
    assert rep["A_sa"] == pytest.approx(float((w * ok).sum() / w.sum()), abs=1e-6)
    assert rep["A_rob"] == pytest.approx(float(ok.mean()), abs=1e-6)


def test_per_class_attack_accuracy(digits_model):
    model, x, y = digits_model
    tab = per_class_attack_accuracy(model, {"pgd": PGD(model, eps=0.05, steps=10, seed=0)}, x, y, 10)
    assert list(tab.index) == ["clean", "pgd"] and tab.shape == (2, 10)
    assert (tab.loc["pgd"] <= tab.loc["clean"] + 1e-9).all()
    cls = 4
    keep = y == cls
    with torch.no_grad():
        want = float((model(x[keep]).argmax(1) == cls).float().mean())
    assert tab.loc["clean", cls] == pytest.approx(want)


# -------------------------------------------------------------------------------- in the trainer
@pytest.mark.parametrize("method,kwargs", [
    ("trades", {"steps": 2}), ("trades_weighted", {"steps": 2}), ("trades_weighted", {"steps": 0}),
    ("pgd_weighted", {"steps": 2}), ("csa", {"steps": 2, "clean_epochs": 1}), ("csa", {"attack": "fgsm"}),
    ("csa_l2", {"steps": 2}), ("cse", {}), ("cse", {"regularizer": "minmax"}), ("cse", {"regularizer": "l1_l2"}), ("cse_adv", {"steps": 2}),
])
def test_every_method_trains(tmp_path, method, kwargs):
    spec = METHODS.get(method)
    cfg = TrainConfig(dataset="digits", model="mnist_small", method=method, method_kwargs=kwargs, epochs=2,
                      n_train=200, eps=0.0 if not spec.adversarial else 0.1, progress=False, track=["fuzziness", "fuzziness_eq9"],
                      cost_matrix="protect:2" if spec.needs_cost else None)
    r = train(cfg, runs_root=tmp_path)
    assert len(r.history) == 2 and {"fuzz_conv1", "fuzz_conv2", "fuzz_eq9"} <= set(r.history.columns)
    assert np.isfinite(r.history["train_loss"]).all()


def test_bad_method_settings(tmp_path):
    with pytest.raises(ValueError, match="needs a cost_matrix"):
        TrainConfig(dataset="digits", method="csa", eps=0.1).validate()
    with pytest.raises(ValueError, match="set eps > 0"):
        TrainConfig(dataset="digits", method="pgd_weighted").validate()
    with pytest.raises(ValueError, match="unknown tracker 'entropy'"):
        TrainConfig(dataset="digits", track=["entropy"]).validate()
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4)
    for method, kw, msg in [("csa", {"attack": "cw"}, "unknown inner attack 'cw'"),
                            ("cse", {"regularizer": "l3"}, "unknown regularizer 'l3'")]:
        spec = METHODS.get(method)
        ctx = MethodContext(num_classes=10, eps=0.1, cost=costs.overall(10), kwargs=spec.resolve_kwargs(kw))
        with pytest.raises(ValueError, match=msg):
            spec.fn(_net(), x, y, ctx)
    with pytest.raises(ValueError, match="weight_alpha must be >= 0"):
        MarginPGD(_net(), eps=0.1, weight_alpha=-1.0)
