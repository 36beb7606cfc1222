"""Overexposure."""

from __future__ import annotations

from distortions.darken import Darken
from w2s.core.clip import Clip


class Brighten(Darken):
    """Scale intensities toward white, ``1 - (1 - x) * s``; the ladder lists s (smaller is brighter).

    The mirror image of :class:`Darken`: same ladder and checks, applied to ``1 - x``.
    """

    name = "brighten"

    def apply(self, clip: Clip, params: dict) -> Clip:
        s = float(self._strength(params))
        return clip.with_frames((1 - (1 - clip.frames) * s).clamp(0, 1))
