import numpy as np
import pytest
from scipy import stats

from w2s.eval.metrics import (
    all_metrics,
    fit_logistic4,
    grouped_srcc,
    krcc,
    logistic4,
    plcc,
    rmse,
    srcc,
)


def test_rank_correlations_hand_computed():
    # one swapped neighbour among 4: d^2 sum = 2 -> SRCC = 1 - 6*2/(4*15) = 0.8
    assert srcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # 5 concordant, 1 discordant of 6 pairs -> KRCC = 4/6
    assert krcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert srcc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_against_scipy_on_random_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert plcc(x, y, fit=False) == pytest.approx(stats.pearsonr(x, y).statistic)


def test_logistic_fit_recovers_a_logistic_relation():
    x = np.linspace(-3, 3, 40)
    gt = logistic4(x, 5.0, 1.0, 0.5, 0.7)
    assert plcc(x, gt) == pytest.approx(1.0, abs=1e-6)
    assert rmse(x, gt) == pytest.approx(0.0, abs=1e-4)
    # without the fit, a logistic is not linear
    assert plcc(x, gt, fit=False) < 0.99


def test_rmse_hand_computed_without_fit():
    assert rmse([1, 2, 3], [1, 2, 5], fit=False) == pytest.approx(np.sqrt(4 / 3))


def test_degenerate_inputs_are_nan_not_errors():
    assert np.isnan(srcc([1, 1, 1], [1, 2, 3]))
    assert np.isnan(plcc([1.0], [2.0]))
    assert np.isnan(plcc(np.ones(6), np.arange(6.0)))
    # constant predictions carry no order: the fit must not invent one (nor NaNs). Today the
    # least-squares logistic collapses to the ground-truth mean 2.5; the raw scores (the
    # docstring's "identity" fallback) would pass as well, both are constant.
    mapped = fit_logistic4(np.ones(6), np.arange(6.0))
    assert mapped.shape == (6,) and np.all(np.isfinite(mapped)) and np.ptp(mapped) == 0
    with pytest.raises(ValueError, match="differ in length"):
        srcc([1, 2], [1, 2, 3])


def test_grouped_srcc_averages_groups_and_skips_tiny_ones():
    pred = [3, 2, 1, 1, 2, 3, 9, 8]
    gt = [3, 2, 1, 3, 2, 1, 1, 2]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c"]  # c has 2 items: skipped
    assert grouped_srcc(pred, gt, groups) == pytest.approx(0.0)  # (+1 + -1) / 2
    assert all_metrics([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])["srcc"] == pytest.approx(1.0)
