"""Tests for csr.certify.convex against oracles.

* ``wk`` against the reference implementation ``convex_adversarial`` 0.4.4 (Wong & Kolter's own
  code; ``bounded_input=True`` for the clipped ℓ∞ box, ``norm_type="l2"`` for ℓ2), on random and
  briefly trained MLPs and conv nets (mnist_small, a 3-conv net that exercises the generic patch
  path, a conv-conv net, Normalize folded into the first layer for the reference).
* soundness on tiny nets: bound <= LP optimum of the triangle relaxation with the method's own
  intermediate bounds (scipy HiGHS) <= exact MILP minimum <= smallest margin found by PGD.
* "certified ⇒ no attack reaches that class" over > 10,000 certified (net, x, target) pairs.
* independent dense re-implementations of IBP and CROWN-IBP, exactness at eps = 0.
* cost-sensitive specifications (values and cost), bad input, gradients.
"""
from __future__ import annotations

import copy
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from torch import nn

from csr import costs
from csr.attacks import PGD
from csr.certify import (
    bounds,
    certify,
    count_spec_columns,
    intermediate_bounds,
    last_bound_stats,
    spec_mask,
)
from csr.models import Normalize, build_model

DT = torch.float64


# ============================================================================================
# helpers
# ============================================================================================
def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _ref_bounds(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """J from convex_adversarial's DualNetwork: dual(c) with c = e_y - e_j lower-bounds c·f."""
    import convex_adversarial as ca  # the reference; installed by the Makefile from requirements-test.txt
    m = net[-1].out_features
    kw = dict(norm_type="l1", bounded_input=True) if norm == "linf" else dict(norm_type="l2")
    with torch.no_grad():
        dual = ca.DualNetwork(net, x, eps, **kw)
        eye = torch.eye(m, dtype=x.dtype)
        return dual(eye[y].unsqueeze(1) - eye.unsqueeze(0))


def _fold(model: nn.Sequential, in_shape: tuple[int, ...]) -> nn.Sequential:
    """Reference-compatible copy of ``model``: a leading Normalize (z ↦ z·s + t elementwise) folded
    into the first affine layer (exact for Linear and for padding-0 convolutions)."""
    layers = list(model)
    if not isinstance(layers[0], Normalize):
        return nn.Sequential(*layers)
    norm, rest = layers[0], [copy.deepcopy(l) for l in layers[1:]]
    with torch.no_grad():
        t = norm(torch.zeros(1, *in_shape, dtype=DT))[0]
        s = norm(torch.ones(1, *in_shape, dtype=DT))[0] - t
        k = next(i for i, l in enumerate(rest) if isinstance(l, (nn.Linear, nn.Conv2d)))
        first = rest[k]
        if isinstance(first, nn.Conv2d):
            assert tuple(first.padding) == (0, 0), "folding is exact only without padding"
            s_c, t_c = s.flatten(1)[:, 0], t.flatten(1)[:, 0]
            first.bias += (first.weight * t_c.view(1, -1, 1, 1)).sum((1, 2, 3))
            first.weight *= s_c.view(1, -1, 1, 1)
        else:
            first.bias += first.weight @ t.flatten()
            first.weight *= s.flatten().view(1, -1)
    return nn.Sequential(*rest)


def _briefly_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 3e-3) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def _blobs(n: int, shape: tuple[int, ...], m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class prototypes plus noise, clipped to [0, 1] (a stand-in for images)."""
    g = _gen(seed)
    protos = torch.rand(m, *shape, generator=g, dtype=DT)
    y = torch.arange(n) % m
    x = (protos[y] + 0.25 * torch.randn(n, *shape, generator=g, dtype=DT)).clamp(0, 1)
    return x, y


def _normalize(c: int, seed: int) -> Normalize:
    g = _gen(seed)
    mean, std = 0.3 + 0.4 * torch.rand(c, generator=g), 0.2 + 0.3 * torch.rand(c, generator=g)
    return Normalize(mean.tolist(), std.tolist())


# ============================================================================================
# 1. agreement with convex_adversarial 0.4.4
# ============================================================================================
@functools.lru_cache(maxsize=1)
def _nets_for_reference():
    torch.manual_seed(0)
    nets = {}
    # MLP with a non-trivial Normalize (folded for the reference)
    nets["mlp_norm_random"] = nn.Sequential(
        _normalize(2, 1), nn.Flatten(), nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 5)
    ).to(DT)
    x, y = _blobs(60, (2, 4, 4), 5, 2)
    nets["mlp_norm_trained"] = _briefly_train(
        nn.Sequential(_normalize(2, 3), nn.Flatten(), nn.Linear(32, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(),
                      nn.Linear(16, 5)).to(DT), x, y, 150)
    # 3 convolutions (generic patch path), odd sizes, stride 1 and 2
    nets["conv3_random"] = nn.Sequential(
        nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, 2, 1), nn.ReLU(), nn.Conv2d(6, 5, 3, 1, 1),
        nn.ReLU(), nn.Flatten(), nn.Linear(5 * 5 * 5, 12), nn.ReLU(), nn.Linear(12, 4)
    ).to(DT)
    # conv directly after conv (no ReLU in between) and Normalize before a padding-0 conv
    nets["convconv_norm"] = nn.Sequential(
        _normalize(2, 4), nn.Conv2d(2, 3, 3, 1, 0), nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 2, 1, 0),
        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 4)
    ).to(DT)
    return nets


@pytest.mark.parametrize("name", ["mlp_norm_random", "mlp_norm_trained", "conv3_random", "convconv_norm"])
@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("linf", 0.01), ("l2", 0.6)])
def test_wk_matches_convex_adversarial_small_nets(name, norm, eps):
    net = _nets_for_reference()[name]
    shape = (2, 9, 9) if name == "conv3_random" else (2, 7, 7) if name == "convconv_norm" else (2, 4, 4)
    m = net[-1].out_features
    x, _ = _blobs(6, shape, m, 11)
    y = torch.arange(6) % m
    ours = bounds(net, x, y, eps, norm=norm)
    ref = _ref_bounds(_fold(net, shape), x, y, eps, norm)
    assert ours.shape == ref.shape == (6, m)
    np.testing.assert_allclose(ours.detach().numpy(), ref.numpy(), atol=1e-5, rtol=0)
    # the comparison is not vacuous: some unstable ReLUs and negative bounds
    lo, hi = intermediate_bounds(net, x, eps, norm=norm)[0]
    assert bool(((lo < 0) & (hi > 0)).any())


@pytest.fixture(scope="module")
def mnist_small_nets():
    torch.manual_seed(1)
    rand = build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10).to(DT)
    x, y = _blobs(40, (1, 28, 28), 10, 5)
    trained = _briefly_train(build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10).to(DT), x, y, 25)
    return {"random": rand, "trained": trained}


@pytest.mark.parametrize("which,norm,eps", [("random", "linf", 0.1), ("trained", "linf", 0.03), ("trained", "l2", 0.5)])
def test_wk_matches_convex_adversarial_mnist_small(mnist_small_nets, which, norm, eps):
    model = mnist_small_nets[which]  # identity Normalize: the reference gets the net without it
    assert isinstance(model[0], Normalize) and float(model[0].std[0]) == 1.0
    x, _ = _blobs(3, (1, 28, 28), 10, 7)
    y = torch.tensor([3, 0, 9])
    ours = bounds(model, x, y, eps, norm=norm)
    ref = _ref_bounds(nn.Sequential(*list(model)[1:]), x, y, eps, norm)
    np.testing.assert_allclose(ours.detach().numpy(), ref.numpy(), atol=1e-5, rtol=0)
    assert float(ours.detach().min()) < 0  # non-trivial (crossing units are present at these radii)


def test_normalize_folding_is_consistent():
    """Our own bounds for a Normalize+MLP equal those of the folded net (and ibp/crown too)."""
    net = _nets_for_reference()["mlp_norm_random"]
    folded = _fold(net, (2, 4, 4))
    x, _ = _blobs(5, (2, 4, 4), 5, 3)
    y = torch.arange(5)
    for method in ("wk", "crown_ibp"):
        a, b = bounds(net, x, y, 0.05, method=method), bounds(folded, x, y, 0.05, method=method)
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


# ============================================================================================
# independent dense oracles for tiny nets
# ============================================================================================
def _dense_blocks(model: nn.Sequential, in_dim_shape: tuple[int, ...]):
    """Affine blocks between ReLUs as dense (M, b) in float64, by evaluating each block on a basis."""
    blocks, cur = [], []
    for layer in model:
        if isinstance(layer, nn.ReLU):
            blocks.append(cur)
            cur = []
        else:
            cur.append(layer)
    blocks.append(cur)
    out, shape = [], in_dim_shape
    with torch.no_grad():
        for blk in blocks:
            f = nn.Sequential(*blk)
            n = int(np.prod(shape))
            basis = torch.cat([torch.zeros(1, n, dtype=DT), torch.eye(n, dtype=DT)]).view(-1, *shape)
            vals = f(basis).flatten(1)
            b = vals[0]
            out.append(((vals[1:] - b).T.numpy(), b.numpy()))
            shape = tuple(f(basis[:1]).shape[1:])
    return out


def _lp_min(blocks, box_lo, box_hi, pre_bounds, c, integer: bool = False) -> float:
    """min c·f(x) over the triangle relaxation (integer: exact big-M MILP) with given
    pre-activation bounds; variables [x, (zhat_k, z_k) for each ReLU layer]."""
    sizes = [blocks[0][0].shape[1]] + [M.shape[0] for M, _ in blocks[:-1]]
    nvar = sizes[0] + 2 * sum(sizes[1:]) + (sum(sizes[1:]) if integer else 0)
    lb = np.full(nvar, -np.inf)
    ub = np.full(nvar, np.inf)
    lb[: sizes[0]], ub[: sizes[0]] = box_lo, box_hi
    A_eq, b_eq, A_ub, b_ub = [], [], [], []
    prev = np.arange(sizes[0])
    pos = sizes[0]
    bin_pos = sizes[0] + 2 * sum(sizes[1:])
    integrality = np.zeros(nvar)
    for k, (M, b) in enumerate(blocks[:-1]):
        n = M.shape[0]
        zh, z = np.arange(pos, pos + n), np.arange(pos + n, pos + 2 * n)
        pos += 2 * n
        for r in range(n):  # zhat = M z_prev + b
            row = np.zeros(nvar)
            row[zh[r]] = 1
            row[prev] -= M[r]
            A_eq.append(row)
            b_eq.append(b[r])
        l, u = pre_bounds[k]
        for r in range(n):
            if u[r] <= 0:
                lb[z[r]] = ub[z[r]] = 0.0
            elif l[r] >= 0:
                row = np.zeros(nvar)
                row[z[r]], row[zh[r]] = 1, -1
                A_eq.append(row)
                b_eq.append(0.0)
            else:
                lb[z[r]] = 0.0
                row = np.zeros(nvar)
                row[zh[r]], row[z[r]] = 1, -1  # zhat - z <= 0
                A_ub.append(row)
                b_ub.append(0.0)
                if integer:
                    a = bin_pos + sum(sizes[1 : k + 1]) + r
                    lb[a], ub[a] = 0, 1
                    integrality[a] = 1
                    row = np.zeros(nvar)  # z - zhat - l*a <= -l
                    row[z[r]], row[zh[r]], row[a] = 1, -1, -l[r]
                    A_ub.append(row)
                    b_ub.append(-l[r])
                    row = np.zeros(nvar)  # z - u*a <= 0
                    row[z[r]], row[a] = 1, -u[r]
                    A_ub.append(row)
                    b_ub.append(0.0)
                else:
                    d = u[r] / (u[r] - l[r])  # z <= d (zhat - l)
                    row = np.zeros(nvar)
                    row[z[r]], row[zh[r]] = 1, -d
                    A_ub.append(row)
                    b_ub.append(-d * l[r])
        prev = z
    M, b = blocks[-1]
    obj = np.zeros(nvar)
    obj[prev] = c @ M
    const = float(c @ b)
    if integer:
        cons = [LinearConstraint(np.array(A_eq), b_eq, b_eq)]
        if A_ub:
            cons.append(LinearConstraint(np.array(A_ub), -np.inf, b_ub))
        res = milp(obj, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
                   options={"mip_rel_gap": 1e-9})
    else:
        res = linprog(obj, A_ub=np.array(A_ub) if A_ub else None, b_ub=b_ub if A_ub else None,
                      A_eq=np.array(A_eq), b_eq=b_eq, bounds=list(zip(lb, ub)), method="highs")
    assert res.status == 0, res.message
    return float(res.fun) + const


def _margin_pgd(model, x, y, j, lo, hi, steps=80, restarts=4, seed=0) -> torch.Tensor:
    """Smallest f_y - f_j found by sign-gradient descent in the box [lo, hi] (plus the clean x)."""
    g = _gen(seed)
    with torch.no_grad():
        out = model(x)
        best = out.gather(1, y[:, None])[:, 0] - out[:, j]
    for r in range(restarts):
        xa = x.clone() if r == 0 else lo + (hi - lo) * torch.rand(x.shape, generator=g, dtype=x.dtype)
        alpha = (hi - lo).max() / 10
        for t in range(steps):
            xa.requires_grad_(True)
            out = model(xa)
            marg = out.gather(1, y[:, None])[:, 0] - out[:, j]
            (grad,) = torch.autograd.grad(marg.sum(), xa)
            with torch.no_grad():
                best = torch.minimum(best, marg.detach())
                step = alpha * (1 - t / steps) + 1e-4
                xa = torch.max(torch.min(xa - step * grad.sign(), hi), lo).detach()
        with torch.no_grad():
            out = model(xa)
            best = torch.minimum(best, out.gather(1, y[:, None])[:, 0] - out[:, j])
    return best


def _tiny_nets():
    torch.manual_seed(3)
    nets = [
        (nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3)), (3,)),
        (nn.Sequential(_normalize(4, 2), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(),
                       nn.Linear(5, 4)), (4,)),
        (nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)), (2,)),
        (nn.Sequential(_normalize(1, 5), nn.Conv2d(1, 2, 3, 1, 1), nn.ReLU(), nn.Conv2d(2, 2, 2, 2, 0), nn.ReLU(),
                       nn.Flatten(), nn.Linear(2 * 2 * 2, 3)), (1, 4, 4)),
    ]
    for net, _ in nets:
        for p in net.parameters():
            with torch.no_grad():
                p.mul_(1.5)
    return [(net.to(DT), s) for net, s in nets]


@pytest.fixture(scope="module")
def tiny_soundness_data():
    rows = []
    for k, (net, shape) in enumerate(_tiny_nets()):
        m = net[-1].out_features
        g = _gen(100 + k)
        x = torch.rand(4, *shape, generator=g, dtype=DT)
        with torch.no_grad():
            y = net(x).argmax(1)
        rows.append((net, shape, x, y, m))
    return rows


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_soundness_lp_milp_pgd(tiny_soundness_data, eps):
    """bound <= LP(same relaxation, same intermediate bounds) <= MILP (exact) <= PGD, per pair."""
    checked = 0
    for net, shape, x, y, m in tiny_soundness_data:
        J = {meth: bounds(net, x, y, eps, method=meth).detach() for meth in ("wk", "ibp", "crown_ibp")}
        with torch.no_grad():
            pre = {meth: intermediate_bounds(net, x, eps, method=meth) for meth in ("wk", "ibp")}
        blocks = _dense_blocks(net, shape)
        lo, hi = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
        for j in range(m):
            pgd = _margin_pgd(net, x, y, j, lo, hi)
            for n in range(x.shape[0]):
                if j == int(y[n]):
                    continue
                c = np.zeros(m)
                c[int(y[n])], c[j] = 1, -1
                pb = {k: [(l[n].flatten().numpy(), u[n].flatten().numpy()) for l, u in v] for k, v in pre.items()}
                box = (lo[n].flatten().numpy(), hi[n].flatten().numpy())
                lp_wk = _lp_min(blocks, *box, pb["wk"], c)
                lp_ibp = _lp_min(blocks, *box, pb["ibp"], c)
                exact = _lp_min(blocks, *box, pb["wk"], c, integer=True)
                tol = 1e-6
                assert float(J["wk"][n, j]) <= lp_wk + tol
                assert float(J["ibp"][n, j]) <= lp_ibp + tol
                assert float(J["crown_ibp"][n, j]) <= lp_ibp + tol
                assert lp_wk <= exact + tol and lp_ibp <= exact + tol
                assert exact <= float(pgd[n]) + tol  # PGD cannot beat the true minimum
                for meth in J:
                    assert float(J[meth][n, j]) <= exact + tol
                checked += 1
    assert checked >= 30


def test_l2_bounds_below_l2_pgd(tiny_soundness_data):
    """ℓ2: every method's bound <= the smallest margin PGD finds in the ball ∩ [0, 1] (the bound
    holds on the whole ball), and certified pairs are never reached."""
    eps, steps, restarts = 0.4, 80, 4
    g = _gen(9)
    certified = 0
    for net, shape, x, y, m in tiny_soundness_data:
        J = {k: bounds(net, x, y, eps, norm="l2", method=k).detach() for k in ("wk", "ibp", "crown_ibp")}
        for j in range(m):
            best = torch.full((x.shape[0],), float("inf"), dtype=DT)
            for r in range(restarts):
                xa = x.clone()
                if r:
                    delta = torch.randn(x.shape, generator=g, dtype=DT)
                    xa = (x + eps * delta / delta.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))).clamp(0, 1)
                for t in range(steps + 1):
                    xa.requires_grad_(True)
                    out = net(xa)
                    marg = out.gather(1, y[:, None])[:, 0] - out[:, j]
                    best = torch.minimum(best, marg.detach())
                    if t == steps:
                        break
                    (grad,) = torch.autograd.grad(marg.sum(), xa)
                    with torch.no_grad():
                        gn = grad.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *[1] * (x.dim() - 1))
                        xa = xa - 2.5 * eps / steps * (1.5 - t / steps) * grad / gn
                        d = xa - x
                        dn = d.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
                        xa = (x + d * torch.clamp(eps / dn.clamp(min=1e-12), max=1.0)).clamp(0, 1)
                        assert bool(((xa - x).flatten(1).norm(dim=1) <= eps + 1e-9).all())
            for k, Jk in J.items():
                keep = y != j
                assert bool((Jk[keep, j] <= best[keep] + 1e-9).all()), k
            certified += int(((J["wk"][:, j] > 0) & (y != j)).sum())
    assert certified >= 5


def test_certified_pairs_resist_library_pgd(tiny_soundness_data):
    """csr.attacks.PGD (targeted, CW loss) never reaches a class that wk certified away."""
    certified = reached_uncertified = 0
    for net, shape, x, y, m in tiny_soundness_data:
        for eps in (0.05, 0.3):
            J = bounds(net, x, y, eps)
            atk = PGD(net, eps, steps=60, restarts=4, loss="cw", seed=0)
            for j in range(m):
                keep = y != j
                xa = atk(x[keep], y[keep], target=j)
                with torch.no_grad():
                    hit = net(xa).argmax(1) == j
                cert = J[keep, j] > 0
                assert not bool((hit & cert).any())
                certified += int(cert.sum())
                reached_uncertified += int((hit & ~cert).sum())
    assert certified >= 10 and reached_uncertified >= 1


# ============================================================================================
# 3. certified ⇒ not reached, at scale
# ============================================================================================
def test_certified_implies_not_reached_10k(record_property):
    """Many tiny random nets, vectorised targeted margin-PGD at every pair: zero violations over
    >= 10,000 certified pairs (and every bound <= the smallest margin found)."""
    G, P, d, h, m = 160, 40, 4, 8, 4
    g = _gen(7)
    W1 = torch.randn(G, h, d, generator=g, dtype=DT) * 1.2
    b1 = torch.randn(G, h, generator=g, dtype=DT) * 0.3
    W2 = torch.randn(G, h, h, generator=g, dtype=DT) * 0.6
    b2 = torch.randn(G, h, generator=g, dtype=DT) * 0.3
    W3 = torch.randn(G, m, h, generator=g, dtype=DT) * 0.6
    b3 = torch.randn(G, m, generator=g, dtype=DT) * 0.3
    mean = torch.rand(G, d, generator=g, dtype=DT) * 0.5 + 0.25
    std = torch.rand(G, d, generator=g, dtype=DT) * 0.3 + 0.2
    eps = torch.exp(torch.empty(G, dtype=DT).uniform_(math.log(0.003), math.log(0.3), generator=g))
    X = torch.rand(G, P, d, generator=g, dtype=DT)

    def fwd(xx):  # (G, R, d) → (G, R, m)
        z = (xx - mean[:, None]) / std[:, None]
        z = torch.relu(z @ W1.transpose(1, 2) + b1[:, None])
        z = torch.relu(z @ W2.transpose(1, 2) + b2[:, None])
        return z @ W3.transpose(1, 2) + b3[:, None]

    with torch.no_grad():
        Y = fwd(X).argmax(-1)  # (G, P)
    methods = ("wk", "crown_ibp", "ibp")
    J = {k: torch.empty(G, P, m, dtype=DT) for k in methods}
    for gi in range(G):
        net = nn.Sequential(Normalize(mean[gi].tolist(), std[gi].tolist()), nn.Linear(d, h), nn.ReLU(),
                            nn.Linear(h, h), nn.ReLU(), nn.Linear(h, m)).to(DT)
        with torch.no_grad():
            net[0].mean.copy_(mean[gi])
            net[0].std.copy_(std[gi])
            for lin, w, b in ((net[1], W1, b1), (net[3], W2, b2), (net[5], W3, b3)):
                lin.weight.copy_(w[gi])
                lin.bias.copy_(b[gi])
            for k in methods:
                J[k][gi] = bounds(net, X[gi], Y[gi], float(eps[gi]), method=k)
    # targeted margin PGD for every (net, point, target), in the clipped box
    lo = (X - eps[:, None, None]).clamp(min=0)
    hi = (X + eps[:, None, None]).clamp(max=1)
    T = torch.arange(m).view(1, 1, m).expand(G, P, m)
    rep = lambda t: t.unsqueeze(2).expand(G, P, m, *t.shape[2:]).reshape(G, P * m, *t.shape[2:])  # noqa: E731
    Xr, lor, hir, Yr, Tr = rep(X), rep(lo), rep(hi), rep(Y), T.reshape(G, P * m)
    best = torch.full((G, P * m), float("inf"), dtype=DT)
    reached = torch.zeros(G, P * m, dtype=torch.bool)
    steps, restarts = 80, 4
    for r in range(restarts):
        xa = Xr.clone() if r == 0 else lor + (hir - lor) * torch.rand(Xr.shape, generator=g, dtype=DT)
        for t in range(steps + 1):
            xa.requires_grad_(True)
            out = fwd(xa)
            marg = out.gather(-1, Yr[..., None])[..., 0] - out.gather(-1, Tr[..., None])[..., 0]
            with torch.no_grad():
                best = torch.minimum(best, marg)
                reached |= out.argmax(-1) == Tr
            if t == steps:
                break
            (grad,) = torch.autograd.grad(marg.sum(), xa)
            with torch.no_grad():
                step = (2.5 * eps / steps)[:, None, None] * (1.5 - t / steps)
                xa = torch.max(torch.min(xa - step * grad.sign(), hir), lor)
    best, reached = best.view(G, P, m), reached.view(G, P, m)
    off = T != Y.unsqueeze(-1)
    for k in methods:
        assert bool((J[k][off] <= best[off] + 1e-9).all()), f"{k}: a bound exceeds a margin PGD found"
    cert = (J["wk"] > 0) & off
    n_cert, n_pairs = int(cert.sum()), int(off.sum())
    violations = int((cert & reached).sum())
    n_reached = int((reached & off).sum())
    print(f"\ncertified pairs checked: {n_cert} of {n_pairs}; violations: {violations}; "
          f"uncertified pairs PGD reached: {n_reached}")
    record_property("certified_pairs_checked", n_cert)
    record_property("violations", violations)
    assert violations == 0
    assert n_cert >= 10_000
    assert n_reached >= 100  # the attack is not vacuous
    for k in ("ibp", "crown_ibp"):  # every method's certificates are sound too
        assert int(((J[k] > 0) & off & reached).sum()) == 0


# ============================================================================================
# independent re-implementations, eps = 0, wk_proj
# ============================================================================================
def _ibp_dense(blocks, lo, hi, c):
    l, u = lo, hi
    for M, b in blocks[:-1]:
        cen, rad = (l + u) / 2, (u - l) / 2
        l, u = np.maximum(M @ cen + b - np.abs(M) @ rad, 0), np.maximum(M @ cen + b + np.abs(M) @ rad, 0)
    M, b = blocks[-1]
    w = c @ M
    return float(w @ ((l + u) / 2) - np.abs(w) @ ((u - l) / 2) + c @ b)


def _crown_ibp_dense(blocks, lo, hi, c):
    pre, l, u = [], lo, hi
    for M, b in blocks[:-1]:
        cen, rad = (l + u) / 2, (u - l) / 2
        zl, zu = M @ cen + b - np.abs(M) @ rad, M @ cen + b + np.abs(M) @ rad
        pre.append((zl, zu))
        l, u = np.maximum(zl, 0), np.maximum(zu, 0)
    M, b = blocks[-1]
    lam, const = c @ M, float(c @ b)
    for (M, b), (zl, zu) in zip(reversed(blocks[:-1]), reversed(pre)):
        new = np.zeros_like(lam)
        for i in range(len(lam)):
            if zl[i] >= 0:
                new[i] = lam[i]
            elif zu[i] <= 0:
                new[i] = 0
            else:
                d = zu[i] / (zu[i] - zl[i])
                if lam[i] >= 0:
                    new[i] = lam[i] * (1.0 if zu[i] >= -zl[i] else 0.0)
                else:
                    new[i] = lam[i] * d
                    const += -lam[i] * d * zl[i]
        const += float(new @ b)
        lam = new @ M
    return const + float(np.maximum(lam, 0) @ lo + np.minimum(lam, 0) @ hi)


def test_ibp_and_crown_ibp_match_dense_reimplementation(tiny_soundness_data):
    for net, shape, x, y, m in tiny_soundness_data:
        blocks = _dense_blocks(net, shape)
        Ji, Jc = bounds(net, x, y, 0.15, method="ibp"), bounds(net, x, y, 0.15, method="crown_ibp")
        lo, hi = (x - 0.15).clamp(min=0), (x + 0.15).clamp(max=1)
        for n in range(x.shape[0]):
            for j in range(m):
                c = np.zeros(m)
                c[int(y[n])] += 1
                c[j] -= 1
                box = (lo[n].flatten().numpy(), hi[n].flatten().numpy())
                assert abs(float(Ji[n, j].detach()) - _ibp_dense(blocks, *box, c)) < 1e-9
                assert abs(float(Jc[n, j].detach()) - _crown_ibp_dense(blocks, *box, c)) < 1e-9


@pytest.mark.parametrize("method", ["wk", "ibp", "crown_ibp", "wk_proj"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_gives_clean_margins(method, norm):
    torch.manual_seed(0)
    model = build_model("mnist_small", input_shape=(1, 12, 12), num_classes=6, mean=(0.4,), std=(0.3,)).to(DT)
    x = torch.rand(4, 1, 12, 12, dtype=DT)
    y = torch.tensor([0, 5, 2, 2])
    with torch.no_grad():
        out = model(x)
    J = bounds(model, x, y, 0.0, norm=norm, method=method)
    torch.testing.assert_close(J, out.gather(1, y[:, None]) - out, atol=1e-9, rtol=0)


def test_wk_proj_exact_when_k_large_and_converges_with_k():
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(1, 10, 10), num_classes=5, hidden=(150, 120)).to(DT)
    x, _ = _blobs(8, (1, 10, 10), 5, 1)
    y = torch.arange(8) % 5
    with torch.no_grad():
        J = bounds(model, x, y, 0.03)
        # k >= every width (100 inputs, 150 / 120 units): computed exactly
        torch.testing.assert_close(bounds(model, x, y, 0.03, method="wk_proj", k=150), J, atol=1e-10, rtol=0)
        err = {}
        for k in (10, 100):  # estimated: the error shrinks as k grows (≈ 1/sqrt(k))
            err[k] = np.mean([float((bounds(model, x, y, 0.03, method="wk_proj", k=k, seed=s) - J).abs().mean())
                              for s in range(4)])
        assert 0 < err[100] < 0.6 * err[10]
        assert err[100] < 0.3 * float(J.abs().mean())
        a = bounds(model, x, y, 0.03, method="wk_proj", k=10, seed=3)
        torch.testing.assert_close(a, bounds(model, x, y, 0.03, method="wk_proj", k=10, seed=3))  # seeded


# ============================================================================================
# 4. cost-sensitive specifications
# ============================================================================================
@pytest.mark.parametrize("method", ["wk", "ibp", "crown_ibp"])
def test_spec_only_equals_all_pairs_and_costs_less(method):
    torch.manual_seed(2)
    model = build_model("mnist_small", input_shape=(1, 12, 12), num_classes=10).to(DT)
    x = torch.rand(20, 1, 12, 12, dtype=DT)
    y = torch.arange(20) % 10
    full = bounds(model, x, y, 0.02, method=method)
    stats_full = last_bound_stats()
    assert stats_full["computed_columns"] == stats_full["all_pairs_columns"] == 20 * 9
    specs = [costs.load("single_seed:0", 10), "odd", costs.load("single_pair:3,5", 10).mask,
             np.eye(10, k=1) * 2.5]
    for spec in specs:
        J = bounds(model, x, y, 0.02, method=method, spec=spec)
        st = last_bound_stats()
        mask = spec_mask(spec, 10)
        want = torch.as_tensor(mask)[y]
        torch.testing.assert_close(J[want], full[want], atol=1e-10, rtol=0)
        other = ~want
        other[torch.arange(20), y] = False
        assert bool(torch.isinf(J[other]).all()) and bool((J[torch.arange(20), y] == 0).all())
        assert st["spec_columns"] == count_spec_columns(y, spec, 10) == int(want.sum())
        assert st["computed_columns"] < stats_full["computed_columns"]
        assert st["examples"] < 20 and st["intermediate_units"] < stats_full["intermediate_units"]
    # certify with a cost matrix: the all-pairs reach restricted to Ω
    C = costs.load("odd", 10)
    r_all = certify(model, x, y, 0.02, method=method)
    r_c = certify(model, x, y, 0.02, cost=C, method=method, batch_size=7)
    want = torch.as_tensor(C.mask)[y]
    assert torch.equal(r_c, r_all & want)
    assert not bool(r_all[torch.arange(20), y].any())


def test_certify_reach_matches_bounds_and_metrics():
    from csr.metrics import cost_sensitive_robust_error

    torch.manual_seed(4)
    model = build_model("mlp", input_shape=(1, 5, 5), num_classes=4, hidden=(16,))
    x = torch.rand(30, 1, 5, 5)
    with torch.no_grad():
        y = model(x).argmax(1)
    J = bounds(model, x, y, 0.05)
    reach = certify(model, x, y, 0.05, batch_size=8)
    expected = ~(J > 0)
    expected[torch.arange(30), y] = False
    assert reach.dtype == torch.bool and torch.equal(reach, expected)
    assert reach.any() and not reach.all()
    err = cost_sensitive_robust_error(reach.numpy(), y.numpy(), costs.load("overall", 4))
    assert 0.0 <= err <= 1.0


# ============================================================================================
# 5. bad input
# ============================================================================================
def test_bad_input_raises_clear_errors():
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.rand(2, 4), torch.tensor([0, 2])
    for bad, name, idx in ((nn.Tanh(), "Tanh", 1), (nn.BatchNorm1d(6), "BatchNorm1d", 1), (nn.Dropout(), "Dropout", 1)):
        with pytest.raises(ValueError, match=rf"layer {idx} \({name}\)"):
            bounds(nn.Sequential(nn.Linear(4, 6), bad, nn.Linear(6, 3)), x, y, 0.1)
    with pytest.raises(ValueError, match=r"layer 2 \(BatchNorm2d\)"):
        certify(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3)),
                torch.rand(2, 1, 4, 4), y, 0.1)
    with pytest.raises(ValueError, match="nn.Sequential"):
        bounds(nn.Linear(4, 3), x, y, 0.1)
    for eps in (-0.1, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="eps"):
            bounds(net, x, y, eps)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2"):
        bounds(net, x, torch.tensor([0, 3]), 0.1)
    with pytest.raises(ValueError, match=r"labels must lie"):
        bounds(net, x, torch.tensor([-1, 0]), 0.1)
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        bounds(net, x, torch.tensor([0, 1, 2]), 0.1)
    with pytest.raises(ValueError, match="integer labels"):
        bounds(net, x, torch.tensor([0.0, 1.0]), 0.1)
    with pytest.raises(ValueError, match="spec is for 4 classes but the model has m = 3"):
        bounds(net, x, y, 0.1, spec=costs.load("overall", 4))
    with pytest.raises(ValueError, match=r"\(m, m\)"):
        bounds(net, x, y, 0.1, spec=np.ones((3, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        bounds(net, x, y, 0.1, spec=-np.ones((3, 3)))
    with pytest.raises(ValueError, match="num_classes = 5 but the model has 3 outputs"):
        bounds(net, x, y, 0.1, num_classes=5)
    with pytest.raises(ValueError, match=r"unknown bound method 'crown'; known bound methods: crown_ibp, ibp, wk, "
                                         r"wk_proj"):
        bounds(net, x, y, 0.1, method="crown")
    with pytest.raises(ValueError, match=r"unknown norm 'l1'; known norms: l2, linf"):
        bounds(net, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match=r"unknown option\(s\) k for bound method 'wk'"):
        bounds(net, x, y, 0.1, k=10)
    with pytest.raises(ValueError, match="k .* must be an integer"):
        bounds(net, x, y, 0.1, method="wk_proj", k=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bounds(net, x + 1.5, y, 0.1)
    with pytest.raises(ValueError, match="dtype"):
        bounds(net, x.double(), y, 0.1)
    with pytest.raises(ValueError, match="not a certificate"):
        certify(net, x, y, 0.1, method="wk_proj")
    with pytest.raises(ValueError, match="batch_size"):
        certify(net, x, y, 0.1, batch_size=0)
    with pytest.raises(ValueError, match="Flatten"):
        bounds(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(0), nn.Linear(8, 3)), torch.rand(2, 1, 4, 4), y, 0.1)
    with pytest.raises(ValueError, match="flattened"):
        bounds(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 3)), torch.rand(2, 1, 4, 4), y, 0.1)
    # nothing to compute: empty batch / no sensitive targets
    assert bounds(net, x[:0], y[:0], 0.1).shape == (0, 3)
    J = bounds(net, x, y, 0.1, spec=np.zeros((3, 3), dtype=bool))
    assert bool(torch.isinf(J[torch.tensor([0, 1]), torch.tensor([1, 0])]).all())


# ============================================================================================
# 6. gradients
# ============================================================================================
@pytest.mark.parametrize("method", ["wk", "wk_proj", "ibp", "crown_ibp"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_gradients_flow_to_parameters(method, norm):
    torch.manual_seed(5)
    model = build_model("mnist_small", input_shape=(1, 12, 12), num_classes=5, mean=(0.5,), std=(0.25,))
    x = torch.rand(6, 1, 12, 12)
    y = torch.arange(6) % 5
    kw = {"k": 8, "seed": 0} if method == "wk_proj" else {}
    J = bounds(model, x, y, 0.02 if norm == "linf" else 0.2, norm=norm, method=method, spec="odd", **kw)
    finite = torch.isfinite(J)
    (-J[finite]).clamp(max=50).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("method", ["wk", "crown_ibp"])
def test_gradcheck_tiny(method):
    """Analytic gradients of the bound w.r.t. the weights equal finite differences."""
    torch.manual_seed(6)
    x = torch.rand(4, 3, dtype=DT)
    y = torch.tensor([0, 1, 2, 1])
    sizes = [(3, 5), (5, 4), (4, 3)]

    def J_of(*params):
        layers = []
        for k, (i, o) in enumerate(sizes):
            lin = nn.Linear(i, o).to(DT)
            del lin.weight, lin.bias
            lin.weight, lin.bias = params[2 * k], params[2 * k + 1]
            layers += [lin, nn.ReLU()]
        return bounds(nn.Sequential(*layers[:-1]), x, y, 0.1, method=method)

    params = []
    for i, o in sizes:
        params += [torch.randn(o, i, dtype=DT) / math.sqrt(i), 0.1 * torch.randn(o, dtype=DT)]
    params = tuple(p.requires_grad_(True) for p in params)
    J = J_of(*params)
    assert float(J.detach().min()) < 0  # unstable units present
    assert torch.autograd.gradcheck(J_of, params, eps=1e-6, atol=1e-6)


# ============================================================================================
# 7. one cost-matrix semantics: the specification is the CostMatrix's
# ============================================================================================
def test_spec_identical_for_every_cost_form():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.rand(9, 4), torch.arange(9) % 3
    C = costs.load("single_seed:1", 3)
    forms = [C, C.values.tolist(), "single_seed:1", {1: [0, 2]}, C.mask, torch.tensor(C.values)]
    J0 = bounds(net, x, y, 0.05, spec=C)
    r0 = certify(net, x, y, 0.05, cost=C, batch_size=4)
    for spec in forms:
        assert torch.equal(bounds(net, x, y, 0.05, spec=spec), J0), spec
        assert torch.equal(certify(net, x, y, 0.05, cost=spec, batch_size=4), r0), spec
        np.testing.assert_array_equal(spec_mask(spec, 3), C.spec_mask())
        assert count_spec_columns(y, spec, 3) == C.spec_columns(y) == 3 * 2
    # what is computed is exactly the CostMatrix's specification
    rows = C.spec_mask(y)
    assert torch.equal(torch.isfinite(J0), rows | (torch.arange(3)[None] == y[:, None]))
    bounds(net, x, y, 0.05, spec=C)
    assert last_bound_stats()["examples"] == int(C.candidates(y).sum()) == 3
    # None = every pair = the overall matrix
    np.testing.assert_array_equal(spec_mask(None, 3), costs.overall(3).spec_mask())
    np.testing.assert_array_equal(spec_mask(None, 3), C.spec_mask(all_pairs=True))
    assert torch.equal(bounds(net, x, y, 0.05), bounds(net, x, y, 0.05, spec="overall"))
    assert count_spec_columns(torch.as_tensor(y), None, 3) == C.spec_columns(y, all_pairs=True)


def test_spec_bad_input_one_clear_error():
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.rand(2, 4), torch.tensor([0, 2])
    for spec, match in (
        ([[0, 1], [1, 0]], "spec is for 2 classes but the model has m = 3"),
        (np.ones((3, 3)), "diagonal must be zero"),
        ([[0, np.nan, 0], [0, 0, 0], [0, 0, 0]], "non-finite"),
        ({0: []}, "empty Ω for sensitive seed 0"),
        ("nope", "unknown cost matrix 'nope'"),
        (3.5, "must be a builder name"),
    ):
        with pytest.raises(ValueError, match=match):
            bounds(net, x, y, 0.1, spec=spec)
        with pytest.raises(ValueError, match=match):
            spec_mask(spec, 3)
    # an all-zero specification bounds nothing
    assert not spec_mask(np.zeros((3, 3)), 3).any() and count_spec_columns(y, np.zeros((3, 3)), 3) == 0
    assert bool(torch.isinf(bounds(net, x, y, 0.1, spec=[[0] * 3] * 3)[:, 1]).all())
