"""The 0-100 scale (w2s.core.scale): 50 at the median clean clip of the training pool, the clean
clips' middle half on 25..75, distorted variants below, never exactly 0 or 100 inside the pool."""

import numpy as np
import pytest
import torch

import w2s
from students.calibration import CalibrationHead
from students.student import Student
from w2s.api import scale_100
from w2s.core.scale import apply_scale, fit_scale
from w2s.media.decode import read_clip

# a pool as a run has it: 21 clean clips of different quality (median 5, quartiles 2.5 and 7.5) and
# twice as many distorted copies, most of them scored below every clean clip
CLEAN = np.linspace(0.0, 10.0, 21)
DISTORTED = np.concatenate([np.linspace(-20.0, -1.0, 38), [1.0, 4.0, 6.0, 8.0]])
RAW = np.concatenate([CLEAN, DISTORTED])
IS_CLEAN = np.arange(len(RAW)) < len(CLEAN)


def test_the_median_clean_clip_is_50_and_the_clean_quartiles_25_and_75():
    scale = fit_scale(RAW, IS_CLEAN, "hand-made")
    assert scale["center"] == 5.0 and scale["clean_quartiles"] == [2.5, 7.5] and scale["clean_items"] == 21
    assert scale["distorted_below_50"] == 40 / 42  # all but 6.0 and 8.0
    assert apply_scale([5.0, 2.5, 7.5], scale) == pytest.approx([50.0, 25.0, 75.0], abs=1e-9)
    on_100 = apply_scale(RAW, scale)
    # clean clips spread over the scale: the ends of their range sit two quartile distances from the
    # median, logistic(-+2 ln 3) = 100 / (1 + 9^+-1): 10 and 90
    assert on_100[IS_CLEAN][[0, -1]] == pytest.approx([10.0, 90.0])
    assert np.median(on_100[~IS_CLEAN]) < 1 and (on_100[~IS_CLEAN] < 50).mean() > 0.9
    # increasing, and neither end reached anywhere inside the pool's range
    grid = np.linspace(RAW.min(), RAW.max(), 10_001)
    mapped = apply_scale(grid, scale)
    assert np.all(np.diff(mapped) > 0)
    assert 0 < mapped.min() and mapped.max() < 100


def test_the_percentile_scale_it_replaces_saturated_on_this_pool():
    # what a student saved before this reads (its train_score_quantiles): ordinary clips crowd the top
    quantiles = np.quantile(RAW, np.linspace(0, 1, 101)).tolist()
    old = scale_100(CLEAN, quantiles)
    assert old.min() > 60 and old.max() == 100.0  # 38 of the 63 items lie below every clean clip
    new = scale_100(CLEAN, fit_scale(RAW, IS_CLEAN, "hand-made"))
    assert new.min() == pytest.approx(10.0) and new.max() == pytest.approx(90.0)


def test_a_clean_outlier_far_above_does_not_reach_100():
    raw = np.append(RAW, 500.0)
    scale = fit_scale(raw, np.append(IS_CLEAN, True), "with an outlier")
    top = apply_scale([500.0], scale)[0]
    assert 99.99 < top < 100.0
    assert apply_scale([np.median(raw[np.append(IS_CLEAN, True)])], scale)[0] == pytest.approx(50.0)


def test_degenerate_pools():
    # one clean clip: the whole pool's spread sets the slope; no clean clip: every item is the reference
    one = fit_scale([3.0, 1.0, 2.0, 0.0], [True, False, False, False], "one clip")
    assert one["center"] == 3.0 and apply_scale([3.0], one)[0] == 50.0 and apply_scale([0.0], one)[0] < 50
    none = fit_scale([1.0, 2.0, 3.0], [False] * 3, "no clean clip")
    assert none["center"] == 2.0 and none["clean_items"] == 0
    flat = fit_scale([2.0, 2.0], [True, True], "alike")
    assert apply_scale([2.0, 3.0], flat).tolist() == pytest.approx([50.0, 100 / (1 + np.exp(-2 * np.log(3)))])
    assert fit_scale([np.nan], [True], "nothing") == {}
    assert np.isnan(apply_scale([1.0], {})).all() and np.isnan(apply_scale([1.0], None)).all()


def test_a_saved_student_keeps_its_scale_through_save_and_load(tmp_path, sample_pools, backbone):
    torch.manual_seed(0)
    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    head.set_normalization(torch.randn(50, backbone.dim))
    sampler = {"name": "uniform", "num_frames": 2}
    clips = sorted(sample_pools["eval"].glob("*.mp4"))[:5]
    in_memory = Student("efficientnet_lite0", head, backbone=backbone, meta={})
    raw = np.array([in_memory.score(read_clip(c, sampler, max_side=96)) for c in clips])
    scale = fit_scale(raw, [True] * 5, "five clips")
    path = tmp_path / "student"
    meta = {"sampler": sampler, "max_side": 96, "score_scale": scale}
    Student("efficientnet_lite0", head, backbone=backbone, meta=meta).save_pretrained(path)

    scorer = w2s.load(path, device="cpu")
    assert scorer.quantiles == scale  # the saved form, read back as written
    on_100 = scorer.score_100([str(c) for c in clips])
    assert on_100 == pytest.approx(apply_scale(raw, scale), abs=1e-4)
    assert sorted(on_100)[2] == pytest.approx(50.0, abs=1e-4)  # the median of the five clips
    assert np.argsort(on_100).tolist() == np.argsort(raw).tolist()
    table = scorer.score_files([str(c) for c in clips], progress=False)
    assert table.score_100.to_numpy() == pytest.approx(on_100)


def test_a_student_saved_before_keeps_its_percentile_scale(tmp_path, backbone):
    torch.manual_seed(0)
    head = CalibrationHead(backbone.dim, hidden=0, dropout=0.0)
    head.set_normalization(torch.randn(50, backbone.dim))
    path = tmp_path / "old"
    meta = {"sampler": {"name": "uniform", "num_frames": 2}, "max_side": 96,
            "train_score_quantiles": np.linspace(-2, 2, 101).tolist()}
    Student("efficientnet_lite0", head, backbone=backbone, meta=meta).save_pretrained(path)
    scorer = w2s.load(path, device="cpu")
    assert scale_100(np.array([-3.0, 0.0, 1.0]), scorer.quantiles).tolist() == pytest.approx([0.0, 50.0, 75.0])
