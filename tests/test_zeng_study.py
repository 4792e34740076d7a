"""Zeng et al.'s protocol on tiny runs: Table 1 paper | ours over seeds, the claims judged from
their intervals, the public code's `break`, the cost-sensitive margin under the user's matrix,
and the gpu profile's CIFAR-10 / Tiny ImageNet paths on small generated files."""
from __future__ import annotations

import re

import numpy as np
import pytest

from csr.profiles import setup
from csr.studies.zeng_weighted_minimax import COST_MODELS, TABLE_MODELS, Zeng, verdict

TINY = dict(epochs=1, n_train=120, n_eval=40, train_steps=1, eval_steps=2, eps_warmup_epochs=0, verbose=False)
NUM = r"(-?\d+\.\d+)"


def _interval(cell: str) -> tuple[float, float, float]:
    v, lo, hi = map(float, re.fullmatch(rf"{NUM} \[{NUM}, {NUM}\]", cell).groups())
    return v, lo, hi


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("CSR_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    S = setup("zeng_weighted_minimax", profile="smoke", cost_matrix="odd", n_seeds=2, **TINY)
    Z = Zeng(S)
    yield Z, Z.all_models(cost=True)
    mp.undo()


def test_models_per_seed_and_cost_margin(tiny):
    Z, by = tiny
    assert Z.seeds() == [0, 1] and set(by) == {0, 1}
    assert all(list(m) == [*TABLE_MODELS, *COST_MODELS] for m in by.values())
    dirs = {m[n].run_dir for m in by.values() for n in m}
    assert len(dirs) == 12  # every (seed, model) its own run
    for m in by.values():
        assert m["PGD+cost"].config.method_kwargs["margin"] == "cost"
        assert m["PGD+cost"].config.cost_matrix == Z.S.cost.to_list()
        assert m["PGD+ours"].config.method_kwargs["margin"] == "all" and m["PGD+ours"].config.cost_matrix is None
        assert m["TRADES+ours"].config.method_kwargs["alpha"] == 2.0 and m["PGD+ours"].config.method_kwargs["alpha"] == 0.5


def test_table1_is_the_papers_cells_beside_the_seed_mean(tiny):
    Z, by = tiny
    t = Z.table1(by)
    assert list(t.index) == [(a, n) for a in (1.0, 1.5, 2.0) for n in TABLE_MODELS]
    paper = Zeng.paper_table("table_1")
    for (a, name), row in t.iterrows():
        cell = paper[(paper.Defense == name) & (paper.alpha_test == a)]
        for col in ("A_rob", "A_sa", "A_tr"):
            assert row[f"{col} paper"] == pytest.approx(float(cell[col].iloc[0]) / 100)
        scores = [Z.nonuniform(m[name], a) for m in by.values()]
        for col in ("A_rob", "A_sa", "A_tr"):
            v, lo, hi = _interval(row[f"{col} ours [95 %]"])
            assert v == pytest.approx(np.mean([s[col] for s in scores]), abs=5e-4) and lo <= v <= hi
        assert row["A_sa per seed"].split() == [f"{s['A_sa']:.3f}" for s in scores]


def test_claims_are_judged_from_their_intervals(tiny):
    Z, by = tiny
    c = Z.claims(by)
    assert len(c) == 2 * (3 * 2 + 2) + 1
    for _, row in c.iterrows():
        if row["claim"].startswith("A_tr <="):
            assert row["holds here?"] in ("yes", "no") and row["ours (95 %)"].endswith("of 24 rows")
            continue
        d, lo, hi = _interval(row["ours (95 %)"])
        threshold = -0.01 if "drops by less than" in row["claim"] else 0.0
        assert row["holds here?"] == verdict(lo, hi, threshold)
    # the A_sa difference is the seed mean of the per-seed differences
    row = c[c.claim == "TRADES+ours raises A_sa over TRADES (alpha_test 2)"].iloc[0]
    hand = np.mean([Z.nonuniform(m["TRADES+ours"], 2.0)["A_sa"] - Z.nonuniform(m["TRADES"], 2.0)["A_sa"]
                    for m in by.values()])
    assert _interval(row["ours (95 %)"])[0] == pytest.approx(hand, abs=5e-4)
    assert len(row["per seed"].split()) == 2
    assert row["paper"] == f"{(66.71 - 52.15) / 100:+.3f}"


def test_break_finding_is_computed_from_the_interval(tiny):
    Z, by = tiny
    broken = Z.run("trades_weighted", beta=Z.P["beta"], alpha=2.0, steps=0)
    table, text = Z.break_finding(broken, by[0]["TRADES+ours"])
    _, lo, hi = _interval(table.loc["inner loop breaks (public code)", "A_rob ours [95 %]"])
    assert table["A_rob paper"].iloc[0] == pytest.approx(0.952)
    _, lo_full, _ = _interval(table.loc["all inner steps", "A_rob ours [95 %]"])
    assert ("cannot have come" in text) == (0.952 > hi and hi < lo_full)
    assert ("says nothing about the break" in text) == (0.952 > hi and hi >= lo_full)


def test_cost_scores_follow_the_users_matrix(tiny):
    Z, by = tiny
    table = Z.cost_table(by)
    assert list(table.index) == [*TABLE_MODELS, *COST_MODELS]
    y = Z.S.y_eval.cpu().numpy()
    for name in ("PGD", "PGD+cost"):
        reps = [Z.cost_report(m[name], Z.S.cost, sensitive_only=True) for m in by.values()]
        v, lo, hi = _interval(table.loc[name, "cs_robust_error [95 %]"])
        assert v == pytest.approx(np.mean([r.row["cs_robust_error"] for r in reps]), abs=5e-4)
        assert all(np.isnan(r.row["overall_robust_error"]) for r in reps)
        # only Ω's pairs were attacked: even digits (no sensitive target under "odd") reach
        # nothing beyond their clean prediction
        even = y % 2 == 0
        assert not (reps[0].reach[even].sum(1) > (reps[0].pred[even] != y[even])).any()
    claims = Z.cost_claims(by)
    assert len(claims) == 4
    for _, row in claims.iterrows():
        d, lo, hi = _interval(row["ours (95 %)"])
        assert row["holds here?"] == verdict(-hi, -lo)
    # another matrix: the same Table 1 runs, other cost-weighted runs and other scores
    S2 = setup("zeng_weighted_minimax", profile="smoke", cost_matrix="single_seed:3", n_seeds=2, **TINY)
    Z2 = Zeng(S2)
    by2 = Z2.all_models(cost=True)
    assert all(by2[s][n].run_dir == by[s][n].run_dir for s in by for n in TABLE_MODELS)
    assert all(by2[s][n].run_dir != by[s][n].run_dir for s in by for n in COST_MODELS)
    assert not Z2.cost_table(by2).equals(table)


def test_cost_models_need_a_cost_matrix(tmp_path, monkeypatch):
    monkeypatch.setenv("CSR_RUNS_DIR", str(tmp_path))
    Z = Zeng(setup("zeng_weighted_minimax", profile="smoke", **TINY))
    with pytest.raises(ValueError, match="need a cost matrix"):
        Z.models(0, cost=True)


@pytest.mark.slow
def test_zeng_gpu_cifar10_and_tiny_imagenet(fake_torchvision):
    """Tables 2/4 and 3/5's settings on small generated CIFAR-10 and Tiny ImageNet files: the
    paper's model, ε, steps, β and α per family, the tables paper | ours and the sweep's paper
    cells (fewer steps, examples and α_train values than the profile, one epoch)."""
    from test_data_tiny_imagenet import write_fake_tiny

    write_fake_tiny(fake_torchvision, n_train=10)
    # val_fraction: the generated train sets are too small for the loaders' default validation share
    small = dict(epochs=1, n_train=16, n_eval=4, train_steps=1, eval_steps=1, val_fraction=0.2, device="cpu", verbose=False)
    for ds, eps, steps, beta, a_pgd, a_trades, t_main, t_sweep, sweep_alpha in (
            ("cifar10", 0.031, 20, 5.0, 2.0, 2.0, "table_2", "table_4", 0.1),
            ("tiny_imagenet", 0.016, 10, 6.0, 0.3, 5.0, "table_3", "table_5", 0.2)):
        P = Zeng.settings("gpu", dataset=ds)
        assert (P["model"], P["eps"], P["eval_steps"], P["beta"]) == ("resnet18", eps, steps, beta)
        assert (P["alpha_train_pgd"], P["alpha_train_trades"], P["paper_table"], P["sweep_table"]) == (
            a_pgd, a_trades, t_main, t_sweep)
        S = setup("zeng_weighted_minimax", profile="gpu", dataset=ds, alpha_trains=[sweep_alpha], **small)
        Z = Zeng(S)
        by = Z.all_models()
        assert by[0]["PGD"].config.model == "resnet18" and by[0]["TRADES+ours"].config.method_kwargs["beta"] == beta
        t = Z.table1(by)
        paper = Zeng.paper_table(t_main)
        assert len(t) == len(paper) == len(P["alpha_tests"]) * 4
        first = paper.iloc[0]
        assert t.loc[(first.alpha_test, first.Defense), "A_sa paper"] == pytest.approx(first.A_sa / 100)
        sweep = Z.sweep()
        hit = Zeng.paper_table(t_sweep)
        cell = hit[(hit.Defense == "PGD+ours") & (hit.alpha_train.astype(str) == str(sweep_alpha))]
        assert sweep.loc[("PGD+ours", sweep_alpha), "A_rob paper"] == pytest.approx(float(cell.A_rob.iloc[0]) / 100)
        assert sweep.loc[("PGD", 0.0), "A_rob paper"] == pytest.approx(float(hit[hit.Defense == "PGD"].A_rob.iloc[0]) / 100)
