"""A sweep of small trainings: serial in this process vs a Dask LocalCluster (csr.executor).

The grid: ``--runs`` (≥ 8) trainings of the MLP on mnist5k, one torch thread each, seeds 0..N-1.
Two phases, each of ``--reps`` repetitions that train the grid afresh (new runs folders), the
order alternated between repetitions, ratios the medians of per-repetition ratios:

1. no Dask process alive: serial vs a plain process pool of ``--workers`` processes (the peer:
   what the machine gives parallel processes at all);
2. a ``LocalCluster`` of ``--workers`` workers × 1 thread (started and warmed up first; its start
   is printed apart): serial, with the cluster idle beside it, vs the cluster.

On few cores Dask's own processes (scheduler, nannies, workers) compete with the trainings;
the last lines separate that cost from the machine's parallel capacity. The weights of every run are
compared bit for bit between the two.

Usage: ``python benchmarks/sweep.py [--runs 8] [--workers 2] [--reps 3] [--epochs 8]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from csr.executor import DaskExecutor, ProcessExecutor, train_grid
from csr.train import TrainConfig


def grid(n: int, epochs: int) -> list[TrainConfig]:
    return [TrainConfig(dataset="mnist5k", model="mlp", epochs=epochs, batch_size=64, seed=s, threads=1,
                        progress=False) for s in range(n)]


def same(a: list, b: list) -> bool:
    def w(r):
        return torch.load(Path(r.run_dir) / "best.pt")

    return all(all(torch.equal(x, y) for x, y in zip(w(r).values(), w(s).values())) for r, s in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    from distributed import LocalCluster

    configs = grid(args.runs, args.epochs)
    times: dict[str, list[float]] = {k: [] for k in ("serial", "processes", "serial, cluster idle", "dask")}
    identical = True

    def phase(a: str, b: str, ex_b: object) -> list[float]:
        nonlocal identical
        ratios = []
        for rep in range(args.reps):
            with tempfile.TemporaryDirectory() as tmp:
                got = {}
                for name in ((a, b) if rep % 2 == 0 else (b, a)):
                    t = time.perf_counter()
                    got[name] = train_grid(configs, executor=ex_b if name == b else "serial",
                                           runs_root=Path(tmp) / name.replace(" ", "_").replace(",", ""))
                    times[name].append(time.perf_counter() - t)
                identical &= same(got[a], got[b])
            ratios.append(times[a][-1] / times[b][-1])
        return ratios

    # phase 1, no Dask process alive: serial vs a plain process pool (the peer: what this machine
    # gives parallel processes at all)
    train_grid(configs[:1], executor="serial", runs_root=tempfile.mkdtemp())  # warm this process
    with ProcessExecutor(args.workers) as pool:
        with tempfile.TemporaryDirectory() as warm:
            pool.map(_warm, list(range(args.workers * 2)), warm)
        pool_ratios = phase("serial", "processes", pool)
    # phase 2: a LocalCluster; serial (the cluster idle) vs the cluster
    t0 = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster, DaskExecutor(cluster.scheduler_address) as ex:
        with tempfile.TemporaryDirectory() as warm:
            ex.map(_warm, list(range(args.workers * 2)), warm)
        start_s = time.perf_counter() - t0
        dask_ratios = phase("serial, cluster idle", "dask", ex)
    med = statistics.median
    print(f"sweep of {args.runs} trainings (mlp, mnist5k, {args.epochs} epochs, 1 thread each) on "
          f"{os.cpu_count()} CPU cores, {args.reps} repetitions; cluster start + warm-up {start_s:.1f} s (not timed)")
    labels = {"serial": "serial, this process", "processes": f"process pool, {args.workers} processes (peer)",
              "serial, cluster idle": "serial, a LocalCluster idle beside it",
              "dask": f"LocalCluster {args.workers} workers x 1 thread"}
    for name, ts in times.items():
        print(f"  {labels[name]:40s} median {med(ts):6.1f} s  ({', '.join(f'{t:.1f}' for t in ts)})")
    print(f"  speed-up serial / process pool        {med(pool_ratios):.2f}x (ideal {min(args.workers, os.cpu_count() or 1)}x)")
    print(f"  speed-up serial / LocalCluster        {med(dask_ratios):.2f}x (serial timed with the cluster alive)")
    print(f"  LocalCluster / process pool, time     {med(times['dask']) / med(times['processes']):.2f}x "
          f"(Dask's own cost); serial slowed by the idle cluster {med(times['serial, cluster idle']) / med(times['serial']):.2f}x")
    print(f"  identical weights, every run: {identical}")


def _warm(i: int, folder: str) -> int:
    from csr.data import load_dataset

    load_dataset("mnist5k")
    return i


if __name__ == "__main__":
    main()
