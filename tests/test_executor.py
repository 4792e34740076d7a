"""Grids on any executor (csr.executor) with claim files (csr.claims): a 2-worker Dask
LocalCluster trains the same runs, bit for bit, as a serial loop; two workers never train the same
run; a worker killed mid-training is replaced and its run resumed from the last checkpoint; a task
that fails deterministically fails the grid once. Loopback only."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from csr import claims, executor
from csr.train import TrainConfig, train


def _grid(epochs: int = 2, n: int = 4) -> list[TrainConfig]:
    return [TrainConfig(dataset="digits", model="mlp", epochs=epochs, batch_size=64, n_train=512, seed=s, threads=1)
            for s in range(n)]


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = torch.load(a / "best.pt"), torch.load(b / "best.pt")
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------------------ claims
def test_a_claimed_run_waits_for_its_holder(tmp_path):
    done = tmp_path / "done.json"
    order = []

    def second() -> None:
        with claims.claim(tmp_path, done, poll=0.02) as owned:
            order.append(("second", owned))

    with claims.claim(tmp_path, done) as owned:
        assert owned and claims.holder(tmp_path)["pid"] == os.getpid()
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.2)
        assert order == []  # still waiting: the holder is alive and beating
        done.write_text("{}")
    t.join(5)
    assert order == [("second", False)]  # the run was finished meanwhile: nothing to train
    assert claims.holder(tmp_path) is None


def test_stale_claims_are_taken_over(tmp_path):
    path = tmp_path / claims.CLAIM
    import socket

    dead = {"worker": "gone", "host": socket.gethostname(), "pid": 2 ** 22 + 12345, "heartbeat": time.time()}
    path.write_text(json.dumps(dead))
    assert claims.is_stale(dead)  # its process is gone on this host
    with claims.claim(tmp_path, tmp_path / "done.json", poll=0.01, timeout=5) as owned:
        assert owned and claims.holder(tmp_path)["worker"] == claims.worker_id()
    elsewhere = {"worker": "w", "host": "other-host", "pid": 1, "heartbeat": time.time() - 100}
    assert claims.is_stale(elsewhere, after=60) and not claims.is_stale({**elsewhere, "heartbeat": time.time()}, 60)
    path.write_text(json.dumps({**elsewhere, "heartbeat": time.time()}))
    with pytest.raises(claims.ClaimTimeout, match="claimed by w"):
        with claims.claim(tmp_path, tmp_path / "done.json", poll=0.01, timeout=0.1):
            pass


def test_unknown_executor_lists_the_known_ones():
    with pytest.raises(Exception, match="serial, processes, dask|dask, processes, serial"):
        executor.current("cluster")


def test_dask_needs_a_scheduler(monkeypatch):
    monkeypatch.delenv("CSR_DASK_SCHEDULER", raising=False)
    with pytest.raises(ValueError, match="needs a scheduler"):
        executor.current("dask")


# ------------------------------------------------------------------------------ Dask
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as c:
        yield c


@pytest.mark.slow
def test_local_cluster_matches_serial_and_trains_each_run_once(tmp_path, cluster):
    grid = _grid()
    serial = executor.train_grid(grid, executor="serial", runs_root=tmp_path / "serial")
    with executor.DaskExecutor(cluster.scheduler_address) as ex:
        # every run submitted twice at once: the claims let one worker train it, the other waits
        ex.map(executor.train_task, grid + grid, None, str(tmp_path / "dask"))
        dask = executor.train_grid(grid, executor=ex, runs_root=tmp_path / "dask")
    for s, d in zip(serial, dask):
        assert s.run_dir.name == d.run_dir.name and _same_weights(s.run_dir, d.run_dir)
        assert s.history.drop(columns="time_s").equals(d.history.drop(columns="time_s"))
        log = _log(d.run_dir)
        assert [r["epoch"] for r in log] == [1, 2], log  # each epoch trained once, by one worker
        assert len({r["worker"] for r in log}) == 1
    assert {r["worker"].split(":")[1] for d in dask for r in _log(d.run_dir)} != {str(os.getpid())}  # on workers


@pytest.mark.slow
def test_a_deterministic_failure_fails_the_grid_once(cluster, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    with executor.DaskExecutor(cluster.scheduler_address) as ex:
        with pytest.raises(ArithmeticError, match="deterministic failure"):
            ex.map(_count_and_fail, [str(calls)])
    assert len(list(calls.iterdir())) == 1  # not retried


def _count_and_fail(folder: str) -> None:
    (Path(folder) / f"{os.getpid()}-{time.time_ns()}").write_text("")
    raise ArithmeticError("deterministic failure")


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(tmp_path, cluster):
    grid = [TrainConfig(dataset="digits", model="mlp", epochs=30, batch_size=32, seed=7, threads=1)]
    root = tmp_path / "dask"
    run_dir = root / grid[0].run_name()
    with executor.DaskExecutor(cluster.scheduler_address) as ex:
        fut = ex.client.submit(executor.train_task, grid[0], None, str(root), pure=False)
        deadline = time.time() + 120
        while not ((run_dir / "log.jsonl").exists() and len(_log(run_dir)) >= 3):
            assert time.time() < deadline and not fut.done(), "training never started"
            time.sleep(0.02)
        victim = claims.holder(run_dir)["pid"]
        os.kill(victim, signal.SIGKILL)  # the worker process dies mid-training; its nanny restarts it
        fut.result(timeout=300)
    log = _log(run_dir)
    assert [r["epoch"] for r in log] == list(range(1, 31)), "an epoch trained twice or lost"
    pids = [int(r["worker"].split(":")[1]) for r in log]
    assert pids[0] == victim and pids[-1] != victim  # resumed on another worker process
    serial = train(grid[0], runs_root=tmp_path / "serial")
    assert _same_weights(serial.run_dir, run_dir)  # resuming changed nothing


@pytest.mark.slow
def test_process_pool_matches_serial(tmp_path):
    grid = _grid(n=2)
    serial = executor.train_grid(grid, executor="serial", runs_root=tmp_path / "serial")
    pooled = executor.train_grid(grid, executor=executor.ProcessExecutor(2), runs_root=tmp_path / "pool")
    assert all(_same_weights(s.run_dir, p.run_dir) for s, p in zip(serial, pooled))
    assert {r["worker"].split(":")[1] for p in pooled for r in _log(p.run_dir)} - {str(os.getpid())}


@pytest.mark.slow
def test_a_grid_method_trains_its_runs_on_the_executor(tmp_path, monkeypatch):
    """@grid: a first pass collects the configs, the pool trains them, the method then loads them."""
    from types import SimpleNamespace

    from csr.studies.base import Study, grid

    class Toy(Study):
        name = "toy"

        @grid
        def models(self, seeds):
            return {s: self.train(c) for s, c in zip(seeds, _grid(n=len(seeds)))}

    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "pool"))
    S = SimpleNamespace(settings={}, cost=None, splits=None)
    S.splits = SimpleNamespace(num_classes=10, class_names=[str(i) for i in range(10)])
    toy = Toy(S)
    toy.S = SimpleNamespace(settings={}, cost=None, splits=None)  # train() loads digits itself
    monkeypatch.setenv("CSR_EXECUTOR", "processes")
    monkeypatch.setenv("CSR_WORKERS", "2")
    runs = toy.models([0, 1])
    workers = {r["worker"].split(":")[1] for run in runs.values() for r in _log(run.run_dir)}
    assert str(os.getpid()) not in workers and len(runs) == 2  # trained in the pool, loaded here
    monkeypatch.setenv("CSR_EXECUTOR", "serial")
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "serial"))
    serial = toy.models([0, 1])
    assert all(_same_weights(serial[s].run_dir, runs[s].run_dir) for s in (0, 1))
