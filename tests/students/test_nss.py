"""Natural-scene statistics: the MSCN moments move one way under blur and the other under noise."""

import pytest
import torch

from distortions import DISTORTIONS
from students.nss import NSS_DIM, PER_SCALE, mscn, nss_features
from students.perception import Perception
from w2s.core.clip import Clip
from w2s.testing.doubles import MeanBackbone


@pytest.fixture(scope="module")
def photo():
    from skimage import data

    frames = torch.tensor(data.astronaut()).permute(2, 0, 1).float()[None] / 255
    return Clip("astronaut", torch.nn.functional.interpolate(frames, size=(128, 128), antialias=True, mode="bilinear"), 4.0)


def test_mscn_of_a_flat_frame_is_zero_and_of_noise_near_unit_variance():
    flat = torch.full((1, 1, 32, 32), 0.5)
    assert mscn(flat).abs().max() < 1e-3  # no structure: nothing left after normalising (float rounding aside)
    noise = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    # white noise: locally normalised coefficients have a variance near 1 (the 7x7 window's estimate is biased low)
    assert 0.7 < float(mscn(noise).var()) < 1.1


def test_blur_lowers_and_noise_raises_the_coefficient_spread(photo):
    variance = lambda clip: float(nss_features(clip.frames)[0])
    blur, noise = DISTORTIONS.resolve("blur")(ladder=[1.0, 2.0, 4.0]), DISTORTIONS.resolve("noise")(ladder=[0.02, 0.05])
    blurred = [variance(blur.apply(photo, blur.params(k, 0))) for k in (1, 2, 3)]
    noisy = [variance(noise.apply(photo, noise.params(k, 0))) for k in (1, 2)]
    clean = variance(photo)
    assert clean > blurred[0] > blurred[1] > blurred[2]
    assert clean < noisy[0] < noisy[1]


def test_perception_appends_them_last(photo):
    p = Perception(MeanBackbone(), motion=True, nss=True)
    assert p.name == "mean+motion+nss" and NSS_DIM == 2 * PER_SCALE
    feats, base = p.embed_with_base(photo)
    assert feats.shape == (p.dim,) and base == 0.0
    assert torch.allclose(feats[-NSS_DIM:], nss_features(photo.frames))
