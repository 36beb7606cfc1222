"""Agreement with human scores, with percentile bootstrap confidence intervals.

The point estimates are exactly :func:`w2s.eval.metrics.all_metrics`. The intervals
come from resampling *videos* with replacement (a video's prediction and its
score travel together), ``n_boot`` times.

SRCC and KRCC are recomputed exactly on every resample. PLCC and RMSE need the
4-parameter logistic fit first; refitting it on every resample costs about
3 ms for 1000 videos (scipy ``curve_fit`` from three starts), i.e. seconds per
metric set and more on badly shaped data, so by default the logistic is fitted
once on the full set and its mapping is reused on every resample. The interval
then leaves out the fit's own variability (slightly narrow); pass
``refit_logistic=True`` for the exact, slower version.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import stats

from w2s.eval.metrics import all_metrics, fit_logistic4

METRICS = ("srcc", "krcc", "plcc", "rmse")
# Resampled values held in memory at once (per array): bounds memory on large sets.
_CHUNK_VALUES = 2_000_000


def _finite_pairs(*arrays) -> list[np.ndarray]:
    """The arrays as float vectors, keeping only the positions where all are finite."""
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    if len({a.size for a in arrays}) > 1:
        raise ValueError(f"inputs differ in length: {[a.size for a in arrays]}")
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return [a[keep] for a in arrays]


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Index arrays (chunk, n) of videos drawn with replacement, n_boot rows in all."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_VALUES // max(n, 1))
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b; NaN where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / den
    r[den == 0] = np.nan
    return np.clip(r, -1.0, 1.0)


def _mapped(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Predictions on the target scale, as w2s.eval.metrics.plcc/rmse map them (no fit under 5 points)."""
    return fit_logistic4(pred, target) if pred.size >= 5 else pred


def _boot_values(
    pred: np.ndarray, target: np.ndarray, n_boot: int, seed: int, refit: bool, metrics=METRICS
) -> dict[str, np.ndarray]:
    """The named metrics on each of n_boot resamples (the same resamples for the same seed)."""
    out: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    fitted = "plcc" in metrics or "rmse" in metrics
    mapped = _mapped(pred, target) if fitted and not refit else None
    for idx in _resamples(pred.size, n_boot, seed):
        p, t = pred[idx], target[idx]
        if "srcc" in out:
            # Spearman = Pearson of average ranks, which is what scipy.stats.spearmanr computes
            out["srcc"].append(_rowwise_pearson(stats.rankdata(p, axis=1), stats.rankdata(t, axis=1)))
        if "krcc" in out:
            out["krcc"].append(np.array([_kendall(pi, ti) for pi, ti in zip(p, t, strict=True)]))
        if fitted:
            m = np.stack([_mapped(pi, ti) for pi, ti in zip(p, t, strict=True)]) if refit else mapped[idx]
            if "plcc" in out:
                out["plcc"].append(_rowwise_pearson(m, t))
            if "rmse" in out:
                out["rmse"].append(np.sqrt(np.mean((m - t) ** 2, axis=1)))
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in out.items()}


def _kendall(p: np.ndarray, t: np.ndarray) -> float:
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")  # as w2s.eval.metrics.krcc: a constant side ranks nothing
    return float(stats.kendalltau(p, t).statistic)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval; resamples where the metric is undefined (NaN) are left out."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def metrics_with_ci(
    pred, target, n_boot: int = 1000, seed: int = 0, level: float = 0.95, refit_logistic: bool = False
) -> dict[str, float]:
    """SRCC, KRCC, PLCC and RMSE with percentile bootstrap intervals over videos.

    Pairs where the prediction or the target is not finite are dropped first;
    ``n`` says how many pairs were used. Returns a flat dict:
    ``{"srcc": .., "srcc_lo": .., "srcc_hi": .., ..., "rmse_hi": .., "n": ..}``.
    """
    pred, target = _finite_pairs(pred, target)
    n = int(pred.size)
    point = all_metrics(pred, target)
    out: dict[str, float] = {}
    boots = _boot_values(pred, target, n_boot, seed, refit_logistic) if n else {m: np.empty(0) for m in METRICS}
    for m in METRICS:
        lo, hi = _interval(boots[m], level)
        out.update({m: point[m], f"{m}_lo": lo, f"{m}_hi": hi})
    out["n"] = n
    return out


def paired_gain_ci(
    pred_a, pred_b, target, metric: str = "srcc", n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(gain, lo, hi) of ``metric(a) - metric(b)``, both scored on the same resampled videos.

    Pairing removes the between-video variance both models share, so a small but
    consistent gain shows up where two separate intervals would overlap. Only
    videos where both predictions and the target are finite are used. For
    ``rmse`` a negative gain means a is better.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    a, b, target = _finite_pairs(pred_a, pred_b, target)
    gain = all_metrics(a, target)[metric] - all_metrics(b, target)[metric]
    if a.size == 0:
        return float(gain), float("nan"), float("nan")
    # one seed draws the same resamples of the videos for both models
    diff = (
        _boot_values(a, target, n_boot, seed, False, (metric,))[metric]
        - _boot_values(b, target, n_boot, seed, False, (metric,))[metric]
    )
    lo, hi = _interval(diff, level)
    return float(gain), lo, hi
