"""Underexposure."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


class Darken(LadderDistortion):
    """Scale intensities toward black, ``x * s``; the ladder lists s (smaller is darker)."""

    name = "darken"
    DEFAULT_LADDER = (0.9, 0.8, 0.65, 0.5, 0.35)  # 5 levels, shared with brighten
    STRENGTH = "multiplier"
    INCREASING = False

    def check_value(self, value):
        return None if 0 <= value < 1 else "multiplier must be in [0, 1)"

    def apply(self, clip: Clip, params: dict) -> Clip:
        s = float(self._strength(params))
        return clip.with_frames((clip.frames * s).clamp(0, 1))
