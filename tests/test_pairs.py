import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from w2s.run.pairs import (
    combined_probability,
    distortion_pairs,
    draw_pairs,
    ensemble_score,
    standardize,
    teacher_matrix,
    teacher_pairs,
    within_content_pairs,
)
from w2s.run.reliability import reliability_weights, teacher_reliability


def small_items():
    # one content, clean + 2 blur levels + 1 noise level; two teachers
    return pd.DataFrame(
        {
            "item_id": ["v", "v#blur@1", "v#blur@2", "v#noise@1", "w"],
            "video_id": ["v", "v", "v", "v", "w"],
            "family": ["", "blur", "blur", "noise", ""],
            "level": [0, 1, 2, 1, 0],
            "score:t1": [5.0, 4.0, 3.0, 2.0, 1.0],  # orders blur correctly
            "score:t2": [1.0, 2.0, 3.0, 0.0, 4.0],  # orders blur backwards
        }
    )


def test_distortion_pairs_small_known_case():
    pairs = distortion_pairs(small_items(), gap1_p=0.8, gap2_p=0.95)
    got = {(a, b): p for a, b, p in zip(pairs.a, pairs.b, pairs.p)}
    assert got == {
        ("v", "v#blur@1"): 0.8,
        ("v", "v#blur@2"): 0.95,
        ("v#blur@1", "v#blur@2"): 0.8,
        ("v", "v#noise@1"): 0.8,
    }
    assert set(pairs.source) == {"distortion"}


def test_standardize_and_thurstone_combination_by_hand():
    z = standardize([1.0, 2.0, 3.0])
    assert np.allclose(z, [-math.sqrt(1.5), 0, math.sqrt(1.5)])
    zz = np.array([[1.0, 0.0], [0.0, 1.0]])
    # teacher 1: Phi(1/sqrt2); teacher 2: Phi(-1/sqrt2); equal weights average to 0.5
    p = combined_probability(zz, np.array([0]), np.array([1]), np.array([1.0, 1.0]))
    assert p[0] == pytest.approx(0.5)
    p = combined_probability(zz, np.array([0]), np.array([1]), np.array([3.0, 1.0]))
    assert p[0] == pytest.approx(0.75 * norm.cdf(1 / math.sqrt(2)) + 0.25 * norm.cdf(-1 / math.sqrt(2)))


def test_missing_score_abstains():
    zz = np.array([[1.0, np.nan], [0.0, 0.0]])
    p = combined_probability(zz, np.array([0]), np.array([1]), np.array([1.0, 1.0]))
    assert p[0] == pytest.approx(norm.cdf(1 / math.sqrt(2)))
    assert ensemble_score(zz, np.array([1.0, 1.0]))[0] == pytest.approx(1.0)


def test_draw_pairs_distinct_seeded_and_capped():
    a, b = draw_pairs(30, 200, seed=3)
    keys = {(min(x, y), max(x, y)) for x, y in zip(a, b)}
    assert len(keys) == 200 and all(x != y for x, y in zip(a, b))
    a2, b2 = draw_pairs(30, 200, seed=3)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    assert not np.array_equal(a, draw_pairs(30, 200, seed=4)[0])
    a, _ = draw_pairs(5, 1000, seed=0)
    assert len(a) == 10  # all 5*4/2 pairs and no more


def test_teacher_pairs_cover_clean_and_distorted_items():
    items = small_items()
    tp = teacher_pairs(items, ["score:t1", "score:t2"], np.ones(2), n_pairs=10, seed=0)
    assert len(tp) == 10  # all pairs of 5 items
    assert set(tp.a) | set(tp.b) == set(items.item_id)


def test_within_content_pairs_never_join_two_contents():
    items = pd.DataFrame({"video_id": ["v", "v", "v", "w", "w", "x"]})
    rows = np.arange(6)
    ia, ib = within_content_pairs(items, rows, n_pairs=100, seed=0)
    # every pair of one content: 3 of v, 1 of w, none of x (a single variant)
    assert sorted(map(tuple, np.sort(np.stack([ia, ib], 1), axis=1).tolist())) == [(0, 1), (0, 2), (1, 2), (3, 4)]
    assert 0 < (ia > ib).sum() < 4  # random orientation
    capped = within_content_pairs(items, rows, n_pairs=2, seed=0)
    assert len(capped[0]) == 2 and all(items.video_id[a] == items.video_id[b] for a, b in zip(*capped))
    again = within_content_pairs(items, rows, n_pairs=2, seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(capped, again))


def test_fr_pairs_within_content_are_labelled_with_the_within_weights():
    items = small_items()
    variants = np.flatnonzero((items.family != "").to_numpy())
    tp = teacher_pairs(items, ["score:t1", "score:t2"], (np.array([1.0, 0.0]), np.array([0.0, 1.0])), 10, 0,
                       rows=variants, source="fr", within_content=True)
    assert len(tp) == 3 and set(tp.source) == {"fr"}  # the 3 pairs of v's variants
    # within weights: t1 alone; t1 scores blur@1 (4) above blur@2 (3): z gap 1/sd(t1)
    z = standardize(items["score:t1"].to_numpy())
    row = tp[(tp.a == "v#blur@1") & (tp.b == "v#blur@2")]
    if row.empty:
        row = tp[(tp.a == "v#blur@2") & (tp.b == "v#blur@1")]
        expected = norm.cdf((z[2] - z[1]) / math.sqrt(2))
    else:
        expected = norm.cdf((z[1] - z[2]) / math.sqrt(2))
    assert row.p.iloc[0] == pytest.approx(expected)


def test_reliability_is_accuracy_on_known_pairs():
    items = small_items()
    dist = distortion_pairs(items, 0.8, 0.95)
    rel = teacher_reliability(items, ["score:t1", "score:t2"], dist)
    assert rel["score:t1"] == pytest.approx(1.0)  # 4 of 4 pairs in order
    assert rel["score:t2"] == pytest.approx(1 / 4)  # only clean > noise@1
    w = reliability_weights(rel)
    assert w[0] > 0.4 and w[1] < 1e-3  # below chance: no say
    w = reliability_weights({"a": 0.9, "b": 0.7, "c": float("nan")})
    assert w[2] == pytest.approx(np.median(w[:2]))  # unmeasurable: the others' median


def test_an_abstaining_teacher_counts_only_the_pairs_it_scored():
    # t2 abstains on v#blur@2 (a probe teacher outside its videos); t3 scores only the clean clips
    items = small_items().assign(**{"score:t3": [1.0, np.nan, np.nan, np.nan, 2.0]})
    items.loc[2, "score:t2"] = np.nan
    cols = ["score:t1", "score:t2", "score:t3"]
    dist = distortion_pairs(items, 0.8, 0.95)
    rel = teacher_reliability(items, cols, dist)
    assert rel["score:t1"] == pytest.approx(1.0)
    assert rel["score:t2"] == pytest.approx(1 / 2)  # of (v, blur@1) and (v, noise@1): only clean > noise@1
    assert np.isnan(rel["score:t3"])  # no distortion pair scored: unmeasurable, the others' median weight
    w = reliability_weights(rel)
    assert w[2] == pytest.approx(np.median(w[:2]))
    # the ensemble labels a pair t2 and t3 abstain on from t1 alone, whatever their weights
    z = teacher_matrix(items, cols)
    p = combined_probability(z, np.array([1]), np.array([2]), np.array([1.0, 5.0, 5.0]))
    assert p[0] == pytest.approx(norm.cdf((z[1, 0] - z[2, 0]) / math.sqrt(2)))
    assert ensemble_score(z, np.array([1.0, 5.0, 5.0]))[2] == pytest.approx(z[2, 0])
    tp = teacher_pairs(items, cols, w, n_pairs=10, seed=0)
    assert len(tp) == 10
    # every label by hand: the weighted mean of Phi((z_a - z_b) / sqrt2) over the teachers
    # that scored both items (t1 scores all, so none is left without a teacher)
    row = {item: k for k, item in enumerate(items.item_id)}
    for a, b, p in zip(tp.a, tp.b, tp.p):
        za, zb = z[row[a]], z[row[b]]
        voting = [t for t in range(3) if not np.isnan(za[t]) and not np.isnan(zb[t])]
        want = sum(w[t] * norm.cdf((za[t] - zb[t]) / math.sqrt(2)) for t in voting) / sum(w[t] for t in voting)
        assert p == pytest.approx(want), (a, b)
