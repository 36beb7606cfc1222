"""Down-then-up resampling (loss of resolution)."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


class DownUpResize(LadderDistortion):
    """Downscale by a factor (antialiased bilinear), then upscale back (bicubic); the ladder lists the factor."""

    name = "resize"
    DEFAULT_LADDER = (2, 3, 4, 8, 16)  # recipe
    STRENGTH = "downscale factor"

    def check_value(self, value):
        return None if value > 1 else "factor must be > 1"

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch.nn.functional as F

        factor = float(self._strength(params))
        h, w = clip.size
        small = (max(1, round(h / factor)), max(1, round(w / factor)))
        # antialias=True low-passes before decimating, as a real scaler would;
        # without it the down step aliases and the result looks like noise.
        x = F.interpolate(clip.frames, size=small, mode="bilinear", antialias=True, align_corners=False)
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
        # bicubic overshoots at edges.
        return clip.with_frames(x.clamp(0, 1))
