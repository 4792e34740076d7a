"""The Tiny-ImageNet semantic metric (:func:`csr.label_metrics.tiny_imagenet_semantic_metric`) and
its stored hypernym file ``csr/resources/tiny_imagenet_hypernyms.json``: the 200 wnids, a metric
on them, siblings close, names and wnids alike, subsets and order kept, unknown classes named."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from csr.label_metrics import _paths, check_metric, tiny_imagenet_semantic_metric
from csr.utils import resources_dir

HYPERNYMS = resources_dir() / "tiny_imagenet_hypernyms.json"


def _doc() -> dict:
    return json.loads(HYPERNYMS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def full() -> np.ndarray:
    return tiny_imagenet_semantic_metric()


def test_file_has_the_200_tiny_imagenet_wnids():
    doc = _doc()
    assert isinstance(doc["source"], str) and "wnids.txt" in doc["source"]
    wnids = list(doc["classes"])
    assert len(wnids) == 200 and len(set(wnids)) == 200
    assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    # the start and the end of the official wnids.txt, and a few well-known classes
    assert wnids[:3] == ["n02124075", "n04067472", "n04540053"] and wnids[-1] == "n02504458"
    names = {w: e["name"] for w, e in doc["classes"].items()}
    assert names["n02124075"] == "Egyptian cat" and names["n01443537"] == "goldfish"
    assert names["n04146614"] == "school bus" and names["n02504458"] == "African elephant"
    assert len(set(names.values())) == 200  # no ambiguous names
    for w, e in doc["classes"].items():
        assert isinstance(e["path"], list) and 1 <= len(e["path"]) <= 6, w
        assert all(isinstance(level, str) and level for level in e["path"]), w


def test_paths_form_a_tree():
    """A group name means one node: wherever a name appears, it has the same ancestors."""
    ancestors: dict[str, tuple[str, ...]] = {}
    for w, e in _doc()["classes"].items():
        for k, level in enumerate(e["path"]):
            assert ancestors.setdefault(level, tuple(e["path"][:k])) == tuple(e["path"][:k]), (w, level)
    top = {e["path"][0] for e in _doc()["classes"].values()}
    assert top == {"organism", "artifact", "food", "natural object"}


def test_full_metric_is_a_metric_in_unit_range(full):
    assert full.shape == (200, 200) and full.dtype == np.float64
    assert np.array_equal(full, full.T)
    assert np.all(np.diag(full) == 0)
    assert full.min() >= 0 and full.max() == 1
    check_metric(full, class_names=list(_doc()["classes"]))  # includes the triangle inequality
    assert np.all(full[~np.eye(200, dtype=bool)] > 0)


def test_tree_matches_the_stored_paths():
    """The tree built from the file gives every class its stored path (tree_metric's view)."""
    from csr.label_metrics import _flatten_own

    doc = _doc()
    tree: dict = {}
    for w, e in doc["classes"].items():
        node = tree
        for level in e["path"]:
            node = node.setdefault(level, {})
        node.setdefault("", []).append(w)
    paths = _paths(_flatten_own(tree))
    assert {w: list(p) for w, p in paths.items()} == {w: e["path"] for w, e in doc["classes"].items()}


def test_siblings_are_closer_than_unrelated_classes():
    D = tiny_imagenet_semantic_metric(["golden retriever", "Labrador retriever", "Chihuahua", "Persian cat",
                                       "goldfish", "school bus", "trolleybus", "pizza"])
    retriever, labrador, chihuahua, cat, fish, bus, trolley, pizza = range(8)
    assert D[retriever, labrador] == D[retriever, chihuahua] < D[retriever, cat] < D[retriever, fish]
    assert D[retriever, fish] < D[retriever, bus] == D[retriever, pizza] == 1.0
    assert D[bus, trolley] < D[bus, pizza]
    assert D[retriever, labrador] == pytest.approx(1 / 7)


def test_names_and_wnids_give_the_same_matrix(full):
    doc = _doc()
    wnids = list(doc["classes"])
    names = [doc["classes"][w]["name"] for w in wnids]
    assert np.array_equal(tiny_imagenet_semantic_metric(names), full)
    assert np.array_equal(tiny_imagenet_semantic_metric(wnids), full)
    mixed = [w if k % 2 else n for k, (w, n) in enumerate(zip(wnids, names))]
    assert np.array_equal(tiny_imagenet_semantic_metric(mixed), full)
    assert np.array_equal(tiny_imagenet_semantic_metric(tuple(wnids)), full)


def test_subset_and_order_are_kept(full):
    wnids = list(_doc()["classes"])
    pick = ["n04146614", "n02099601", "n01443537", "n02085620"]  # school bus, golden retriever, goldfish, Chihuahua
    idx = [wnids.index(w) for w in pick]
    D = tiny_imagenet_semantic_metric(pick)
    assert D.shape == (4, 4)
    assert np.array_equal(D, full[np.ix_(idx, idx)])  # the scale does not depend on the subset
    rev = tiny_imagenet_semantic_metric(pick[::-1])
    assert np.array_equal(rev, D[::-1, ::-1])
    assert tiny_imagenet_semantic_metric(["goldfish"]).tolist() == [[0.0]]
    # the loader's order: sorted wnids
    srt = sorted(wnids)
    assert np.array_equal(tiny_imagenet_semantic_metric(srt),
                          full[np.ix_([wnids.index(w) for w in srt], [wnids.index(w) for w in srt])])


def test_result_is_a_copy(full):
    D = tiny_imagenet_semantic_metric()
    D[0, 1] = 5.0
    assert tiny_imagenet_semantic_metric()[0, 1] == full[0, 1] != 5.0


def test_unknown_classes_are_named():
    with pytest.raises(ValueError) as err:
        tiny_imagenet_semantic_metric(["goldfish", "made-up thing", "n09999999"])
    msg = str(err.value)
    assert "'made-up thing'" in msg and "'n09999999'" in msg and "'goldfish'" not in msg.split(";")[0]
    assert "200 Tiny-ImageNet classes" in msg
    assert "'n02124075' or 'Egyptian cat'" in msg  # examples of what is known


def test_bad_inputs():
    with pytest.raises(ValueError, match="distinct"):
        tiny_imagenet_semantic_metric(["goldfish", "n01443537"])  # a name and its own wnid
    with pytest.raises(ValueError, match="distinct"):
        tiny_imagenet_semantic_metric(["goldfish", "goldfish"])
    with pytest.raises(ValueError, match="empty"):
        tiny_imagenet_semantic_metric([])
    with pytest.raises(TypeError, match="single string"):
        tiny_imagenet_semantic_metric("goldfish")


def test_names_of_the_fake_tiny_imagenet_generator():
    """tests/test_data_tiny_imagenet.py writes two real classes and one made-up wnid: the real
    ones (by the names its words.txt gives and by wnid, in the loader's sorted order) work; the
    made-up one is refused."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_fake_tiny_generator", Path(__file__).with_name("test_data_tiny_imagenet.py"))
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    NAMES, WNIDS = fake.NAMES, fake.WNIDS

    real = [w for w in sorted(WNIDS) if w in _doc()["classes"]]
    assert real == ["n01443537", "n02123394"]  # n09999999 is not a Tiny-ImageNet wnid
    by_name = tiny_imagenet_semantic_metric([NAMES[w] for w in real])  # goldfish, Persian cat
    assert np.array_equal(by_name, tiny_imagenet_semantic_metric(real))
    assert by_name[0, 1] > 0
    with pytest.raises(ValueError, match="made-up thing"):
        tiny_imagenet_semantic_metric([NAMES[w] for w in sorted(WNIDS)])
