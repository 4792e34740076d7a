"""Attack-engine throughput against peers measured in the same run (ratios, medians).

* our PGD vs torchattacks' PGD: same model, batch, ε, step size, steps, no random start
  (identical outputs, so only speed differs);
* our PGD vs the raw cost of ``steps`` forward+backward passes of the model (the floor);
* ``pairwise_reach`` vs m−1 targeted PGD runs done by hand (one call per class, as
  ``pairwise_reach`` itself did before it stacked the (example, target) pairs into chunks);
  the two reach matrices are compared too.

Each row times its two functions interleaved (ours, peer, peer, ours, ...), so that both see the
same load on a shared machine; the ratio is the median of the per-repetition ratios (timing one
function's repetitions after the other's let a burst of foreign load swing the ratio by 4×).

Usage: ``python benchmarks/attacks.py [--device auto] [--reps 7] [--batch 256] [--chunk 4096]``.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from csr.attacks import PGD, pairwise_reach, predict
from csr.data import load_dataset
from csr.models import build_model
from csr.utils import paired_times, resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=4096, help="pairwise_reach chunk_size")
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
    rows.append(("our PGD", "raw fwd+bwd loop", *paired_times(lambda: ours(x, y), raw_passes, args.reps, device)))
    try:
        import torchattacks

        theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
        timing = paired_times(lambda: ours(x, y), lambda: theirs(x, y), args.reps, device)
        same = torch.allclose(ours(x, y), theirs(x, y), atol=1e-6)
        rows.append(("our PGD", "torchattacks PGD", *timing))
    except ImportError:
        same = None
        print("torchattacks not installed (pip install --no-deps torchattacks==3.5.1): skipping that peer")

    n_pair = min(64, args.batch)
    xp, yp = x[:n_pair], y[:n_pair]

    def by_hand():
        for j in range(10):
            keep = yp != j
            ours(xp[keep], yp[keep], target=torch.full_like(yp[keep], j))

    def reach_by_hand():
        rows_ = torch.arange(n_pair, device=device)
        reach = torch.zeros(n_pair, 10, dtype=torch.bool, device=device)
        reach[rows_, predict(model, xp)] = True
        for j in range(10):
            keep = yp != j
            reach[rows_[keep], predict(model, ours(xp[keep], yp[keep], target=j))] = True
        reach[rows_, yp] = False
        return reach

    reach_fn = lambda: pairwise_reach(ours, xp, yp, 10, chunk_size=args.chunk)  # noqa: E731
    timing = paired_times(reach_fn, by_hand, max(3, args.reps // 2), device)
    rows.append(("pairwise_reach", "m-1 targeted PGD by hand", *timing))
    same_reach = torch.equal(reach_fn(), reach_by_hand())

    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} steps={steps} reps={args.reps} "
          f"chunk={args.chunk}")
    print(f"{'ours':<16s} {'median s':>9s}   {'peer':<26s} {'median s':>9s}  {'speed ratio':>11s}")
    for a, b, ta, tb, ratio in rows:
        print(f"{a:<16s} {ta:9.4f}   {b:<26s} {tb:9.4f}  {ratio:10.2f}x")
    if same is not None:
        print(f"identical adversarial examples (atol 1e-6): {same}")
    print(f"pairwise_reach identical to the by-hand reach matrix: {same_reach}")


if __name__ == "__main__":
    main()
