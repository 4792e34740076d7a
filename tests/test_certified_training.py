"""Certified training methods (Zhang & Evans eq. 2.7 and 3.2) against hand computations, and
cost-sensitive robust training lowering the certified cost-sensitive robust error."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from csr import costs
from csr.certify import bounds
from csr.data import load_dataset
from csr.evaluate import certified_report
from csr.train import METHODS, MethodContext, TrainConfig, train


@pytest.fixture(scope="module")
def net_and_batch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = torch.rand(9, 1, 2, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    return net, x, y


def ctx_for(name, eps, cost=None, **kw):
    spec = METHODS.get(name)
    return MethodContext(num_classes=3, eps=eps, cost=cost, kwargs=spec.resolve_kwargs(kw))


def test_robust_loss_is_ce_of_negated_bounds(net_and_batch):
    net, x, y = net_and_batch
    loss, stats = METHODS.get("robust").fn(net, x, y, ctx_for("robust", 0.05))
    J = bounds(net, x, y, 0.05, method="wk")
    assert torch.all(J.gather(1, y[:, None]) == 0)
    assert loss.item() == pytest.approx(F.cross_entropy(-J, y).item(), rel=1e-6)
    assert stats["robust_err"] == pytest.approx((J < 0).any(1).float().mean().item())


@pytest.mark.parametrize("bound", ["wk", "ibp", "crown_ibp"])
def test_cs_robust_loss_by_hand(net_and_batch, bound):
    net, x, y = net_and_batch
    C = costs.CostMatrix([[0, 2.0, 0], [0, 0, 0], [1.0, 3.0, 0]])  # real-valued; class 1 no targets
    loss, stats = METHODS.get("cs_robust").fn(net, x, y, ctx_for("cs_robust", 0.05, C, alpha=0.5, bound=bound))
    J = bounds(net, x, y, 0.05, method=bound).detach()
    ce = F.cross_entropy(net(x), y).item()
    cls0 = [math.log(1 + 2 * math.exp(-J[n, 1])) for n in (0, 3, 6)]
    cls2 = [math.log(1 + math.exp(-J[n, 0]) + 3 * math.exp(-J[n, 1])) for n in (2, 5, 8)]
    expected = ce + 0.5 * (sum(cls0) / 3 + sum(cls2) / 3)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.zero_grad()


def test_methods_registered_with_requirements():
    assert METHODS.get("cs_robust").needs_cost and METHODS.get("cs_robust").adversarial
    with pytest.raises(ValueError, match="needs a cost_matrix"):
        TrainConfig(method="cs_robust", eps=0.1).validate()
    with pytest.raises(ValueError, match="set eps > 0"):
        TrainConfig(method="robust").validate()
    with pytest.raises(ValueError, match="unknown bound method 'lp'"):
        METHODS.get("robust").fn(torch.nn.Sequential(torch.nn.Linear(2, 3)), torch.rand(2, 2),
                                 torch.tensor([0, 1]), ctx_for("robust", 0.1, bound="lp"))


def test_cost_sensitive_training_lowers_certified_cs_error(tmp_path):
    """Zhang & Evans' claim in miniature: same data/model/ε, the cost-sensitive robust model
    has lower certified cost-sensitive robust error than the overall robust one."""
    splits = load_dataset("digits")
    common = dict(dataset="digits", model="mlp", model_kwargs={"hidden": [64]}, eps=0.05, epochs=12,
                  lr=3e-3, batch_size=64, progress=False, device="cpu")
    task = "single_seed:3"
    overall = train(TrainConfig(method="robust", **common), splits=splits, runs_root=tmp_path)
    cs = train(TrainConfig(method="cs_robust", cost_matrix=task, method_kwargs={"alpha": 5.0}, **common),
               splits=splits, runs_root=tmp_path)
    C = costs.load(task, 10)
    x, y = splits.test.tensors
    r_overall = certified_report(overall.model, x, y, C, 0.05).row
    r_cs = certified_report(cs.model, x, y, C, 0.05).row
    assert r_cs["cs_robust_error"] < r_overall["cs_robust_error"] - 0.05, (r_overall, r_cs)
    # spec-only certification gives the same cost-sensitive numbers
    r_spec = certified_report(cs.model, x, y, C, 0.05, all_pairs=False).row
    assert r_spec["cs_robust_error"] == r_cs["cs_robust_error"]


# --- CROWN-IBP's β and κ schedules (Zhang et al. 2020), linear in the ε warm-up's progress ----
def sched_ctx(name, ramp, cost=None, **kw):
    ctx = ctx_for(name, 0.05, cost, **kw)
    ctx.ramp = ramp
    return ctx


@pytest.mark.parametrize("ramp", [0.0, 0.3, 1.0])
def test_beta_mixes_crown_ibp_and_ibp_bounds(net_and_batch, ramp):
    net, x, y = net_and_batch
    beta = 1.0 - ramp  # beta_start 1 -> beta_end 0
    ctx = sched_ctx("robust", ramp, bound="crown_ibp", beta_start=1.0, beta_end=0.0)
    loss, _ = METHODS.get("robust").fn(net, x, y, ctx)
    J = beta * bounds(net, x, y, 0.05, method="crown_ibp") + (1 - beta) * bounds(net, x, y, 0.05, method="ibp")
    assert loss.item() == pytest.approx(F.cross_entropy(-J, y).item(), rel=1e-6)


def test_kappa_mixes_the_natural_loss(net_and_batch):
    net, x, y = net_and_batch
    ce = F.cross_entropy(net(x), y).item()
    J = bounds(net, x, y, 0.05, method="crown_ibp")
    rob = F.cross_entropy(-J, y).item()
    for ramp, kappa in ((0.0, 1.0), (0.5, 0.5), (1.0, 0.0)):
        ctx = sched_ctx("robust", ramp, bound="crown_ibp", kappa_start=1.0, kappa_end=0.0)
        loss, _ = METHODS.get("robust").fn(net, x, y, ctx)
        assert loss.item() == pytest.approx(kappa * ce + (1 - kappa) * rob, rel=1e-6)
    # cs_robust: CE + (1 - κ)·α·penalty
    C = costs.CostMatrix([[0, 2.0, 0], [0, 0, 0], [1.0, 3.0, 0]])
    full, stats = METHODS.get("cs_robust").fn(net, x, y, sched_ctx("cs_robust", 1.0, C, alpha=0.5, bound="crown_ibp"))
    ctx = sched_ctx("cs_robust", 0.25, C, alpha=0.5, bound="crown_ibp", kappa_start=1.0, kappa_end=0.0)
    mixed, _ = METHODS.get("cs_robust").fn(net, x, y, ctx)
    assert mixed.item() == pytest.approx(stats["ce"] + 0.25 * 0.5 * stats["penalty"], rel=1e-6)
    assert full.item() == pytest.approx(stats["ce"] + 0.5 * stats["penalty"], rel=1e-6)


def test_schedule_parameters_are_checked(net_and_batch):
    net, x, y = net_and_batch
    with pytest.raises(ValueError, match="need bound='crown_ibp'"):
        METHODS.get("robust").fn(net, x, y, sched_ctx("robust", 0.5, bound="wk", beta_end=0.0))
    with pytest.raises(ValueError, match="'kappa_start' must lie in \\[0, 1\\]"):
        METHODS.get("robust").fn(net, x, y, sched_ctx("robust", 0.5, bound="crown_ibp", kappa_start=1.5))


def test_trainer_ramps_the_schedules_with_eps(tmp_path):
    from csr.train.trainer import eps_at, ramp_at

    cfg = TrainConfig(method="robust", eps=0.2, eps_start=0.0, eps_warmup_epochs=4, epochs=6)
    assert [ramp_at(cfg, e) for e in (0, 2, 5)] == [0.0, 0.5, 1.0]
    assert ramp_at(cfg, 1, 0.5) == pytest.approx(0.375)
    assert eps_at(cfg, 1, 0.5) == pytest.approx(0.2 * 0.375)
    assert ramp_at(TrainConfig(method="robust", eps=0.2), 0) == 1.0
    # one run end to end with CROWN-IBP's default schedules: β 1 → 0, κ 1 → 0 over the ramp
    r = train(TrainConfig(method="cs_robust", dataset="digits", model="mlp", cost_matrix="single_seed:3", eps=0.05,
                          eps_warmup_epochs=2, epochs=2, n_train=100, n_val=50, batch_size=50, progress=False,
                          method_kwargs={"bound": "crown_ibp", "beta_start": 1.0, "beta_end": 0.0,
                                         "kappa_start": 1.0, "kappa_end": 0.0}), runs_root=tmp_path)
    assert len(r.history) == 2 and r.history["train_penalty"].notna().all()


def test_val_certify_on_omega_only_selects_as_all_pairs(tmp_path):
    """val_certify all_pairs=False certifies only Ω's pairs: the same cost-sensitive validation
    numbers (each pair's bound does not depend on the others), no overall robust error."""
    kw = dict(method="cs_robust", dataset="digits", model="mlp", cost_matrix="single_pair:3,5", eps=0.05, epochs=2,
              n_train=100, n_val=60, batch_size=50, progress=False, select_mode="min",
              select_metric="val_cert_cs_robust_error")
    full = train(TrainConfig(**kw, val_certify={"method": "wk"}), runs_root=tmp_path)
    omega = train(TrainConfig(**kw, val_certify={"method": "wk", "all_pairs": False}), runs_root=tmp_path)
    assert "val_cert_robust_error" in full.history and "val_cert_robust_error" not in omega.history
    for col in ("val_cert_cs_robust_error", "val_cert_robust_cost", "val_acc"):
        assert omega.history[col].tolist() == pytest.approx(full.history[col].tolist())
    with pytest.raises(ValueError, match="only 'method' and 'all_pairs'"):
        train(TrainConfig(**{**kw, "epochs": 1}, val_certify={"method": "wk", "pairs": 1}), runs_root=tmp_path)
