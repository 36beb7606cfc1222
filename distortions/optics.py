"""Lens and hand: an out-of-focus disk and a camera-shake path, each a point-spread function."""

from __future__ import annotations

import math

from distortions.base import LadderDistortion
from w2s.core.clip import Clip

# sub-pixel samples per axis when measuring how much of a pixel the disk covers (anti-aliasing)
DISK_SUPERSAMPLE = 16
# path samples per pixel of shake length, splatted bilinearly
PATH_SAMPLES_PER_PX = 8
# the heading of a shake path turns by at most this much from end to end (degrees)
MAX_BEND = 60.0


def disk_kernel(radius: float):
    """A pillbox PSF: each tap is the fraction of its pixel inside the disk of ``radius``, summing to 1.

    Measured on a DISK_SUPERSAMPLE^2 grid of sub-pixel points symmetric about the pixel centre, so the
    kernel keeps the disk's mirror and 90-degree symmetries exactly.
    """
    import torch

    half = max(1, math.ceil(radius - 0.5))  # the outermost pixel the disk still reaches
    s = DISK_SUPERSAMPLE
    sub = (torch.arange(s, dtype=torch.float64) + 0.5) / s - 0.5
    pos = (torch.arange(-half, half + 1, dtype=torch.float64)[:, None] + sub[None, :]).reshape(-1)
    inside = (pos[:, None] ** 2 + pos[None, :] ** 2 <= radius**2).to(torch.float64)
    n = 2 * half + 1
    cover = inside.reshape(n, s, n, s).mean(dim=(1, 3))
    return (cover / cover.sum()).to(torch.float32)


def shake_path(length: float, angle: float, bend: float):
    """Points along a smooth arc of arc length ``length`` px whose heading starts near ``angle`` and
    turns by ``bend`` degrees in all, centred on its own mean (so the image does not move)."""
    import numpy as np

    n = max(2, math.ceil(length * PATH_SAMPLES_PER_PX))
    mid = (np.arange(n) + 0.5) / n - 0.5  # heading at each step's midpoint
    heading = np.radians(angle + bend * mid)
    ds = length / n
    x = np.concatenate([[0.0], np.cumsum(ds * np.cos(heading))])
    y = np.concatenate([[0.0], np.cumsum(ds * np.sin(heading))])
    # rounded so a straight path along the grid lands on its own pixels, not a 1e-16 sliver beside them
    return np.round(x - x.mean(), 6), np.round(y - y.mean(), 6)


def shake_kernel(length: float, angle: float, bend: float):
    """The shake path rasterised: every path sample splatted bilinearly, normalised to sum 1.

    A bilinear splat keeps each sample's centre of mass, so the kernel's centroid is its centre.
    """
    import numpy as np
    import torch

    x, y = shake_path(length, angle, bend)
    half = math.ceil(max(np.abs(x).max(), np.abs(y).max())) + 1
    k = np.zeros((2 * half + 1, 2 * half + 1))
    fx, fy = x + half, y + half
    ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
    wx, wy = fx - ix, fy - iy
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        np.add.at(k, (iy + dy, ix + dx), w)  # unbuffered and in order: the same sums every run
    return torch.from_numpy(k / k.sum()).to(torch.float32)


def convolve(frames, kernel):
    """Every channel of (T, 3, H, W) frames filtered by one odd-sized 2-D kernel.

    Reflect padding, as a lens sees the scene go on past the frame; a side shorter than the kernel's
    reach cannot be reflected and is replicated instead.
    """
    import torch.nn.functional as F

    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    h, w = frames.shape[-2:]
    mode = "reflect" if ph < h and pw < w else "replicate"
    x = F.pad(frames, (pw, pw, ph, ph), mode=mode)
    weight = kernel.to(frames.device, frames.dtype).expand(3, 1, kh, kw)
    return F.conv2d(x, weight, groups=3)


class Defocus(LadderDistortion):
    """Out-of-focus lens: an anti-aliased disk (pillbox) PSF; the ladder lists its radius in pixels."""

    name = "defocus"
    DEFAULT_LADDER = (1.0, 2.0, 3.0, 5.0)
    STRENGTH = "radius (px)"

    def check_value(self, value):
        # a disk of radius <= 0.5 lies inside its own pixel and changes nothing
        return None if 0.5 < value <= 64 else "radius must be in (0.5, 64] pixels"

    def apply(self, clip: Clip, params: dict) -> Clip:
        r = float(self._strength(params))
        return clip.with_frames(convolve(clip.frames, disk_kernel(r)).clamp(0, 1))


class Shake(LadderDistortion):
    """Hand-held camera shake: a smooth curved path at a seed-drawn angle; the ladder lists its length in pixels.

    The path is an arc of the level's length whose heading starts at ``angle`` and turns by ``bend``
    degrees (|bend| <= MAX_BEND); one seed gives the same shape at every level, scaled. One kernel
    for the whole clip, centred on its centroid so the picture does not move.
    """

    name = "shake"
    DEFAULT_LADDER = (3.0, 6.0, 10.0, 16.0)
    STRENGTH = "path length (px)"

    def check_value(self, value):
        return None if 0 < value <= 128 else "path length must be in (0, 128] pixels"

    def draws(self, rng):
        return {"angle": round(rng.uniform(0.0, 360.0), 3), "bend": round(rng.uniform(-MAX_BEND, MAX_BEND), 3)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        length = float(self._strength(params))
        k = shake_kernel(length, float(self._get(params, "angle")), float(self._get(params, "bend")))
        return clip.with_frames(convolve(clip.frames, k).clamp(0, 1))
