"""Shen et al.'s study: the tables and claims read from per-image outcomes (golden values on
hand-made hits), the ε conversion, and the profiles' paper settings."""
from __future__ import annotations

import numpy as np
import pytest

from csr.profiles import settings_for, setup
from csr.studies.shen_cost_sensitive_classes import ATTACKS, MNIST_EPS, Shen


def _hits(rates: dict[str, float], n: int = 40) -> dict[str, dict[str, np.ndarray]]:
    """Every attack gives model ``name`` the accuracy ``rates[name]`` on ``n`` images (the first ones right)."""
    out = {}
    for name, r in rates.items():
        h = np.arange(n) < round(r * n)
        out[name] = {"clean": np.ones(n, bool), **{a: h.copy() for a in ATTACKS}}
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    import os

    os.environ.setdefault("CSR_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    return Shen(setup("shen_cost_sensitive_classes", profile="smoke", verbose=False))


def test_eps_is_the_papers_normalised_radius():
    assert MNIST_EPS == pytest.approx(0.3 * 0.3081)
    for profile in ("smoke", "cpu", "gpu"):
        P = settings_for("shen_cost_sensitive_classes", profile)
        assert P["eps"] == pytest.approx(0.09243) and P["eps_l2"] == P["eps"]
    gpu = settings_for("shen_cost_sensitive_classes", "gpu")
    assert (gpu["optimizer"], gpu["lr"], gpu["momentum"], gpu["batch_size"], gpu["epochs"], gpu["clean_epochs"]) == (
        "sgd", 0.01, 0.95, 256, 20, 10)
    c10 = settings_for("shen_cost_sensitive_classes", "gpu", dataset="cifar10")
    assert (c10["optimizer"], c10["lr"], c10["lr_step"], c10["epochs"], c10["eps"]) == ("adam", 0.01, 10, 50, pytest.approx(8 / 255))


def test_claims_golden(study):
    rates = {"STD": 0.5, "CSE": 0.5, "CSA": 0.9, "CSE+ADV": 0.95, "ADV": 0.6, "CSA+L2": 0.75}
    H = {3: _hits(rates), 5: _hits(rates)}
    c = study.claims(H).set_index("claim")
    assert c.loc["CSA raises it over STD", "holds here?"] == "yes"
    assert c.loc["CSA raises it over STD", "ours (95 %)"].startswith("0.400 [")
    assert c.loc["CSE raises it over STD (without adversarial training)", "holds here?"] == "not resolved"
    assert c.loc["CSE+ADV beats CSA", "classes where it holds"] == "2 of 2"
    assert c.loc["CSA beats CSA+L2 (CSA+L2 < CSA)", "holds here?"] == "yes"
    # the paper's difference of Table II's means over the protected classes 3 and 5 (PGD)
    t = study.paper_table("table_2")
    row = lambda m: t[(t.attack == "PGD") & (t.model_canonical == m)].iloc[0]
    want = np.mean([row("CSA")["O_3, p=3"], row("CSA")["O_5, p=5"]]) - np.mean([row("STD")["O_3, p=3"], row("STD")["O_5, p=5"]])
    assert c.loc["CSA raises it over STD", "paper"] == f"{want:+.3f}"
    assert c.loc["CSA+L2 beats ADV (ADV < CSA+L2)", "paper"] == "—"  # no ADV row in the paper
    worse = {3: _hits({**rates, "CSE+ADV": 0.2}), 5: _hits({**rates, "CSE+ADV": 0.2})}
    assert study.claims(worse).set_index("claim").loc["CSE+ADV beats CSA", "holds here?"] == "no"


def test_vs_paper_cells(study):
    H = {0: _hits({"STD": 0.25, "CSE": 0.5, "CSA": 0.75, "CSE+ADV": 1.0, "ADV": 0.5, "CSA+L2": 0.5})}
    t = study.vs_paper(H)
    assert t.loc[("FGSM", "STD"), "p=0"] == "0.877 / 0.250"  # Table II, FGSM, STD, O_0 = 0.8771
    assert t.loc[("PGD", "ADV"), "p=0"] == "— / 0.500"
    assert t.loc[("CW", "CSE+ADV"), "ours pooled [95 %]"].startswith("1.000 [0.912, 1.000]")
    assert len(t) == len(ATTACKS) * 6
