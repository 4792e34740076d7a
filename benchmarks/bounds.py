"""Wong–Kolter bounds: csr.certify (``wk``) against convex_adversarial 0.4.4, same run.

For ``mnist_small`` (untrained, and briefly trained: one epoch of standard training on mnist5k),
a batch of real test digits and each ε, this measures

* ``values``: the median time of computing ``J`` (N, m) without gradients, ours vs
  ``DualNetwork(net, X, ε, bounded_input=True)(c)`` with ``c = e_y - e_j``;
* ``train step``: forward + backward of the robust cross-entropy ``CE(-J, y)`` (what
  ``robust_loss`` does), ours vs ``convex_adversarial.robust_loss``;
* peak memory of each (CUDA: ``torch.cuda.max_memory_allocated``; CPU: peak RSS growth sampled
  every 2 ms by a thread — approximate, but the same probe for both);
* ``max |ΔJ|`` between the two implementations;
* Ω-only bounds (``spec=single_seed:0``, ``spec=odd``) vs all pairs: time and objective columns.

The networks keep the identity ``Normalize`` (the reference has no such layer; it gets the net
without it). Usage::

    python benchmarks/bounds.py [--device auto] [--repeats 3] [--batch 50] [--eps 0.1 0.01]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import threading
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from csr.certify import bounds, last_bound_stats
from csr.models import Normalize, build_model
from csr.utils import resolve_device


# ------------------------------------------------------------------------------------ probes
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory growth (bytes) during a ``with`` block."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak = device, 0

    def __enter__(self) -> "PeakMemory":
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.peak_abs = _rss()
            self.stop = False
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop:
            self.peak_abs = max(self.peak_abs, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop = True
            self.thread.join()
            self.peak = max(self.peak_abs, _rss()) - self.base


def measure(fn: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, int, object]:
    """(median seconds, peak memory bytes of one run, last result); one warm-up run first."""
    out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    del out
    with PeakMemory(device) as pm:
        out = fn()
    return statistics.median(times), pm.peak, out


# ------------------------------------------------------------------------------------ setup
def load_data(batch: int, device: torch.device):
    try:
        from csr.data import load_dataset

        s = load_dataset("mnist5k", seed=0)
        xtr, ytr = s.train.tensors
        xte, yte = s.test.tensors[0][:batch], s.test.tensors[1][:batch]
        source = "mnist5k"
    except Exception as e:  # pragma: no cover - data module unavailable
        print(f"(mnist5k unavailable: {e}; using random inputs)")
        g = torch.Generator().manual_seed(0)
        xtr, ytr = torch.rand(3000, 1, 28, 28, generator=g), torch.randint(0, 10, (3000,), generator=g)
        xte, yte = torch.rand(batch, 1, 28, 28, generator=g), torch.randint(0, 10, (batch,), generator=g)
        source = "random"
    return xtr, ytr, xte.to(device), yte.to(device), source


def make_models(xtr, ytr, device):
    torch.manual_seed(0)
    untrained = build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10).to(device)
    trained = build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10).to(device)
    opt = torch.optim.Adam(trained.parameters(), lr=1e-3)
    perm = torch.randperm(len(xtr))
    for s in range(0, len(xtr), 64):  # one epoch of standard training
        idx = perm[s : s + 64]
        opt.zero_grad()
        F.cross_entropy(trained(xtr[idx].to(device)), ytr[idx].to(device)).backward()
        opt.step()
    return {"untrained": untrained, "trained (1 epoch)": trained}


def reference_net(model: nn.Sequential) -> nn.Sequential:
    assert isinstance(model[0], Normalize) and bool((model[0].std == 1).all() and (model[0].mean == 0).all())
    return nn.Sequential(*list(model)[1:])


# ------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--no-reference", action="store_true", help="only time csr.certify")
    args = ap.parse_args()
    device = resolve_device(args.device)
    ca = None
    if not args.no_reference:
        try:
            import convex_adversarial as ca  # noqa: F811
        except ImportError:
            print("convex_adversarial not installed (pip install --no-deps convex-adversarial==0.4.4); "
                  "timing csr only")
    xtr, ytr, x, y, source = load_data(args.batch, device)
    models = make_models(xtr, ytr, device)
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} data={source} "
          f"repeats={args.repeats} torch={torch.__version__}")
    mb = lambda b: f"{b / 2**20:8.1f}"  # noqa: E731
    rows = []
    for name, model in models.items():
        for eps in args.eps:
            def ours_values():
                with torch.no_grad():
                    return bounds(model, x, y, eps)

            def ours_step():
                model.zero_grad()
                J = bounds(model, x, y, eps)
                F.cross_entropy(-J, y).backward()
                return J.detach()

            t_ov, m_ov, J = measure(ours_values, args.repeats, device)
            t_os, m_os, _ = measure(ours_step, args.repeats, device)
            row = dict(net=name, eps=eps, t_ours=t_ov, m_ours=m_ov, ts_ours=t_os, ms_ours=m_os)
            if ca is not None:
                ref = reference_net(model)
                eye = torch.eye(10, device=device)
                c = eye[y].unsqueeze(1) - eye.unsqueeze(0)

                def ref_values():
                    with torch.no_grad():
                        return ca.DualNetwork(ref, x, eps, bounded_input=True)(c)

                def ref_step():
                    ref.zero_grad()
                    loss, _ = ca.robust_loss(ref, eps, x, y, bounded_input=True)
                    loss.backward()
                    return loss.detach()

                t_rv, m_rv, R = measure(ref_values, args.repeats, device)
                t_rs, m_rs, _ = measure(ref_step, args.repeats, device)
                row.update(t_ref=t_rv, m_ref=m_rv, ts_ref=t_rs, ms_ref=m_rs,
                           diff=float((J - R).abs().max()), scale=float(R.abs().max()))
            with torch.no_grad():
                unstable = sum(
                    float(((lo < 0) & (hi > 0)).float().mean())
                    for lo, hi in __import__("csr.certify", fromlist=["x"]).intermediate_bounds(model, x, eps)
                ) / 3
            row["unstable"] = unstable
            for spec in ("single_seed:0", "odd"):
                def ours_spec(spec=spec):
                    with torch.no_grad():
                        return bounds(model, x, y, eps, spec=spec)

                t_sp, _, Js = measure(ours_spec, args.repeats, device)
                st = last_bound_stats()
                fin = torch.isfinite(Js)
                row[spec] = (t_sp, st["spec_columns"], st["examples"], float((Js[fin] - J[fin]).abs().max()))
            row["all_columns"] = args.batch * 9
            rows.append(row)
            print(f"  done: {name} eps={eps}", flush=True)

    print("\n== values J (no grad): median seconds, peak MiB")
    hdr = f"{'net':18s} {'eps':>5s} {'unstable':>8s} {'ours s':>8s} {'ref s':>8s} {'ref/ours':>8s} " \
          f"{'ours MiB':>8s} {'ref MiB':>8s} {'max|ΔJ|':>9s} {'max|J|':>7s}"
    print(hdr)
    for r in rows:
        ref = (f"{r['t_ref']:8.3f} {r['t_ref'] / r['t_ours']:7.1f}x" if "t_ref" in r else f"{'-':>8s} {'-':>8s}")
        refm = mb(r["m_ref"]) if "m_ref" in r else f"{'-':>8s}"
        diff = f"{r['diff']:9.2e} {r['scale']:7.3f}" if "diff" in r else ""
        print(f"{r['net']:18s} {r['eps']:5.2f} {r['unstable']:8.2f} {r['t_ours']:8.3f} {ref} "
              f"{mb(r['m_ours'])} {refm} {diff}")
    print("\n== training step: forward + backward of CE(-J, y)")
    print(f"{'net':18s} {'eps':>5s} {'ours s':>8s} {'ref s':>8s} {'ref/ours':>8s} {'ours MiB':>8s} {'ref MiB':>8s}")
    for r in rows:
        ref = (f"{r['ts_ref']:8.3f} {r['ts_ref'] / r['ts_ours']:7.1f}x {mb(r['ms_ours'])} {mb(r['ms_ref'])}"
               if "ts_ref" in r else f"{'-':>8s} {'-':>8s} {mb(r['ms_ours'])}")
        print(f"{r['net']:18s} {r['eps']:5.2f} {r['ts_ours']:8.3f} {ref}")
    print("\n== Ω-only vs all pairs (ours, values): seconds / spec columns / examples bounded")
    print(f"{'net':18s} {'eps':>5s} {'all pairs':>22s} {'single_seed:0':>24s} {'odd':>24s}")
    for r in rows:
        cells = [f"{r['t_ours']:7.3f}s {r['all_columns']:5d} col {args.batch:3d} ex"]
        for spec in ("single_seed:0", "odd"):
            t, cols, ex, d = r[spec]
            assert d < 1e-4, d
            cells.append(f"{t:7.3f}s {cols:5d} col {ex:3d} ex")
        print(f"{r['net']:18s} {r['eps']:5.2f} " + " ".join(f"{c:>24s}" for c in cells))
    print("\n(ref/ours > 1: csr is faster. Memory on CPU is peak RSS growth, sampled.)")


if __name__ == "__main__":
    main()
