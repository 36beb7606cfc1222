"""Stutter: dropped frames, each replaced by the previous shown frame."""

from __future__ import annotations

import math
import random

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


def drop_mask(seed: int, num_frames: int, p: float) -> list[bool]:
    """Which frames are dropped: ``ceil(p * (T - 1))`` of frames 1..T-1, never frame 0.

    Every frame after the first gets one uniform draw from ``seed``; the
    frames with the smallest draws are dropped. So each frame is dropped with
    probability about ``p`` (exactly ``ceil(p (T-1)) / (T-1)``), the drops of
    a milder level are a subset of those of a harsher one with the same seed,
    and a short clip still loses at least one frame. (An independent coin
    per frame would often drop nothing at p = 0.1 on an 8-frame clip, and
    two levels could drop the same frames.)
    """
    if num_frames < 2:
        return [False] * num_frames
    rng = random.Random(f"w2s-stutter-frames:{seed}")
    u = [rng.random() for _ in range(num_frames - 1)]
    k = min(num_frames - 1, math.ceil(p * (num_frames - 1) - 1e-9))
    order = sorted(range(num_frames - 1), key=lambda i: (u[i], i))
    dropped = {i + 1 for i in order[:k]}
    return [i in dropped for i in range(num_frames)]


class Stutter(LadderDistortion):
    """Drop frames and repeat the previous one (frame count and frame 0 kept); the ladder lists the drop rate p."""

    aligned = False  # frames move in place or time: full-reference teachers abstain
    name = "stutter"
    DEFAULT_LADDER = (0.1, 0.25, 0.5)
    STRENGTH = "drop probability"

    def check_value(self, value):
        return None if 0 < value < 1 else "drop probability must be in (0, 1)"

    def draws(self, rng):
        return {"drop_seed": rng.randrange(2**31)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        p = float(self._strength(params))
        seed = int(self._get(params, "drop_seed"))
        mask = drop_mask(seed, clip.num_frames, p)
        src, last = [], 0
        for i, dropped in enumerate(mask):
            if not dropped:
                last = i
            src.append(last)
        return clip.with_frames(clip.frames[src].clone())
