"""How far to trust each teacher, on two axes, without any human label.

*Within content*: how often a teacher orders the known-order distortion pairs
(two levels of one family on one content) correctly. This is what a student
learns best, and on it alone a student soon looks like the best teacher.

*Across contents*: what the human-rated sets measure, and what distortion
pairs say nothing about. Two MOS-free references:

- distorted variants of *different* contents, ordered by the consensus of the
  full-reference teachers (each variant against its own clean clip: one scale
  of lost quality across contents). A full-reference teacher is measured
  against the consensus of the *other* full-reference teachers;
- clean clips of different contents, ordered by the leave-one-out consensus
  of the other no-reference teachers (the full-reference ones abstain there).

A teacher's across-contents reliability is its pairwise accuracy on these,
averaged over the two parts it takes part in. Pairs are drawn with a seed, so
every process and every rerun measures the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.run.pairs import draw_pairs, ensemble_score, item_index, standardize

__all__ = ["across_reliability", "cross_content_pairs", "pair_accuracy", "reliability_weights", "teacher_reliability",
           "two_axes"]


def two_axes(scores: pd.DataFrame, columns: list[str], full_reference: set[str], dist_pairs: pd.DataFrame,
             config, index: dict | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """(within, across) reliability of each score column of the pool's items: what a round's panel
    weighs its teachers by, and what ``w2s select-backbones`` ranks candidate backbones by."""
    within = teacher_reliability(scores, columns, dist_pairs, index)
    across = across_reliability(scores, columns, full_reference, config.seed, config.pairs.reliability_pairs)
    return within, across


def pair_accuracy(scores: np.ndarray, index: dict, pairs: pd.DataFrame) -> float:
    """Share of pairs (p > 0.5) where ``score[a] > score[b]``; ties count half."""
    a = scores[pairs.a.map(index).to_numpy()]
    b = scores[pairs.b.map(index).to_numpy()]
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return float("nan")
    correct = (a[ok] > b[ok]) + 0.5 * (a[ok] == b[ok])
    return float(correct.mean())


def teacher_reliability(
    items: pd.DataFrame, teacher_columns: list[str], dist_pairs: pd.DataFrame, index: dict | None = None
) -> dict[str, float]:
    """Each teacher's accuracy on the known-order distortion pairs: no human label needed."""
    index = item_index(items) if index is None else index
    return {c: pair_accuracy(items[c].to_numpy(dtype=np.float64), index, dist_pairs) for c in teacher_columns}


def cross_content_pairs(items: pd.DataFrame, rows: np.ndarray, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_pairs`` seeded pairs (row indices into ``items``) among ``rows``, of different contents."""
    if len(rows) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ia, ib = draw_pairs(len(rows), n_pairs, seed)
    ia, ib = rows[ia], rows[ib]
    video = items.video_id.to_numpy()
    keep = video[ia] != video[ib]
    return ia[keep], ib[keep]


def _consensus(items: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Mean of the standardised scores of ``columns``, per item (NaN where none scored it)."""
    if not columns:
        return np.full(len(items), np.nan)
    z = np.stack([standardize(items[c].to_numpy()) for c in columns], axis=1)
    out = ensemble_score(z, np.ones(len(columns)))
    out[np.isnan(z).all(axis=1)] = np.nan
    return out


def _accuracy_against(scores: np.ndarray, truth: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> float:
    """Share of pairs that ``scores`` orders as ``truth`` does; truth ties and NaNs are left out,
    score ties count half (as :func:`w2s.run.pairs.pair_accuracy`)."""
    t, s = truth[ia] - truth[ib], scores[ia] - scores[ib]
    ok = np.isfinite(t) & np.isfinite(s) & (t != 0)
    if not ok.any():
        return float("nan")
    agree = np.sign(t[ok]) * np.sign(s[ok])
    return float(((agree > 0) + 0.5 * (agree == 0)).mean())


def across_reliability(
    items: pd.DataFrame, columns: list[str], full_reference: set[str], seed: int, n_pairs: int = 5000
) -> dict[str, float]:
    """Each teacher's accuracy across contents (see the module docstring); NaN where unmeasurable."""
    variants = np.flatnonzero((items.family != "").to_numpy())
    clean = np.flatnonzero((items.family == "").to_numpy())
    va, vb = cross_content_pairs(items, variants, n_pairs, seed)
    ca, cb = cross_content_pairs(items, clean, n_pairs, seed + 1)
    fr = [c for c in columns if c in full_reference]
    nr = [c for c in columns if c not in full_reference]
    out = {}
    for c in columns:
        scores = items[c].to_numpy(dtype=np.float64)
        parts = [_accuracy_against(scores, _consensus(items, [f for f in fr if f != c]), va, vb)]
        if c not in full_reference:
            parts.append(_accuracy_against(scores, _consensus(items, [n for n in nr if n != c]), ca, cb))
        parts = [p for p in parts if np.isfinite(p)]
        out[c] = float(np.mean(parts)) if parts else float("nan")
    return out


def reliability_weights(reliability: dict[str, float]) -> np.ndarray:
    """Weight = how much better than chance a teacher orders known pairs (0 at or below chance).

    A teacher whose reliability cannot be measured (a score table has no
    distorted variants) gets the median weight of the others: no evidence
    either way.
    """
    acc = np.array([reliability[k] for k in reliability], dtype=np.float64)
    w = np.clip(acc - 0.5, 0.0, None) + 1e-6
    unknown = np.isnan(acc)
    if unknown.any():
        w[unknown] = np.median(w[~unknown]) if (~unknown).any() else 1.0
    return w
