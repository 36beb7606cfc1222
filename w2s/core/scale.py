"""The 0-100 scale of a saved student (``score_100``): where a raw score sits among ordinary videos.

A student's raw scores have no unit. The scale is fitted when the student is saved, from its
scores of the training pool's clean clips (the undistorted videos, ``family == ""``), and stored in
its ``meta["score_scale"]``:

- 50 is the raw score of the median clean clip;
- the map is a logistic in the raw score, ``100 / (1 + exp(-(raw - center) / slope))``, with
  ``slope`` set so the clean clips' interquartile range maps to about 25..75: clean videos of
  different quality spread over the scale, and distorted variants, which a student scores lower,
  fall below them (``distorted_below_50`` records the share of the pool's that did);
- 0 and 100 are not reached inside the pool's range: the slope is also at least the distance
  from the center to the pool's highest score / 36 (in float64 the logistic rounds to exactly 100
  past 36.7 slopes; below the center it never rounds to 0: about 1e-302 at the -700 slopes it is
  clipped to).
  Only a pool whose top score sits over 16 clean IQRs above the median needs this, which then
  flattens the scale around 50.

It ranks exactly as the raw score does (increasing), and it is no human scale: a score of 80 is
"better than most of the training pool's clean clips", not a MOS of 80.

Students saved before this (``meta["train_score_quantiles"]``: 101 percentiles of the scores of
every training item, distorted copies included) keep that older scale: the share of the training
items scored below, piecewise-linear, reaching 0 and 100 at the ends. It is read as it was saved,
not recomputed (recomputing needs the run's pool, which a student folder does not carry).
"""

from __future__ import annotations

import math

import numpy as np

KIND = "logistic"
QUARTILE_Z = math.log(3.0)  # logistic(+-ln 3) = 75 / 25: the quartiles' distance from the center, in slopes
MAX_Z = 36.0  # the farthest a pool's top score may sit above the center, in slopes: 100 / (1 + e^-36) < 100


def fit_scale(raw, clean, of: str) -> dict:
    """The scale of a student whose raw scores of its training pool are ``raw``; ``clean``: a boolean
    mask of the pool's clean clips; ``of``: what the clean items were, for whoever reads the saved form.

    >>> s = fit_scale([0.0, 1.0, 2.0, 3.0, 4.0, -6.0], [True] * 5 + [False], "five clips")
    >>> s["center"], round(s["slope"] * 2 * QUARTILE_Z, 6)  # the median clean score; the clean IQR
    (2.0, 2.0)
    >>> [round(v, 1) for v in apply_scale([1.0, 2.0, 3.0, -6.0], s).tolist()]
    [25.0, 50.0, 75.0, 0.0]
    """
    raw = np.asarray(raw, dtype=np.float64)
    clean = np.asarray(clean, dtype=bool)
    finite = np.isfinite(raw)
    base = raw[finite & clean] if (finite & clean).any() else raw[finite]  # a pool without clean clips: all
    if base.size == 0:
        return {}
    q1, center, q3 = (float(v) for v in np.quantile(base, [0.25, 0.5, 0.75]))
    spread = q3 - q1
    if not spread > 0:  # one clean clip, or all scored alike: the whole pool's spread says how far apart is far
        everything = raw[finite]
        spread = float(np.subtract(*np.quantile(everything, [0.75, 0.25]))) or float(everything.std()) or 1.0
    lo, hi = float(raw[finite].min()), float(raw[finite].max())
    slope = max(spread / (2 * QUARTILE_Z), (hi - center) / MAX_Z)
    distorted = raw[finite & ~clean]
    return {"kind": KIND, "center": center, "slope": slope, "clean_quartiles": [q1, q3], "pool_range": [lo, hi],
            "clean_items": int((finite & clean).sum()), "of": of,
            # how far the scale separates the pool's distorted variants from its clean clips (for the model card)
            "distorted_below_50": float((distorted < center).mean()) if distorted.size else None}


def apply_scale(raw, scale) -> np.ndarray:
    """``raw`` on 0-100 by a saved scale: the logistic of :func:`fit_scale` (a dict), or the older
    percentiles (a list, piecewise-linear between them, 0 and 100 at the ends); NaN without one.

    >>> apply_scale([-1.0, 0.5, 2.0], [0.0, 1.0]).tolist()  # a student saved before the logistic
    [0.0, 50.0, 100.0]
    """
    raw = np.asarray(raw, dtype=np.float64)
    if not scale:
        return np.full(raw.shape, np.nan)
    if isinstance(scale, dict):
        z = np.clip((raw - scale["center"]) / scale["slope"], -700.0, 700.0)  # exp stays finite
        return 100.0 / (1.0 + np.exp(-z))
    q = np.asarray(scale, dtype=np.float64)
    return np.interp(raw, q, np.linspace(0, 100, len(q)))


def saved_scale(meta: dict):
    """The 0-100 scale a student's ``meta`` holds: the logistic, or the older percentiles; None."""
    return meta.get("score_scale") or meta.get("train_score_quantiles")
