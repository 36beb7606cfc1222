"""niqe:pristine: the generalised-Gaussian fits against known shapes, the distance against hand values,
and the ordering NIQE exists for: a photo scores above its blurred and noisy copies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from teachers import make_teacher
from teachers.niqe import _aggd, _ggd, distance, pristine_model
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


def test_fits_recover_known_shapes():
    rng = np.random.default_rng(0)
    gauss, laplace = rng.normal(0, 2, (1, 200_000)), rng.laplace(0, 1, (1, 200_000))
    assert _ggd(gauss)[0, 0] == pytest.approx(2.0, abs=0.05)  # a Gaussian is the shape-2 member
    assert _ggd(gauss)[0, 1] == pytest.approx(4.0, rel=0.02)  # its variance
    assert _ggd(laplace)[0, 0] == pytest.approx(1.0, abs=0.05)  # a Laplacian is shape 1
    # an asymmetric Gaussian (shape 2), left scale 1, right 2: continuous at 0, so a third of the mass is left
    half = np.abs(rng.normal(0, 1, (1, 300_000)))
    skewed = np.where(rng.random((1, 300_000)) < 1 / 3, -half, 2 * half)
    alpha, mean, left, right = _aggd(skewed)[0]
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert (left, right) == (pytest.approx(1.0, rel=0.02), pytest.approx(4.0, rel=0.02))
    # its mean: (right scale - left scale) * sqrt(2 / pi) for shape 2
    assert mean == pytest.approx(math.sqrt(2 / math.pi), rel=0.03)


def test_distance_is_zero_at_the_model_and_grows_with_the_offset():
    mu, cov = np.zeros(2), np.eye(2)
    assert distance(np.array([[1.0, 0.0], [-1.0, 0.0]]), (mu, cov)) == pytest.approx(0.0)
    # own covariance diag(2, 0): pooled diag(1.5, 0.5); offset (0, 1) -> sqrt(1 / 0.5)
    assert distance(np.array([[1.0, 1.0], [-1.0, 1.0]]), (mu, cov)) == pytest.approx(math.sqrt(2))


def _photo() -> torch.Tensor:
    import skimage.data

    return torch.from_numpy(skimage.data.astronaut()[::2, ::2].copy()).permute(2, 0, 1)[None].float() / 255


def test_a_photo_scores_above_its_blurred_and_noisy_copies():
    from torchvision.transforms.functional import gaussian_blur

    teacher = make_teacher("niqe:pristine")
    frames = _photo()
    clean = teacher.score(Clip(id="a", fps=1.0, frames=frames))
    blurred = teacher.score(Clip(id="b", fps=1.0, frames=gaussian_blur(frames, 9, 2.5)))
    noisy = teacher.score(Clip(id="n", fps=1.0, frames=(frames + 0.08 * torch.randn_like(frames)).clamp(0, 1)))
    assert clean > blurred and clean > noisy
    assert len(pristine_model(48)[0]) == 36  # 18 statistics at each of two scales


def test_too_small_abstains_and_bad_names_are_refused():
    assert math.isnan(make_teacher("niqe:pristine").score(Clip(id="s", fps=1.0, frames=torch.rand(1, 3, 64, 64))))
    with pytest.raises(W2SError, match="the one model is 'pristine'"):
        make_teacher("niqe:koniq")
    with pytest.raises(W2SError, match="patch must be an even number of pixels >= 16, got 7"):
        make_teacher("niqe:pristine", patch=7)


def test_the_listing_says_it_runs_here(capsys):
    from w2s.cli import main

    assert main(["list", "teachers"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "niqe:pristine" in line)
    assert row.split("│")[2].strip() == "yes"
