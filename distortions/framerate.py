"""Frame-rate reduction at the same clip rate (judder)."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


class FrameRate(LadderDistortion):
    """Keep every k-th frame and show it k times (the last group may be shorter); the ladder lists k."""

    aligned = False  # frames move in place or time: full-reference teachers abstain
    name = "framerate"
    DEFAULT_LADDER = (2, 3, 4, 6)
    STRENGTH = "frame-rate divisor"
    INTEGER = True

    def check_value(self, value):
        return None if isinstance(value, int) and value >= 2 else "divisor must be an integer >= 2"

    def apply(self, clip: Clip, params: dict) -> Clip:
        k = int(self._strength(params))
        src = [(i // k) * k for i in range(clip.num_frames)]
        return clip.with_frames(clip.frames[src].clone())
