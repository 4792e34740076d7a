"""Training methods for smoothed classifiers: equivalences, margins by hand, trainer integration."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from csr import costs
from csr.train import METHODS, MethodContext, TrainConfig, train
from csr.train.smoothing import cs_margin, hinge_terms, smoothed_scores


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _run(name: str, kwargs: dict, cost=None, seed: int = 5):
    spec = METHODS.get(name)
    x = torch.rand(12, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3] * 3)
    C = costs.load(cost, 4) if cost is not None else None
    ctx = MethodContext(num_classes=4, cost=C, kwargs=spec.resolve_kwargs(kwargs))
    torch.manual_seed(seed)
    return spec.fn(_net(), x, y, ctx)


def test_cohen_r_with_weight_one_is_gaussian():
    a, _ = _run("gaussian", {"sigma": 0.3})
    b, _ = _run("cohen_r", {"sigma": 0.3, "alpha": 1.0}, cost="single_seed:1")
    assert torch.allclose(a, b)
    c, _ = _run("cohen_r", {"sigma": 0.3, "alpha": 3.0}, cost="single_seed:1")
    assert c > a  # sensitive examples weigh more


def test_macer_and_cs_macer_reduce_to_smoothed_ce_without_hinge():
    a, sa = _run("macer", {"lam": 0.0, "k": 4})
    b, _ = _run("cs_macer", {"lam": 0.0, "k": 4}, cost="single_pair:0,2")
    assert torch.allclose(a, b)
    assert a.item() == pytest.approx(sa["ce"], rel=1e-6)


def test_cs_macer_i2_over_d_is_macer_hinge_and_d_n_drops_sensitive():
    # the same noise (seed) → I2 over D with γ1 is MACER's hinge with γ = γ1
    _, sa = _run("cs_macer", {"k": 4, "gamma1": 4.0, "i2_on": "all"}, cost="single_seed:3")
    _, sm = _run("macer", {"k": 4, "gamma": 4.0})
    assert sm["hinge"] > 0
    assert sa["i2"] == pytest.approx(sm["hinge"] * 0.25 / 2, rel=1e-5)
    # seedwise default: I2 over D_n only, so it can only shrink
    _, sn = _run("cs_macer", {"k": 4, "gamma1": 4.0}, cost="single_seed:3")
    assert sn["i2"] <= sa["i2"] + 1e-12


def test_cs_margin_and_hinge_by_hand():
    p = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.5, 0.25, 0.25]])
    y = torch.tensor([0, 0, 2])
    omega = torch.tensor([[False, False, True], [False, True, True], [False, False, False]])
    xi = cs_margin(p, y, omega)
    want0 = stats.norm.ppf(0.6) - stats.norm.ppf(0.1)
    want1 = stats.norm.ppf(0.2) - stats.norm.ppf(0.5)  # misclassified: negative margin
    assert xi[0].item() == pytest.approx(want0, rel=1e-5)
    assert xi[1].item() == pytest.approx(want1, rel=1e-5)
    assert torch.isnan(xi[2])
    total, used = hinge_terms(xi, 2.0, torch.tensor([True, True, True]), floor=-16.0)
    assert used.tolist() == [True, True, False]
    assert total.item() == pytest.approx(2 * 2.0 - want0 - want1, rel=1e-5)
    _, used = hinge_terms(xi, 2.0, torch.tensor([True, True, True]), floor=0.0)
    assert used.tolist() == [True, False, False]


def test_smoothed_scores_temperature():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])
    assert torch.allclose(smoothed_scores(logits), torch.tensor([[0.5, 0.5]]))
    hard = smoothed_scores(logits * 100, 1.0)
    assert torch.allclose(hard, torch.tensor([[0.5, 0.5]]))


@pytest.mark.parametrize(
    "name,kwargs,msg",
    [("gaussian", {"sigma": 0.0}, "sigma must be > 0"), ("macer", {"k": 0}, "k \\(noise"),
     ("cs_macer", {"variant": "rowwise"}, "variant"), ("cs_macer", {"i2_on": "some"}, "i2_on"),
     ("cohen_r", {"alpha": -1.0}, "alpha")],
)
def test_bad_parameters(name, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        _run(name, kwargs, cost="single_seed:0" if METHODS.get(name).needs_cost else None)


def test_methods_need_a_cost_matrix():
    for name in ("cohen_r", "cs_macer"):
        with pytest.raises(ValueError, match="needs a cost_matrix"):
            TrainConfig(dataset="digits", model="mlp", method=name).validate()


@pytest.mark.parametrize("method", ["gaussian", "cohen_r", "macer", "cs_macer"])
def test_trainer_runs_and_learns(method, tmp_path):
    spec = METHODS.get(method)
    cfg = TrainConfig(dataset="digits", model="mlp", method=method, epochs=2, n_train=300, batch_size=50,
                      method_kwargs={"k": 4} if "k" in spec.defaults else {},
                      cost_matrix="single_seed:3" if spec.needs_cost else None, progress=False)
    res = train(cfg, runs_root=tmp_path)
    h = res.history
    assert np.isfinite(h["train_loss"]).all()
    assert h["val_acc"].iloc[-1] > 0.3  # chance is 0.1


def test_hinge_gradients_stay_finite_at_extreme_scores():
    """A sensitive example scored ~0 for its own class must not send inf/NaN into the weights."""
    logits = torch.tensor([[[-200.0, 50.0, 0.0]], [[0.0, 0.0, 0.0]]], requires_grad=True)
    p = smoothed_scores(logits, 16.0)
    y = torch.tensor([0, 0])
    omega = torch.tensor([[False, True, True], [False, True, True]])
    xi = cs_margin(p, y, omega)
    assert torch.isnan(xi[0]) and torch.isfinite(xi[1])
    total, _ = hinge_terms(xi, 16.0, torch.tensor([True, True]), floor=-16.0)
    total.backward()
    assert torch.isfinite(logits.grad).all()


def _constant_net(logits: list[float]) -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(8, len(logits)))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.copy_(torch.tensor(logits))
    return net


def test_i3_floor_is_minus_gamma2():
    """Eq. 4: I3 = L_M(R_cs; −γ2, γ2). A sensitive example with ξ_cs ≈ −9.5 lies below −γ2 = −8 and
    must add nothing to I3 (the old fixed floor −16 counted it)."""
    # β = 16: p̂_0 ≈ 1e-6, p̂_1 ≈ 1 − 1e-6 → ξ_cs = Φ⁻¹(1e-6) − Φ⁻¹(1 − 1e-6) ≈ −9.5 (noise has no effect)
    d = float(np.log(1e6) / 16)
    net = _constant_net([0.0, d, -100.0, -100.0])
    x, y = torch.rand(4, 8), torch.zeros(4, dtype=torch.long)
    spec = METHODS.get("cs_macer")
    C = costs.load("single_pair:0,1", 4)

    def i3(**kw):
        ctx = MethodContext(num_classes=4, cost=C, kwargs=spec.resolve_kwargs({"k": 2, "gamma2": 8.0, **kw}))
        return spec.fn(net, x, y, ctx)[1]

    xi = stats.norm.ppf(1e-6) - stats.norm.ppf(1 - 1e-6)
    assert -16 < xi < -8
    s = i3()
    assert s["i3"] == 0.0 and s["i3_frac"] == 0.0
    s = i3(floor=-16.0)  # the old behaviour, kept as an explicit option
    assert s["i3_frac"] == 1.0 and s["i3"] == pytest.approx(0.25 / 2 * (8.0 - xi), rel=1e-3)
    s = i3(gamma2=10.0)  # −γ2 = −10 < ξ: counted
    assert s["i3_frac"] == 1.0
    with pytest.raises(ValueError, match="floor must be a number"):
        i3(floor="low")
