import numpy as np
import pytest
from scipy import stats

from w2s.eval.metrics import (
    all_metrics,
    fit_logistic4,
    fit_logistic4_params,
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
    # constant predictions carry no order: the fit must not invent one (nor NaNs); the flat fit
    # is refused and the raw scores (the "identity" fallback) come back, constant as they were
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


def test_a_model_that_ranks_backwards_gets_a_negative_plcc():
    # pred are ranks too, so Pearson = Spearman = 1 - 6 * sum(d^2) / (n (n^2 - 1)); d = 6,4,2,0,-2,-4,-6,0:
    # 1 - 6 * 112 / (8 * 63) = -1/3. A decreasing logistic fitted it with PLCC +0.55; an
    # increasing one may not, and a model that ranks backwards keeps its raw (linear) PLCC
    gt = np.arange(1.0, 9.0)
    pred = np.array([7, 6, 5, 4, 3, 2, 1, 8.0])
    assert srcc(pred, gt) == pytest.approx(-1 / 3)
    assert plcc(pred, gt) == pytest.approx(-1 / 3)
    assert fit_logistic4_params(pred, gt) is None
    # the case: a metric that runs against MOS (SRCC about -0.9) had PLCC about +0.9
    rng = np.random.default_rng(1)
    mos = rng.uniform(1, 5, 30)
    backwards = -mos + 0.6 * rng.normal(size=30)
    m = all_metrics(backwards, mos)
    assert m["srcc"] < -0.9 and m["plcc"] < 0
    assert m["plcc"] == pytest.approx(stats.pearsonr(backwards, mos).statistic)


def test_the_fitted_logistic_is_increasing():
    x = np.linspace(-3, 3, 40)
    b1, b2, b3, b4 = fit_logistic4_params(x, np.tanh(x))
    assert b1 > b2 and b4 > 0
    assert [b1, b2, b3, b4] == pytest.approx([1.0, -1.0, 0.0, 0.5], abs=1e-6)  # tanh(x) = 2 / (1 + exp(-2x)) - 1
    mapped = fit_logistic4(x, np.tanh(x))
    assert np.all(np.diff(mapped) > 0)
