"""Where a grid of trainings runs: in this process, a local process pool, or a Dask cluster.

A study's grid is a list of :class:`~csr.train.TrainConfig`; :func:`train_grid` trains every one
on the chosen executor and returns the finished runs loaded here, in the grid's order. Runs are
keyed by their config and trained at most once (``csr.claims``: workers that share the runs
folder never train the same run twice; a killed worker's run is resumed from its last
checkpoint by the worker Dask retries the task on). The numbers are those of a serial run: the
same configs, seeds and thread counts train the same weights wherever they run.

Executors (:data:`EXECUTORS`):

* ``serial`` — in-process, one after another (the default; the book and the tests);
* ``processes`` — a local pool of ``workers`` processes (``$CSR_WORKERS``, default the CPU count);
* ``dask`` — a Dask distributed cluster: ``scheduler="tcp://HOST:PORT"`` or
  ``$CSR_DASK_SCHEDULER``; the workers must see the same runs folder (a shared filesystem).

Which one :func:`current` returns: an explicit name, else ``$CSR_EXECUTOR``, else ``dask`` when
a scheduler address is set, else ``serial``.

Example
-------
>>> ex = current("serial")
>>> ex
SerialExecutor()
>>> ex.map(abs, [-1, 2, -3])
[1, 2, 3]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .registry import Registry

__all__ = ["EXECUTORS", "Executor", "SerialExecutor", "ProcessExecutor", "DaskExecutor", "current", "current_name",
           "train_grid",
           "train_task"]


class Executor:
    """Maps a picklable function over items, results in the items' order. A task that raises
    fails the map with its error (once: no retries of deterministic failures)."""

    name = ""

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the pool / client (the cluster itself is not shut down)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(Executor):
    name = "serial"

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        return [fn(item, *args) for item in items]

    def __repr__(self) -> str:
        return "SerialExecutor()"


class ProcessExecutor(Executor):
    """A local pool of ``workers`` spawned processes (spawn: no fork of a process holding
    threads or a CUDA context)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        self.workers = int(workers or os.environ.get("CSR_WORKERS") or os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        self._pool: Any = None

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        futures = [self._pool.submit(fn, item, *args) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster. ``scheduler``: an address (``tcp://HOST:PORT``), a
    ``distributed.Client`` or a ``LocalCluster``. A task whose worker dies is rescheduled by Dask
    (up to its ``distributed.scheduler.allowed-failures``, default 3); a task that raises is not
    retried (``retries=0``): the map fails with that error."""

    name = "dask"

    def __init__(self, scheduler: Any = None):
        from distributed import Client

        scheduler = scheduler or os.environ.get("CSR_DASK_SCHEDULER")
        if not scheduler:
            raise ValueError("the dask executor needs a scheduler: scheduler='tcp://HOST:PORT' or $CSR_DASK_SCHEDULER")
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            self.client, self._own = Client(scheduler, set_as_default=False), True
        self.address = self.client.scheduler.address

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        shared = [self.client.scatter(a, broadcast=True) if _large(a) else a for a in args]
        futures = self.client.map(fn, list(items), *[[a] * len(items) for a in shared], pure=False, retries=0)
        return self.client.gather(futures)

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __repr__(self) -> str:
        return f"DaskExecutor(scheduler={self.address!r})"


def _large(obj: Any) -> bool:
    return obj is not None and not isinstance(obj, (str, int, float, bool, Path))


EXECUTORS: Registry[type[Executor]] = Registry("executor", "executors")
for _cls in (SerialExecutor, ProcessExecutor, DaskExecutor):
    EXECUTORS.register(_cls.name, _cls)


def current_name(name: str | None = None, scheduler: Any = None) -> str:
    """The name :func:`current` would pick (no connection made).

    >>> current_name("processes"), current_name(scheduler="tcp://127.0.0.1:8786")
    ('processes', 'dask')
    """
    name = name or os.environ.get("CSR_EXECUTOR") or (
        "dask" if scheduler or os.environ.get("CSR_DASK_SCHEDULER") else "serial")
    EXECUTORS.get(name)
    return name


def current(name: str | None = None, *, scheduler: Any = None, workers: int | None = None) -> Executor:
    """The executor to use: ``name`` (``serial`` / ``processes`` / ``dask``), else
    ``$CSR_EXECUTOR``, else ``dask`` when ``scheduler`` or ``$CSR_DASK_SCHEDULER`` is set, else
    ``serial``. An unknown name raises with the known ones."""
    cls = EXECUTORS.get(current_name(name, scheduler))
    if cls is DaskExecutor:
        return DaskExecutor(scheduler)
    if cls is ProcessExecutor:
        return ProcessExecutor(workers)
    return cls()


def train_task(config: Any, splits: Any = None, runs_root: str | None = None) -> dict[str, Any]:
    """Train one config (or wait for the worker training it, or load it): what a worker runs.
    Returns a small summary (the model stays on the worker, the weights in the runs folder)."""
    from .train import train

    run = train(config, splits=splits, runs_root=runs_root)
    return {"run_dir": str(run.run_dir), "best_epoch": run.best_epoch,
            "final": {k: float(v) for k, v in run.history.iloc[-1].items() if isinstance(v, (int, float))}}


def train_grid(configs: Iterable[Any], splits: Any = None, executor: Executor | str | None = None,
               runs_root: str | Path | None = None) -> list[Any]:
    """Train every config of a grid on ``executor`` (see :func:`current`) and return the
    finished :class:`~csr.train.RunResult` of each, loaded in this process, in order.

    ``splits`` (a :class:`~csr.data.Splits`) is sent to the workers once (Dask: scattered to all
    of them); ``None`` lets each worker load the config's dataset itself. Duplicate configs are
    trained once."""
    from .train import train
    from .utils import runs_dir

    configs = list(configs)
    ex = executor if isinstance(executor, Executor) else current(executor)
    root = str(Path(runs_root) if runs_root is not None else runs_dir())
    try:
        if not isinstance(ex, SerialExecutor):
            unique = list({c.run_name(): c for c in configs}.values())
            ex.map(train_task, unique, splits, root)
        return [train(c, splits=splits, runs_root=root) for c in configs]
    finally:
        if not isinstance(executor, Executor):
            ex.close()
