"""The CS randomized-smoothing protocol's comparison tables against the engines: the paper's cells
beside ours, intervals equal to the closed forms, claims from paired bootstraps over seeds."""
from __future__ import annotations

import numpy as np
import pytest

from csr.profiles import setup
from csr.stats import clopper_pearson, format_interval, paired_bootstrap
from csr.studies.cs_randomized_smoothing import SmoothingStudy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study():
    S = setup("cs_randomized_smoothing", profile="smoke", epochs=1, n_eval=60, n=100, verbose=False)
    return SmoothingStudy(S)


def test_profiles_follow_the_paper():
    cpu = SmoothingStudy.settings("cpu")
    assert cpu["cohen_r_alphas"] == [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0] and cpu["cohen_r_alpha"] == 1.2
    assert sorted({g for g, _ in cpu["gamma_grid"]}) == [2.0, 4.0, 6.0, 8.0]
    assert sorted({g for _, g in cpu["gamma_grid"]}) == [8.0, 10.0, 12.0, 16.0]
    assert cpu["seeds"] == [0, 1, 2] and cpu["rule"] == "paper"
    with pytest.raises(ValueError, match="parameter 'rule' must be one of sound, paper"):
        SmoothingStudy.settings("smoke", rule="loose")
    with pytest.raises(ValueError, match="parameter 'augment' must be one of crop_flip, flip, resized_crop_flip"):
        SmoothingStudy.settings("gpu", augment="cutout")
    gpu = SmoothingStudy.settings("gpu")
    assert (gpu["optimizer"], gpu["momentum"], gpu["weight_decay"], gpu["augment"], gpu["lam"], gpu["k"]) == (
        "sgd", 0.9, 5e-4, "crop_flip", 3.0, 16)
    assert SmoothingStudy.settings("gpu", dataset="ham10000")["tasks"] == ["single_pair:1,0"]


def test_table_runs_and_seeds(study):
    r0 = study.table_runs("single_seed:3", 0.5, seed=0)
    r1 = study.table_runs("single_seed:3", 0.5, seed=1)
    assert list(r0) == ["Gaussian", "MACER", "Cohen-R", "CS-MACER"]
    assert r0["Cohen-R"].config.method_kwargs["alpha"] == 1.2 and r1["MACER"].config.seed == 1
    assert all(r0[k].run_dir != r1[k].run_dir for k in r0)


def test_vs_paper_cells_and_intervals(study):
    t = study.vs_paper("single_seed:3", 0.5, 0.5, seeds=[0, 1])
    assert t.loc["CS-MACER", "paper Rob_c-s"] == 0.628 and t.loc["Gaussian", "paper Acc"] == 0.654
    h = study.hits(study.table_runs("single_seed:3", 0.5, seed=0)["MACER"], "single_seed:3", 0.5)["rob_cs"]
    assert t.loc["MACER", "ours rob_cs [95 %]"] == format_interval(h.mean(), *clopper_pearson(int(h.sum()), len(h)))
    assert "rob_cs over 2 seeds" in t.columns
    pair = study.vs_paper("single_pair:3,5", 0.25, 0.25, seeds=[0])
    assert "paper Rob_std" not in pair.columns and pair.loc["CS-MACER", "paper Rob_c-s"] == pytest.approx(
        SmoothingStudy.paper_table("table_7").query("Dataset == 'CIFAR-10' and Type == 'Single (3 → 5)' and "
                                                    "Method == 'Ours'")["Rob_c-s"].iloc[0])


def test_claims_are_paired_bootstraps_over_seed_means(study):
    c = study.claims(["single_seed:3"], 0.5, 0.5, seeds=[0, 1])
    assert len(c) == 6 and set(c["holds here?"]) <= {"yes", "no", "not resolved"}
    row = c[c.claim == "CS-MACER vs Cohen-R: Rob_cs higher"].iloc[0]
    H = study.seeds_hits("single_seed:3", 0.5, 0.5, [0, 1])
    d = paired_bootstrap(np.mean([h["rob_cs"] for h in H["Cohen-R"]], 0), np.mean([h["rob_cs"] for h in H["CS-MACER"]], 0))
    assert row["ours (95 %)"] == format_interval(*d)
    assert row["paper (CIFAR-10)"] == f"{0.628 - 0.506:+.3f}"
    assert len(row["per seed"].split()) == 2


def test_convex_l2_is_zhang_evans_in_l2(study):
    out = study.convex_l2("single_pair:3,5", 0.25, epochs=1)
    cfg = out["run"].config
    assert (cfg.method, cfg.norm, cfg.eps, cfg.method_kwargs["bound"]) == ("cs_robust", "l2", 0.25, "wk")
    rep = out["report"]
    assert out["rob_cs"].mean() == pytest.approx(1 - rep.row["cs_robust_error"])
    assert len(out["rob_cs"]) == int((study.S.y_eval.numpy() == 3).sum())
    assert out["acc"].mean() == pytest.approx(1 - rep.row["clean_error"])
