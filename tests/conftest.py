"""Fixtures shared by the test modules.

The ``paper_results`` fixtures serve ``tests/test_paper_results*.py``. A paper's module names its
file of ``csr/resources/paper_results/`` in ``PAPER_RESULTS_FILE`` and asks for ``paper_json`` (the
whole file), ``fp`` (its ``from_paper`` key) or ``find_row`` (one row of a ``from_paper`` table);
``tests/test_paper_results.py`` overrides ``paper_json`` to run the same checks on every paper.
Fixtures rather than a helper module: a test module's imports depend on pytest's import mode,
fixtures do not.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

PAPER_RESULTS_DIR = Path(__file__).resolve().parents[1] / "csr" / "resources" / "paper_results"


@pytest.fixture(scope="session")
def load_paper_results() -> Callable[[str], dict]:
    """``load_paper_results(file_name)``: one JSON of ``csr/resources/paper_results/``, freshly read."""
    def load(file_name: str) -> dict:
        return json.loads((PAPER_RESULTS_DIR / file_name).read_text(encoding="utf-8"))
    return load


@pytest.fixture(scope="module")
def paper_json(request, load_paper_results) -> dict:
    """The whole JSON named by the requesting module's ``PAPER_RESULTS_FILE``."""
    file_name = getattr(request.module, "PAPER_RESULTS_FILE", None)
    assert file_name, f"{request.module.__name__} sets no PAPER_RESULTS_FILE"
    return load_paper_results(file_name)


@pytest.fixture(scope="module")
def fp(paper_json) -> dict:
    """The paper's ``from_paper`` transcription."""
    return paper_json["from_paper"]


@pytest.fixture(scope="module")
def find_row(fp) -> Callable[..., dict]:
    """``find_row(table, **fields)``: the one row of ``fp["tables"][table]`` whose fields equal ``fields``."""
    def find(table: str, **fields) -> dict:
        rows = [r for r in fp["tables"][table]["rows"] if all(k in r and r[k] == v for k, v in fields.items())]
        assert len(rows) == 1, (table, fields, rows)
        return rows[0]
    return find


# --- small generated datasets in torchvision's on-disk formats (the gpu profiles' code paths) ---
def _write_idx(path: Path, arr, magic: int) -> None:
    import numpy as np

    with open(path, "wb") as f:
        f.write(np.array([magic, *arr.shape], dtype=">i4").tobytes())
        f.write(arr.astype(np.uint8).tobytes())


def write_fake_mnist(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """MNIST idx files (``MNIST/raw/*-ubyte``, as torchvision reads them) with random digits,
    labels cycling 0..9; returns ``root``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    _write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)), 2051)
    _write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train) % 10, 2049)
    _write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), 2051)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, 2049)
    return root


def write_fake_cifar10(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """CIFAR-10 python batches (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``,
    ``batches.meta``: pickled dicts of uint8 (N, 3072) rows and labels); returns ``root``. Their
    md5 sums are not the real ones: tests bypass torchvision's integrity check."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    per = [n_train // 5 + (i < n_train % 5) for i in range(5)]
    start = 0
    for i, n in enumerate(per, 1):
        labels = [(start + k) % 10 for k in range(n)]
        start += n
        batch = {"batch_label": f"training batch {i} of 5", "labels": labels,
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "filenames": [f"{i}_{k}.png" for k in range(n)]}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {"batch_label": "testing batch 1 of 1", "labels": [k % 10 for k in range(n_test)],
            "data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), "filenames": [f"t_{k}.png" for k in range(n_test)]}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names, "num_cases_per_batch": per[0],
                                                        "num_vis": 3072}))
    return root


def write_fake_cifar100(root: Path, n_train: int = 300, n_test: int = 200, seed: int = 0) -> Path:
    """CIFAR-100 python files (``cifar-100-python/train``, ``test``, ``meta``: pickled dicts of uint8
    (N, 3072) rows, ``fine_labels`` cycling 0..99 and ``coarse_labels``); returns ``root``."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = [k % 100 for k in range(n)]
        d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": fine,
             "coarse_labels": [f // 5 for f in fine], "filenames": [f"{name}_{k}.png" for k in range(n)]}
        (folder / name).write_bytes(pickle.dumps(d))
    meta = {"fine_label_names": [f"class_{i}" for i in range(100)], "coarse_label_names": [f"super_{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return root


@pytest.fixture
def fake_torchvision(tmp_path, monkeypatch):
    """A data folder with small generated MNIST, CIFAR-10 and CIFAR-100 files, set as
    ``CSR_DATA_DIR`` (runs go to a fresh ``CSR_RUNS_DIR``); torchvision's md5 check of the CIFAR
    files is bypassed."""
    import torchvision.datasets.cifar as tv_cifar

    root = tmp_path / "data"
    write_fake_mnist(root)
    write_fake_cifar10(root)
    write_fake_cifar100(root)
    monkeypatch.setenv("CSR_DATA_DIR", str(root))
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    return root


# --- small generated image folders in torchvision's ImageFolder layout (imagenette, ham10000) ---
def _fake_colour(folder_index: int) -> int:
    """Red value of every pixel of class folder ``folder_index``'s fake images (green = 255 - red)."""
    return 12 + 24 * folder_index


def write_fake_image_folder(base: Path, classes: list[str], counts: dict[str, dict[str, int]],
                            ext: str = ".jpg") -> Path:
    """``<base>/<split>/<class>/img_<k><ext>`` for ``counts[split][class]`` images per class:
    solid colours, red ``_fake_colour(i)`` for the ``i``-th of ``classes`` and blue ``9 k + 5`` (so
    every image differs), at odd, non-square sizes (portrait and landscape); every class folder is
    created, also those with no images. Returns ``base``."""
    from PIL import Image

    for split, per_class in counts.items():
        for i, c in enumerate(classes):
            folder = base / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class.get(c, 0)):
                size = (23 + (7 * k + 3 * i) % 19, 17 + (5 * k + 2 * i) % 29)  # (w, h)
                r = _fake_colour(i)
                img = Image.new("RGB", size, (r, 255 - r, 9 * k + 5))
                fmt = "PNG" if ext.lower() == ".png" else "JPEG"
                img.save(folder / f"img_{k}{ext}", format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return base


@pytest.fixture
def fake_image_folders(tmp_path, monkeypatch):
    """A data folder with small generated ``imagenette2/{train,val}/<wnid>/*.JPEG`` (6 / 2 images per
    class) and ``ham10000/{train,test}/<dx>/*.jpg`` (train: nv 8, mel 4, bcc 3, bkl 3, akiec 2,
    df 2, vasc 2; test: 2 per dx) trees, set as ``CSR_DATA_DIR`` (runs go to a fresh
    ``CSR_RUNS_DIR``). Returns a namespace: ``root``, ``counts`` (``{dataset: {split: {class: n}}}``)
    and ``folder_of(x)``: the class-folder index of each image of a batch ``x`` (N, 3, H, W) in
    [0, 1], read back from its colour."""
    from types import SimpleNamespace

    import numpy as np

    from csr.data import HAM10000_DX, IMAGENETTE_WNIDS

    root = tmp_path / "data"
    counts = {
        "imagenette": {"train": {w: 6 for w in IMAGENETTE_WNIDS}, "val": {w: 2 for w in IMAGENETTE_WNIDS}},
        "ham10000": {"train": {"nv": 8, "mel": 4, "bcc": 3, "bkl": 3, "akiec": 2, "df": 2, "vasc": 2},
                     "test": {d: 2 for d in HAM10000_DX}},
    }
    write_fake_image_folder(root / "imagenette2", IMAGENETTE_WNIDS, counts["imagenette"], ext=".JPEG")
    write_fake_image_folder(root / "ham10000", HAM10000_DX, counts["ham10000"], ext=".jpg")
    monkeypatch.setenv("CSR_DATA_DIR", str(root))
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path / "runs"))

    def folder_of(x):
        red = x[:, 0].reshape(len(x), -1).mean(1).numpy() * 255
        return np.rint((red - _fake_colour(0)) / (_fake_colour(1) - _fake_colour(0))).astype(int)

    return SimpleNamespace(root=root, counts=counts, folder_of=folder_of)
