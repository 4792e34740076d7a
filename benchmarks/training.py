"""Training cost of every registered method, as a ratio to standard training (same run).

* Each method's step (loss + backward + optimizer step) on the same model, batches and ε,
  timed over ``--batches`` batches, median of ``--reps`` (one pass for methods slower than ``--slow``
  seconds a pass: the certified bounds); the table prints seconds per epoch of
  mnist5k's 3,000 training digits and the ratio to ``standard`` measured in the same run.
* Our PGD against torchattacks' PGD at the training batch size and settings (no random start,
  so both produce the same examples): throughput ratio.

Usage: ``python benchmarks/training.py [--device auto] [--reps 3] [--batches 5] [--methods a,b]``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from csr import costs
from csr.attacks import PGD
from csr.data import load_dataset
from csr.models import build_model
from csr.train import METHODS, MethodContext
from csr.utils import median_time, resolve_device

# what each method needs besides the defaults (a cost matrix, a σ that matches the data scale)
COST = "protect:3"
EPS = 0.1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--model", default="mnist_small")
    ap.add_argument("--methods", default="", help="comma-separated subset (default: every registered method)")
    ap.add_argument("--slow", type=float, default=20.0, help="seconds per pass above which one pass is the measurement")
    args = ap.parse_args()
    device = resolve_device(args.device)
    splits = load_dataset("mnist5k")
    x_all, y_all = splits.train.tensors
    n_epoch = len(y_all)
    bs = args.batch_size
    batches = [(x_all[i * bs:(i + 1) * bs].to(device), y_all[i * bs:(i + 1) * bs].to(device)) for i in range(args.batches)]
    C = costs.load(COST, splits.num_classes)
    names = [m for m in args.methods.split(",") if m] or METHODS.names()

    def model_for() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(args.model, input_shape=splits.input_shape, num_classes=10, mean=splits.mean,
                           std=splits.std).to(device)

    def step_fn(name: str):
        spec = METHODS.get(name)
        model = model_for()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        ctx = MethodContext(num_classes=10, eps=EPS if spec.adversarial else 0.0, cost=C,
                            kwargs=spec.resolve_kwargs({}))

        def run() -> None:
            model.train()
            for xb, yb in batches:
                loss, _ = spec.fn(model, xb, yb, ctx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return run

    print(f"device={device}, threads={torch.get_num_threads()}, model={args.model}, batch={bs}, eps={EPS}, "
          f"{args.batches} batches x {args.reps} reps (median); epoch = {n_epoch} digits")
    per_batch = {}
    for name in ["standard", *[m for m in names if m != "standard"]]:
        run = step_fn(name)
        t0 = time.perf_counter()
        run()  # warm-up; methods slower than --slow seconds a pass are timed on this one pass
        first = time.perf_counter() - t0
        per_batch[name] = (first if first > args.slow else median_time(run, args.reps, device)) / args.batches
        print(f"  measured {name}", file=sys.stderr, flush=True)
    epoch = math.ceil(n_epoch / bs)
    print(f"\n{'method':<16}{'inner steps':>12}{'s / epoch':>12}{'x standard':>12}")
    for name, t in per_batch.items():
        steps = METHODS.get(name).defaults.get("steps", METHODS.get(name).defaults.get("k", ""))
        print(f"{name:<16}{str(steps):>12}{t * epoch:>12.2f}{t / per_batch['standard']:>12.2f}")

    # our PGD vs torchattacks' PGD at the training batch size (identical settings and outputs)
    try:
        import torchattacks
    except ImportError:
        print("\ntorchattacks not installed (pip install --no-deps torchattacks==3.5.1): PGD comparison skipped")
        return
    model = model_for().eval()
    xb, yb = batches[0]
    steps, alpha = 10, 2.5 * EPS / 10
    ours = PGD(model, eps=EPS, alpha=alpha, steps=steps, random_start=False)
    theirs = torchattacks.PGD(model, eps=EPS, alpha=alpha, steps=steps, random_start=False)
    same = torch.allclose(ours(xb, yb), theirs(xb, yb), atol=1e-6)
    t_ours = median_time(lambda: ours(xb, yb), max(args.reps, 5), device)
    t_theirs = median_time(lambda: theirs(xb, yb), max(args.reps, 5), device)
    print(f"\nPGD ({steps} steps, batch {bs}): ours {bs / t_ours:,.0f} ex/s, torchattacks {bs / t_theirs:,.0f} ex/s, "
          f"throughput ratio ours/torchattacks = {t_theirs / t_ours:.2f} (identical outputs: {same})")


if __name__ == "__main__":
    main()
