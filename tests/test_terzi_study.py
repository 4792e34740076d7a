"""Terzi et al.'s study (WPGD): the scale / λ identity against bit-exact attacks, Table 3's S
differences and the claims' verdicts against hand computations on seeded predictions, Table 2
against the paper's cells and Clopper–Pearson, the parameter checks, and the gpu profile's
CIFAR-10 / Tiny ImageNet paths (W-16-10, hypernym metric) on small generated files."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from csr.attacks import PGD
from csr.label_metrics import cifar10_semantic_metric, weighted_score
from csr.profiles import ParameterError, settings_for, setup
from csr.stats import clopper_pearson
from csr.studies.terzi_wpgd import Terzi, semantic_metric
from csr.train.wpgd import wasserstein_objective


def _wpgd_attack(model, D, scale, lam, p, norm, x, y):
    C = torch.tensor(scale * D, dtype=torch.float32)
    return PGD(model, eps=0.3 if norm == "linf" else 1.0, steps=5, norm=norm, seed=3,
               loss=wasserstein_objective(C, p, lam))(x, y)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("p, scale, lam", [(1.0, 2.0, 0.5), (2.0, 2.0, 0.25), (1.0, 4.0, math.inf)])
def test_scale_and_lambda_are_one_knob(norm, p, scale, lam):
    """(scale s, λ) and (1, λ·s^p) give the bit-identical WPGD attack (powers of two: exact in
    floating point), so they train the same model; a different λ at the same scale does not."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4))
    x, y = torch.rand(32, 6), torch.randint(0, 4, (32,))
    D = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], dtype=float) / 3
    a = _wpgd_attack(model, D, scale, lam, p, norm, x, y)
    b = _wpgd_attack(model, D, 1.0, lam * scale ** p, p, norm, x, y)
    assert torch.equal(a, b)
    if math.isfinite(lam):  # the control: the entropy weight matters
        c = _wpgd_attack(model, D, scale, lam * 16, p, norm, x, y)
        assert not torch.equal(a, c)


def _fake_study(y, m, p_list=(1.0, 10.0)):
    t = Terzi.__new__(Terzi)
    t.S = SimpleNamespace(y_eval=torch.as_tensor(y), splits=SimpleNamespace(name="fake"))
    t.m, t.P = m, {"n_boot": 300, "p_list": list(p_list)}
    return t


def test_score_table_and_claims_against_hand_computations():
    rng = np.random.default_rng(0)
    m, n = 3, 300
    D = np.array([[0, 0.2, 1], [0.2, 0, 1], [1, 1, 0]])
    y = rng.integers(0, m, n)
    far = (y + 2) % m  # 0->2, 1->0, 2->1
    near = np.where(y == 0, 1, np.where(y == 1, 0, 0))  # 0<->1 close; 2's nearest is 0 (1.0)
    wrong = rng.random(n) < 0.4
    pgd_adv = np.where(wrong, far, y)  # PGD's mistakes go far
    wp1_adv = np.where(wrong, near, y)  # WPGD p=1's go near: S must fall
    wp10_adv = pgd_adv.copy()  # WPGD p=10 = PGD under attack: S difference exactly 0
    clean = y.copy()
    ce_clean = y.copy()
    ce_clean[:30] = (y[:30] + 1) % m

    def pr(adv, cl):
        return {"y": y, "clean": cl[None], "pgd": adv[None], "entropy": np.zeros((1, n))}

    preds = {"CE": pr(np.where(wrong, far, y), ce_clean), "PGD": pr(pgd_adv, clean), "WPGD p=1": pr(wp1_adv, clean),
             "WPGD p=10": pr(wp10_adv, clean)}
    t = _fake_study(y, m)
    sc = t.score_table(preds, preds, D)
    d1 = sc.loc["WPGD p=1", "_dS metric-aware"]
    assert d1[0] == pytest.approx(weighted_score(wp1_adv, y, D) - weighted_score(pgd_adv, y, D))
    assert d1[2] < 0 and d1[1] <= d1[0] <= d1[2]
    assert np.allclose(sc.loc["WPGD p=10", "_dS metric-aware"], 0)
    assert sc.loc["PGD", "S − S_PGD (metric-aware) [95 %]"] == "0 (reference)"
    assert sc.loc["PGD", "AE % (CE-PGD)"] == pytest.approx(100 * wrong.mean(), abs=0.01)
    t1 = t.table1(sc)
    assert t1.iloc[0]["paper MNIST"] == -0.88 and t1.iloc[0]["ours fake [95 %]"].startswith(f"{sc.loc['PGD', '_r'][0]:.3f}")
    cl = t.claims(sc, protocol="fake").set_index("claim")["holds here?"]
    assert cl["WPGD p=1 lowers S below PGD (metric-aware attack)"] == "yes"
    assert cl["WPGD p=10 lowers S below PGD (metric-aware attack)"] == "not resolved"  # [0, 0] straddles nothing
    assert cl["S falls from WPGD p=1 to WPGD p=10 (metric-aware attack)"] == "no"  # p=10 is back at PGD's S
    # PGD's clean predictions are perfect, CE's are not: PGD confuses similar pairs *less* here
    assert cl["PGD confuses similar pairs more than CE (clean)"] in ("no", "not resolved")


def test_table2_is_the_paper_beside_clopper_pearson():
    y = np.arange(100) % 10
    wrong = np.zeros(100, dtype=int)
    wrong[:7] = 1
    pred = np.where(wrong == 1, (y + 1) % 10, y)
    preds = {k: {"y": y, "clean": pred[None], "pgd": pred[None], "entropy": np.zeros((1, 100))} for k in ("CE", "PGD")}
    t2 = _fake_study(y, 10).table2(preds)
    lo, hi = clopper_pearson(7, 100)
    assert t2.loc[("PGD", "NE"), "ours fake (%) [95 %]"] == f"7.0 [{100 * lo:.1f}, {100 * hi:.1f}]"
    assert t2.loc[("PGD", "NE"), "paper CIFAR-10 W-16-10"] == 14.11
    assert t2.loc[("PGD", "AE"), "paper Tiny W-16-10"] == 70.4
    assert t2.loc[("CE", "AE"), "paper CIFAR-10 W-16-10"] == 100


@pytest.mark.parametrize("bad, match", [
    (dict(metric_scale=0.0), "metric_scale"), (dict(metric_scale=math.inf), "metric_scale"),
    (dict(scale_sweep=[[1.0]]), "scale_sweep"), (dict(scale_sweep=[[1.0, -1.0]]), "scale_sweep"),
    (dict(toy_norm="l1"), "toy_norm"), (dict(metric="wordnet"), "metric"), (dict(n_seeds=0), "n_seeds"),
    (dict(metric="semantic"), "semantic.*mnist5k")])
def test_bad_parameters_fail_before_any_work(bad, match):
    with pytest.raises(ParameterError, match=match):
        settings_for("terzi_wpgd", "smoke", **bad)


def test_profiles_carry_the_papers_protocol():
    cpu = settings_for("terzi_wpgd", "cpu")
    assert (cpu["train_steps"], cpu["eval_steps"], cpu["p_list"], cpu["toy_norm"], cpu["n_seeds"]) == (
        8, 20, [1.0, 2.5, 10.0], "l2", 3)
    assert cpu["testbed"]["model"] == "mlp" and cpu["testbed"]["n_seeds"] >= 3
    for ds in ("cifar10", "tiny_imagenet"):
        g = settings_for("terzi_wpgd", "gpu", dataset=ds)
        assert (g["model"], g["model_kwargs"], g["eps"], g["metric"]) == ("wrn", {"depth": 16, "width": 10}, 4 / 255,
                                                                          "semantic")
        assert (g["optimizer"], g["momentum"], g["nesterov"], g["weight_decay"], g["batch_size"]) == (
            "sgd", 0.9, True, 5e-4, 128)
        assert g.get("augment") == ("crop_flip" if ds == "cifar10" else None) and g["testbed"] is None


def test_semantic_metric_names_its_datasets():
    from csr.label_metrics import CIFAR10_CLASSES

    assert np.array_equal(semantic_metric("cifar10", CIFAR10_CLASSES), cifar10_semantic_metric())
    with pytest.raises(ValueError, match="expected the classes"):
        semantic_metric("cifar10", CIFAR10_CLASSES[::-1])
    with pytest.raises(ParameterError, match="cifar10, tiny_imagenet"):
        semantic_metric("mnist", [str(d) for d in range(10)])


@pytest.mark.slow
def test_terzi_gpu_cifar10_and_tiny_imagenet(fake_torchvision, monkeypatch):
    """The gpu profile's CIFAR-10 and Tiny ImageNet path on small generated files: W-16-10 with
    SGD-Nesterov, weight decay, flip + crop (CIFAR), ε = 4/255 and the hypernym-tree metric;
    every model of the p sweep trained one epoch, Tables 2-3 and the claims built (fewer
    examples and attack steps than the profile's 8 / 20, one p)."""
    import test_data_tiny_imagenet as fake_tiny

    real = {"n01443537": "goldfish", "n02123394": "Persian cat", "n02085620": "Chihuahua"}
    monkeypatch.setattr(fake_tiny, "WNIDS", list(real))
    monkeypatch.setattr(fake_tiny, "NAMES", real)
    fake_tiny.write_fake_tiny(fake_torchvision, n_train=10)
    for ds in ("cifar10", "tiny_imagenet"):
        P = Terzi.settings("gpu", dataset=ds)
        assert (P["train_steps"], P["eval_steps"]) == (8, 20)
        # one epoch, a few examples and attack steps: W-16-10 on two CPU cores
        S = setup("terzi_wpgd", profile="gpu", dataset=ds, epochs=1, n_train=8, n_eval=4, p_list=[2.5], train_steps=1,
                  eval_steps=2, val_fraction=0.2, device="cpu", verbose=False)
        t = Terzi(S)
        C, D = t.label_metric()
        assert C.name == "semantic metric" and D.shape == (t.m, t.m) and D.max() == 1
        if ds == "tiny_imagenet":  # goldfish is farther from both mammals than the cat from the Chihuahua
            i = {n: k for k, n in enumerate(S.splits.class_names)}
            assert D[i["goldfish"], i["Persian cat"]] > D[i["Persian cat"], i["Chihuahua"]]
        runs = t.models(D)
        cfg = runs["WPGD p=2.5"].config
        assert (cfg.model, cfg.model_kwargs, cfg.optimizer, cfg.nesterov, cfg.weight_decay, cfg.eps) == (
            "wrn", {"depth": 16, "width": 10}, "sgd", True, 5e-4, pytest.approx(4 / 255))
        assert cfg.augment == ("crop_flip" if ds == "cifar10" else None)
        assert cfg.method_kwargs["steps"] == 1 and cfg.method_kwargs["p"] == 2.5
        assert np.allclose(np.asarray(cfg.cost_matrix), D)
        preds = t.seed_predictions({n: [r] for n, r in runs.items()})
        wpreds = t.seed_predictions({n: [r] for n, r in runs.items()}, metric=D)
        sc = t.score_table(preds, wpreds, D)
        assert list(sc.index) == ["CE", "PGD", "WPGD p=2.5"]
        assert t.table3(sc).loc[2.5, "S − S_PGD paper (W-16-10)"] == pytest.approx(-0.20)
        assert set(t.claims(sc)["holds here?"]) <= {"yes", "no", "not resolved"}
        assert t.table2(preds).shape == (4, 3)
        assert t.testbed() is None and S.settings["pairs"] == []
