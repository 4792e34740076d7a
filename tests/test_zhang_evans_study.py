"""The Zhang & Evans protocol's table builders against the engines they sit on: Table 1 / Fig. 2
rows equal a direct computation, intervals equal the closed forms, a variant changes only what
its profile section says, and a certificate of several bounds is their logical and."""
from __future__ import annotations

import numpy as np
import pytest

from csr import evaluate
from csr.metrics import cost_sensitive_errors_per_example
from csr.profiles import setup
from csr.stats import clopper_pearson, format_interval, paired_bootstrap
from csr.studies.zhang_evans_2019 import ZhangEvans, verdict_lower

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ze():
    S = setup("zhang_evans_2019", profile="smoke", epochs=1, n_train=150, n_val=60, n_eval=60, verbose=False)
    Z = ZhangEvans(S)
    base = Z.run("robust")
    Z.set_baseline(base)
    return Z, base, Z.certified(base, Z.overall)


def test_variant_changes_only_its_section(ze):
    Z, _, _ = ze
    X = Z.variant("crown_ibp")
    cfg = X.config("cs_robust", X.task("single_seed:8"), alpha=0.4)
    assert (cfg.model, cfg.eps, cfg.eps_start, cfg.epochs, cfg.eps_warmup_epochs) == ("mnist_small", 0.2, 0.0, 2, 1)
    assert cfg.method_kwargs == {"bound": "crown_ibp", "beta_start": 1.0, "beta_end": 0.0, "kappa_start": 1.0,
                                 "kappa_end": 0.0, "alpha": 0.4}
    assert cfg.val_certify == {"method": "crown_ibp", "all_pairs": False} and cfg.model_kwargs == {}
    assert cfg.select_max_val_err == Z.P["max_clean_error"]  # fixed threshold: α is not tuned here
    assert X.alpha(X.task("single_seed:8"), "single_seed:8") == 0.4  # the paper's Table 1 α
    # the original protocol is untouched
    c0 = Z.config("cs_robust", Z.task("single_seed:8"))
    assert (c0.model, c0.eps, c0.method_kwargs["bound"], c0.val_certify) == ("mlp", 0.1, "wk", {"method": "wk", "all_pairs": False})
    with pytest.raises(ValueError, match="no variant section 'nope'; it has: crown_ibp"):
        Z.variant("nope")


def test_certificate_of_several_bounds_is_their_and(ze):
    Z, base, _ = ze
    C = Z.task("odd")
    one = {m: Z.recertified([m]).certified(base, C) for m in ("wk", "ibp", "crown_ibp")}
    both = Z.recertified(["wk", "ibp", "crown_ibp"]).certified(base, C)
    assert np.array_equal(both.reach, one["wk"].reach & one["ibp"].reach & one["crown_ibp"].reach)
    assert all((both.reach <= r.reach).all() for r in one.values())
    assert both.row["cs_robust_error"] <= min(r.row["cs_robust_error"] for r in one.values())
    direct = evaluate.certified_report(base.model, Z.S.x_eval, Z.S.y_eval, C, Z.P["eps"],
                                       method=["wk", "ibp", "crown_ibp"], all_pairs=False)
    assert np.array_equal(direct.reach, both.reach) and direct.row == pytest.approx(both.row, nan_ok=True)
    with pytest.raises(ValueError, match="same model on the same inputs"):
        evaluate.intersect_reports([one["wk"], evaluate.Report({}, one["wk"].pairwise, one["wk"].reach[:5],
                                                               one["wk"].pred[:5])], Z.S.y_eval.numpy(), C)
    with pytest.raises(ValueError, match="non-empty list"):
        evaluate.certified_report(base.model, Z.S.x_eval, Z.S.y_eval, C, 0.1, method=[])


def test_baseline_vs_paper(ze):
    Z, _, b = ze
    t = Z.baseline_vs_paper(b)
    y = Z.S.y_eval.numpy()
    err = b.pred != y
    assert t["paper"].tolist() == pytest.approx([0.0339, 0.138])
    assert t.loc["clean error", "ours [95 %]"] == format_interval(err.mean(), *clopper_pearson(int(err.sum()), len(y)))
    rob = b.reach[np.arange(len(y))].copy()
    rob[np.arange(len(y)), y] = False
    rob = rob.any(1) | err
    assert t.loc["certified overall robust error", "ours [95 %]"].startswith(f"{rob.mean():.3f} [")


def test_table1_rows_and_intervals_equal_a_direct_computation(ze):
    Z, _, b = ze
    spec = "single_pair:0,2"
    t1 = Z.table1([spec], b, alphas={spec: 2.0})
    assert Z.chosen_alpha[spec] == 2.0 and t1["table"].loc[spec, "alpha"] == 2.0
    run = t1["runs"][spec]
    assert run.config.method_kwargs["alpha"] == 2.0
    C, y = Z.task(spec), Z.S.y_eval.numpy()
    cs = Z.certified(run, C)
    hits = cost_sensitive_errors_per_example(cs.reach, y, C)
    base_hits = cost_sensitive_errors_per_example(b.reach, y, C)
    assert len(hits) == int((y == 0).sum())  # candidates: the seed class's test examples
    assert t1["table"].loc[spec, "cs cs robust err"] == pytest.approx(hits.mean())
    cmp = Z.table1_vs_paper(t1)
    row = cmp.loc["single pair (0,2)"]
    assert row["paper base → cs"] == "0.0092 → 0.0031"
    assert row["ours cs [95 %]"] == format_interval(hits.mean(), *clopper_pearson(int(hits.sum()), len(hits)))
    d = paired_bootstrap(base_hits, hits)
    assert row["cs − base [95 %]"] == format_interval(*d) and row["lower?"] == verdict_lower(d)
    assert row["resolution 1/n | CP upper at 0"] == f"{1 / len(hits):.4f} | {clopper_pearson(0, len(hits))[1]:.4f}"
    assert verdict_lower((-0.1, -0.2, -0.01)) == "yes" and verdict_lower((0.1, 0.01, 0.2)) == "no"
    assert verdict_lower((0.0, -0.1, 0.1)) == "not resolved"


def test_fig2_alpha_by_kind(ze, monkeypatch):
    """cpu's Fig. 2: the tasks Table 1 did not train take the median α tuned for its tasks of the
    same kind; Table 1's tasks reuse their runs."""
    Z, base, b = ze
    t1 = {"table": __import__("pandas").DataFrame({"alpha": [2.0, 8.0, 3.0]},
                                                  index=["single_seed:0", "single_seed:2", "single_target:1"]),
          "runs": {"single_seed:0": base, "single_seed:2": base, "single_target:1": base}}
    used = {}

    def fake_run(method, cost=None, eps=None, alpha=None):
        used[cost.name] = alpha
        return base

    monkeypatch.setattr(Z, "run", fake_run)
    monkeypatch.setitem(Z.P, "fig2_train_all", True)
    monkeypatch.setitem(Z.P, "fig2_alpha", "kind")
    fig = Z.fig2(b, t1).set_index(["kind", "digit"])
    assert len(fig) == 20 and len(used) == 17  # 20 tasks, 3 from Table 1
    assert fig.loc[("seed", 5), "alpha"] == 5.0 and fig.loc[("target", 4), "alpha"] == 3.0
    assert fig.loc[("seed", 0), "source"] == "Table 1" and fig.loc[("seed", 0), "alpha"] == 2.0
    assert Z.alpha_of("single_seed:7") == 5.0
    monkeypatch.setitem(Z.P, "fig2_train_all", False)
    fig = Z.fig2(b, t1).set_index(["kind", "digit"])
    assert np.isnan(fig.loc[("seed", 5), "cost-sensitive robust"]) and fig.loc[("seed", 2), "source"] == "Table 1"


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_variant_section_keys_are_typed(profile):
    from csr.studies.base import check_type

    types = ZhangEvans.parameter_types()
    section = ZhangEvans.settings(profile)["crown_ibp"]
    for k, v in section.items():
        assert k in types, f"{profile}: crown_ibp sets untyped {k!r}"
        if v is not None:
            check_type(k, v, types[k])
    assert section["model"] == "mnist_small" and section["eps"] == 0.2


def test_across_seeds_retrains_both_models_per_seed(ze):
    Z, base, b = ze
    spec = "single_seed:8"
    t1 = Z.table1([spec], b, alphas={spec: 0.4})
    df = Z.across_seeds([spec], [0, 1])
    assert df[["seed", "task"]].values.tolist() == [[0, "single seed 8"], [1, "single seed 8"]]
    assert df.loc[0, "cs"] == pytest.approx(t1["table"].loc[spec, "cs cs robust err"])
    assert df.loc[0, "base"] == pytest.approx(t1["table"].loc[spec, "base cs robust err"])
    Z1 = Z.reseeded(1)
    assert Z1.config("robust").seed == 1 and Z.config("robust").seed == 0
    assert Z1.run("robust").run_dir != base.run_dir
    assert Z1.config("cs_robust", Z.task(spec), alpha=0.4).method_kwargs["alpha"] == 0.4
