"""``fr:NAME``: full-reference metrics of a variant against its clean clip, on real frames and real distortions."""

import dataclasses
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from distortions import DISTORTIONS
from teachers import check_teacher, make_teacher, teacher_class
from teachers.full_reference import (
    FR_METRICS,
    MIN_SIDE,
    PSNR_CAP_DB,
    FullReferenceTeacher,
    psnr,
)
from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.core.protocols import Teacher

SMALL = (96, 128)  # (H, W): every metric but ms_ssim runs on it
LARGE = (176, 208)  # ms_ssim needs a short side of at least 161 px


def _frames(size) -> torch.Tensor:
    """Two real photographs (astronaut, chelsea) as a 2-frame clip, resized with antialiasing."""
    out = []
    for img in (data.astronaut(), data.chelsea()):
        t = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255.0
        out.append(F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(out).clamp(0, 1)


@pytest.fixture(scope="module")
def clean():
    return {SMALL: Clip("photos", _frames(SMALL), 25.0), LARGE: Clip("astronaut", _frames(LARGE)[:1], 25.0)}


@pytest.fixture(scope="module")
def one_frame(clean):
    """One real frame per size: the ladder tests score nine variants per metric, so they stay cheap."""
    return {SMALL: Clip("astronaut", clean[SMALL].frames[:1], 25.0), LARGE: clean[LARGE]}


def _size(metric):
    return LARGE if MIN_SIDE[metric] > min(SMALL) else SMALL


@pytest.fixture(scope="module")
def teachers():
    return {m: FullReferenceTeacher(m) for m in FR_METRICS}


def _variant(clean_clip, family, ladder, level, seed=0):
    d = DISTORTIONS.resolve(family)(ladder=ladder)
    v = d.apply(clean_clip, d.params(level, seed))
    return dataclasses.replace(v, id=f"{clean_clip.id}#{family}@{level}", reference=clean_clip)


def _copy_of(clean_clip):
    """A 'variant' with the reference's own pixels."""
    return dataclasses.replace(clean_clip, id=clean_clip.id + "#copy@0", frames=clean_clip.frames.clone(),
                               reference=clean_clip)


@pytest.mark.parametrize("metric", list(FR_METRICS))
def test_clean_clip_abstains(metric, teachers, clean):
    assert math.isnan(teachers[metric].score(clean[_size(metric)]))


LADDERS = {"blur": [0.5, 1.0, 2.0, 4.0], "noise": [0.01, 0.02, 0.05, 0.1]}


@pytest.mark.parametrize("family", list(LADDERS))
@pytest.mark.parametrize("metric", list(FR_METRICS))
def test_score_strictly_decreases_with_level(metric, family, teachers, one_frame):
    ref = one_frame[_size(metric)]
    ladder = LADDERS[family]
    clips = [_copy_of(ref)] + [_variant(ref, family, ladder, level) for level in range(1, len(ladder) + 1)]
    scores = [teachers[metric].score(c) for c in clips]
    assert all(math.isfinite(s) for s in scores), scores
    assert all(a > b for a, b in itertools.pairwise(scores)), f"fr:{metric} on {family}: {scores}"


def test_psnr_hand_computed():
    ref = torch.full((2, 3, 4, 5), 0.5)
    # constant frames 0.1 apart: MSE = 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB
    assert psnr(ref - 0.1, ref).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)
    # one of 12 values off by 0.5: MSE = 0.25 / 12, PSNR = 10 log10(48)
    a = torch.zeros(1, 3, 2, 2)
    b = a.clone()
    b[0, 1, 0, 1] = 0.5
    assert psnr(b, a).item() == pytest.approx(10 * math.log10(48), abs=1e-5)


def test_psnr_teacher_matches_and_caps_identical_frames(clean):
    ref = Clip("flat", torch.full((3, 3, 8, 8), 0.5), 25.0)
    t = FullReferenceTeacher("psnr")
    off = dataclasses.replace(ref, frames=ref.frames - 0.1, reference=ref)
    assert t.score(off) == pytest.approx(20.0, abs=1e-4)
    assert t.score(_copy_of(ref)) == PSNR_CAP_DB
    assert t.score(_copy_of(clean[SMALL])) == PSNR_CAP_DB


def test_cw_ssim_stays_within_its_bound_on_flat_frames():
    """pyiqa's CW-SSIM gives about 1e6 on featureless frames (a fade to black); it is at most 1."""
    ref = Clip("black", torch.zeros(2, 3, 64, 64), 25.0)
    assert FullReferenceTeacher("cw_ssim").score(_copy_of(ref)) == 1.0


def test_frame_scores_of_a_clean_clip_is_a_clear_error(clean):
    with pytest.raises(W2SError, match="clean clip"):
        FullReferenceTeacher("psnr").frame_scores(clean[SMALL])


def test_min_pooling_is_the_worst_frame_for_either_orientation(clean):
    """Scores are oriented before pooling: 'min' is the worst frame even for a lower-is-better metric (gmsd)."""
    ref = clean[SMALL]
    mild = _variant(ref, "blur", [0.5, 4.0], 1).frames
    heavy = _variant(ref, "blur", [0.5, 4.0], 2).frames
    mixed = dataclasses.replace(ref, frames=torch.stack([mild[0], heavy[1]]), reference=ref)
    for metric in ("psnr", "gmsd"):
        per_frame = FullReferenceTeacher(metric).frame_scores(mixed)
        assert per_frame[0] > per_frame[1]
        assert FullReferenceTeacher(metric, pooling="min").score(mixed) == pytest.approx(float(per_frame[1]))
        assert FullReferenceTeacher(metric).score(mixed) == pytest.approx(float(per_frame.mean()))


def test_compares_the_common_frames_only(clean):
    """A variant with an extra frame (a temporal distortion repeats frames) is compared over min(T, T_ref)."""
    ref = clean[SMALL]
    longer = dataclasses.replace(ref, frames=torch.cat([ref.frames, torch.zeros_like(ref.frames[:1])]), reference=ref)
    assert FullReferenceTeacher("psnr").score(longer) == PSNR_CAP_DB
    shorter = dataclasses.replace(ref, frames=ref.frames[:1], reference=ref)
    assert FullReferenceTeacher("psnr").score(shorter) == PSNR_CAP_DB


def test_a_variant_of_another_size_is_resized_to_the_reference(clean):
    ref = clean[SMALL]
    small = F.interpolate(ref.frames, scale_factor=0.5, mode="bilinear", antialias=True)
    variant = dataclasses.replace(ref, frames=small, reference=ref)
    t = FullReferenceTeacher("psnr")
    assert 15.0 < t.score(variant) < t.score(_variant(ref, "blur", [0.5], 1))


def test_frames_too_small_give_a_clear_error(clean):
    variant = _variant(clean[SMALL], "blur", [1.0], 1)
    with pytest.raises(W2SError, match=r"fr:ms_ssim .*161 px.*128x96"):
        FullReferenceTeacher("ms_ssim").score(variant)


def test_unknown_names_suggest_close_matches():
    with pytest.raises(W2SError, match="'ssim'"):
        FullReferenceTeacher.check("ssmi")
    with pytest.raises(W2SError, match="'ms_ssim'"):
        check_teacher("fr:ms-ssim")
    with pytest.raises(W2SError, match="mad is not offered"):
        FullReferenceTeacher.check("mad")
    with pytest.raises(W2SError, match="downloaded"):
        FullReferenceTeacher.check("lpips")
    with pytest.raises(W2SError, match="pooling"):
        FullReferenceTeacher("psnr", pooling="avg")
    for metric in FR_METRICS:
        FullReferenceTeacher.check(metric)


def test_builds_without_any_download_attempt():
    from teachers.download_guard import DownloadGuard

    # the outer guard records any attempt the teacher's own guard would not stop first;
    # an attempt the teacher's guard stops makes construction raise
    guard = DownloadGuard(follow=True)
    with guard:
        for metric in FR_METRICS:
            FullReferenceTeacher(metric)
    assert guard.requests == []


def test_plugin_facts(teachers):
    cls = teacher_class("fr:ssim")
    assert cls is FullReferenceTeacher
    assert cls.thread_safe is True
    assert cls.takes_device is True
    line = cls.describe()
    assert "\n" not in line and "full-reference" in line and "psnr" in line and "clean clips" in line
    t = make_teacher("fr:gmsd", device="cpu")
    assert t.name == "fr:gmsd" and t.lower_better
    assert isinstance(t, Teacher)
    t.close()
    assert {m: teachers[m].name for m in FR_METRICS} == {m: f"fr:{m}" for m in FR_METRICS}
