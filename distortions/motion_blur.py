"""Linear motion blur."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


class MotionBlur(LadderDistortion):
    """Linear motion blur at a seed-drawn angle, one kernel for the whole clip; the ladder lists the kernel size."""

    name = "motion_blur"
    DEFAULT_LADDER = (5, 9, 15, 21, 31)
    STRENGTH = "kernel size"
    INTEGER = True

    def check_value(self, value):
        if not isinstance(value, int) or value < 3 or value % 2 == 0:
            return "kernel size must be an odd integer >= 3"
        return None

    def draws(self, rng):
        # The kernel is symmetric (direction 0), so [0, 180) covers every line.
        return {"angle": round(rng.uniform(0.0, 180.0), 3), "direction": 0.0}

    def apply(self, clip: Clip, params: dict) -> Clip:
        from kornia.filters import motion_blur

        k = int(self._strength(params))
        angle = float(self._get(params, "angle"))
        direction = float(self._get(params, "direction"))
        # mode='bilinear': kornia's default 'nearest' rotation drops taps on
        # diagonals (a size-5 line has 3 taps at 45 degrees), so blur strength
        # would depend on the angle. 'replicate' border: 'reflect' fails when a
        # side is shorter than k // 2 and 'constant' darkens the edges.
        out = motion_blur(clip.frames, k, angle, direction, border_type="replicate", mode="bilinear")
        return clip.with_frames(out.clamp(0, 1))
