"""``classic:NAME`` — weight-free classical quality measures as teachers.

Every score leaves here higher-is-better. Luma is BT.601,
``Y = 0.299 R + 0.587 G + 0.114 B``, on frames in ``[0, 1]`` unless a metric
says otherwise. Metrics:

- ``brisque``: BRISQUE (the ``brisque`` PyPI package and its shipped SVM),
  per frame, mean over frames, negated (BRISQUE is lower-is-better).
- ``flicker``: detrended frame-to-frame change of mean luma, negated.
- ``jerkiness`` (alias ``temporal_jerk``): coefficient of variation of the
  per-step mean absolute frame difference, negated.
- ``sharpness``: ``log1p`` of the variance of the Laplacian of luma.
- ``colorfulness``: Hasler & Suesstrunk (2003) colorfulness.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from teachers.base import TeacherBase
from w2s.core.clip import Clip
from w2s.core.errors import W2SError
from w2s.core.registry import suggest

_LUMA = torch.tensor([0.299, 0.587, 0.114])


def luma(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) RGB -> (T, H, W) BT.601 luma, same range as the input."""
    return torch.einsum("tchw,c->thw", frames.float(), _LUMA.to(frames.device))


# -- brisque ------------------------------------------------------------------


@functools.cache
def _brisque_model():
    """The ``brisque`` package's model, with a fix for numpy 2.

    Under numpy 2 ``BRISQUE.score`` raises ``TypeError: only 0-dimensional
    arrays can be converted to Python scalars``: its internal
    ``mean_squares_sum`` divides by ``x.shape`` (a tuple), so 14 of the 18
    features per scale come back as 1-element 1-D arrays, and
    ``scale_features`` then calls ``float()`` on them, which numpy 2 refuses
    (numpy 1.x allowed it with a DeprecationWarning). The subclass only turns
    each feature into the scalar it holds; the package's own code computes
    everything else, so the numbers are the ones it gives under numpy 1.
    """
    from brisque import BRISQUE

    class _Brisque(BRISQUE):
        def calculate_brisque_features(self, image, kernel_size=7, sigma=7 / 6):
            features = super().calculate_brisque_features(image, kernel_size=kernel_size, sigma=sigma)
            return np.array([np.asarray(f, dtype=np.float64).reshape(-1)[0] for f in features])

    return _Brisque(url=False)


def to_uint8_hwc(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) in [0, 1] -> (T, H, W, 3) uint8, as the package takes images."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def brisque(frames: torch.Tensor) -> float:
    """BRISQUE (Mittal et al. 2012), pooled as ``-mean_t BRISQUE(frame_t)``.

    Each frame goes to the package as an RGB ``uint8`` ``(H, W, 3)`` image,
    exactly what ``BRISQUE().score(np.array(PIL.Image.open(f)))`` takes (it
    converts to grey itself). Raw BRISQUE is lower-is-better, roughly 0..100.
    """
    model = _brisque_model()
    raw = [float(model.score(img)) for img in to_uint8_hwc(frames)]
    return -float(np.mean(raw))


# -- temporal -----------------------------------------------------------------


def flicker(frames: torch.Tensor) -> float:
    """Global brightness oscillation, negated.

    With ``m_t`` the mean luma of frame ``t`` (t = 0..T-1) and ``a + b t`` its
    least-squares line, ``r_t = m_t - (a + b t)``:

        flicker = mean_{t=1..T-1} |r_t - r_{t-1}|,   score = -flicker

    so a steady fade (a line) counts as 0. Fewer than 3 frames -> 0.0 (a line
    fits any two points exactly).
    """
    if frames.shape[0] < 3:
        return 0.0
    m = luma(frames).double().mean(dim=(1, 2))
    t = torch.arange(len(m), dtype=torch.float64)
    tc = t - t.mean()
    slope = (tc * (m - m.mean())).sum() / (tc * tc).sum()
    r = m - m.mean() - slope * tc
    return -float((r[1:] - r[:-1]).abs().mean())


def jerkiness(frames: torch.Tensor) -> float:
    """Irregular motion (stutter, dropped/repeated frames), negated.

    With ``d_t = mean_pixels |Y_t - Y_{t-1}|`` (luma, t = 1..T-1):

        jerk = std_t(d_t) / (mean_t(d_t) + 1e-6),   score = -jerk

    (population std). Smooth motion has a steady ``d_t``; a stutter pattern
    (repeat, then jump) alternates 0 and large steps. A static clip gives 0.
    Fewer than 3 frames -> 0.0.
    """
    if frames.shape[0] < 3:
        return 0.0
    y = luma(frames)
    d = (y[1:] - y[:-1]).abs().double().mean(dim=(1, 2))
    return -float(d.std(unbiased=False) / (d.mean() + 1e-6))


# -- spatial ------------------------------------------------------------------

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).reshape(1, 1, 3, 3)


def sharpness(frames: torch.Tensor) -> float:
    """Variance of the Laplacian of luma (0..255 scale), ``log1p`` of its mean over frames.

        L_t = Y_t * [[0,1,0],[1,-4,1],[0,1,0]]   (valid convolution, Y in 0..255)
        score = log1p(mean_t var(L_t))
    """
    y = luma(frames).unsqueeze(1) * 255.0
    lap = F.conv2d(y, _LAPLACIAN.to(y.device))
    return float(torch.log1p(lap.flatten(1).var(dim=1, unbiased=False).double().mean()))


def colorfulness(frames: torch.Tensor) -> float:
    """Hasler & Suesstrunk (2003) colorfulness on the 0..255 scale, mean over frames.

        rg = R - G,  yb = (R + G) / 2 - B
        M  = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)

    (population statistics over the pixels of one frame). A grey frame gives 0.
    """
    x = frames.double() * 255.0
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return float((std + 0.3 * mean).mean())


METRICS = {
    "brisque": brisque,
    "flicker": flicker,
    "jerkiness": jerkiness,
    "temporal_jerk": jerkiness,
    "sharpness": sharpness,
    "colorfulness": colorfulness,
}


class ClassicTeacher(TeacherBase):
    """``classic:NAME`` — weight-free: brisque, sharpness, colorfulness (spatial); flicker, jerkiness (temporal).

    One of :data:`METRICS`, already oriented higher-is-better.
    """

    def __init__(self, metric: str):
        self.check(metric)
        self.metric_name = metric
        self.name = f"classic:{metric}"
        self._fn = METRICS[metric]
        if metric == "brisque":  # fail at build time, not on the first clip
            try:
                _brisque_model()
            except ImportError as exc:
                raise W2SError(f"classic:brisque needs the 'brisque' package and OpenCV: {exc}") from None

    @staticmethod
    def check(metric: str) -> None:
        if metric not in METRICS:
            raise W2SError(f"unknown classic metric {metric!r}: {suggest(metric, METRICS)}")

    @torch.inference_mode()
    def score(self, clip: Clip) -> float:
        return self._fn(clip.frames)
