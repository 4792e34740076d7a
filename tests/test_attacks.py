"""Tests for csr.attacks against oracles: torchattacks, hand-computed losses, ball geometry,
model state before/after, and an independent re-computation of the pairwise reach matrix.

The models are small nets trained for a couple of seconds on sklearn's 8×8 digits (pixels
scaled to [0, 1]); they are undefended, so moderate perturbations fool them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from csr.attacks import (
    ATTACKS,
    BIM,
    CW,
    FGSM,
    LOSSES,
    MIM,
    PGD,
    Attack,
    build_attack,
    ce_loss,
    cw_loss,
    pairwise_reach,
    predict,
    robust_accuracy,
)

import torchattacks  # the oracle; installed by the Makefile from requirements-test.txt

TOL = 1e-6


# ------------------------------------------------------------------------------------ fixtures
def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-2) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model


@pytest.fixture(scope="module", autouse=True)
def attack_single_thread():
    """Tiny models run fastest on one thread (and avoid OpenMP spinning on busy machines)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def attack_digits():
    """(x_train, y_train, x_test, y_test): digits as (N, 1, 8, 8) float32 in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    return x[tr], y[tr], x[te], y[te]


@pytest.fixture(scope="module")
def attack_mlp(attack_digits):
    """Undefended MLP (eval mode), ~97% test accuracy."""
    xtr, ytr, _, _ = attack_digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return _train(model, xtr, ytr, epochs=100)


@pytest.fixture(scope="module")
def attack_bn_net(attack_digits):
    """Small conv net with BatchNorm and Dropout (returned in eval mode)."""
    xtr, ytr, _, _ = attack_digits
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 64, 10),
    )
    return _train(model, xtr, ytr, epochs=30, lr=2e-2)


@pytest.fixture(scope="module")
def attack_batch(attack_digits):
    """256 test examples (a power of two, so mean- and sum-reduced gradients agree bitwise)."""
    _, _, xte, yte = attack_digits
    return xte[:256], yte[:256]


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x) == y).float().mean())


def _dist(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    d = (x_adv - x).flatten(1)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1)


# ------------------------------------------------------------------------------------- losses
def test_losses_against_hand_computed_values():
    logits = torch.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, -1.0]])
    labels = torch.tensor([0, 0])
    assert cw_loss(logits, labels).tolist() == [2.0, -5.0]
    assert cw_loss(logits, torch.tensor([1, 2])).tolist() == [-1.0, 6.0]
    expected = [math.log(sum(math.exp(v) for v in row)) - row[0] for row in logits.tolist()]
    assert ce_loss(logits, labels).tolist() == pytest.approx(expected, abs=1e-6)
    assert LOSSES.names() == ["ce", "cw"]
    assert set(ATTACKS.names()) == {"fgsm", "pgd", "bim", "mim", "cw", "cw_l2", "margin_pgd", "cost_pgd"}


# ------------------------------------------------------------------------- effect and geometry
def test_pgd_fools_undefended_model(attack_mlp, attack_batch):
    x, y = attack_batch
    clean = _acc(attack_mlp, x, y)
    robust = robust_accuracy(PGD(attack_mlp, eps=0.1, steps=20, seed=0), x, y)
    assert clean >= 0.9
    assert robust <= clean - 0.4, (clean, robust)
    # a larger ball is at least as damaging
    assert robust_accuracy(PGD(attack_mlp, eps=0.2, steps=20, seed=0), x, y) <= min(robust, 0.05)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
@pytest.mark.parametrize("name", ["fgsm", "pgd", "bim", "mim", "cw", "margin_pgd"])
@pytest.mark.parametrize("targeted", [False, True])
def test_outputs_in_ball_and_box(attack_mlp, attack_batch, name, norm, eps, targeted):
    x, y = attack_batch
    x, y = x[:64], y[:64]
    kwargs = {"eps": eps, "norm": norm}
    if name != "fgsm":
        kwargs["steps"] = 5
        kwargs["alpha"] = eps  # big steps: every iterate hits the ball's boundary or the box
    attack = build_attack(name, attack_mlp, **kwargs)
    target = (y + 3) % 10 if targeted else None
    x_in = x.clone()
    x_adv = attack(x, y, target=target)
    assert torch.equal(x, x_in), "the attack modified its input in place"
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert float(_dist(x_adv, x, norm).max()) <= eps + TOL
    assert float(_dist(x_adv, x, norm).max()) > eps / 2  # it actually moved


def test_l2_random_start_inside_ball(attack_mlp, attack_batch):
    x, y = attack_batch
    # one tiny step: the output stays close to the random start, which must lie in the ball
    attack = PGD(attack_mlp, eps=0.5, alpha=1e-4, steps=1, norm="l2", seed=3)
    d = _dist(attack(x, y), x, "l2")
    assert float(d.max()) <= 0.5 + TOL
    assert float(d.std()) > 0.05  # random radius, not a fixed one


# --------------------------------------------------------------------- agreement with torchattacks
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.15])
def test_pgd_matches_torchattacks_without_random_start(attack_mlp, attack_batch, eps):
    x, y = attack_batch
    ours = PGD(attack_mlp, eps=eps, steps=20, random_start=False)
    theirs = torchattacks.PGD(attack_mlp, eps=eps, alpha=ours.alpha, steps=20, random_start=False)
    x_ours, x_theirs = ours(x, y), theirs(x, y)
    attack_mlp.eval()
    acc_ours, acc_theirs = _acc(attack_mlp, x_ours, y), _acc(attack_mlp, x_theirs, y)
    assert acc_ours == acc_theirs, (acc_ours, acc_theirs)
    assert float((x_ours - x_theirs).abs().max()) <= TOL


def test_pgd_matches_torchattacks_with_random_start(attack_mlp, attack_digits):
    _, _, x, y = attack_digits  # all 397 test examples
    eps = 0.1
    ours = PGD(attack_mlp, eps=eps, steps=20, seed=0)
    acc_ours = robust_accuracy(ours, x, y)
    torch.manual_seed(0)
    theirs = torchattacks.PGD(attack_mlp, eps=eps, alpha=ours.alpha, steps=20, random_start=True)
    x_theirs = theirs(x, y)
    attack_mlp.eval()
    acc_theirs = _acc(attack_mlp, x_theirs, y)
    assert abs(acc_ours - acc_theirs) <= 0.02, (acc_ours, acc_theirs)


def test_l2_pgd_matches_torchattacks(attack_mlp, attack_batch):
    x, y = attack_batch
    ours = PGD(attack_mlp, eps=1.0, steps=20, norm="l2", random_start=False)
    theirs = torchattacks.PGDL2(attack_mlp, eps=1.0, alpha=ours.alpha, steps=20, random_start=False)
    x_ours, x_theirs = ours(x, y), theirs(x, y)
    attack_mlp.eval()
    a, b = _acc(attack_mlp, x_ours, y), _acc(attack_mlp, x_theirs, y)
    assert abs(a - b) <= 1 / len(y) + 1e-9, (a, b)  # at most one example apart
    assert a < 0.3
    assert float((x_ours - x_theirs).abs().max()) <= 1e-2  # only the division epsilons differ


def test_mim_matches_torchattacks(attack_mlp, attack_batch):
    # torchattacks divides the gradient by its mean |.|, we by its sum: a per-example constant
    # that the sign step cannot see, so the iterates coincide
    x, y = attack_batch
    ours = MIM(attack_mlp, eps=0.1, steps=10)
    theirs = torchattacks.MIFGSM(attack_mlp, eps=0.1, alpha=ours.alpha, steps=10, decay=1.0)
    x_ours, x_theirs = ours(x, y), theirs(x, y)
    attack_mlp.eval()
    a, b = _acc(attack_mlp, x_ours, y), _acc(attack_mlp, x_theirs, y)
    assert abs(a - b) <= 1 / len(y) + 1e-9, (a, b)
    assert float(((x_ours - x_theirs).abs() > TOL).float().mean()) <= 0.01


@pytest.mark.parametrize("eps", [0.03, 0.1, 0.3])
def test_fgsm_equals_torchattacks(attack_mlp, attack_batch, eps):
    x, y = attack_batch
    x_ours = FGSM(attack_mlp, eps=eps)(x, y)
    x_theirs = torchattacks.FGSM(attack_mlp, eps=eps)(x, y)
    assert torch.equal(x_ours, x_theirs)


# ---------------------------------------------------------------------------- model state
class _ModeRecorder(nn.Module):
    """Identity that records the ``training`` flag it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


@pytest.mark.parametrize("name", ["fgsm", "pgd", "bim", "mim", "cw", "margin_pgd", "cost_pgd"])
def test_model_state_untouched(attack_bn_net, attack_batch, name):
    x, y = attack_batch
    x, y = x[:32], y[:32]
    recorder = _ModeRecorder()
    model = nn.Sequential(recorder, attack_bn_net)
    model.train()
    attack_bn_net[4].eval()  # mixed flags: the Dropout alone in eval mode
    flags = [m.training for m in model.modules()]
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, float(i) + 0.5)
    params[0].requires_grad_(False)
    grads = [p.grad.clone() for p in params]
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        kw = {} if name == "fgsm" else {"steps": 3}
        if name == "cost_pgd":
            kw["cost"] = [[float(j % 2 and i != j) for j in range(10)] for i in range(10)]
        attack = build_attack(name, model, eps=0.1, **kw)
        attack(x, y)
        if name != "cost_pgd":  # untargeted only
            attack(x, y, target=(y + 1) % 10)
        assert recorder.seen and not any(recorder.seen), "the model was not evaluated in eval mode"
        assert [m.training for m in model.modules()] == flags
        assert [p.requires_grad for p in params] == [False] + [True] * (len(params) - 1)
        for p, g in zip(params, grads):
            assert torch.equal(p.grad, g)
        for k, v in model.state_dict().items():  # BatchNorm running stats included
            assert torch.equal(v, buffers[k]), k
    finally:
        params[0].requires_grad_(True)
        for p in params:
            p.grad = None
        attack_bn_net.eval()


def test_eval_mode_false_keeps_train_mode_during_attack(attack_mlp, attack_batch):
    x, y = attack_batch
    recorder = _ModeRecorder()
    model = nn.Sequential(recorder, attack_mlp)
    model.train()
    try:
        BIM(model, eps=0.1, steps=2, eval_mode=False)(x[:8], y[:8])
        assert recorder.seen == [True, True]
        assert all(m.training for m in model.modules())
    finally:
        attack_mlp.eval()


def test_mode_restored_on_exception(attack_mlp):
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Dropout(), Boom())
    model.train()
    model[1].eval()
    flags = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        PGD(model, eps=0.1, steps=2)(torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))
    assert [m.training for m in model.modules()] == flags
    with pytest.raises(RuntimeError, match="boom"):
        predict(model, torch.rand(4, 1, 8, 8))
    assert [m.training for m in model.modules()] == flags


def test_works_under_no_grad_and_float64(attack_mlp, attack_batch):
    x, y = attack_batch
    x, y = x[:32], y[:32]
    with torch.no_grad():
        x_adv = BIM(attack_mlp, eps=0.1, steps=3)(x, y)
    assert float((x_adv - x).abs().max()) > 0.05
    with torch.inference_mode():
        xi, yi = x.clone(), y.clone()  # inference tensors
        x_inf = BIM(attack_mlp, eps=0.1, steps=3)(xi, yi)
    assert torch.equal(x_inf, x_adv)
    model64 = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    x64 = x.double()
    out = PGD(model64, eps=0.1, steps=2, seed=0)(x64, y)
    assert out.dtype == torch.float64 and float((out - x64).abs().max()) <= 0.1 + 1e-12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(attack_mlp, attack_batch):
    import copy

    x, y = attack_batch
    dev = torch.device("cuda")
    model = copy.deepcopy(attack_mlp).to(dev)
    xc, yc = x.to(dev), y.to(dev)
    for name in ["fgsm", "pgd", "mim", "cw"]:
        x_adv = build_attack(name, model, eps=0.1, **({"seed": 0} if name in ("pgd", "cw") else {}))(xc, yc)
        assert x_adv.device.type == "cuda"
        assert float((x_adv - xc).abs().max()) <= 0.1 + TOL
    reach = pairwise_reach(BIM(model, eps=0.1, steps=5), xc[:40], yc[:40], 10)
    assert reach.device.type == "cuda"
    cpu = pairwise_reach(BIM(attack_mlp, eps=0.1, steps=5), x[:40], y[:40], 10)
    assert (reach.cpu() != cpu).float().mean() <= 0.02


# ----------------------------------------------------------------------------- targeted & reach
def test_targeted_attack_reaches_target(attack_mlp, attack_batch):
    x, y = attack_batch
    target = (y + 1) % 10
    for attack in (PGD(attack_mlp, eps=0.25, steps=20, seed=0), CW(attack_mlp, eps=0.25, steps=20, seed=0)):
        hit = float((predict(attack_mlp, attack(x, y, target=target)) == target).float().mean())
        assert hit >= 0.85, (attack, hit)
    # integer target = the same target for every example
    x_adv = BIM(attack_mlp, eps=0.25, steps=20)(x, y, target=7)
    assert float((predict(attack_mlp, x_adv) == 7).float().mean()) >= 0.85


def test_pairwise_reach_matches_independent_oracle(attack_mlp, attack_digits):
    _, _, x, y = attack_digits
    x, y = x[:100], y[:100]
    m = 10
    attack = BIM(attack_mlp, eps=0.08, steps=10)  # deterministic
    reach = pairwise_reach(attack, x, y, m, batch_size=100)
    assert reach.shape == (100, m) and reach.dtype == torch.bool
    assert not reach[torch.arange(100), y].any()
    # oracle: clean prediction plus the landing class of every targeted run
    rows = torch.arange(100)
    landed = torch.zeros(100, m, dtype=torch.bool)
    hit = torch.zeros(100, m, dtype=torch.bool)
    landed[rows, predict(attack_mlp, x)] = True
    for j in range(m):
        keep = y != j
        pred = predict(attack_mlp, attack(x[keep], y[keep], target=j))
        landed[rows[keep], pred] = True
        hit[rows[keep], j] = pred == j
    landed[rows, y] = False
    assert torch.equal(reach, landed)
    # every successful targeted run is recorded, and reach is neither empty nor trivial
    assert not (hit & ~reach).any()
    assert 0.05 < float(reach.float().mean()) < 0.95
    # different internal batching gives the same matrix (up to float noise)
    reach_small = pairwise_reach(attack, x, y, m, batch_size=16)
    assert float((reach_small != reach).float().mean()) <= 0.01


def _reach_by_loop(attack, x, y, m, batch_size):
    """pairwise_reach's reference loop, written out: one public targeted call per (block, class)."""
    n = len(y)
    rows = torch.arange(n)
    reach = torch.zeros(n, m, dtype=torch.bool)
    reach[rows, predict(attack.model, x)] = True
    for start in range(0, n, batch_size):
        xb, yb, rb = x[start:start + batch_size], y[start:start + batch_size], rows[start:start + batch_size]
        for j in range(m):
            keep = yb != j
            if keep.any():
                reach[rb[keep], predict(attack.model, attack(xb[keep], yb[keep], target=j))] = True
    reach[rows, y] = False
    return reach


@pytest.mark.parametrize(
    "make",
    [
        lambda m: PGD(m, eps=0.1, steps=3, seed=0),
        lambda m: PGD(m, eps=0.1, steps=3, seed=1, restarts=3),
        lambda m: PGD(m, eps=1.0, steps=3, norm="l2", seed=2, restarts=2),
        lambda m: CW(m, eps=0.1, steps=3, seed=3),
        lambda m: MIM(m, eps=0.1, steps=3),
        lambda m: build_attack("margin_pgd", m, eps=0.1, steps=3, seed=4),
    ],
    ids=["pgd-seeded", "pgd-restarts", "pgd-l2-restarts", "cw", "mim", "margin_pgd"],
)
@pytest.mark.parametrize("batch_size,chunk_size", [(256, 4096), (16, 50), (7, 1)])
def test_pairwise_reach_equals_loop_of_targeted_attacks(attack_mlp, attack_digits, make, batch_size, chunk_size):
    # Stacked chunks give every (example, target) pair the random start (and restart draws) that
    # the reference loop's call for its (block, class) gave it, so the matrices are identical.
    _, _, x, y = attack_digits
    x, y = x[:60], y[:60]
    attack = make(attack_mlp)
    reach = pairwise_reach(attack, x, y, 10, batch_size=batch_size, chunk_size=chunk_size)
    expected = _reach_by_loop(attack, x, y, 10, batch_size)
    assert torch.equal(reach, expected)
    assert 0.05 < float(reach.float().mean()) < 0.95


def test_pairwise_reach_unseeded_draws_follow_the_global_rng(attack_mlp, attack_digits):
    _, _, x, y = attack_digits
    x, y = x[:40], y[:40]
    attack = PGD(attack_mlp, eps=0.1, steps=2)  # random start from the global RNG
    torch.manual_seed(123)
    reach = pairwise_reach(attack, x, y, 10, batch_size=16)
    torch.manual_seed(123)
    assert torch.equal(reach, _reach_by_loop(attack, x, y, 10, 16))


def test_pairwise_reach_stacks_pairs_into_chunks(attack_mlp, attack_digits):
    calls = []

    class Counting(PGD):
        def _attack(self, x, labels, targeted, generator):
            calls.append(x.shape[0])
            return super()._attack(x, labels, targeted, generator)

    _, _, x, y = attack_digits
    x, y = x[:100], y[:100]
    attack = Counting(attack_mlp, eps=0.1, steps=2, seed=0)
    reach = pairwise_reach(attack, x, y, 10, batch_size=50, chunk_size=400)
    assert sum(calls) == 100 * 9  # m - 1 targeted runs per example, no more
    assert max(calls) <= 400 and len(calls) == 3  # whole (block, class) groups of ~45 pairs
    calls.clear()
    assert torch.equal(pairwise_reach(attack, x, y, 10, batch_size=50, chunk_size=10_000), reach)
    assert calls == [900]
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        pairwise_reach(attack, x, y, 10, chunk_size=0)


def test_pairwise_reach_leaves_model_state_alone(attack_bn_net, attack_batch):
    x, y = attack_batch
    x, y = x[:24], y[:24]
    model = attack_bn_net
    model.train()
    model[4].eval()
    flags = [m.training for m in model.modules()]
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, float(i) + 0.5)
    grads = [p.grad.clone() for p in params]
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        pairwise_reach(PGD(model, eps=0.1, steps=2, seed=0, restarts=2), x, y, 10, chunk_size=64)
        assert [m.training for m in model.modules()] == flags
        assert all(p.requires_grad for p in params)
        for p, g in zip(params, grads):
            assert torch.equal(p.grad, g)
        for k, v in model.state_dict().items():
            assert torch.equal(v, buffers[k]), k
    finally:
        for p in params:
            p.grad = None
        model.eval()


def test_pairwise_reach_eps0_is_clean_misclassification(attack_bn_net, attack_digits):
    _, _, x, y = attack_digits
    pred = predict(attack_bn_net, x)
    wrong = pred != y
    assert wrong.any(), "fixture model should misclassify a few test points"
    reach = pairwise_reach(PGD(attack_bn_net, eps=0.0), x, y, 10)
    expected = torch.zeros_like(reach)
    expected[wrong.nonzero().squeeze(1), pred[wrong]] = True
    assert torch.equal(reach, expected)
    # with a real attack the clean mistakes are still there
    reach = pairwise_reach(FGSM(attack_bn_net, eps=0.05), x[:50], y[:50], 10)
    assert reach[expected[:50]].all()
    assert reach.sum() > expected[:50].sum()


def test_pairwise_reach_includes_clean_point_and_landings(attack_mlp, attack_digits):
    # a stub attack that always returns the black image: reach = clean mistakes ∪ {its class}
    class Blackout(BIM):
        def __call__(self, x, y, target=None):
            return torch.zeros_like(x)

    _, _, x, y = attack_digits
    black = int(predict(attack_mlp, torch.zeros(1, 1, 8, 8))[0])
    pred = predict(attack_mlp, x)
    expected = torch.zeros(len(y), 10, dtype=torch.bool)
    expected[torch.arange(len(y)), pred] = True
    expected[:, black] = True
    expected[torch.arange(len(y)), y] = False
    reach = pairwise_reach(Blackout(attack_mlp, eps=0.1), x, y, 10, batch_size=64)
    assert torch.equal(reach, expected)


def test_pairwise_reach_against_robust_accuracy(attack_mlp, attack_batch):
    # an example the untargeted attack fools must have some reachable class (checked loosely:
    # targeted runs at every class are at least as strong as one untargeted run in aggregate)
    x, y = attack_batch
    x, y = x[:64], y[:64]
    reach = pairwise_reach(BIM(attack_mlp, eps=0.1, steps=10), x, y, 10)
    robust = robust_accuracy(BIM(attack_mlp, eps=0.1, steps=10), x, y)
    assert 1.0 - float(reach.any(1).float().mean()) <= robust + 0.05


# ----------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("name", ["fgsm", "pgd", "bim", "mim", "cw", "margin_pgd"])
def test_eps_zero_returns_x(attack_mlp, attack_batch, name):
    x, y = attack_batch
    attack = build_attack(name, attack_mlp, eps=0)
    assert torch.equal(attack(x, y), x)
    assert torch.equal(attack(x, y, target=(y + 1) % 10), x)
    assert robust_accuracy(attack, x, y) == pytest.approx(_acc(attack_mlp, x, y))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eps": -0.1}, "eps must be >= 0"),
        ({"eps": float("nan")}, "eps must be finite"),
        ({"eps": float("inf")}, "eps must be finite"),
        ({"eps": "0.1"}, "eps must be a real number"),
        ({"eps": 0.1, "norm": "l1"}, r"unknown norm 'l1'; known norms: l2, linf"),
        ({"eps": 0.1, "loss": "hinge"}, r"unknown attack loss 'hinge'; known attack losses: ce, cw"),
        ({"eps": 0.1, "loss": 3}, "loss must be a registered name or a callable"),
        ({"eps": 0.1, "steps": 0}, "steps must be an integer >= 1"),
        ({"eps": 0.1, "steps": 2.5}, "steps must be an integer >= 1"),
        ({"eps": 0.1, "alpha": 0.0}, "alpha must be > 0"),
        ({"eps": 0.1, "alpha": -1.0}, "alpha must be > 0"),
        ({"eps": 0.1, "restarts": 0}, "restarts must be an integer >= 1"),
        ({"eps": 0.1, "restarts": 2, "random_start": False}, "needs random_start=True"),
    ],
)
def test_bad_arguments_raise(attack_mlp, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PGD(attack_mlp, **kwargs)


def test_bad_calls_raise(attack_mlp, attack_batch):
    x, y = attack_batch
    attack = PGD(attack_mlp, eps=0.1, steps=2)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        attack(x * 2, y)
    with pytest.raises(ValueError, match="y must have shape"):
        attack(x, y[:-1])
    with pytest.raises(ValueError, match="integer class labels"):
        attack(x, y.float())
    with pytest.raises(ValueError, match="target must have shape"):
        attack(x, y, target=y[:3])
    with pytest.raises(ValueError, match="number of classes"):
        attack(x, y, target=12)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        PGD(lambda z: z, eps=0.1)
    with pytest.raises(ValueError, match=r"unknown attack 'deepfool'; known attacks: bim, cost_pgd, cw, cw_l2, fgsm, margin_pgd, mim, pgd"):
        build_attack("deepfool", attack_mlp, eps=0.1)
    with pytest.raises(ValueError, match="unexpected argument"):
        build_attack("fgsm", attack_mlp, eps=0.1, steps=3)
    with pytest.raises(ValueError, match="labels must be < num_classes"):
        pairwise_reach(attack, x, y, 5)
    with pytest.raises(ValueError, match="must return a \\(N,\\) tensor"):
        PGD(attack_mlp, eps=0.1, loss=lambda z, t: z.sum())(x, y)


# ---------------------------------------------------------------------------- other attacks
@pytest.mark.parametrize(
    "attack_factory",
    [
        lambda m: MIM(m, eps=0.1, steps=10),
        lambda m: MIM(m, eps=1.0, steps=10, norm="l2"),
        lambda m: BIM(m, eps=1.0, steps=10, norm="l2"),
        lambda m: CW(m, eps=0.1, steps=20, seed=0),
        lambda m: PGD(m, eps=1.0, steps=20, norm="l2", seed=0),
    ],
    ids=["mim-linf", "mim-l2", "bim-l2", "cw-linf", "pgd-l2"],
)
def test_other_attacks_reduce_accuracy(attack_mlp, attack_batch, attack_factory):
    x, y = attack_batch
    clean = _acc(attack_mlp, x, y)
    robust = robust_accuracy(attack_factory(attack_mlp), x, y)
    assert robust <= clean - 0.4, (clean, robust)


def test_iterative_beats_single_step_and_restarts_help(attack_mlp, attack_batch):
    x, y = attack_batch
    eps = 0.07
    fgsm = robust_accuracy(FGSM(attack_mlp, eps=eps), x, y)
    bim = robust_accuracy(BIM(attack_mlp, eps=eps, steps=20), x, y)
    assert bim <= fgsm
    one = PGD(attack_mlp, eps=eps, steps=10, seed=5)
    three = PGD(attack_mlp, eps=eps, steps=10, seed=5, restarts=3)
    assert torch.equal(one(x, y), one(x, y)), "a seeded attack must be reproducible"
    # restart 1 of `three` is exactly `one`; later restarts only replace failures
    x1, x3 = one(x, y), three(x, y)
    fooled1 = predict(attack_mlp, x1) != y
    fooled3 = predict(attack_mlp, x3) != y
    assert not (fooled1 & ~fooled3).any()
    assert torch.equal(x3[fooled1], x1[fooled1])
    assert float((x3 - x).abs().max()) <= eps + TOL


def test_restarts_prefer_success_over_loss(attack_mlp, attack_batch):
    # maximising -CE pushes towards the true class, so a restart that ends up misclassified has a
    # *lower* objective than one that does not; it must still be kept. Tiny steps from a random
    # start make each restart a random sample of the ball.
    x, y = attack_batch

    def neg_ce(logits, labels):
        return -F.cross_entropy(logits, labels, reduction="none")

    kw = dict(eps=0.35, alpha=1e-4, steps=1, loss=neg_ce, seed=0)
    fooled1 = predict(attack_mlp, PGD(attack_mlp, restarts=1, **kw)(x, y)) != y
    fooled5 = predict(attack_mlp, PGD(attack_mlp, restarts=5, **kw)(x, y)) != y
    assert not (fooled1 & ~fooled5).any()
    assert int(fooled5.sum()) >= int(fooled1.sum()) + 5, (int(fooled1.sum()), int(fooled5.sum()))


def test_default_alpha_and_repr(attack_mlp):
    assert PGD(attack_mlp, eps=0.3, steps=40).alpha == pytest.approx(2.5 * 0.3 / 40)
    assert repr(PGD(attack_mlp, eps=0.3, alpha=0.01, steps=40)) == (
        "PGD(eps=0.3, alpha=0.01, steps=40, norm='linf', loss='ce', random_start=True, restarts=1)"
    )
    assert repr(FGSM(attack_mlp, eps=0.1, norm="l2")) == "FGSM(eps=0.1, norm='l2', loss='ce')"
    assert repr(BIM(attack_mlp, eps=0.5, steps=5, norm="l2")) == (
        "BIM(eps=0.5, alpha=0.25, steps=5, norm='l2', loss='ce')"
    )
    assert repr(MIM(attack_mlp, eps=0.1)) == (
        "MIM(eps=0.1, alpha=0.025, steps=10, decay=1, norm='linf', loss='ce')"
    )
    assert repr(CW(attack_mlp, eps=0.1, seed=3)) == (
        "CW(eps=0.1, alpha=0.025, steps=10, norm='linf', loss='cw', random_start=True, "
        "restarts=1, seed=3)"
    )
    assert isinstance(build_attack("mim", attack_mlp, eps=0.1), Attack)


def test_repr_of_every_registered_attack(attack_mlp):
    # cached evaluations are keyed by repr(attack): these strings must never change
    m = attack_mlp
    cases = {
        "fgsm": ({}, "FGSM(eps=0.1, norm='linf', loss='ce')"),
        "pgd": ({}, "PGD(eps=0.1, alpha=0.025, steps=10, norm='linf', loss='ce', random_start=True, restarts=1)"),
        "bim": ({}, "BIM(eps=0.1, alpha=0.025, steps=10, norm='linf', loss='ce')"),
        "mim": ({}, "MIM(eps=0.1, alpha=0.025, steps=10, decay=1, norm='linf', loss='ce')"),
        "cw": ({}, "CW(eps=0.1, alpha=0.025, steps=10, norm='linf', loss='cw', random_start=True, restarts=1)"),
        "margin_pgd": ({}, "MarginPGD(eps=0.1, alpha=0.025, steps=10, weight_alpha=1, norm='linf', start='gaussian')"),
    }
    for name, (kw, text) in cases.items():
        assert repr(build_attack(name, m, eps=0.1, **kw)) == text
    assert repr(FGSM(m, eps=0.3, norm="l2", loss="cw", eval_mode=False)) == (
        "FGSM(eps=0.3, norm='l2', loss='cw', eval_mode=False)"
    )
    assert repr(PGD(m, eps=1, alpha=0.2, steps=3, norm="l2", loss="cw", random_start=True, restarts=4, seed=9,
                    eval_mode=False)) == (
        "PGD(eps=1, alpha=0.2, steps=3, norm='l2', loss='cw', random_start=True, restarts=4, seed=9, eval_mode=False)"
    )
    assert repr(BIM(m, eps=0.2, alpha=0.05, steps=4, loss="cw")) == "BIM(eps=0.2, alpha=0.05, steps=4, norm='linf', loss='cw')"
    assert repr(MIM(m, eps=0.2, steps=4, decay=0.5, norm="l2")) == (
        "MIM(eps=0.2, alpha=0.125, steps=4, decay=0.5, norm='l2', loss='ce')"
    )
    assert repr(CW(m, eps=0.2, steps=4, random_start=False)) == (
        "CW(eps=0.2, alpha=0.125, steps=4, norm='linf', loss='cw', random_start=False, restarts=1)"
    )
    assert repr(build_attack("margin_pgd", m, eps=0.3, steps=40, alpha=0.01, weight_alpha=1.5, seed=2)) == (
        "MarginPGD(eps=0.3, alpha=0.01, steps=40, weight_alpha=1.5, norm='linf', start='gaussian', seed=2)"
    )


def test_declared_settings_give_real_signatures(attack_mlp):
    import inspect

    expected = {
        "fgsm": "eps norm loss eval_mode",
        "pgd": "eps alpha steps norm loss random_start restarts eval_mode seed",
        "bim": "eps alpha steps norm loss eval_mode",
        "mim": "eps alpha steps decay norm loss eval_mode",
        "cw": "eps alpha steps norm random_start restarts eval_mode seed",
        "margin_pgd": "eps weight_alpha alpha steps norm start targets eval_mode seed",
    }
    for name, params in expected.items():
        cls = ATTACKS.get(name)
        sig = inspect.signature(cls)
        assert " ".join(list(sig.parameters)[1:]) == params
        for k, p in list(sig.parameters.items())[2:]:
            assert p.kind is p.KEYWORD_ONLY and p.default == cls.defaults[k]
    assert inspect.signature(PGD).parameters["random_start"].default is True
    assert inspect.signature(MIM).parameters["decay"].default == 1.0
    assert CW(attack_mlp, eps=0.1).loss == "cw" and FGSM(attack_mlp, eps=0.1).steps == 1
    # pinned settings and typos are not keywords: Python's own TypeError, as before
    with pytest.raises(TypeError, match=r"^FGSM.__init__\(\) got an unexpected keyword argument 'steps'$"):
        FGSM(attack_mlp, eps=0.1, steps=3)
    with pytest.raises(TypeError, match=r"^CW.__init__\(\) got an unexpected keyword argument 'loss'$"):
        CW(attack_mlp, eps=0.1, loss="ce")
    with pytest.raises(TypeError, match=r"^PGD.__init__\(\) missing 1 required positional argument: 'eps'$"):
        PGD(attack_mlp)
    with pytest.raises(TypeError, match=r"^BIM.__init__\(\) takes 3 positional arguments but 4 were given$"):
        BIM(attack_mlp, 0.1, 5)
    with pytest.raises(TypeError):
        PGD.defaults["steps"] = 3  # read-only
    with pytest.raises(ValueError, match="decay must be >= 0"):
        MIM(attack_mlp, eps=0.1, decay=-1.0)
    with pytest.raises(ValueError, match="weight_alpha must be >= 0"):
        build_attack("margin_pgd", attack_mlp, eps=0.1, weight_alpha=-1.0)

    class LongPGD(PGD):  # a new attack only declares what it changes
        defaults = {"steps": 50}

    atk = LongPGD(attack_mlp, eps=0.1)
    assert (atk.steps, atk.random_start, atk.alpha) == (50, True, pytest.approx(0.005))
    assert repr(atk) == "LongPGD(eps=0.1, alpha=0.005, steps=50, norm='linf', loss='ce', random_start=True, restarts=1)"
    with pytest.raises(TypeError, match="without a default or a hint: gamma"):
        class Broken(PGD):
            keywords = ("alpha", "gamma")


# ----------------------------------------------------------------------------- custom loss
def test_custom_callable_loss(attack_mlp, attack_batch):
    x, y = attack_batch
    calls = []

    def class_zero_logit(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        calls.append(logits.shape)
        return logits[:, 0] - logits.logsumexp(dim=1)  # log-probability of class 0

    attack = BIM(attack_mlp, eps=0.3, steps=10, loss=class_zero_logit)
    assert "loss='class_zero_logit'" in repr(attack)
    x_adv = attack(x, y)
    assert len(calls) == 10
    before = float((predict(attack_mlp, x) == 0).float().mean())
    after = float((predict(attack_mlp, x_adv) == 0).float().mean())
    assert before < 0.2 and after > 0.8, (before, after)
    # a callable is interchangeable with the registered name
    assert torch.equal(BIM(attack_mlp, eps=0.1, steps=3, loss=cw_loss)(x, y),
                       BIM(attack_mlp, eps=0.1, steps=3, loss="cw")(x, y))


def test_pairwise_reach_on_given_pairs_is_the_loop_over_those_pairs(attack_mlp, attack_digits):
    # Oracle: the reference loop restricted to pairs[y, j]; a deterministic attack, so the same runs
    # give the same landings. On the pairs attacked, the full matrix agrees (same runs).
    _, _, x, y = attack_digits
    x, y = x[:80], y[:80]
    m = 10
    attack = BIM(attack_mlp, eps=0.08, steps=5)
    pairs = np.zeros((m, m), dtype=bool)
    pairs[1::2, :] = True  # odd classes to every class
    np.fill_diagonal(pairs, False)
    reach = pairwise_reach(attack, x, y, m, pairs=pairs)
    rows = torch.arange(len(y))
    expected = torch.zeros(len(y), m, dtype=torch.bool)
    expected[rows, predict(attack_mlp, x)] = True
    for j in range(m):
        keep = (y != j) & torch.as_tensor(pairs[y.numpy(), j])
        if keep.any():
            expected[rows[keep], predict(attack_mlp, attack(x[keep], y[keep], target=j))] = True
    expected[rows, y] = False
    assert torch.equal(reach, expected)
    full = pairwise_reach(attack, x, y, m)
    on = torch.as_tensor(pairs[y.numpy()])
    assert torch.equal(reach[(y % 2 == 1)][:, :], full[(y % 2 == 1)])  # odd digits: every target attacked
    assert not (reach & ~full).any()  # a subset of the runs finds a subset of the landings
    assert on.any() and 0 < float(reach[y % 2 == 1].float().mean()) < 1
    # no pair at all: only the clean misclassifications
    none = pairwise_reach(attack, x, y, m, pairs=np.zeros((m, m), dtype=bool))
    clean = torch.zeros(len(y), m, dtype=torch.bool)
    clean[rows, predict(attack_mlp, x)] = True
    clean[rows, y] = False
    assert torch.equal(none, clean)
    with pytest.raises(ValueError, match=r"pairs must be a \(10, 10\) bool matrix"):
        pairwise_reach(attack, x, y, m, pairs=np.ones((3, 3), dtype=bool))


# --- the cost-aware attack --------------------------------------------------------------------
def _landed_cost(model, x, x_adv, y, V):
    """Per example: the larger cost of the clean and the adversarial prediction under ``V``."""
    y = y.numpy()
    return np.maximum(V[y, predict(model, x).numpy()], V[y, predict(model, x_adv).numpy()])


def test_cost_pgd_on_a_single_pair_is_targeted_pgd(attack_mlp, attack_batch):
    from csr import costs
    from csr.attacks import CostPGD

    x, y = attack_batch
    s = y == 3
    a = CostPGD(attack_mlp, eps=0.1, steps=10, seed=0, cost=costs.single_pair(10, 3, 8))(x[s], y[s])
    b = PGD(attack_mlp, eps=0.1, steps=10, seed=0)(x[s], y[s], target=8)
    assert torch.equal(a, b)  # log softmax_8 is minus the targeted cross-entropy: the same steps
    assert build_attack("cost_pgd", attack_mlp, eps=0.1, cost=costs.single_pair(10, 3, 8)).loss == "expected_cost"


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_cost_pgd_against_pairwise_reach(attack_mlp, attack_batch, eps):
    """One costly class per row: the cost-aware attack is the targeted run pairwise reach makes
    for that pair, and lands exactly the robust cost pairwise reach finds. With several costly
    classes per row it is one run against pairwise reach's nine, so it may find less — never
    more than pairwise reach's maximum — and a report keeps the larger of the two."""
    from csr.attacks import CostPGD

    x, y = attack_batch
    V = np.zeros((10, 10))
    for i in range(10):
        V[i, (i + 1) % 10] = i + 1
    pw = (pairwise_reach(PGD(attack_mlp, eps=eps, steps=20, seed=0), x, y, 10).float().numpy() * V[y.numpy()]).max(1)
    ca = _landed_cost(attack_mlp, x, CostPGD(attack_mlp, eps=eps, steps=20, seed=0, cost=V)(x, y), y, V)
    np.testing.assert_array_equal(ca, pw)
    rng = np.random.default_rng(0)
    W = np.zeros((10, 10))
    for i in range(10):
        W[i, rng.choice([k for k in range(10) if k != i], 3, replace=False)] = rng.uniform(0.5, 5, 3)
    reach = pairwise_reach(PGD(attack_mlp, eps=eps, steps=20, seed=0), x, y, 10).numpy()
    pw = (reach * W[y.numpy()]).max(1)
    xa = CostPGD(attack_mlp, eps=eps, steps=20, seed=0, cost=W)(x, y)
    ca = _landed_cost(attack_mlp, x, xa, y, W)
    assert 0.8 * pw.mean() <= ca.mean() <= 1.05 * pw.mean()  # measured: 0.91-0.97 of pairwise reach's


def test_cost_pgd_bad_inputs_fail_clearly(attack_mlp, attack_batch):
    from csr.attacks import CostPGD

    x, y = attack_batch
    with pytest.raises(ValueError, match="CostPGD needs cost="):
        CostPGD(attack_mlp, eps=0.1)
    with pytest.raises(ValueError, match="is untargeted"):
        CostPGD(attack_mlp, eps=0.1, cost=np.ones((10, 10)) - np.eye(10))(x, y, target=1)
    with pytest.raises(ValueError, match="3×3 but the model has 10 classes"):
        CostPGD(attack_mlp, eps=0.1, cost=[[0, 1, 0], [0, 0, 0], [0, 0, 0]])(x, y)
    assert repr(CostPGD(attack_mlp, eps=0.1, steps=4, cost=[[0, 1], [1, 0]])) == (
        "CostPGD(eps=0.1, alpha=0.0625, steps=4, norm='linf', random_start=True, restarts=1, cost=<2 sensitive pairs>)")
