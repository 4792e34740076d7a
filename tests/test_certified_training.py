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
