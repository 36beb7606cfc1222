"""Motion features on real clips with the repo's own temporal distortions."""

import itertools

import pytest
import torch

from distortions import DISTORTIONS
from students.motion import (
    MOTION_DIM,
    MOTION_FEATURES,
    global_shifts,
    motion_features,
    temporal_feature_change,
)
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler

# real sample clips: two video segments (animation, handheld camera), a phone call, a photo pan
CLIPS = ("bigbuckbunny_s01", "bikes_s03", "carphone_pristine_s01", "coffee_pan")


@pytest.fixture(scope="module")
def clips(sample_pools):
    out = {}
    for name in CLIPS:
        path = next(p for pool in sample_pools.values() for p in pool.glob(f"{name}.mp4"))
        out[name] = read_clip(path, UniformSampler(8))
    return out


def feature(frames: torch.Tensor, name: str) -> float:
    return float(motion_features(frames)[MOTION_FEATURES.index(name)])


def ladder(clip, family: str, name: str, seed: int = 0) -> list[float]:
    """The feature on the clean clip, then on levels 1..N of ``family``."""
    fam = DISTORTIONS.resolve(family)()
    variants = [fam.apply(clip, fam.params(level, seed)) for level in range(1, fam.levels + 1)]
    return [feature(clip.frames, name)] + [feature(v.frames, name) for v in variants]


def strictly_increasing(values: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("clip_name", CLIPS)
def test_repeat_fraction_orders_stutter_levels(clips, clip_name):
    # 8 frames: levels drop 1, 2 and 4 of the 7 later frames, each a repeat of the one before
    values = ladder(clips[clip_name], "stutter", "repeat_fraction")
    assert values == pytest.approx([0, 1 / 7, 2 / 7, 4 / 7])


@pytest.mark.parametrize("clip_name", CLIPS)
def test_shift_acceleration_orders_jitter_levels(clips, clip_name):
    values = ladder(clips[clip_name], "jitter", "shift_accel")
    assert strictly_increasing(values), values


@pytest.mark.parametrize("clip_name", CLIPS)
def test_luma_change_orders_flicker_levels(clips, clip_name):
    values = ladder(clips[clip_name], "flicker", "luma_change")
    assert strictly_increasing(values), values


def test_distorted_clips_differ_from_clean_in_several_features(clips):
    clip = clips["carphone_pristine_s01"]
    clean = motion_features(clip.frames)
    for family in ("stutter", "jitter"):
        fam = DISTORTIONS.resolve(family)()
        changed = (motion_features(fam.apply(clip, fam.params(1, 0)).frames) - clean).abs() > 1e-4 * (
            clean.abs() + 1e-3
        )
        assert changed.sum() >= 4, (family, changed)


def test_shape_one_frame_and_still_clips():
    assert len(MOTION_FEATURES) == MOTION_DIM and 8 <= MOTION_DIM <= 16
    one = motion_features(torch.rand(1, 3, 32, 48))
    assert one.shape == (MOTION_DIM,) and one.dtype == torch.float32 and not one.any()
    frame = torch.rand(1, 3, 32, 48)
    still = motion_features(frame.expand(4, -1, -1, -1))
    assert still[MOTION_FEATURES.index("repeat_fraction")] == 1
    assert still[MOTION_FEATURES.index("diff_mean")] == 0 and still[MOTION_FEATURES.index("shift_mean")] == 0
    assert torch.isfinite(motion_features(torch.rand(2, 3, 20, 20))).all()
    with pytest.raises(ValueError, match="T, 3, H, W"):
        motion_features(torch.rand(3, 32, 48))


def test_global_shift_is_measured_on_a_real_frame(clips):
    frame = clips["coffee_pan"].frames[0]  # 212 x 320, under the working size: measured at full size
    moved = torch.roll(frame, shifts=(3, -5), dims=(1, 2))
    y = frame.mean(dim=0)
    s = global_shifts(torch.stack([y, moved.mean(dim=0)]).double())[0]
    h, w = y.shape
    assert abs(abs(float(s[0]) * h) - 3) < 0.3 and abs(abs(float(s[1]) * w) - 5) < 0.3


def test_temporal_feature_change():
    f = torch.tensor([[0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    assert torch.equal(temporal_feature_change(f), torch.tensor([1.5, 0.5]))
    assert torch.equal(temporal_feature_change(f[:1]), torch.zeros(2))
    with pytest.raises(ValueError, match=r"per-frame features must be \(T, D\), got \(3,\)"):
        temporal_feature_change(torch.zeros(3))
