"""``niqe:pristine`` — how far a clip's natural-scene statistics are from those of pristine pictures.

The idea of NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image quality analyzer",
2013), written here from the paper: luma is normalised by its local mean and contrast (MSCN); in each
square patch, generalised-Gaussian fits of the coefficients and asymmetric fits of their products with
four neighbours give 18 numbers, at two scales 36. A multivariate Gaussian fitted to the patches of
pristine pictures is the model; a clip's score is minus the distance between its patches' Gaussian and
the model's (higher = closer to pristine = better). It reads no human score and no trained weight: the
pristine model is fitted, at first use, on the natural photographs that ship inside scikit-image and
scikit-learn (``PRISTINE``), sharpest patches only, as the paper fits its own on 125 pristine photos.

Unlike ``redistort:`` (detail), it sees what noise, compression and unnatural contrast do to the
statistics across contents; it is blind to exposure and colour (luma statistics after normalisation).
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from scipy.special import gamma as gamma_fn

from teachers.base import TeacherBase
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

log = logging.getLogger(__name__)

# the natural photographs of the pristine model: skimage.data file names, and scikit-learn's two photos
PRISTINE = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
            "motorcycle_right.png", "camera.png", "brick.png", "grass.png", "gravel.png", "china.jpg", "flower.jpg")
# the paper's local window: Gaussian, sigma 7/6 (a 7x7 support)
_SIGMA = 7 / 6
# patches whose mean local contrast is below this share of the sharpest patch's do not enter the pristine model
_SHARP_SHARE = 0.75
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
_ALPHAS = np.arange(0.2, 10.0, 0.001)
_RHO = gamma_fn(2 / _ALPHAS) ** 2 / (gamma_fn(1 / _ALPHAS) * gamma_fn(3 / _ALPHAS))


def _shape(ratio: np.ndarray) -> np.ndarray:
    """The generalised-Gaussian shape whose moment ratio E|x|^2/E[x^2] is closest to ``ratio``."""
    return _ALPHAS[np.abs(_RHO[None, :] - ratio[:, None]).argmin(1)]


def _ggd(x: np.ndarray) -> np.ndarray:
    """Per row of ``x`` (patches, values): the symmetric fit's shape and variance."""
    var = (x**2).mean(1)
    ratio = np.abs(x).mean(1) ** 2 / np.maximum(var, 1e-12)
    return np.stack([_shape(ratio), var], 1)


def _aggd(x: np.ndarray) -> np.ndarray:
    """Per row: the asymmetric fit's shape, mean and left and right variances."""
    neg, pos = np.minimum(x, 0), np.maximum(x, 0)
    left = np.sqrt((neg**2).sum(1) / np.maximum((x < 0).sum(1), 1))
    right = np.sqrt((pos**2).sum(1) / np.maximum((x > 0).sum(1), 1))
    g = left / np.maximum(right, 1e-12)
    r = np.abs(x).mean(1) ** 2 / np.maximum((x**2).mean(1), 1e-12)
    alpha = _shape(r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2)
    mean = (right - left) * gamma_fn(2 / alpha) / gamma_fn(1 / alpha) * np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return np.stack([alpha, mean, left**2, right**2], 1)


def _patches(a: np.ndarray, p: int) -> np.ndarray:
    """Non-overlapping p x p patches of a 2-D array, one per row (the ragged edge is dropped)."""
    h, w = a.shape[0] // p * p, a.shape[1] // p * p
    return a[:h, :w].reshape(h // p, p, w // p, p).swapaxes(1, 2).reshape(-1, p * p)


def patch_features(luma: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The 36 statistics of each patch of a luma image on [0, 255], and each patch's mean local contrast."""
    feats, sharp = [], None
    image = luma.astype(np.float64)
    for scale in range(2):
        mu = gaussian_filter(image, _SIGMA, truncate=3)
        sd = np.sqrt(np.abs(gaussian_filter(image * image, _SIGMA, truncate=3) - mu * mu))
        mscn = (image - mu) / (sd + 1)
        p = patch // (2**scale)
        rows = [_ggd(_patches(mscn, p))]
        for dy, dx in _SHIFTS:
            shifted = np.roll(mscn, (-dy, -dx), axis=(0, 1))
            rows.append(_aggd(_patches(mscn * shifted, p)))
        feats.append(np.concatenate(rows, 1))
        if scale == 0:
            sharp = _patches(sd, p).mean(1)
        image = _half(image)
    n = min(len(f) for f in feats)
    return np.concatenate([f[:n] for f in feats], 1), sharp[:n]


def _half(a: np.ndarray) -> np.ndarray:
    """Half size, by a 2x2 mean (an anti-aliased down-sampling)."""
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))


def _luma(frame: np.ndarray, peak: float) -> np.ndarray:
    """BT.601 luma on [0, 255] of an (H, W, 3) array whose white is ``peak``."""
    return frame.astype(np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114]) * (255 / peak)


def fit_model(images: list[np.ndarray], patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The pristine multivariate Gaussian (mean, covariance) of the sharpest patches of ``images``
    (uint8 (H, W, 3) arrays)."""
    kept = []
    for image in images:
        feats, sharp = patch_features(_luma(image, 255), patch)
        kept.append(feats[sharp > _SHARP_SHARE * sharp.max()])
    x = np.concatenate(kept)
    return x.mean(0), np.cov(x, rowvar=False)


@lru_cache(maxsize=4)
def pristine_model(patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The model fitted on ``PRISTINE`` (read from the installed packages), cached per patch size."""
    from pathlib import Path

    import skimage.data
    import sklearn.datasets
    from PIL import Image

    folders = [Path(skimage.data.__file__).parent, Path(sklearn.datasets.__file__).parent / "images"]
    images = []
    for name in PRISTINE:
        path = next((f / name for f in folders if (f / name).is_file()), None)
        if path is None:
            raise W2SError(f"niqe: the pristine photo {name} is not in this install of scikit-image or scikit-learn")
        images.append(np.asarray(Image.open(path).convert("RGB")))
    return fit_model(images, patch)


def distance(feats: np.ndarray, model: tuple[np.ndarray, np.ndarray]) -> float:
    """NIQE's distance between the patches' Gaussian and the model (covariances averaged)."""
    mu, cov = model
    own = np.cov(feats, rowvar=False) if len(feats) > 1 else np.zeros_like(cov)
    d = feats.mean(0) - mu
    return float(math.sqrt(max(d @ np.linalg.pinv((cov + own) / 2) @ d, 0.0)))


class NIQETeacher(TeacherBase):
    """``niqe:pristine`` — minus the distance of a clip's patch statistics from pristine photos' (NIQE's idea); no weights."""

    thread_safe = True  # the model is read-only once fitted
    takes_device = False

    def __init__(self, arg: str = "pristine", patch: int = 48):
        self.check(arg)
        if not isinstance(patch, int) or patch < 16 or patch % 2:
            raise W2SError(f"niqe: patch must be an even number of pixels >= 16, got {patch!r}")
        self.name = f"niqe:{arg}"
        self.patch = patch

    @staticmethod
    def check(arg: str) -> None:
        if arg != "pristine":
            raise W2SError(f"unknown model for niqe: {arg!r}: the one model is 'pristine' (niqe:pristine)")

    @torch.inference_mode()
    def score(self, clip: Clip) -> float:
        model = pristine_model(self.patch)
        frames = clip.frames.detach().cpu().float().numpy()  # (T, C, H, W) on [0, 1]
        if min(frames.shape[-2:]) < 2 * self.patch:
            return math.nan  # too small for two scales of patches: the teacher abstains
        feats = np.concatenate([patch_features(_luma(f.transpose(1, 2, 0), 1.0), self.patch)[0] for f in frames])
        score = -distance(feats, model)
        return score if math.isfinite(score) else math.nan
