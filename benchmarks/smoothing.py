"""Certification throughput of :class:`csr.certify.smoothing.Smooth` against peers in the same run.

Noisy forward passes per second of

* ``Smooth.sample_counts`` (inputs × samples chunked to ``--batch`` noisy images per pass, noise
  drawn on the device, counts accumulated with one ``index_add_``);
* the raw batched forward of the same base model on a preallocated batch of the same size holding
  noisy copies of an input (the ceiling: noise drawn before timing, no counting; noisy inputs,
  because a network's CPU forward is data dependent — ~15 % faster on identical clean images)
  — the goal is a ratio ≥ 0.9;
* the same with ``shared_noise=True`` (one block of draws reused by every input);
* a plain per-example loop in the style of Cohen et al.'s ``Smooth._sample_noise`` (one input at a
  time, ``x.repeat``, ``randn_like``, counts through NumPy).

Medians of ``--reps`` repetitions; the ratios are what to quote (these machines are noisy).

Usage: ``python benchmarks/smoothing.py [--device auto] [--reps 5] [--batch 1000] [--inputs 20] [--n 2000]``.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from csr.certify.smoothing import Smooth
from csr.data import load_dataset
from csr.models import build_model
from csr.utils import median_time, resolve_device


def per_example_loop(model: torch.nn.Module, x: torch.Tensor, n: int, sigma: float, batch: int, m: int) -> np.ndarray:
    """Cohen-style sampling: one input at a time, its n copies in batches, counts in NumPy."""
    out = np.zeros((len(x), m), dtype=np.int64)
    with torch.no_grad():
        for i in range(len(x)):
            remaining = n
            while remaining > 0:
                b = min(batch, remaining)
                remaining -= b
                rep = x[i : i + 1].repeat((b, 1, 1, 1))
                pred = model(rep + torch.randn_like(rep) * sigma).argmax(1)
                out[i] += np.bincount(pred.cpu().numpy(), minlength=m)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--inputs", type=int, default=20)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--models", default="mlp,mnist_small,lenet")
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.set_grad_enabled(False)
    splits = load_dataset("mnist5k")
    x = splits.test.tensors[0][: args.inputs].to(device)
    total = args.inputs * args.n
    print(f"device={device}, threads={torch.get_num_threads()}, {args.inputs} inputs × n={args.n} "
          f"= {total} noisy passes, batch {args.batch}, medians of {args.reps}")
    print(f"{'model':12s} {'raw fwd/s':>11s} {'Smooth/s':>11s} {'ratio':>6s} {'shared/s':>11s} {'ratio':>6s} "
          f"{'loop/s':>11s} {'Smooth/loop':>11s}")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build_model(name, input_shape=splits.input_shape, num_classes=10,
                            mean=splits.mean, std=splits.std).to(device).eval()
        smooth = Smooth(model, 10, 0.5, batch_size=args.batch)
        batch = x[:1].repeat(args.batch, 1, 1, 1)
        batch = batch + 0.5 * torch.randn_like(batch)
        passes = -(-total // args.batch)

        def raw():
            for _ in range(passes):
                model(batch).argmax(1)

        t_raw = median_time(raw, args.reps, device)
        t_ours = median_time(lambda: smooth.sample_counts(x, args.n, seed=0), args.reps, device)
        shared = Smooth(model, 10, 0.5, batch_size=args.batch, shared_noise=True)
        t_shared = median_time(lambda: shared.sample_counts(x, args.n, seed=0), args.reps, device)
        t_loop = median_time(lambda: per_example_loop(model, x, args.n, 0.5, args.batch, 10), args.reps, device)
        raw_rate, ours_rate, loop_rate = passes * args.batch / t_raw, total / t_ours, total / t_loop
        shared_rate = total / t_shared
        print(f"{name:12s} {raw_rate:11.0f} {ours_rate:11.0f} {ours_rate / raw_rate:6.2f} {shared_rate:11.0f} "
              f"{shared_rate / raw_rate:6.2f} {loop_rate:11.0f} {ours_rate / loop_rate:11.2f}")


if __name__ == "__main__":
    main()
