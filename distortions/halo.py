"""Over-sharpening with a wide radius: the bright and dark halos a phone draws along edges."""

from __future__ import annotations

import math

from distortions.base import LadderDistortion, luma
from w2s.core.clip import Clip

# the blur the mask subtracts: twice ``sharpen``'s 1.5 px, so each halo is a band several pixels wide
SIGMA = 3.0


class Halo(LadderDistortion):
    """Wide-radius unsharp mask of the luma, ``x + a * (Y - blur(Y))``: edge halos; the ladder lists the amount a.

    Unlike ``sharpen`` (a 1.5 px mask on each channel: crisp edges, amplified fine noise), the mask
    here is 3 px wide and works on luma alone, as a phone's detail enhancement does: grey bands of
    over- and undershoot run beside every edge, colours do not fringe.
    """

    name = "halo"
    DEFAULT_LADDER = (0.6, 1.2, 2.0, 3.0)
    STRENGTH = "amount"

    def check_value(self, value):
        # at 10 every edge is a black-and-white band: past that only the clipping changes
        return None if 0 < value <= 10 else "amount must be in (0, 10]"

    def extra_params(self, level):
        return {"sigma": SIGMA}

    def apply(self, clip: Clip, params: dict) -> Clip:
        from kornia.filters import gaussian_blur2d

        a = float(self._strength(params))
        sigma = float(self._get(params, "sigma"))
        k = 2 * math.ceil(3 * sigma) + 1
        y = luma(clip.frames)
        detail = y - gaussian_blur2d(y, (k, k), (sigma, sigma), border_type="replicate")
        return clip.with_frames((clip.frames + a * detail).clamp(0, 1))
