"""Loss of colour saturation."""

from __future__ import annotations

from distortions.base import LadderDistortion, luma
from w2s.core.clip import Clip


class Desaturation(LadderDistortion):
    """Blend every pixel toward its own luma (BT.601); the ladder lists the kept colour fraction (0 is gray)."""

    name = "saturation"
    DEFAULT_LADDER = (0.8, 0.6, 0.4, 0.2, 0.0)
    STRENGTH = "saturation factor"
    INCREASING = False

    def check_value(self, value):
        return None if 0 <= value < 1 else "factor must be in [0, 1)"

    def apply(self, clip: Clip, params: dict) -> Clip:
        f = float(self._strength(params))
        x = clip.frames
        y = luma(x)
        return clip.with_frames((y + f * (x - y)).clamp(0, 1))
