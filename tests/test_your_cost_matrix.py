"""`your_cost_matrix`: every method family for one cost matrix under one threat model. The
sandwich empirical ≤ certified on every row, ℓ∞ and smoothed (and a control where it must fail), the merged
attack never below either attack alone, the results written as data, and the parameter checks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from csr.attacks import PGD, CostPGD, pairwise_reach, predict
from csr.evaluate import Report
from csr.profiles import ParameterError, settings_for, setup
from csr.studies.your_cost_matrix import FAMILIES, YourCostMatrix, save_results


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    import os

    old = os.environ.get("CSR_RUNS_DIR")
    os.environ["CSR_RUNS_DIR"] = str(tmp_path_factory.mktemp("runs"))
    S = setup("your_cost_matrix", profile="smoke", cost_matrix="single_seed:3",
              methods=["standard", "pgd", "cs_certified", "gaussian"], verbose=False)
    study = YourCostMatrix(S)
    table, reports = study.report()
    yield study, table, reports
    if old is None:
        os.environ.pop("CSR_RUNS_DIR")
    else:
        os.environ["CSR_RUNS_DIR"] = old


def test_every_family_is_a_registered_method_and_the_default_has_eight_or_more():
    from csr.train import METHODS

    assert all(f.method in METHODS.names() for f in FAMILIES.values())
    assert len(settings_for("your_cost_matrix", "smoke")["methods"]) >= 8
    assert {f.threat for f in FAMILIES.values()} == {"linf", "smoothed"}


def test_sandwich_holds_on_every_linf_row(small):
    study, table, _ = small
    linf = table[table["threat"] == "linf"]
    assert len(linf) == 3 and linf["sandwich holds"].all()
    for key in linf.index:  # the same in numbers: empirical robust cost <= certified on those inputs
        assert table.loc[key, "empirical robust_cost (certified examples)"] <= table.loc[key, "certified robust_cost"]
    assert np.isnan(table.loc["gaussian", "certified robust_cost"]) and table.loc["gaussian", "n certified"] > 0


def test_sandwich_holds_on_the_smoothed_rows(small):
    study, table, _ = small
    row = table.loc["gaussian"]
    assert row["threat"] == "smoothed" and bool(row["sandwich holds"]) is True
    assert row["empirical smoothed l2 robust_cost"] <= row["smoothed l2 robust_cost"]
    hit = study.smoothed_attack(study.family_run("gaussian"))
    y = study.S.y_eval[: len(hit)].cpu().numpy()
    assert hit.shape == (len(y), 10) and not (hit & ~np.asarray(study.matrix().sensitive_mask)[y]).any()


def test_sandwich_check_can_fail():
    from csr.costs import CostMatrix

    C = CostMatrix([[0, 1, 1], [0, 0, 0], [0, 0, 0]])
    y = np.array([0])
    cert = Report({}, np.zeros((3, 3)), np.array([[False, False, True]]), np.array([0]))
    emp = Report({}, np.zeros((3, 3)), np.array([[False, True, False]]), np.array([0]))
    assert not YourCostMatrix.sandwich(emp, cert, C, y)  # 0 -> 1 reached, but "certified" excluded
    assert YourCostMatrix.sandwich(Report({}, np.zeros((3, 3)), np.zeros((1, 3), bool), np.array([0])), cert, C, y)
    off = CostMatrix([[0, 0, 1], [0, 0, 0], [0, 0, 0]])  # 0 -> 1 costs nothing: not the certificate's business
    assert YourCostMatrix.sandwich(emp, cert, off, y)


def test_empirical_reach_is_the_union_of_both_attacks(small):
    study, _, reports = small
    run = study.family_run("pgd")
    C, P, S = study.matrix(), study.P, study.S
    pw = pairwise_reach(PGD(run.model, eps=P["eps"], steps=P["eval_steps"], seed=0), S.x_eval, S.y_eval, study.m,
                        pairs=C.sensitive_mask).cpu().numpy()
    landed = predict(run.model, CostPGD(run.model, eps=P["eps"], steps=P["eval_steps"], seed=0, cost=C)(
        S.x_eval, S.y_eval)).cpu().numpy()
    y = S.y_eval.cpu().numpy()
    clean = predict(run.model, S.x_eval).cpu().numpy()
    want = pw.copy()
    want[np.flatnonzero(landed != y), landed[landed != y]] = True
    want[np.flatnonzero(clean != y), clean[clean != y]] = True
    np.testing.assert_array_equal(reports["pgd"].reach, want)
    assert reports["pgd"].reach.sum() >= pw.sum()


def test_results_are_written_as_data(small, tmp_path):
    study, table, _ = small
    paths = save_results(study, table, str(tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / "table.json").read_text())
    assert [r["method"] for r in doc["rows"]] == list(table.index)
    assert doc["cost_matrix"]["matrix"] == study.matrix().to_list()
    import pandas as pd

    assert list(pd.read_csv(paths["csv"])["method"]) == list(table.index)


@pytest.mark.parametrize("bad, match", [
    (dict(methods=["pgd", "deepfool"]), r"unknown \['deepfool'\]; known: standard, pgd"),
    (dict(methods=[]), "empty list"), (dict(sigma=0.0), "'sigma'"), (dict(smooth_alpha=1.5), "smooth_alpha"),
    (dict(eps=8.0), "l_inf radius in pixel space")])
def test_bad_parameters(bad, match):
    with pytest.raises(ParameterError, match=match):
        settings_for("your_cost_matrix", "smoke", **bad)


def test_a_report_needs_a_matrix():
    S = setup("your_cost_matrix", profile="smoke", verbose=False)
    with pytest.raises(ParameterError, match="needs a cost_matrix"):
        YourCostMatrix(S).matrix()
