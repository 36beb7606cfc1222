import pytest
import torch
import torch.nn.functional as F

from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.media.decode import read_clip
from w2s.media.samplers import UniformSampler
from w2s.media.vmaf import vmaf


def box_blur(frames: torch.Tensor, k: int = 9) -> torch.Tensor:
    weight = torch.ones(3, 1, k, k) / (k * k)
    return F.conv2d(F.pad(frames, (k // 2,) * 4, mode="replicate"), weight, groups=3)


@pytest.fixture(scope="module")
def clip(carphone):
    return read_clip(carphone, UniformSampler(6))


def test_identical_clips_score_high(clip):
    assert vmaf(clip, clip) > 95


def test_blur_scores_clearly_lower_and_order_matters(clip):
    blurred = clip.with_frames(box_blur(clip.frames), id="blurred")
    score = vmaf(reference=clip, distorted=blurred)
    assert score < vmaf(clip, clip) - 30
    # VMAF is asymmetric: the sharp clip judged against a blurred reference
    # scores far higher. This pins the argument order given to libvmaf.
    assert vmaf(reference=blurred, distorted=clip) > score + 20


def test_shape_mismatch(clip):
    with pytest.raises(W2SError, match="shape"):
        vmaf(clip, clip.with_frames(clip.frames[:3]))
    with pytest.raises(W2SError, match="shape"):
        vmaf(clip, clip.with_frames(clip.frames[..., :100]))


def test_tiny_frames_rejected():
    tiny = Clip("tiny", torch.rand(2, 3, 16, 64), 25.0)
    with pytest.raises(W2SError, match="too small"):
        vmaf(tiny, tiny)
