"""Hard cases for the next round, found out of fold.

A head on frozen features separates its own training pairs almost perfectly,
so asking the round-k student which of *its* pairs it gets wrong finds
nothing. Instead the contents are split into folds; a head trained without a
fold's contents scores that fold's items. With those out-of-fold scores:

- distortion pairs the student misorders are hard (it has not learned that
  family or that content's look);
- among random teacher pairs, those where the student's pair probability is
  furthest from the teacher ensemble's are hard (gMAD-style: the pairs that
  best tell the two models apart); they keep the ensemble's label.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy.special import ndtr

from w2s.run.pairs import combined_probability, draw_pairs, pair_weights, teacher_matrix
from w2s.run.train import score_items, train_head

# the out-of-fold scores also make the previous student a fair teacher on the training
# pool: scored in-sample, it only echoes the labels it was fitted to

log = logging.getLogger(__name__)


def content_folds(video_ids: np.ndarray, folds: int, seed: int) -> dict[str, int]:
    """Each content (video) to a fold, seeded; no content is split across folds."""
    contents = np.array(sorted(set(video_ids)))
    order = np.random.default_rng(seed).permutation(len(contents))
    return {contents[i]: k % folds for k, i in enumerate(order)}


def round_seed(config, k: int) -> int:
    """The seed of round k's folds and candidate pairs (apart from the training seeds, seed + k)."""
    return config.seed + 7919 * k


def out_of_fold_scores(pool, pairs, config, seed, accelerator) -> np.ndarray:
    """Score every item of ``pool`` (:class:`w2s.run.labels.Labels`) with a head that never saw a pair
    touching its content; a head scores ``base + residual``, as the student does."""
    items, features, base = pool.items, pool.features, pool.base
    fold_of = content_folds(items.video_id.to_numpy(), config.hard_cases.folds, seed)
    item_fold = items.video_id.map(fold_of).to_numpy()
    a_fold = item_fold[pairs.a.map(pool.index).to_numpy()]
    b_fold = item_fold[pairs.b.map(pool.index).to_numpy()]
    scores = np.full(len(items), np.nan)
    for k in range(config.hard_cases.folds):
        held = item_fold == k
        if not held.any():
            continue
        train_pairs = pairs[(a_fold != k) & (b_fold != k)]
        head, _ = train_head(
            features, train_pairs, pool.index, config.student, config.train, seed + 1000 + k, accelerator,
            norm_rows=np.flatnonzero(~held), base=base, blocks=pool.blocks,
        )
        fold_scores = score_items(head, features, base, rows=np.flatnonzero(held))
        # folds are trained apart and each has its own offset and scale:
        # standardise per fold so cross-fold pairs compare like with like
        scores[held] = (fold_scores - fold_scores.mean()) / (fold_scores.std() or 1.0)
    return scores


def mine_hard_cases(pool, pairs, oof, teachers, config, round_index) -> pd.DataFrame:
    """New hard pairs for round ``round_index`` (labelled, with source ``hard_*``).

    ``pairs`` are the previous round's pairs, ``oof`` the out-of-fold scores of a
    student trained on them (:func:`out_of_fold_scores`) and ``teachers`` the
    round's (:class:`w2s.run.round.Teachers`). With ``hard_cases.across_contents`` the
    candidates are pairs of two contents, and a pair of two variants takes the
    full-reference teachers' label where there are any.
    """
    items, index = pool.items, pool.index
    seed = round_seed(config, round_index)
    found = []
    if config.hard_cases.distortion:
        dist = pairs[pairs.source == "distortion"]
        wrong = oof[dist.a.map(index).to_numpy()] <= oof[dist.b.map(index).to_numpy()]
        hard = dist[wrong].assign(source="hard_distortion")
        log.info("round %d: %d of %d distortion pairs misordered out of fold", round_index, len(hard), len(dist))
        found.append(hard)
    if config.hard_cases.teacher > 0:
        ia, ib = draw_pairs(len(items), config.hard_cases.candidates, seed)
        columns, weights = teachers.select()
        p = combined_probability(teacher_matrix(teachers.scores, columns), ia, ib, pair_weights(items, ia, ib, weights))
        if config.hard_cases.across_contents:
            video = items.video_id.to_numpy()
            keep = video[ia] != video[ib]
            ia, ib, p = ia[keep], ib[keep], p[keep]
            fr_columns, fr_weights = teachers.select(full_reference=True)
            if fr_columns:
                both = (items.family.to_numpy()[ia] != "") & (items.family.to_numpy()[ib] != "")
                fr_p = combined_probability(teacher_matrix(teachers.scores, fr_columns), ia, ib, fr_weights[1])
                p = np.where(both, fr_p, p)
        # the OOF scores are standardised; the sqrt2 keeps them on the Thurstone scale of the teachers
        q = ndtr((oof[ia] - oof[ib]) / math.sqrt(2.0))
        gap = np.abs(p - q)
        top = np.argsort(-gap, kind="stable")[: config.hard_cases.teacher]
        ids = items.item_id.to_numpy()
        found.append(pd.DataFrame({"a": ids[ia[top]], "b": ids[ib[top]], "p": p[top], "source": "hard_teacher"}))
        log.info("round %d: %d teacher pairs where student and ensemble disagree most (mean |p-q| %.3f)",
                 round_index, len(top), float(gap[top].mean()) if len(top) else 0.0)
    out = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["a", "b", "p", "source"])
    return out.assign(round=round_index)
