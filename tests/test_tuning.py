"""α tuning (Zhang & Evans Appendix A): grid order, selection under the clean-error threshold,
fallback, objective choice, and real runs end to end."""
from __future__ import annotations

import math

import pytest

from csr.data import load_dataset
from csr.evaluate import report_from_reach
from csr.attacks import predict
from csr.metrics import reach_from_predictions
from csr.train import TrainConfig
from csr.train.tuning import COARSE_ALPHAS, FINE_FACTORS, tune_alpha

BASE = TrainConfig(method="cs_ce", cost_matrix="odd", dataset="digits", model="mlp")


def fake_train(cfg, **kw):
    return cfg.method_kwargs["alpha"]


def test_grids_are_the_papers():
    assert COARSE_ALPHAS == (0.01, 0.1, 1.0, 10.0, 100.0)
    assert FINE_FACTORS == (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def test_fine_grid_centres_on_best_coarse_and_threshold_is_respected():
    # objective best at α = 3 but α > 5 breaks the clean-error threshold
    ev = lambda a: {"clean_error": 0.01 if a <= 5 else 0.5, "cs_robust_error": abs(math.log(a / 3))}
    best, df = tune_alpha(BASE, ev, max_clean_error=0.05, train_fn=fake_train)
    coarse = df[df.stage == "coarse"]
    assert list(coarse.alpha) == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert set(df[df.stage == "fine"].alpha) == {0.125, 0.25, 0.5, 2.0, 4.0, 8.0}  # around α=1 (10 breaks threshold)
    assert best == 4.0 and df.loc[df.chosen, "alpha"].tolist() == [4.0]
    assert not df.loc[df.alpha == 8.0, "eligible"].item()


def test_no_eligible_trial_falls_back_to_lowest_clean_error():
    ev = lambda a: {"clean_error": 0.5 + 0.01 * a, "cs_robust_error": 1 / (1 + a)}
    best, df = tune_alpha(BASE, ev, max_clean_error=0.1, coarse=(0.1, 1.0), fine_factors=(1.0, 2.0), train_fn=fake_train)
    assert best == 0.1 and not df.eligible.any()


def test_real_valued_matrix_uses_robust_cost():
    ev = lambda a: {"clean_error": 0.0, "cs_robust_error": float("nan"), "robust_cost": (a - 10) ** 2}
    best, df = tune_alpha(BASE, ev, max_clean_error=0.1, train_fn=fake_train)
    assert best == 10.0 and "robust_cost" in df.columns


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_clean_error"):
        tune_alpha(BASE, lambda r: {}, max_clean_error=2, train_fn=fake_train)
    with pytest.raises(ValueError, match="must return 'clean_error'"):
        tune_alpha(BASE, lambda r: {"x": 1}, max_clean_error=0.1, train_fn=fake_train)
    with pytest.raises(ValueError, match="unknown method"):
        tune_alpha(TrainConfig(method="nope"), lambda r: {}, max_clean_error=0.1, train_fn=fake_train)


def test_real_runs_end_to_end(tmp_path):
    splits = load_dataset("digits")
    xv, yv = splits.val.tensors

    def evaluate(run):
        pred = predict(run.model, xv)
        return report_from_reach(reach_from_predictions(pred, yv, 10), pred, yv, run.cost).row

    base = TrainConfig(method="cs_ce", cost_matrix="single_seed:3", dataset="digits", model="mlp",
                       model_kwargs={"hidden": [32]}, epochs=2, n_train=300, progress=False, device="cpu")
    best, df = tune_alpha(base, evaluate, max_clean_error=0.9, coarse=(0.1, 10.0), fine_factors=(0.5, 1.0),
                          splits=splits, runs_root=tmp_path)
    assert len(df) == 3 and best in set(df.alpha)
    assert len(list(tmp_path.glob("cs_ce-*/done.json"))) == 3


def test_each_stage_is_trained_as_one_grid_first():
    """train_many gets the coarse trials, then the fine ones not yet trained; the choice is the
    same as without it."""
    ev = lambda a: {"clean_error": 0.01 if a <= 5 else 0.5, "cs_robust_error": abs(math.log(a / 3))}
    grids = []
    best, df = tune_alpha(BASE, ev, max_clean_error=0.05, train_fn=fake_train,
                          train_many=lambda cfgs: grids.append([c.method_kwargs["alpha"] for c in cfgs]))
    assert grids == [[0.01, 0.1, 1.0, 10.0, 100.0], [0.125, 0.25, 0.5, 2.0, 4.0, 8.0]]  # 1.0 already trained
    plain = tune_alpha(BASE, ev, max_clean_error=0.05, train_fn=fake_train)
    assert best == plain[0] and df.equals(plain[1])
