"""Tiny ImageNet (Zeng et al.'s Tables 3 and 5) end to end on a small generated copy of the official
``tiny-imagenet-200`` layout: wnid labels in sorted order, the labelled val folder as the test
split (read through ``val_annotations.txt``), the native 64 px, the seeded validation split, and
the missing-data error."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csr.data import DatasetNotFoundError, is_available, load_dataset

WNIDS = ["n09999999", "n01443537", "n02123394"]  # written unsorted: labels follow sorted order
NAMES = {"n01443537": "goldfish", "n02123394": "Persian cat", "n09999999": "made-up thing"}


def _colour(label: int) -> int:
    return 30 + 80 * label


def write_fake_tiny(root: Path, n_train: int = 5, n_val: int = 3) -> Path:
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text("\n".join(f"{w}\t{NAMES[w]}, another name" for w in WNIDS) + "\n")
    order = sorted(WNIDS)
    ann = []
    for w in WNIDS:
        lab = order.index(w)
        d = base / "train" / w / "images"
        d.mkdir(parents=True)
        (base / "train" / w / f"{w}_boxes.txt").write_text("")  # as in the zip; not an image
        for k in range(n_train):
            Image.new("RGB", (64, 64), (_colour(lab), 10 * k, 5)).save(d / f"{w}_{k}.JPEG", quality=95)
        for k in range(n_val):
            name = f"val_{lab}_{k}.JPEG"
            Image.new("RGB", (64, 64), (_colour(lab), 200, 10 * k)).save(base / "val" / "images" / name, quality=95)
            ann.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(ann[::-1]) + "\n")  # any order
    return root


def _label_of(x) -> np.ndarray:
    red = x[:, 0].reshape(len(x), -1).mean(1).numpy() * 255
    return np.rint((red - _colour(0)) / (_colour(1) - _colour(0))).astype(int)


def test_official_layout_labels_and_splits(tmp_path):
    root = write_fake_tiny(tmp_path / "data")
    assert is_available("tiny_imagenet", root)
    s = load_dataset("tiny_imagenet", root=root, val_fraction=0.2)
    assert s.input_shape == (3, 64, 64) and s.num_classes == 3
    assert s.class_names == ["goldfish", "Persian cat", "made-up thing"]  # sorted wnids, first name
    assert s.sizes == {"train": 12, "val": 3, "test": 9}  # 20 % of 5 per class = 1
    for part in (s.train, s.val, s.test):
        x, y = part.tensors
        assert y.tolist() == _label_of(x).tolist()  # every image carries its own class's label
    assert np.bincount(s.test.tensors[1].numpy()).tolist() == [3, 3, 3]
    again = load_dataset("tiny_imagenet", root=root, val_fraction=0.2)
    assert (again.val.tensors[0] == s.val.tensors[0]).all()  # seeded
    assert load_dataset("tiny_imagenet", root=root, val_fraction=0.2, resolution=32).input_shape == (3, 32, 32)


def test_missing_or_broken_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_available("tiny_imagenet", empty)
    with pytest.raises(DatasetNotFoundError, match=r"tiny-imagenet-200/wnids.txt[\s\S]*tiny-imagenet-200.zip"):
        load_dataset("tiny_imagenet", root=empty)
    root = write_fake_tiny(tmp_path / "data")
    ann = root / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    ann.write_text("val_0_0.JPEG\tn00000000\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="line 1: expected"):
        load_dataset("tiny_imagenet", root=root)
    with pytest.raises(ValueError, match="resolution must be a positive integer"):
        load_dataset("tiny_imagenet", root=root, resolution=0)
