import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from teachers.classic import ClassicTeacher, luma
from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.sources import sources

# BRISQUE of skimage's chelsea.png (300x451, full size) from the brisque 0.2.0
# package's own BRISQUE().score on the RGB uint8 array (numpy-2 fix applied).
CHELSEA_BRISQUE = 2.870766629424878


def _path(name):
    return next(s.path for s in sources("all") if s.name == name)


@pytest.fixture(scope="module")
def video():
    return read_clip(_path("bikes"), UniformSampler(6), max_side=160)


@pytest.fixture(scope="module")
def photo():
    return read_clip(_path("chelsea"), UniformSampler(1))  # full size: the reference's pixels


def _blur(frames, k=9):
    return F.avg_pool2d(frames, k, stride=1, padding=k // 2, count_include_pad=False)


def _noisy(frames, sigma=0.12):
    g = torch.Generator().manual_seed(0)
    return (frames + sigma * torch.randn(frames.shape, generator=g)).clamp(0, 1)


def test_brisque_matches_the_package_and_is_oriented(photo):
    from teachers.classic import _brisque_model

    teacher = ClassicTeacher("brisque")
    rgb = np.array(Image.open(_path("chelsea")).convert("RGB"))
    assert _brisque_model().score(rgb) == pytest.approx(CHELSEA_BRISQUE, abs=1e-6)
    assert teacher.score(photo) == pytest.approx(-CHELSEA_BRISQUE, abs=1e-6)
    # mean over frames: two copies of the frame give the same score
    assert teacher.score(photo.with_frames(photo.frames.repeat(2, 1, 1, 1))) == pytest.approx(-CHELSEA_BRISQUE)
    assert teacher.score(photo.with_frames(_noisy(photo.frames))) < teacher.score(photo) - 5
    assert teacher.score(photo.with_frames(_blur(photo.frames))) < teacher.score(photo) - 5


def test_flicker(video):
    t = ClassicTeacher("flicker")
    f = video.frames
    static = t.score(video.with_frames(f[:1].repeat(6, 1, 1, 1)))
    assert abs(static) < 1e-7
    signs = torch.tensor([1.0, -1.0] * 3).reshape(6, 1, 1, 1)
    flick = t.score(video.with_frames((f[:1] * 0.8 + 0.1 + 0.1 * signs).clamp(0, 1)))
    assert flick < -0.1
    fade = torch.linspace(1.0, 0.5, 6).reshape(6, 1, 1, 1)
    assert abs(t.score(video.with_frames(f[:1] * fade))) < 1e-6
    assert t.score(video.with_frames(f[:1])) == 0.0
    # mean luma 0.5, 0.6, 0.5, 0.6: line 0.52 + 0.02 t, residuals -.02 .06 -.06 .02 -> mean |step| = .28 / 3
    tiny = torch.tensor([0.5, 0.6, 0.5, 0.6]).reshape(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    assert t.score(Clip("tiny", tiny, 1.0)) == pytest.approx(-0.28 / 3, abs=1e-6)


def test_jerkiness_stutter_worse_than_smooth(video):
    t = ClassicTeacher("jerkiness")
    assert ClassicTeacher("temporal_jerk").score(video) == t.score(video)
    smooth = t.score(video)
    stutter = t.score(video.with_frames(video.frames[[0, 0, 2, 2, 4, 4]]))
    assert stutter < smooth - 0.5
    assert t.score(video.with_frames(video.frames[:1].repeat(5, 1, 1, 1))) == 0.0
    assert t.score(video.with_frames(video.frames[:2])) == 0.0


def test_sharpness_drops_with_blur(video):
    t = ClassicTeacher("sharpness")
    assert t.score(video.with_frames(_blur(video.frames, 5))) < t.score(video) - 1.0


def test_colorfulness(photo):
    t = ClassicTeacher("colorfulness")
    grey = luma(photo.frames).unsqueeze(1).expand(-1, 3, -1, -1)
    assert t.score(photo.with_frames(grey)) == pytest.approx(0.0, abs=1e-6)
    assert t.score(photo) > 10.0
    # a red and a blue pixel: rg = (255, 0), yb = (127.5, -255)
    two = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]).reshape(1, 3, 1, 2)
    expected = math.sqrt(127.5**2 + 191.25**2) + 0.3 * math.sqrt(127.5**2 + 63.75**2)
    assert t.score(Clip("two", two, 1.0)) == pytest.approx(expected)


def test_unknown_metric_suggests():
    with pytest.raises(W2SError, match="did you mean 'flicker'"):
        ClassicTeacher.check("flickr")
    with pytest.raises(W2SError, match="did you mean"):
        ClassicTeacher("sharpnes")
