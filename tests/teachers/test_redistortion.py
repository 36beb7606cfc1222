"""``redistort:NAME``: how much a mild re-distortion takes from a clip, on real photographs."""

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from distortions import DISTORTIONS
from teachers import check_teacher, make_teacher, teacher_class
from teachers.full_reference import PSNR_CAP_DB, psnr
from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.core.protocols import Teacher


def photo(size=(96, 128)) -> Clip:
    frames = torch.stack([torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255,
                          torch.from_numpy(data.chelsea()).permute(2, 0, 1).float() / 255
                          if data.chelsea().shape == data.astronaut().shape else
                          F.interpolate(torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255,
                                        size=data.astronaut().shape[:2], antialias=True, mode="bilinear")[0]])
    frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return Clip("photo", frames, fps=2.0)


def test_it_is_a_no_reference_teacher_by_the_protocol():
    check_teacher("redistort:psnr")
    cls = teacher_class("redistort:nlpd")
    assert isinstance(make_teacher("redistort:psnr"), Teacher)
    assert not cls.full_reference and cls.takes_device and cls.thread_safe


def test_the_score_is_the_mean_psnr_loss_of_the_re_distortions_computed_by_hand():
    clip = photo()
    teacher = make_teacher("redistort:psnr", operations={"resize": 2, "blur": 1.0})
    losses = []
    for family, strength in (("resize", 2), ("blur", 1.0)):
        d = DISTORTIONS.resolve(family)(ladder=[strength])
        again = d.apply(clip, d.params(1, seed=0)).frames
        losses.append(-psnr(again, clip.frames).mean().item())
    assert teacher.score(clip) == pytest.approx(sum(losses) / 2, rel=1e-6)


def test_detail_scores_higher_than_the_same_picture_already_blurred_or_flat():
    """A sharp photo has more to lose than its blurred copy, and a flat grey frame has nothing."""
    clip = photo()
    blur = DISTORTIONS.resolve("blur")(ladder=[2.0])
    blurred = blur.apply(clip, blur.params(1, seed=0))
    flat = clip.with_frames(torch.full_like(clip.frames, 0.5))
    teacher = make_teacher("redistort:psnr")
    sharp_score, blurred_score, flat_score = teacher.score(clip), teacher.score(blurred), teacher.score(flat)
    assert sharp_score > blurred_score > flat_score
    assert -PSNR_CAP_DB <= flat_score < -60  # next to nothing to lose: a PSNR near its cap, as a loss
    assert make_teacher("redistort:gmsd").score(clip) > make_teacher("redistort:gmsd").score(blurred)


def test_a_variant_is_scored_against_itself_not_its_clean_clip():
    clip = photo()
    jpeg = DISTORTIONS.resolve("jpeg")(ladder=[10])
    variant = jpeg.apply(clip, jpeg.params(1, seed=0))
    variant = Clip(variant.id, variant.frames, variant.fps, reference=clip)
    teacher = make_teacher("redistort:psnr")
    assert teacher.score(variant) == pytest.approx(teacher.score(Clip("v", variant.frames, variant.fps)))


def test_bad_names_and_operations_say_what_is_allowed():
    with pytest.raises(W2SError, match=r"unknown metric for redistort: 'psnrr'.*psnr"):
        check_teacher("redistort:psnrr")
    with pytest.raises(W2SError, match=r"redistort:psnr: operations must name distortion families.*'blurr'.*blur"):
        make_teacher("redistort:psnr", operations={"blurr": 1.0})
