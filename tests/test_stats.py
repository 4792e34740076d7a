"""Intervals against closed forms and their defining properties."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from csr import stats
from csr.stats import bootstrap_mean, clopper_pearson, format_interval, paired_bootstrap, rate_interval


def test_clopper_pearson_closed_forms():
    # k = 0 and k = n have closed forms: hi = 1 − (a/2)^(1/n), lo = (a/2)^(1/n)
    for n in (1, 10, 137):
        assert clopper_pearson(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
        assert clopper_pearson(n, n)[0] == pytest.approx(0.025 ** (1 / n), rel=1e-9)
        assert clopper_pearson(0, n)[0] == 0.0 and clopper_pearson(n, n)[1] == 1.0


@pytest.mark.parametrize("k,n", [(3, 20), (50, 100), (1, 1000), (97, 100)])
def test_clopper_pearson_tail_definition(k, n):
    """lo is where P(X >= k | p = lo) = a/2 and hi where P(X <= k | p = hi) = a/2."""
    lo, hi = clopper_pearson(k, n)
    assert binom.sf(k - 1, n, lo) == pytest.approx(0.025, rel=1e-6)
    assert binom.cdf(k, n, hi) == pytest.approx(0.025, rel=1e-6)
    assert lo < k / n < hi


def test_clopper_pearson_covers_at_least_its_level():
    """Exact coverage by enumeration of every k: never below 95 % (the interval is conservative)."""
    n = 40
    for p in (0.02, 0.1, 0.35, 0.5, 0.8):
        cover = sum(binom.pmf(k, n, p) for k in range(n + 1) if clopper_pearson(k, n)[0] <= p <= clopper_pearson(k, n)[1])
        assert cover >= 0.95


def test_rate_and_bad_inputs():
    r, lo, hi = rate_interval([True, False, False, True])
    assert r == 0.5 and (lo, hi) == clopper_pearson(2, 4)
    for bad in [(5, 4), (-1, 4), (1.5, 4), (True, 4)]:
        with pytest.raises(ValueError, match="integers 0 <= k <= n"):
            clopper_pearson(*bad)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        clopper_pearson(1, 4, level=1.0)
    assert np.isnan(clopper_pearson(0, 0)).all()


def test_bootstrap_mean_is_seeded_and_near_the_normal_interval():
    v = np.random.default_rng(1).exponential(2.0, 2000)
    m, lo, hi = bootstrap_mean(v, n_boot=4000, seed=3)
    assert m == pytest.approx(v.mean())
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert lo == pytest.approx(m - half, rel=0.03) and hi == pytest.approx(m + half, rel=0.03)
    assert (bootstrap_mean(v, seed=3) == bootstrap_mean(v, seed=3)).all()


def test_paired_bootstrap():
    a = np.array([1, 0, 1, 1, 0, 0, 1, 0] * 50, float)
    b = a.copy()
    assert paired_bootstrap(a, b).tolist() == [0.0, 0.0, 0.0]
    b[:40] = 0  # b loses the 20 correct answers a has among the first 40 examples
    d, lo, hi = paired_bootstrap(a, b)
    assert d == pytest.approx((b - a).mean()) and hi < 0
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap(a, b[:-1])
    assert format_interval(0.1234, 0.1, 0.15) == "0.123 [0.100, 0.150]"


def test_bootstrap_statistic_is_bootstrap_mean_for_the_mean():
    v = np.random.default_rng(3).integers(0, 2, 57)
    got = stats.bootstrap_statistic(lambda a: float(a.mean()), v, n_boot=500, seed=4)
    assert np.allclose(got, stats.bootstrap_mean(v, n_boot=500, seed=4))


def test_weighted_accuracy_interval_closed_forms():
    # all correct: 1 in every replicate; unit weights: the plain bootstrap of the 0/1 array
    assert stats.bootstrap_weighted_accuracy(np.ones(20), np.linspace(0.1, 3, 20)).tolist() == [1.0, 1.0, 1.0]
    ok = np.random.default_rng(0).integers(0, 2, 40)
    assert np.allclose(stats.bootstrap_weighted_accuracy(ok, np.ones(40)), stats.bootstrap_mean(ok))
    # two seeds: the estimate is the mean of the seeds' weighted accuracies, computed by hand
    ok2 = np.array([[1, 0, 1, 1], [0, 0, 1, 1]])
    w2 = np.array([[2.0, 1.0, 1.0, 0.5], [1.0, 3.0, 1.0, 1.0]])
    hand = np.mean([(2 + 1 + 0.5) / 4.5, 2 / 6])
    assert stats.bootstrap_weighted_accuracy(ok2, w2)[0] == pytest.approx(hand)


def test_paired_weighted_difference_over_seeds_by_hand():
    rng = np.random.default_rng(1)
    oa, ob = rng.integers(0, 2, (3, 30)), rng.integers(0, 2, (3, 30))
    wa, wb = rng.uniform(0.2, 3, (3, 30)), rng.uniform(0.2, 3, (3, 30))
    d, lo, hi = stats.paired_bootstrap_weighted(oa, wa, ob, wb)
    hand = np.mean([(wb[s] * ob[s]).sum() / wb[s].sum() - (wa[s] * oa[s]).sum() / wa[s].sum() for s in range(3)])
    assert d == pytest.approx(hand) and lo <= d <= hi
    with pytest.raises(ValueError, match="one shape"):
        stats.paired_bootstrap_weighted(oa, wa, ob[:, :5], wb[:, :5])
    with pytest.raises(ValueError, match="one shape"):
        stats.bootstrap_statistic(lambda a, b: 0.0, oa, ob[:2])
