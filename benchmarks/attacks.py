"""Attack-engine throughput against peers measured in the same run (ratios, medians).

* our PGD vs torchattacks' PGD: same model, batch, ε, step size, steps, no random start
  (identical outputs, so only speed differs);
* our PGD vs the raw cost of ``steps`` forward+backward passes of the model (the floor);
* ``pairwise_reach`` vs m−1 targeted PGD runs done by hand.

Usage: ``python benchmarks/attacks.py [--device auto] [--reps 7] [--batch 256]``.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from csr.attacks import PGD, pairwise_reach
from csr.data import load_dataset
from csr.models import build_model
from csr.utils import median_time, resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    device = resolve_device(args.device)
    splits = load_dataset("mnist5k")
    x, y = (t[: args.batch].to(device) for t in splits.test.tensors)
    torch.manual_seed(0)
    model = build_model("mnist_small", input_shape=splits.input_shape, num_classes=10,
                        mean=splits.mean, std=splits.std).to(device).eval()
    eps, steps = 0.1, args.steps
    alpha = 2.5 * eps / steps

    ours = PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)

    def raw_passes():
        xa = x.clone()
        for _ in range(steps):
            xa.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
            xa = (xa.detach() + alpha * g.sign()).clamp(0, 1)

    rows = []
    t_ours = median_time(lambda: ours(x, y), args.reps, device)
    t_raw = median_time(raw_passes, args.reps, device)
    rows.append(("our PGD", t_ours, "raw fwd+bwd loop", t_raw))
    try:
        import torchattacks

        theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
        t_theirs = median_time(lambda: theirs(x, y), args.reps, device)
        same = torch.allclose(ours(x, y), theirs(x, y), atol=1e-6)
        rows.append(("our PGD", t_ours, "torchattacks PGD", t_theirs))
    except ImportError:
        same = None
        print("torchattacks not installed (pip install --no-deps torchattacks==3.5.1): skipping that peer")

    n_pair = min(64, args.batch)
    xp, yp = x[:n_pair], y[:n_pair]

    def by_hand():
        for j in range(10):
            keep = yp != j
            ours(xp[keep], yp[keep], target=torch.full_like(yp[keep], j))

    t_reach = median_time(lambda: pairwise_reach(ours, xp, yp, 10), max(3, args.reps // 2), device)
    t_hand = median_time(by_hand, max(3, args.reps // 2), device)
    rows.append(("pairwise_reach", t_reach, "m-1 targeted PGD by hand", t_hand))

    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} steps={steps} reps={args.reps}")
    print(f"{'ours':<16s} {'median s':>9s}   {'peer':<26s} {'median s':>9s}  {'speed ratio':>11s}")
    for a, ta, b, tb in rows:
        print(f"{a:<16s} {ta:9.4f}   {b:<26s} {tb:9.4f}  {tb / ta:10.2f}x")
    if same is not None:
        print(f"identical adversarial examples (atol 1e-6): {same}")


if __name__ == "__main__":
    main()
