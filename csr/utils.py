"""Shared helpers: devices, seeding, paths, config hashing and the environment record.

Paths never depend on the current working directory: they resolve from the package location,
or from ``CSR_DATA_DIR`` / ``CSR_RUNS_DIR`` when set.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import random
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

#: Environment that pins the CPU kernels to one code path on every x86-64 machine with AVX2, so
#: that a notebook's outputs do not depend on the machine that executed it (measured: an
#: AVX-512 host and an AVX2-only host trained different smoke models from the same seed). It
#: must be set before Python starts (torch, MKL and OpenBLAS read it when they load); ``make
#: notebooks`` and ``make nbval`` set it. ``CSR_PORTABLE_KERNELS=1`` also turns oneDNN off (its
#: blocking follows the machine's cache sizes), so convolutions run ATen's im2col + MKL path —
#: about 1.8x slower on the smoke models, and bitwise independent of the thread count.
PORTABLE_KERNELS_ENV: dict[str, str] = {
    "CSR_PORTABLE_KERNELS": "1",
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels (default: the best the CPU has)
    "MKL_CBWR": "COMPATIBLE,STRICT",  # MKL's vendor-independent branch, alignment-independent
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # in case any op still reaches oneDNN
    "OPENBLAS_CORETYPE": "Haswell",  # numpy / scipy's OpenBLAS
}


def portable_kernels() -> bool:
    """Whether this process runs with :data:`PORTABLE_KERNELS_ENV` (``CSR_PORTABLE_KERNELS=1``).

    When it does, importing csr turns oneDNN off (``torch.backends.mkldnn.enabled = False``);
    a pinning variable that is missing or different raises, since a half-pinned run is not
    portable and would say it is.

    >>> isinstance(portable_kernels(), bool)
    True
    """
    if os.environ.get("CSR_PORTABLE_KERNELS", "0") in ("", "0"):
        return False
    wrong = {k: os.environ.get(k) for k, v in PORTABLE_KERNELS_ENV.items() if os.environ.get(k) != v}
    if wrong:
        want = " ".join(f"{k}={v}" for k, v in PORTABLE_KERNELS_ENV.items())
        raise RuntimeError(f"CSR_PORTABLE_KERNELS is set but {wrong} differ from the pinned values; "
                           f"start Python with: {want}")
    torch.backends.mkldnn.enabled = False
    return True


portable_kernels()


def resources_dir() -> Path:
    """Files shipped inside the package (also in an installed wheel): ``paper_results/`` (the
    papers' published numbers) and ``cost_matrices/`` (stored matrices). ``data/paper_results``
    and ``data/cost_matrices`` in a checkout point here."""
    return PACKAGE_DIR / "resources"


def _in_checkout() -> bool:
    """True when the package is imported from its source checkout (not an installed wheel)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "csr" / "__init__.py").is_file()


def _user_dir() -> Path:
    """Per-user folder of an installed csr: ``$XDG_DATA_HOME/csr`` (default ``~/.local/share/csr``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "csr"


def data_dir() -> Path:
    """Folder holding datasets (and user-stored ``cost_matrices/``): ``$CSR_DATA_DIR``, else
    ``<repo>/data`` in a checkout, else ``$XDG_DATA_HOME/csr/data`` for an installed package.
    Never the current working directory."""
    env = os.environ.get("CSR_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "data" if _in_checkout() else _user_dir() / "data"


def runs_dir() -> Path:
    """Folder holding run directories: ``$CSR_RUNS_DIR``, else ``<repo>/runs`` in a checkout,
    else ``$XDG_DATA_HOME/csr/runs`` for an installed package."""
    env = os.environ.get("CSR_RUNS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "runs" if _in_checkout() else _user_dir() / "runs"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else MPS if available, else CPU.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise ValueError(f"device must be a string like 'auto', 'cpu' or 'cuda:0', got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='auto'")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def config_hash(config: dict[str, Any], length: int = 10) -> str:
    """Stable short hash of a JSON-serialisable config (key order does not matter).

    >>> config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    True
    """
    blob = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:length]


def to_jsonable(obj: Any) -> Any:
    """Convert numpy / torch / Path values (recursively) into JSON-serialisable ones."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_list") and callable(obj.to_list):  # CostMatrix
        return obj.to_list()
    return obj


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Kept for callers of the old name: :func:`csr.store.atomic_write`."""
    from .store import atomic_write

    return atomic_write(path, text)


def cached_json(path: str | Path, compute: Callable[[], Any]) -> Any:
    """Kept for callers of the old name: :func:`csr.store.cached_json`."""
    from .store import cached_json as _cached_json

    return _cached_json(path, compute)


def paper_results(name: str) -> dict[str, Any]:
    """What ``paper_results/<name>.json`` (:func:`resources_dir`) records about a paper (and its
    public code)."""
    from .store import read_json

    path = resources_dir() / "paper_results" / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.json")))
        raise ValueError(f"no paper results named {name!r}; known: {known}")
    return read_json(path)


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """What produced a result: versions, platform and device name."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": bool(torch.backends.mkldnn.enabled),
        "portable_kernels": portable_kernels(),
    }
    dev = device or resolve_device("auto")
    env["device"] = str(dev)
    if dev.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(dev)
    else:
        env["device_name"] = platform.processor() or platform.machine()
    try:
        from importlib.metadata import version

        env["csr"] = version("csr")
    except Exception:  # noqa: BLE001 - csr may be used from a source checkout without install
        env["csr"] = "source"
    return env


def batched(n: int, batch_size: int) -> Iterable[slice]:
    """Slices covering ``range(n)`` in chunks of ``batch_size``."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def wall_time(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds one call of ``fn`` takes (CUDA synchronised before and after)."""
    import time

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def median_time(fn: Callable[[], Any], reps: int, device: torch.device) -> float:
    """Median wall time of ``reps`` calls of ``fn`` after one warm-up call (CUDA synchronised):
    what the benchmark scripts compare against a peer measured in the same run."""
    import statistics

    fn()
    return statistics.median(wall_time(fn, device) for _ in range(reps))


def paired_times(ours: Callable[[], Any], peer: Callable[[], Any], reps: int,
                 device: torch.device) -> tuple[float, float, float]:
    """``(median s of ours, median s of peer, median of peer/ours)`` over ``reps`` interleaved
    repetitions (order alternating, so both see the same load on a shared machine), after one
    warm-up call of each (CUDA synchronised)."""
    import statistics

    ours()
    peer()
    ta, tb = [], []
    for i in range(reps):
        if i % 2 == 0:
            ta.append(wall_time(ours, device))
            tb.append(wall_time(peer, device))
        else:
            tb.append(wall_time(peer, device))
            ta.append(wall_time(ours, device))
    ratio = statistics.median(b / a for a, b in zip(ta, tb))
    return statistics.median(ta), statistics.median(tb), ratio
