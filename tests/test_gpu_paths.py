"""The ``gpu`` profiles' code paths end to end on small generated files in torchvision's on-disk
formats (no real MNIST / CIFAR-10 exists on these machines): the paper's splits, optimiser,
schedules, selection rule and α, one epoch each, so the path cannot rot unseen."""
from __future__ import annotations

import pytest
import torch

from csr.profiles import setup
from csr.studies.zhang_evans_2019 import CIFAR_LABELS, ZhangEvans

pytestmark = pytest.mark.slow


def test_zhang_evans_gpu_mnist(fake_torchvision):
    S = setup("zhang_evans_2019", profile="gpu", cost_matrix="odd", epochs=1, device="cpu", verbose=False)
    assert S.splits.sizes == {"train": 48, "val": 12, "test": 20}  # Appendix A: 48,000 / 12,000 of 60,000
    Z = ZhangEvans(S, alpha_grid=[1.0])
    base = Z.run("robust")
    cfg = base.config
    assert (cfg.model, cfg.eps, cfg.eps_start, cfg.eps_warmup_epochs) == ("mnist_small", 0.2, 0.05, 20)
    assert (cfg.optimizer, cfg.lr, cfg.lr_schedule, cfg.lr_step_start, cfg.lr_step, cfg.lr_gamma) == (
        "adam", 1e-3, "step", 20, 10, 0.5)
    assert (cfg.select_max_val_err, cfg.val_fraction, cfg.method_kwargs["bound"]) == (0.04, 0.2, "wk")
    Z.set_baseline(base)
    spec = "single_pair:0,2"
    C = Z.task(spec)
    alpha = Z.alpha(C, spec)  # tune_alpha in the gpu profile: the coarse grid, then ×2^-3..2^3
    trials = Z.trials[-1]
    assert set(trials["stage"]) == {"coarse", "fine"} and alpha in set(trials["alpha"])
    assert len(trials) == 1 + 6  # 1.0, then 1.0·2^k for k = ±1, ±2, ±3
    row = Z.certified(Z.run("cs_robust", C, alpha=alpha), C).row
    assert row["n"] == 20 and 0 <= row["cs_robust_error"] <= 1
    assert Z.run("cs_robust", C, alpha=alpha).config.select_metric == "val_cert_cs_robust_error"


def test_zhang_evans_gpu_cifar10(fake_torchvision):
    # one task, tuning off (the paper's Table 3 α), a few certified inputs: exact Wong-Kolter bounds
    # of cifar_large cost ~0.4 GB per input on a CPU
    S = setup("zhang_evans_2019", profile="gpu", dataset="cifar10", epochs=1, tune_alpha=False, n_eval=2, n_val=2,
              device="cpu", verbose=False)
    assert S.splits.sizes == {"train": 48, "val": 12, "test": 20}  # the code's 80/20 split
    Z = ZhangEvans(S)
    assert Z.labels is CIFAR_LABELS
    base = Z.run("robust")
    cfg = base.config
    assert (cfg.model, cfg.eps, cfg.method_kwargs["bound"], cfg.select_max_val_err) == (
        "cifar_large", pytest.approx(2 / 255), "wk_proj", 0.35)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.clip_grad, cfg.batch_size) == (
        "sgd", 0.05, 0.9, 5e-4, 1.0, 50)
    assert (cfg.eps_start, cfg.eps_warmup_epochs, cfg.lr_step_start, cfg.lr_step) == (0.001, 20, 20, 10)
    spec = "single_pair:6,2"
    C = Z.task(spec)
    assert Z.alpha(C, spec) == 10.0  # Table 3's α for (frog, bird), not the fallback 1
    assert Z.alpha(Z.task("vehicle"), "vehicle") == paper_alpha("vehicle (real-valued)")
    row = Z.certified(Z.run("cs_robust", C, alpha=10.0), C).row
    assert row["n"] == 2
    # Table 3 and Fig. 4 as the notebook builds them: paper | ours per task, the vehicle model's
    # all-pairs certificate for Fig. 4(b)
    t3 = Z.table3(tasks=[spec, "vehicle"])
    table = t3["table"]
    assert list(table.index) == ["single pair (frog, bird)", "vehicle (real-valued)"]
    assert list(table["metric"]) == ["cs robust error", "robust cost"]
    assert table.loc["single pair (frog, bird)", "paper base → cs"] == "0.1990 → 0.0120"
    assert table.loc["vehicle (real-valued)", "paper base → cs"] == "4.1830 → 3.0950"
    assert table.loc["vehicle (real-valued)", "α"] == paper_alpha("vehicle (real-valued)")
    assert t3["baseline"].pairwise.shape == t3["vehicle"].pairwise.shape == (10, 10)
    assert set(table["lower?"]) <= {"yes", "no", "not resolved"}


def paper_alpha(task: str) -> float:
    rows = ZhangEvans.paper_results()["table3"]
    return float(next(r["alpha"] for r in rows if r["task"] == task))


def test_val_fraction_is_checked(fake_torchvision):
    from csr.data import load_dataset
    from csr.profiles import ParameterError

    assert load_dataset("mnist", val_fraction=0.5).sizes == {"train": 30, "val": 30, "test": 20}
    with pytest.raises(ValueError, match="val_fraction applies to the torchvision datasets"):
        load_dataset("mnist5k", val_fraction=0.2)
    for bad in (0, 1.0, -0.1, True):
        with pytest.raises(ValueError, match="val_fraction must be a number strictly between 0 and 1"):
            load_dataset("mnist", val_fraction=bad)
    with pytest.raises(ParameterError, match="'val_fraction' must lie strictly between 0 and 1"):
        setup("zhang_evans_2019", profile="gpu", val_fraction=1.5, verbose=False)


# --- cost-sensitive randomized smoothing (Xin et al.): CIFAR-10, Imagenette, HAM10k -------------
def _smoothing_setup(dataset, **kw):
    # the gpu profile with only the sizes cut: 1 epoch, k = 2 noise samples in training, 50
    # certification samples
    return setup("cs_randomized_smoothing", profile="gpu", dataset=dataset, epochs=1, k=2, n0=10, n=50,
                 certify_batch=64, device="cpu", verbose=False, **kw)


def _check_training_settings(cfg):
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size) == ("sgd", 0.01, 0.9, 5e-4, 64)
    assert (cfg.lr_schedule, cfg.lr_milestones, cfg.lr_gamma) == ("multistep", [200, 400], 0.1)


def test_cs_smoothing_gpu_cifar10(fake_torchvision):
    from csr.studies.cs_randomized_smoothing import TASKS, SmoothingStudy

    S = _smoothing_setup("cifar10")
    P = S.settings
    assert (P["model"], P["augment"], P["tasks"], P["n_eval"], P["alpha"]) == ("resnet56", "crop_flip", TASKS, None, 0.001)
    study = SmoothingStudy(S)
    assert study.paper_dataset == "CIFAR-10"
    runs = study.table_runs("single_pair:3,5", 0.5)
    cfg = runs["CS-MACER"].config
    _check_training_settings(cfg)
    assert cfg.augment == "crop_flip" and cfg.model == "resnet56"
    assert (cfg.method_kwargs["k"], cfg.method_kwargs["lam"], cfg.method_kwargs["beta"]) == (2, 3.0, 16.0)
    table = study.vs_paper("single_pair:3,5", 0.5, 0.5, seeds=[0])
    assert table.loc["CS-MACER", "paper Rob_c-s"] == 0.924  # Table 2, CIFAR-10, Ours
    assert len(S.y_eval) == 20  # every test image is certified


def test_cs_smoothing_gpu_imagenette(fake_image_folders):
    from csr.studies.cs_randomized_smoothing import IMAGENETTE_TASKS, SmoothingStudy

    S = _smoothing_setup("imagenette", resolution=32)
    assert S.splits.input_shape == (3, 32, 32)
    P = S.settings
    assert (P["model"], P["model_kwargs"], P["augment"]) == ("resnet18", {"stem": "imagenet"}, "resized_crop_flip")
    assert P["tasks"] == IMAGENETTE_TASKS and "table4" not in P["sections"]
    study = SmoothingStudy(S)
    assert study.paper_dataset == "Imagenette"
    runs = study.table_runs("single_seed:7", 0.5)
    _check_training_settings(runs["Gaussian"].config)
    assert runs["Gaussian"].config.augment == "resized_crop_flip"
    table = study.vs_paper("single_seed:7", 0.5, 0.5, seeds=[0])
    # Table 1, Imagenette, Single (7): the paper's Cohen row beside ours
    assert (table.loc["Gaussian", "paper Acc"], table.loc["Gaussian", "paper Rob_c-s"]) == (0.803, 0.646)
    low = study.vs_paper("single_pair:7,2", 0.25, 0.25, seeds=[0])
    assert low.loc["Gaussian", "paper Rob_c-s"] == 0.880  # Table 7, Imagenette, Single (7 → 2), Cohen
    claims = study.claims(["single_pair:7,2"], 0.5, 0.5, seeds=[0])
    assert set(claims["holds here?"]) <= {"yes", "no", "not resolved"}
    assert "paper (Imagenette)" in claims.columns


def test_cs_smoothing_gpu_ham10000_table3(fake_image_folders):
    from csr.studies.cs_randomized_smoothing import HAM_TASK, SmoothingStudy

    S = _smoothing_setup("ham10000", resolution=64)
    P = S.settings
    assert S.splits.num_classes == 2 and S.splits.input_shape == (3, 64, 64)
    assert (P["model"], P["model_kwargs"], P["augment"]) == (
        "resnet56", {"stem": "imagenet", "widths": [64, 128, 256], "shortcut": "B"}, None)
    assert P["tasks"] == [HAM_TASK] and P["sections"] == ["table3"]
    study = SmoothingStudy(S)
    C = study.cost(HAM_TASK)
    assert C.pairs == [(1, 0)]  # malignant → benign only
    t3 = study.table3()
    table, claims = t3["table"], t3["claims"]
    assert list(table.index) == ["Cohen", "Cohen-R-I", "Cohen-R-II", "MACER", "Ours"]
    assert table.loc["Cohen-R-II", "paper Rob_c-s"] == 0.437 and table.loc["Ours", "paper Acc"] == 0.831
    assert claims.loc[0, "paper"] == "+0.240"  # 0.437 − 0.197
    assert set(claims["holds here?"]) <= {"yes", "no", "not resolved"}
    cfgs = {r.config.method: r.config for r in (study.run("cohen_r", 0.5, HAM_TASK, alpha=1.1),
                                                study.run("cs_macer", 0.5, HAM_TASK))}
    _check_training_settings(cfgs["cs_macer"])
    assert cfgs["cohen_r"].method_kwargs["alpha"] == 1.1 and cfgs["cs_macer"].augment is None
    n_sensitive = int(study.certificate(study.run("macer", 0.5), HAM_TASK).sensitive.sum())
    assert n_sensitive == 4  # the test folder's mel + bcc images


# --- Shen et al.: MNIST (Table II), CIFAR-10 (Table III), CIFAR-100 with ResNet18 (Table IV) -----
_SHEN_CUT = dict(epochs=1, train_steps=1, eval_steps=2, cw=dict(c=0.1, steps=2, binary_search_steps=1, lr=0.01),
                 device="cpu", verbose=False)


def _shen_table_path(dataset, protected, table, model, optimizer, **cut):
    from csr.studies.shen_cost_sensitive_classes import Shen

    S = setup("shen_cost_sensitive_classes", profile="gpu", dataset=dataset, protected=protected, **_SHEN_CUT, **cut)
    study = Shen(S)
    assert study.paper_table_name == table and S.settings["model"] == model
    H = study.all_hits(track=("fuzziness", "fuzziness_eq9"))
    runs = study.models(protected[0], track=("fuzziness", "fuzziness_eq9"))
    cfg = runs["CSA"].config
    assert (cfg.optimizer, cfg.batch_size, cfg.method_kwargs["update"], cfg.method_kwargs["attack_loss"]) == (
        optimizer, 256, "two_step", "ce")
    assert runs["CSE"].config.method_kwargs["regularizer"] == "eq9"
    assert {"fuzz_eq9", "val_pgd_acc"} <= set(runs["CSE"].history.columns)
    t = study.vs_paper(H)
    assert len(t) == 6 * 6 and all(c in t.columns for c in (f"p={p}" for p in protected))
    claims = study.claims(H)
    assert set(claims["holds here?"]) <= {"yes", "no", "not resolved"}
    return S, study, t, cfg


def test_shen_gpu_mnist(fake_torchvision):
    S, study, t, cfg = _shen_table_path("mnist", [1], "table_2", "lenet", "sgd")
    assert (cfg.lr, cfg.momentum, cfg.epochs, cfg.method_kwargs["steps"]) == (0.01, 0.95, 1, 1)
    assert S.settings["cw"]["c"] == 0.1  # overridden; the profile's is Advertorch's 1e-3
    assert study.profiles["gpu"]["cw"] == dict(c=1e-3, steps=10_000, binary_search_steps=9, lr=0.01)
    assert t.loc[("PGD", "CSE+ADV"), "p=1"].startswith("0.955 / ")  # Table II, PGD, CSE+ADV, O_1


def test_shen_gpu_cifar10_lenet_without_padding(fake_torchvision):
    S, study, t, cfg = _shen_table_path("cifar10", [0, 5], "table_3", "lenet", "adam")
    assert (cfg.lr, cfg.lr_schedule, cfg.lr_step, cfg.lr_gamma, cfg.model_kwargs) == (0.01, "step", 10, 0.5, {"pad1": 0})
    assert cfg.eps == pytest.approx(8 / 255) and cfg.method_kwargs["clean_epochs"] == 0
    first = next(m for m in study.models(0)["STD"].model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.padding == (0, 0) and first.in_channels == 3
    assert t.loc[("CW", "STD"), "p=0"].startswith("0.000 / ")  # Table III's all-zero CW rows
    assert t.loc[("CW", "STD"), "p=5"].startswith("— / ")  # the paper prints no CW cell for p >= 5


def test_shen_gpu_cifar100_resnet18(fake_torchvision):
    # 100 training images (one per class): ResNet18's six models stay within a minute on a CPU
    S, study, t, cfg = _shen_table_path("cifar100", [21], "table_4", "resnet18", "sgd", n_train=100)
    assert (cfg.lr, cfg.lr_step, cfg.lr_gamma) == (0.1, 60, 0.5) and S.splits.num_classes == 100
    assert S.settings["protected"] == [21]
    assert t.loc[("FGSM", "CSE+ADV"), "p=21"].startswith("0.007 / ")  # Table IV, FGSM, CSE+Adv, O_21
