import logging

import numpy as np
import pandas as pd
import pytest
import torch

from w2s.config import PairsConfig, RunConfig, StudentConfig, TrainConfig
from w2s.lofo import (
    LOFO_COLUMNS,
    SUMMARY_COLUMNS,
    drop_family_pairs,
    family_srcc,
    holdout_pairs,
    leave_one_family_out,
    lofo_markdown,
    round0_pairs,
    summarize_lofo,
)
from w2s.train import score_items, train_head

CONTENTS = 6
FAMILIES = ("A", "B", "C")
LEVELS = (1, 2, 3)


def synthetic_pool(seed=0):
    """6 contents x (clean + 3 families x 3 levels), with a known LOFO answer.

    Feature 0 grows with the level of A and B but falls with the level of C, so
    a head that learnt severity from A and B alone ranks C backwards. C's own
    cue is feature 1, noise elsewhere: pure noise to a head trained without C,
    enough to outweigh feature 0 on C for a head trained with it (so that with
    A or B held out the other one still teaches feature 0 the right way).
    Teacher `t:good` is -level everywhere (every family in order); `t:weak`
    orders A and is constant within each content on B and C (ranks nothing).
    """
    rng = np.random.default_rng(seed)
    rows, feats = [], []
    for c in range(CONTENTS):
        video = f"v{c}"
        ladder = [("", 0)] + [(f, lvl) for f in FAMILIES for lvl in LEVELS]
        for family, level in ladder:
            direction = -1.0 if family == "C" else 1.0
            rows.append(
                {
                    "item_id": video if family == "" else f"{video}#{family}@{level}",
                    "video_id": video,
                    "family": family,
                    "level": level,
                    "score:table:good": -float(level) + 0.01 * c,
                    "score:table:weak": -float(level) if family == "A" else 0.0,
                    "base": 0.0,
                }
            )
            c_cue = 3.0 * level if family == "C" else 0.0
            feats.append([direction * level, c_cue + rng.normal(), 0.1 * c, rng.normal(0.0, 0.05)])
    return pd.DataFrame(rows), torch.tensor(feats, dtype=torch.float32)


def tiny_config(**pairs) -> RunConfig:
    return RunConfig(
        seed=0,
        teachers=["table:good", "table:weak"],
        distortions={f: None for f in FAMILIES},
        pairs=PairsConfig(teacher_pairs=300, **pairs),
        student=StudentConfig(hidden=0, dropout=0.0),
        train=TrainConfig(epochs=10, batch_size=64, lr=0.05),
    )


@pytest.fixture(scope="module")
def lofo():
    items, features = synthetic_pool()
    config = tiny_config()
    df = leave_one_family_out(items, features, config)
    return items, config, df


def srcc_of(df, model, family):
    row = df[(df.model == model) & (df.family == family)]
    assert len(row) == 1
    return float(row.srcc.iloc[0])


def test_table_has_one_row_per_model_and_family(lofo):
    _, _, df = lofo
    assert list(df.columns) == LOFO_COLUMNS
    assert len(df) == 4 * len(FAMILIES)  # student, ensemble, two teachers
    assert list(dict.fromkeys(df.model)) == ["student", "ensemble", "table:good", "table:weak"]
    assert (df.contents == CONTENTS).all()
    assert df[df.kind != "student"].train_pairs.isna().all()


def test_teachers_scored_on_their_raw_columns(lofo):
    _, _, df = lofo
    for family in FAMILIES:
        assert srcc_of(df, "table:good", family) == 1.0
    assert srcc_of(df, "table:weak", "A") == 1.0
    # constant within every group: ranks nothing, which grouped_srcc counts as 0
    assert srcc_of(df, "table:weak", "B") == 0.0
    assert srcc_of(df, "table:weak", "C") == 0.0


def test_student_ranks_the_opposite_family_backwards(lofo):
    _, _, df = lofo
    # A and B teach the same feature direction, so each generalises to the other ...
    assert srcc_of(df, "student", "A") > 0.5
    assert srcc_of(df, "student", "B") > 0.5
    # ... while C moves that feature the other way
    assert srcc_of(df, "student", "C") < 0


def test_control_student_trained_with_c_ranks_it_forwards(lofo):
    # the backwards C above comes from holding C out, not from features that cannot rank it
    items, config, _ = lofo
    _, features = synthetic_pool()
    index = {item: i for i, item in enumerate(items.item_id)}
    head, _ = train_head(features, round0_pairs(items, config), index, config.student, config.train, config.seed)
    value, _ = family_srcc(score_items(head, features), items, "C")
    assert value > 0.5


def test_summary_flags_the_backwards_family(lofo):
    _, _, df = lofo
    summary = summarize_lofo(df).set_index("model")
    assert list(summary.reset_index().columns) == SUMMARY_COLUMNS
    student = summary.loc["student"]
    assert student.worst_family == "C"
    assert student.worst_srcc == pytest.approx(srcc_of(df, "student", "C"))
    assert student.backwards == 1
    assert student.worst_gap_family == "C"
    assert student.worst_gap == pytest.approx(srcc_of(df, "student", "C") - 1.0)
    assert student.mean_srcc == pytest.approx(np.mean([srcc_of(df, "student", f) for f in FAMILIES]))
    good = summary.loc["table:good"]
    assert good.mean_srcc == 1.0 and good.backwards == 0 and good.worst_gap == 0.0
    weak = summary.loc["table:weak"]
    assert weak.worst_srcc == 0.0 and weak.mean_gap == pytest.approx(-2 / 3)


def test_markdown_section_lists_every_family(lofo):
    _, _, df = lofo
    text = lofo_markdown(summarize_lofo(df), df)
    assert text.startswith("## Leave-one-family-out")
    family_rows = [line for line in text.splitlines() if line.split("|")[1:2] in ([" A "], [" B "], [" C "])]
    assert len(family_rows) == 3
    assert all("table:good" in line for line in family_rows)  # the best teacher on each family


def test_student_trained_on_the_held_out_pairs(lofo):
    items, config, df = lofo
    student = df[df.model == "student"].set_index("family")
    for family in FAMILIES:
        assert student.train_pairs[family] == len(holdout_pairs(items, family, config))


def test_dropping_a_family_removes_every_pair_touching_it():
    items, _ = synthetic_pool()
    config = tiny_config()
    pairs = round0_pairs(items, config)
    c_items = set(items.item_id[items.family == "C"])
    touches = pairs.a.isin(c_items) | pairs.b.isin(c_items)
    assert touches.any() and (~touches).any()  # else the filter below proves nothing
    kept = drop_family_pairs(pairs, items, "C")
    assert not (kept.a.isin(c_items) | kept.b.isin(c_items)).any()
    assert len(kept) == int((~touches).sum())  # nothing else is dropped
    assert set(kept.source) == {"teacher", "distortion"}


def test_holdout_pairs_keep_clean_clips_and_other_families():
    items, _ = synthetic_pool()
    pairs = holdout_pairs(items, "C", tiny_config(ensemble="reliability"))
    touched = set(pairs.a) | set(pairs.b)
    family = items.set_index("item_id").family
    assert "C" not in set(family[list(touched)])
    assert {"", "A", "B"} <= set(family[list(touched)])
    # every distortion pair of A and B survives: 6 per (content, family) ladder of 4
    assert (pairs.source == "distortion").sum() == CONTENTS * 2 * 6


def test_plugged_in_builder_sees_no_held_out_item_and_cannot_leak_one(caplog):
    items, _ = synthetic_pool()
    seen = []

    def leaky(subset, config):
        seen.append(set(subset.family))
        # a builder that wrongly reads the whole pool: pairs every item with the next one
        ids = items.item_id.to_numpy()
        return pd.DataFrame({"a": ids[:-1], "b": ids[1:], "p": 0.9, "source": "custom", "round": 0})

    with caplog.at_level(logging.WARNING, logger="w2s.lofo"):
        pairs = holdout_pairs(items, "B", tiny_config(), make_pairs=leaky)
    assert seen == [{"", "A", "C"}]
    b_items = set(items.item_id[items.family == "B"])
    assert len(pairs) and not (pairs.a.isin(b_items) | pairs.b.isin(b_items)).any()
    assert "touching held-out family B" in caplog.text


def test_family_srcc_reads_the_severity_order():
    items, _ = synthetic_pool()
    value, contents = family_srcc(-items.level.to_numpy(dtype=float), items, "B")
    assert (value, contents) == (1.0, CONTENTS)
    value, _ = family_srcc(items.level.to_numpy(dtype=float), items, "B")
    assert value == -1.0


def test_unknown_family_is_refused():
    items, features = synthetic_pool()
    with pytest.raises(ValueError, match="no items of family"):
        leave_one_family_out(items, features, tiny_config(), families=["D"])
