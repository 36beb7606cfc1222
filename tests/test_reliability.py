"""Reliability on two axes without MOS, and the pair weights that follow from it."""

import numpy as np
import pandas as pd
import pytest

from w2s.run.pairs import pair_weights, teacher_pairs
from w2s.run.reliability import across_reliability, cross_content_pairs
from w2s.run.train import loss_weights


def pool(n_videos=6, levels=3, seed=0):
    """Clean clips and 2 families x ``levels`` variants; `quality` is the truth across contents."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(n_videos):
        clean_q = rng.uniform(0, 10)
        rows.append({"item_id": f"v{v}", "video_id": f"v{v}", "family": "", "level": 0, "quality": clean_q})
        for fam, step in (("blur", 1.0), ("noise", 1.7)):
            for lvl in range(1, levels + 1):
                rows.append({"item_id": f"v{v}#{fam}@{lvl}", "video_id": f"v{v}", "family": fam, "level": lvl,
                             "quality": clean_q - step * lvl})
    items = pd.DataFrame(rows)
    q = items.quality.to_numpy()
    variant = (items.family != "").to_numpy()
    # FR teachers see only variants (NaN on clean), and rank them by quality lost: the truth across contents
    items["score:fr:a"] = np.where(variant, q, np.nan)
    items["score:fr:b"] = np.where(variant, 2 * q + 1, np.nan)
    items["score:good"] = q  # a no-reference teacher that agrees everywhere
    items["score:backwards"] = -q  # one that has it backwards everywhere
    items["score:copy"] = q + 0.01  # a second good one, so `good` has a clean-clip consensus to meet
    return items


def test_across_reliability_against_the_full_reference_and_leave_one_out_consensus():
    items = pool()
    fr = {"score:fr:a", "score:fr:b"}
    rel = across_reliability(items, ["score:fr:a", "score:fr:b", "score:good", "score:copy"], fr, seed=0, n_pairs=400)
    # each FR teacher against the other one, each no-reference one against the FR consensus on
    # variants and against the other's on clean clips: all the same order
    assert rel == {"score:fr:a": 1.0, "score:fr:b": 1.0, "score:good": 1.0, "score:copy": 1.0}
    # backwards: 0 against the FR consensus on variants and against good + copy on clean clips
    rel = across_reliability(items, [*sorted(fr), "score:good", "score:copy", "score:backwards"], fr, 0, 400)
    assert rel["score:backwards"] == 0.0
    # a lone FR teacher has no other to be measured against; without variants scored by an FR
    # teacher, a no-reference teacher is measured on clean clips alone
    rel = across_reliability(items, ["score:fr:a", "score:good", "score:copy"], {"score:fr:a"}, 0, 400)
    assert np.isnan(rel["score:fr:a"]) and rel["score:good"] == 1.0
    rel = across_reliability(items, ["score:backwards", "score:copy"], set(), seed=0, n_pairs=400)
    assert rel == {"score:backwards": 0.0, "score:copy": 0.0}  # each has the other backwards


def test_cross_content_pairs_never_pair_a_content_with_itself():
    items = pool()
    rows = np.flatnonzero((items.family != "").to_numpy())
    ia, ib = cross_content_pairs(items, rows, 300, seed=1)
    assert len(ia) > 100
    assert (items.video_id.to_numpy()[ia] != items.video_id.to_numpy()[ib]).all()
    assert set(ia) | set(ib) <= set(rows)


def test_pairs_of_one_content_take_the_within_weights_of_two_contents_the_across_ones():
    items = pool()
    ia, ib = np.array([1, 1]), np.array([2, 8])  # v0#blur@1 with v0#blur@2 (same), with v1 (different)
    w = pair_weights(items, ia, ib, (np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    assert w.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    # a teacher weighted 0 on an axis gives no vote there: only `good` labels the cross-content pairs
    tp = teacher_pairs(items, ["score:good", "score:backwards"], (np.array([0.5, 0.5]), np.array([1.0, 0.0])), 200, 0)
    video = dict(zip(items.item_id, items.video_id))
    quality = dict(zip(items.item_id, items.quality))
    across = tp[[video[a] != video[b] for a, b in zip(tp.a, tp.b)]]
    assert len(across) > 50
    assert ((across.p > 0.5) == [quality[a] > quality[b] for a, b in zip(across.a, across.b)]).all()
    within = tp[[video[a] == video[b] for a, b in zip(tp.a, tp.b)]]
    assert np.allclose(within.p, 0.5)  # the two cancel exactly within a content


def test_loss_shares_give_each_source_its_share():
    sources = pd.Series(["teacher"] * 70 + ["fr"] * 20 + ["distortion"] * 8 + ["hard_teacher", "hard_distortion"])
    w = loss_weights(sources, {"teacher": 0.4, "fr": 0.3, "distortion": 0.2, "hard": 0.1})
    assert w.mean() == pytest.approx(1.0)
    share = pd.Series(w).groupby(sources.map(lambda s: "hard" if s.startswith("hard") else s)).sum() / w.sum()
    assert share.to_dict() == pytest.approx({"teacher": 0.4, "fr": 0.3, "distortion": 0.2, "hard": 0.1})
    assert loss_weights(sources, None).tolist() == [1.0] * 100
    assert loss_weights(sources, {"teacher": 1.0})[70:].tolist() == [0.0] * 30  # a source left out gets none


@pytest.mark.parametrize("votes", ["both", "within"])
def test_a_recycled_student_votes_across_contents_only_when_asked(votes, tmp_path):
    import torch

    from w2s.config import load_config
    from w2s.run.labels import Labels
    from w2s.run.pairs import distortion_pairs
    from w2s.run.panel import TeacherPanel

    items = pool().rename(columns={"score:good": "score:pyiqa:piqe", "score:copy": "score:pyiqa:entropy"})
    (tmp_path / "c.yaml").write_text("name: t\n")
    config = load_config(tmp_path / "c.yaml", ["teachers=[pyiqa:piqe, pyiqa:entropy]", "pairs.ensemble=reliability",
                                f"pairs.student_votes={votes}"])
    labels = Labels(items.assign(base=0.0, params="{}"), torch.zeros(len(items), 2))
    dist = distortion_pairs(items, 0.9, 0.99)
    # a student that agrees with the truth everywhere: it earns a weight on both axes out of fold
    teachers = TeacherPanel.of_round(labels, [items.quality.to_numpy()], dist, config)
    within, across = teachers.weights
    assert teachers.columns[-1] == "score:student r0" and within[-1] > 0.4
    if votes == "both":
        assert across[-1] > 0.4
    else:
        assert across[-1] == 0.0 and (across[:2] > 0).all()  # the weak teachers keep theirs
