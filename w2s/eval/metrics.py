"""Agreement between predicted scores and ground truth.

SRCC and KRCC are rank correlations and need no fitting. PLCC and RMSE follow
the VQEG practice: predictions are first mapped to the ground-truth scale with
the 4-parameter logistic ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``,
fitted increasing (``b1 >= b2``, ``b4 > 0``). A decreasing fit would turn a model
that ranks backwards into a high PLCC (SRCC -0.71, PLCC 0.89 was seen); such a
model (SRCC < 0), or one no increasing logistic fits, keeps its raw scores, so
its PLCC is the linear one and has the sign of its ranking.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """The 4-parameter logistic; ``b1``/``b2`` are the upper/lower asymptotes."""
    z = np.clip(-(x - b3) / (abs(b4) + 1e-12), -60, 60)  # clip: exp overflow on wild starts
    return (b1 - b2) / (1.0 + np.exp(z)) + b2


def _increasing(x: np.ndarray, b2: float, height: float, b3: float, b4: float) -> np.ndarray:
    """:func:`logistic4` with ``b1 = b2 + height``: the form fitted, so that box bounds on
    ``height >= 0`` and ``b4 > 0`` keep it increasing."""
    return logistic4(x, b2 + height, b2, b3, b4)


def fit_logistic4_params(pred, gt) -> np.ndarray | None:
    """The parameters (b1, b2, b3, b4) of the best increasing fit of ``gt`` by ``logistic4(pred)``
    (``b1 >= b2``, ``b4 > 0``); None if the model ranks backwards (SRCC < 0), if no fit is found,
    or if the best increasing fit is flat (nothing increasing describes it)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.size > 1 and np.ptp(pred) > 0 and np.ptp(gt) > 0 and stats.spearmanr(pred, gt).statistic < 0:
        return None
    spread = pred.std() or 1.0
    bounds = ([-np.inf, 0.0, -np.inf, 1e-12], np.inf)
    best, best_err = None, np.inf
    # least squares on a sigmoid has local minima: start from a few slopes, keep the best
    for slope in (spread, spread / 4, spread * 4):
        p0 = [gt.min(), max(float(np.ptp(gt)), 1e-12), float(np.median(pred)), slope]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params, _ = optimize.curve_fit(_increasing, pred, gt, p0=p0, bounds=bounds, maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        err = float(np.mean((_increasing(pred, *params) - gt) ** 2))
        if np.isfinite(err) and err < best_err:
            best, best_err = params, err
    if best is None:
        return None
    b2, height, b3, b4 = best
    params = np.array([b2 + height, b2, b3, b4])
    # flat: the fit collapsed to the mean of gt (a constant prediction, or no increasing trend)
    return None if np.ptp(logistic4(pred, *params)) <= 1e-9 * (np.ptp(gt) or 1.0) else params


def fit_logistic4(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Predictions mapped onto the ground-truth scale by the increasing logistic; the raw
    predictions where :func:`fit_logistic4_params` finds none (a model that ranks backwards keeps
    its raw scores, whose PLCC is then negative; a degenerate set, e.g. constant predictions,
    cannot be fitted and its raw scores are the honest fallback)."""
    params = fit_logistic4_params(pred, gt)
    return np.asarray(pred, dtype=np.float64) if params is None else logistic4(np.asarray(pred, dtype=np.float64), *params)


def _valid(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).ravel()
    gt = np.asarray(gt, dtype=np.float64).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt differ in length: {pred.size} vs {gt.size}")
    keep = np.isfinite(pred) & np.isfinite(gt)
    return pred[keep], gt[keep]


def srcc(pred, gt) -> float:
    pred, gt = _valid(pred, gt)
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(gt) == 0:
        return float("nan")
    return float(stats.spearmanr(pred, gt).statistic)


def krcc(pred, gt) -> float:
    pred, gt = _valid(pred, gt)
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(gt) == 0:
        return float("nan")
    return float(stats.kendalltau(pred, gt).statistic)


def plcc(pred, gt, fit: bool = True) -> float:
    pred, gt = _valid(pred, gt)
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(gt) == 0:
        return float("nan")
    mapped = fit_logistic4(pred, gt) if fit and pred.size >= 5 else pred
    if np.ptp(mapped) == 0:
        return float("nan")
    return float(stats.pearsonr(mapped, gt).statistic)


def rmse(pred, gt, fit: bool = True) -> float:
    pred, gt = _valid(pred, gt)
    if pred.size == 0:
        return float("nan")
    mapped = fit_logistic4(pred, gt) if fit and pred.size >= 5 else pred
    return float(np.sqrt(np.mean((mapped - gt) ** 2)))


def all_metrics(pred, gt) -> dict[str, float]:
    """SRCC, KRCC, PLCC and RMSE (the last two after the logistic fit)."""
    return {"srcc": srcc(pred, gt), "krcc": krcc(pred, gt), "plcc": plcc(pred, gt), "rmse": rmse(pred, gt)}


def grouped_srcc(pred, gt, groups) -> float:
    """Mean SRCC over groups (e.g. one content and one distortion family each).

    Groups with fewer than 3 items or a constant ground truth are skipped: a
    rank correlation over two points is always +-1 and says nothing.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    groups = np.asarray(groups)
    values = []
    for g in np.unique(groups):
        m = groups == g
        if m.sum() < 3 or np.ptp(gt[m]) == 0:
            continue
        v = srcc(pred[m], gt[m])
        values.append(0.0 if np.isnan(v) else v)  # constant predictions rank nothing: 0
    return float(np.mean(values)) if values else float("nan")
