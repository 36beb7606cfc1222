"""Loss of contrast."""

from __future__ import annotations

from distortions.base import LadderDistortion, luma
from w2s.core.clip import Clip


class ContrastReduction(LadderDistortion):
    """Blend every frame toward its own mean gray; the ladder lists the kept fraction (smaller is flatter)."""

    name = "contrast"
    DEFAULT_LADDER = (0.8, 0.6, 0.45, 0.3, 0.2)
    STRENGTH = "contrast factor"
    INCREASING = False

    def check_value(self, value):
        return None if 0 <= value < 1 else "factor must be in [0, 1)"

    def apply(self, clip: Clip, params: dict) -> Clip:
        f = float(self._strength(params))
        x = clip.frames
        # Per-frame mean luma (BT.601 weights), not 0 as kornia's
        # adjust_contrast uses: scaling toward 0 would also darken the frame.
        gray = luma(x).mean(dim=(2, 3), keepdim=True)
        return clip.with_frames((gray + f * (x - gray)).clamp(0, 1))
