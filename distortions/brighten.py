"""Overexposure."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.media.clip import Clip


class Brighten(LadderDistortion):
    """Scale intensities toward white, ``1 - (1 - x) * s``; the ladder lists s (smaller is brighter)."""

    name = "brighten"
    DEFAULT_LADDER = (0.8, 0.6, 0.4, 0.25)
    STRENGTH = "multiplier"
    INCREASING = False

    def check_value(self, value):
        return None if 0 <= value < 1 else "multiplier must be in [0, 1)"

    def apply(self, clip: Clip, params: dict) -> Clip:
        s = float(self._strength(params))
        return clip.with_frames((1 - (1 - clip.frames) * s).clamp(0, 1))
