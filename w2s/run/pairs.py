"""Pseudo-labels: pairs ``(a, b, p)`` with ``p`` = P(a is better than b).

Teacher pairs: each teacher's scores are standardised over the items (teachers
share no scale), turned into a pair probability with the Thurstone link
``Phi((z_a - z_b) / sqrt 2)``, and averaged across teachers with weights.
Distortion pairs: within one content and one family a lower level is better
(level 0 is the clean clip); a gap of one level is less certain than a larger
one, because adjacent levels can be near-invisible on some content.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import ndtr


def item_index(items: pd.DataFrame) -> dict[str, int]:
    """Item id -> its row (and feature row): how pairs, which name items by id, find them."""
    return {item: i for i, item in enumerate(items.item_id)}


def standardize(scores: np.ndarray) -> np.ndarray:
    """z-scores over the items, NaNs (items a teacher could not score) kept as NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).any():  # a teacher that scored nothing abstains everywhere
        return np.full_like(scores, np.nan)
    mu, sd = np.nanmean(scores), np.nanstd(scores)
    return (scores - mu) / (sd if sd > 0 else 1.0)


def teacher_matrix(items: pd.DataFrame, teacher_columns: list[str]) -> np.ndarray:
    """(N, T) standardised scores, one column per teacher."""
    return np.stack([standardize(items[c].to_numpy()) for c in teacher_columns], axis=1)


def combined_probability(z: np.ndarray, ia: np.ndarray, ib: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over teachers of ``Phi((z_a - z_b)/sqrt2)``; a teacher missing either item abstains."""
    per_teacher = ndtr((z[ia] - z[ib]) / math.sqrt(2.0))  # (P, T)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), per_teacher.shape).copy()
    missing = np.isnan(per_teacher)
    w[missing] = 0.0
    per_teacher = np.where(missing, 0.5, per_teacher)
    total = w.sum(axis=1)
    return np.where(total > 0, (per_teacher * w).sum(axis=1) / np.where(total > 0, total, 1.0), 0.5)


def ensemble_score(z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-item ensemble score: weighted mean of standardised teacher scores."""
    w = np.where(np.isnan(z), 0.0, np.asarray(weights, dtype=np.float64))
    return np.nansum(np.nan_to_num(z) * w, axis=1) / np.maximum(w.sum(axis=1), 1e-12)


def draw_pairs(n_items: int, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` distinct unordered pairs of distinct items, in random orientation.

    Drawn with a seeded generator, so the same seed gives the same pairs on a
    rerun. Asks for at most all n(n-1)/2 pairs.
    """
    rng = np.random.default_rng(seed)
    total = n_items * (n_items - 1) // 2
    n_pairs = min(n_pairs, total)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < n_pairs:
        need = n_pairs - len(chosen)
        a = rng.integers(0, n_items, size=2 * need + 16)
        b = rng.integers(0, n_items, size=2 * need + 16)
        for x, y in zip(a.tolist(), b.tolist()):
            if x != y:
                key = (min(x, y), max(x, y))
                if key not in chosen:
                    chosen.add(key)
                    if len(chosen) == n_pairs:
                        break
    pairs = np.array(sorted(chosen), dtype=np.int64).reshape(-1, 2)
    flip = rng.random(len(pairs)) < 0.5
    pairs[flip] = pairs[flip][:, ::-1]
    return pairs[:, 0], pairs[:, 1]


def within_content_pairs(items: pd.DataFrame, rows: np.ndarray, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_pairs`` pairs of two of ``rows`` of one content (every such pair when there are fewer),
    seeded, in random orientation."""
    video = items.video_id.to_numpy()[rows]
    ia, ib = [], []
    for v in np.unique(video):
        mine = rows[video == v]
        a, b = np.triu_indices(len(mine), k=1)
        ia.append(mine[a])
        ib.append(mine[b])
    ia = np.concatenate(ia) if ia else np.zeros(0, dtype=np.int64)
    ib = np.concatenate(ib) if ib else np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if len(ia) > n_pairs:
        keep = np.sort(rng.choice(len(ia), size=n_pairs, replace=False))
        ia, ib = ia[keep], ib[keep]
    flip = rng.random(len(ia)) < 0.5
    ia, ib = np.where(flip, ib, ia), np.where(flip, ia, ib)
    return ia, ib


def pair_weights(items: pd.DataFrame, ia: np.ndarray, ib: np.ndarray, weights) -> np.ndarray:
    """Teacher weights per pair: one vector for every pair, or ``(within, across)``: a pair of one
    content is labelled by the teachers weighted for that axis, a pair of two contents by the other
    (:mod:`w2s.run.reliability`)."""
    if not isinstance(weights, tuple):
        return np.asarray(weights, dtype=np.float64)
    within, across = (np.asarray(w, dtype=np.float64) for w in weights)
    video = items.video_id.to_numpy()
    same = (video[ia] == video[ib])[:, None]
    return np.where(same, within[None, :], across[None, :])


def teacher_pairs(
    items: pd.DataFrame, teacher_columns: list[str], weights, n_pairs: int, seed: int, min_confidence: float = 0.0,
    rows: np.ndarray | None = None, source: str = "teacher", within_content: bool = False,
) -> pd.DataFrame:
    """Random pairs over ``rows`` of the items (default all: clean and distorted, across contents;
    ``within_content``: only pairs of one content), labelled by the teachers; ``weights`` as
    :func:`pair_weights` takes them."""
    z = teacher_matrix(items, teacher_columns)
    rows = np.arange(len(items)) if rows is None else np.asarray(rows)
    if within_content:
        ia, ib = within_content_pairs(items, rows, n_pairs, seed)
    else:
        ia, ib = draw_pairs(len(rows), n_pairs, seed)
        ia, ib = rows[ia], rows[ib]
    p = combined_probability(z, ia, ib, pair_weights(items, ia, ib, weights))
    keep = np.abs(p - 0.5) >= min_confidence
    ids = items.item_id.to_numpy()
    return pd.DataFrame({"a": ids[ia[keep]], "b": ids[ib[keep]], "p": p[keep], "source": source})


def distortion_pairs(items: pd.DataFrame, gap1_p: float, gap2_p: float) -> pd.DataFrame:
    """All level pairs within each (content, family), the clean clip as level 0; ``a`` is the milder."""
    clean = items[items.family == ""].set_index("video_id").item_id
    rows = []
    for (video_id, family), group in items[items.family != ""].groupby(["video_id", "family"], sort=True):
        ladder = [(0, clean[video_id])] if video_id in clean.index else []
        ladder += sorted(zip(group.level.tolist(), group.item_id.tolist()))
        for i, (la, a) in enumerate(ladder):
            for lb, b in ladder[i + 1 :]:
                rows.append((a, b, gap1_p if lb - la == 1 else gap2_p, "distortion"))
    return pd.DataFrame(rows, columns=["a", "b", "p", "source"])
