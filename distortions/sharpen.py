"""Over-sharpening (unsharp masking): halos and amplified noise, detail *added* rather than removed."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip

# the blur the mask subtracts: a 1.5-pixel Gaussian, the halo width of a typical "sharpness" slider
SIGMA = 1.5


class Sharpen(LadderDistortion):
    """Unsharp masking of every frame, ``x + a * (x - blur(x))``; the ladder lists the amount a."""

    name = "sharpen"
    DEFAULT_LADDER = (0.5, 1.0, 2.0, 4.0)
    STRENGTH = "amount"

    def check_value(self, value):
        return None if value > 0 else "amount must be > 0"

    def apply(self, clip: Clip, params: dict) -> Clip:
        from kornia.filters import gaussian_blur2d

        a = float(self._strength(params))
        k = 2 * round(3 * SIGMA) + 1
        blurred = gaussian_blur2d(clip.frames, (k, k), (SIGMA, SIGMA), border_type="replicate")
        return clip.with_frames((clip.frames + a * (clip.frames - blurred)).clamp(0, 1))
