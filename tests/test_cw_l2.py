"""Carlini & Wagner's ℓ2 attack against oracles: torchattacks' CW at equal settings (one search
round), the exact minimal distance of a linear classifier, the budget semantics of ``eps``, and
the uniform attack contract (model flags and parameter gradients untouched)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from csr.attacks import ATTACKS, CWL2, build_attack, robust_accuracy


class PositiveLogits(nn.Module):
    """A small conv net whose logits are all > 0, so that torchattacks' margin
    ``max((1 − onehot) · z)`` equals the max over the other classes (it zeroes the true class
    instead of excluding it)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))

    def forward(self, x):
        return nn.functional.softplus(self.net(x)) + 1.0


def test_registered_and_repr():
    assert "cw_l2" in ATTACKS.names() and ATTACKS.get("cw_l2") is CWL2
    a = build_attack("cw_l2", nn.Linear(4, 3), eps=0.5, steps=20, c=1.0)
    assert repr(a) == "CWL2(eps=0.5, c=1, kappa=0, steps=20, lr=0.01, binary_search_steps=9, abort_early=True)"
    with pytest.raises(ValueError, match="binary_search_steps must be"):
        CWL2(nn.Linear(4, 3), eps=1.0, binary_search_steps=0)
    with pytest.raises(ValueError, match="c must be > 0"):
        CWL2(nn.Linear(4, 3), eps=1.0, c=0)


def test_matches_torchattacks_cw_with_one_search_round():
    import torchattacks

    model = PositiveLogits().eval()
    g = torch.Generator().manual_seed(1)
    x = 0.05 + 0.9 * torch.rand(32, 1, 8, 8, generator=g)
    y = model(x).argmax(1)
    for c in (0.1, 1.0):
        ref = torchattacks.CW(model, c=c, kappa=0, steps=50, lr=0.01)(x, y)
        ours = CWL2(model, eps=math.inf, c=c, kappa=0.0, steps=50, lr=0.01, binary_search_steps=1)(x, y)
        ok_ref, ok_ours = model(ref).argmax(1) != y, model(ours).argmax(1) != y
        assert torch.equal(ok_ref, ok_ours), c
        d_ref, d_ours = (ref - x).flatten(1).norm(dim=1), (ours - x).flatten(1).norm(dim=1)
        assert torch.allclose(d_ref, d_ours, rtol=1e-3, atol=1e-4), (c, (d_ref - d_ours).abs().max())
        assert 0 < int(ok_ours.sum()) < len(y) or c == 1.0  # the weak constant leaves some unbroken


def test_finds_the_minimal_distance_of_a_linear_classifier():
    # two classes, z = (0, w·x + b): the nearest point of the other class is |w·x + b| / ‖w‖ away
    torch.manual_seed(0)
    lin = nn.Linear(16, 1)
    model = nn.Sequential(nn.Flatten(), lin)
    two = lambda x: torch.cat([torch.zeros(len(x), 1), model(x)], 1)
    net = nn.Sequential()
    net.forward = two  # type: ignore[method-assign]
    x = 0.4 + 0.2 * torch.rand(20, 1, 4, 4)
    with torch.no_grad():
        z = model(x).squeeze(1)
    y = (z > 0).long()
    exact = z.abs() / lin.weight.norm()
    adv = CWL2(net, eps=math.inf, c=1e-2, steps=1000, lr=0.01, binary_search_steps=9)(x, y)
    found = (adv - x).flatten(1).norm(dim=1)
    assert bool((two(adv).argmax(1) != y).all())
    assert bool((found >= exact - 1e-4).all())  # no adversarial is closer than the exact distance
    assert bool((found <= exact * 1.05 + 1e-3).all()), (found / exact).max()


def test_eps_is_the_budget_it_is_judged_at():
    model = PositiveLogits().eval()
    x = 0.05 + 0.9 * torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(1)
    kw = dict(c=1.0, steps=40, binary_search_steps=2)
    free = CWL2(model, eps=math.inf, **kw)(x, y)
    dist = (free - x).flatten(1).norm(dim=1)
    broken = model(free).argmax(1) != y
    r = float(dist[broken].median())
    acc = robust_accuracy(CWL2(model, eps=r, **kw), x, y)
    assert acc == pytest.approx(1 - float((broken & (dist <= r)).float().mean()))
    assert robust_accuracy(CWL2(model, eps=0.0, **kw), x, y) == 1.0  # correct by construction


def test_targeted_reaches_the_target():
    model = PositiveLogits().eval()
    x = 0.05 + 0.9 * torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    y = model(x).argmax(1)
    t = (y + 1) % 5
    adv = CWL2(model, eps=math.inf, c=10.0, steps=100, binary_search_steps=2)(x, y, target=t)
    assert bool((model(adv).argmax(1) == t).all())


def test_leaves_model_mode_and_gradients_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    CWL2(model, eps=1.0, steps=10, binary_search_steps=2)(x, y)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
