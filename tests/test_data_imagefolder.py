"""The image-folder datasets (``imagenette``, ``ham10000``) end to end on small generated folders in
the real on-disk layout (no copy of either exists on these machines): the paper's code's
resolutions, labels (HAM10000's binary grouping), seeded stratified validation splits, the
missing-data error, :func:`csr.data.write_ham10000_folders`, and one training epoch each."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from csr.data import (
    DATASETS,
    HAM10000_DX,
    IMAGENETTE_NAMES,
    IMAGENETTE_WNIDS,
    DatasetNotFoundError,
    is_available,
    load_dataset,
    write_ham10000_folders,
)
from csr.train import TrainConfig, train

SMALL = 24  # resolution override for the tests that need not see the paper's size


def _total(per_class: dict[str, int]) -> int:
    return sum(per_class.values())


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_registered_and_available(fake_image_folders, tmp_path):
    assert {"imagenette", "ham10000"} <= set(DATASETS.names())
    assert is_available("imagenette") and is_available("ham10000")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_available("imagenette", empty) and not is_available("ham10000", empty)


def test_imagenette_paper_resolution_and_labels(fake_image_folders):
    s = load_dataset("imagenette", seed=0)
    c = fake_image_folders.counts["imagenette"]
    assert s.input_shape == (3, 160, 160)  # the authors' code: Resize(192), CenterCrop(160)
    assert s.num_classes == 10 and s.class_names == IMAGENETTE_NAMES
    assert s.class_names[3] == "chain saw" and s.class_names[7] == "gas pump"  # the paper's labels 3, 7
    # official val = test; 10 % of each class's 6 training images (round(0.6) = 1) = validation
    assert s.sizes == {"train": 50, "val": 10, "test": _total(c["val"])}
    for part in (s.train, s.val, s.test):
        x, y = part.tensors
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == (3, 160, 160)
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
        # each image's label is the index of the wnid folder it came from
        assert y.tolist() == fake_image_folders.folder_of(x).tolist()
    assert np.bincount(s.test.tensors[1].numpy(), minlength=10).tolist() == [2] * 10
    assert np.bincount(s.val.tensors[1].numpy(), minlength=10).tolist() == [1] * 10
    assert len(s.mean) == len(s.std) == 3 and all(v > 0 for v in s.std)
    x = s.train.tensors[0].double()
    np.testing.assert_allclose(s.mean, x.mean(dim=(0, 2, 3)).numpy(), rtol=1e-6)


def test_ham10000_binary_labels(fake_image_folders):
    s = load_dataset("ham10000", seed=0, resolution=SMALL)
    assert s.num_classes == 2 and s.class_names == ["benign", "malignant"]
    assert s.input_shape == (3, SMALL, SMALL)
    for part in (s.train, s.val, s.test):
        x, y = part.tensors
        dx = [HAM10000_DX[i] for i in fake_image_folders.folder_of(x)]
        # the authors' grouping: mel and bcc malignant (1), the other five (akiec too) benign (0)
        assert y.tolist() == [int(d in ("mel", "bcc")) for d in dx]
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    test_dx = [HAM10000_DX[i] for i in fake_image_folders.folder_of(s.test.tensors[0])]
    labels = dict(zip(test_dx, s.test.tensors[1].tolist()))
    assert labels["mel"] == 1 and labels["nv"] == 0 and labels["bcc"] == 1 and labels["akiec"] == 0
    assert labels == {"akiec": 0, "bcc": 1, "bkl": 0, "df": 0, "mel": 1, "nv": 0, "vasc": 0}


def test_ham10000_paper_resolution(fake_image_folders):
    s = load_dataset("ham10000")
    assert s.input_shape == (3, 299, 299)  # the authors' code: Resize(299), CenterCrop(299)
    n_train = _total(fake_image_folders.counts["ham10000"]["train"])
    assert s.sizes == {"train": n_train - 1, "val": 1, "test": 14}  # round(0.1 · 8) = 1 nv, 0 of the rest


@pytest.mark.parametrize("name, split", [("imagenette", "train"), ("ham10000", "train")])
def test_val_fraction_is_stratified(fake_image_folders, name, split):
    per_class = fake_image_folders.counts[name][split]
    s = load_dataset(name, val_fraction=0.5, resolution=SMALL, seed=3)
    val_folders = np.bincount(fake_image_folders.folder_of(s.val.tensors[0]), minlength=len(per_class))
    want = [int(round(0.5 * n)) for n in per_class.values()] if name == "imagenette" else \
        [int(round(0.5 * per_class[d])) for d in HAM10000_DX]
    assert val_folders.tolist() == want
    assert len(s.train) + len(s.val) == _total(per_class)
    # train and validation are disjoint and together are the training folder (images differ by blue)
    keys = lambda ds: {(int(f), round(float(b) * 255)) for f, b in
                       zip(fake_image_folders.folder_of(ds.tensors[0]), ds.tensors[0][:, 2, 0, 0])}
    tr, va = keys(s.train), keys(s.val)
    assert not tr & va and len(tr) + len(va) == _total(per_class)


@pytest.mark.parametrize("name", ["imagenette", "ham10000"])
def test_same_seed_same_splits(fake_image_folders, name):
    a = load_dataset(name, seed=1, resolution=SMALL, val_fraction=0.3)
    b = load_dataset(name, seed=1, resolution=SMALL, val_fraction=0.3)
    c = load_dataset(name, seed=2, resolution=SMALL, val_fraction=0.3)
    for pa, pb in zip((a.train, a.val, a.test), (b.train, b.val, b.test)):
        assert torch.equal(pa.tensors[0], pb.tensors[0]) and torch.equal(pa.tensors[1], pb.tensors[1])
    assert a.mean == b.mean and a.std == b.std
    assert not torch.equal(a.val.tensors[0], c.val.tensors[0])  # the seed picks the validation images
    assert torch.equal(a.test.tensors[0], c.test.tensors[0])  # the test folder does not depend on it


def test_centre_crop_not_squash(tmp_path):
    """A 2:1 PNG whose outer quarters are red and middle half blue: resize the shorter side, then
    crop the centre — only blue remains (a plain resize to a square would keep the red)."""
    from PIL import Image

    root = tmp_path / "data"
    counts = {"train": {"nv": 2, "mel": 2}, "test": {"nv": 1}}
    for split, per in counts.items():
        for dx in HAM10000_DX:
            (root / "ham10000" / split / dx).mkdir(parents=True)
        for dx, n in per.items():
            for k in range(n):
                a = np.zeros((40, 80, 3), dtype=np.uint8)
                a[:, :20, 0] = a[:, 60:, 0] = 255
                a[:, 20:60, 2] = 255
                Image.fromarray(a).save(root / "ham10000" / split / dx / f"wide_{k}.png")
    s = load_dataset("ham10000", root=root, resolution=20, val_fraction=0.5)
    x = torch.cat([s.train.tensors[0], s.val.tensors[0], s.test.tensors[0]])
    assert x.shape == (5, 3, 20, 20)
    inner = x[:, :, :, 1:-1]
    assert float(inner[:, 2].min()) > 0.95 and float(inner[:, 0].max()) < 0.05
    assert float(x[:, 0].mean()) < 0.05
    assert s.sizes == {"train": 2, "val": 2, "test": 1}


@pytest.mark.parametrize("name, expected", [
    ("imagenette", ["imagenette2/", "imagenette2-320", "imagenette2-160", "n01440764", "fastai/imagenette"]),
    ("ham10000", ["ham10000/", "akiec", "vasc", "HAM10000_metadata.csv", "write_ham10000_folders"]),
])
@pytest.mark.parametrize("download", [False, True])
def test_missing_folders_raise_and_write_nothing(tmp_path, name, expected, download):
    root = tmp_path / "data"
    root.mkdir()
    (root / "unrelated.txt").write_text("x")
    before = _snapshot(root)
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name, root=root, download=download)
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    assert str(root) in msg and "CSR_DATA_DIR" in msg and "no automatic download" in msg
    for s in expected:
        assert s in msg, s
    assert _snapshot(root) == before
    assert not is_available(name, root)


def test_incomplete_folder_names_what_is_missing(fake_image_folders):
    root = fake_image_folders.root
    for f in (root / "imagenette2" / "val" / "n03888605").iterdir():
        f.unlink()
    (root / "imagenette2" / "val" / "n03888605").rmdir()
    assert not is_available("imagenette")
    with pytest.raises(DatasetNotFoundError, match="imagenette2/val/n03888605/"):
        load_dataset("imagenette")
    # an empty (but present) class folder is fine; a split with no image at all is not
    (root / "imagenette2" / "val" / "n03888605").mkdir()
    assert is_available("imagenette")
    assert load_dataset("imagenette", resolution=SMALL).sizes["test"] == 18
    for d in (root / "imagenette2" / "val").iterdir():
        for f in d.iterdir():
            f.unlink()
    with pytest.raises(DatasetNotFoundError, match="no image files"):
        load_dataset("imagenette", resolution=SMALL)


def test_smaller_archive_folder_is_used(tmp_path, fake_image_folders):
    root = fake_image_folders.root
    (root / "imagenette2").rename(root / "imagenette2-160")
    assert is_available("imagenette")
    assert load_dataset("imagenette", resolution=SMALL).sizes == {"train": 50, "val": 10, "test": 20}


def test_bad_options(fake_image_folders):
    with pytest.raises(ValueError, match="resolution applies to the image-folder datasets"):
        load_dataset("toy3", resolution=32)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="resolution must be a positive integer"):
            load_dataset("imagenette", resolution=bad)
    with pytest.raises(ValueError, match="leaves an empty validation split"):
        load_dataset("ham10000", val_fraction=0.01, resolution=SMALL)
    with pytest.raises(ValueError, match="val_fraction applies to the torchvision datasets"):
        load_dataset("digits", val_fraction=0.2)


def test_write_ham10000_folders_from_metadata(tmp_path):
    """The official form (flat image folders + HAM10000_metadata.csv) → the loader's layout, with
    the authors' stratified 80 / 20 % split."""
    from PIL import Image
    from sklearn.model_selection import train_test_split

    raw = tmp_path / "raw"
    parts = [raw / "HAM10000_images_part_1", raw / "HAM10000_images_part_2"]
    for p in parts:
        p.mkdir(parents=True)
    dx_of = ["nv"] * 12 + ["mel"] * 4 + ["bcc"] * 2 + ["bkl"] * 2 + ["akiec", "df", "vasc"]
    rows = []
    for k, dx in enumerate(dx_of):
        image_id = f"ISIC_{k:07d}"
        rows.append({"lesion_id": f"HAM_{k // 2:07d}", "image_id": image_id, "dx": dx,
                     "dx_type": "histo", "age": "50.0", "sex": "male", "localization": "back"})
        red = 12 + 24 * HAM10000_DX.index(dx)
        Image.new("RGB", (30, 22), (red, 255 - red, k)).save(parts[k % 2] / f"{image_id}.jpg", quality=95)
    rows.append({**rows[0], "image_id": "ISIC_9999999"})  # in the metadata, no image: dropped
    meta = raw / "HAM10000_metadata.csv"
    with open(meta, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    root = tmp_path / "data"
    out = write_ham10000_folders(parts, meta, root)
    assert out == root / "ham10000" and is_available("ham10000", root)
    y = [int(d in ("mel", "bcc")) for d in dx_of]
    _, want_test = train_test_split(np.arange(len(dx_of)), test_size=0.2, random_state=1, stratify=y)
    got_test = sorted(int(p.stem[5:]) for p in (out / "test").rglob("*.jpg"))
    assert got_test == sorted(want_test.tolist()) and len(got_test) == 5
    assert len(list((out / "train").rglob("*.jpg"))) == len(dx_of) - 5
    for p in out.rglob("*.jpg"):  # each image sits in its dx folder, as a link to the original
        assert p.is_symlink() and p.parent.name == dx_of[int(p.stem[5:])]
    s = load_dataset("ham10000", root=root, resolution=16, val_fraction=0.25)
    assert s.sizes["test"] == 5 and len(s.train) + len(s.val) == len(dx_of) - 5
    with pytest.raises(FileExistsError):
        write_ham10000_folders(parts, meta, root)


@pytest.mark.parametrize("name, shape", [("imagenette", (3, 160, 160)), ("ham10000", (3, 299, 299))])
def test_one_training_epoch_end_to_end(fake_image_folders, name, shape):
    """``train(TrainConfig(dataset=...))`` reads the folder at the paper's resolution itself."""
    cfg = TrainConfig(dataset=name, model="cifar_small", epochs=1, batch_size=32, val_fraction=0.3,
                      threads=1, progress=False, device="cpu")
    result = train(cfg)
    assert result.splits.input_shape == shape
    assert len(result.history) == 1 and 0.0 <= float(result.history["val_acc"].iloc[0]) <= 1.0
    x = result.splits.test.tensors[0][:4]
    with torch.no_grad():
        out = result.model(x)
    assert out.shape == (4, result.splits.num_classes)
    assert (result.run_dir / "done.json").is_file()


def test_matches_the_authors_test_transform(tmp_path):
    """Every split gets the authors' Imagenette test transform exactly: ``Resize(192)``,
    ``CenterCrop(160)``, ``ToTensor()`` (their ``datasets.py``), here on random-noise images."""
    from PIL import Image
    from torchvision import transforms

    rng = np.random.default_rng(0)
    base = tmp_path / "data" / "imagenette2"
    files = {}
    for split, n in (("train", 2), ("val", 1)):
        for w in IMAGENETTE_WNIDS:
            (base / split / w).mkdir(parents=True)
        for k in range(n):
            f = base / split / IMAGENETTE_WNIDS[0] / f"noise_{k}.png"
            Image.fromarray(rng.integers(0, 256, (171 + 40 * k, 233, 3), dtype=np.uint8)).save(f)
            files.setdefault(split, []).append(f)
    s = load_dataset("imagenette", root=tmp_path / "data", val_fraction=0.5)
    ref = transforms.Compose([transforms.Resize(160 + 32), transforms.CenterCrop(160), transforms.ToTensor()])

    def want(f):
        with Image.open(f) as im:
            return ref(im.convert("RGB"))

    assert torch.equal(s.test.tensors[0][0], want(files["val"][0]))
    got = [s.train.tensors[0][0], s.val.tensors[0][0]]
    wanted = [want(f) for f in files["train"]]
    assert not torch.equal(wanted[0], wanted[1])
    match = [[j for j, w in enumerate(wanted) if torch.equal(g, w)] for g in got]
    assert sorted(match) == [[0], [1]]  # train and val: one training file each, exactly
