"""Brightness flicker over time."""

from __future__ import annotations

import random

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


def flicker_gains(seed: int, num_frames: int) -> list[float]:
    """Unit per-frame deviations: sign alternating frame to frame (random start), size uniform in [0.5, 1]."""
    rng = random.Random(f"w2s-flicker-frames:{seed}")
    sign = 1.0 if rng.random() < 0.5 else -1.0
    out = []
    for _ in range(num_frames):
        out.append(sign * rng.uniform(0.5, 1.0))
        sign = -sign
    return out


class Flicker(LadderDistortion):
    """Multiply frame t by ``1 + a * d_t`` (d_t from the seed, see :func:`flicker_gains`); the ladder lists a.

    A one-frame clip has no time to flicker over and comes back unchanged.
    """

    name = "flicker"
    DEFAULT_LADDER = (0.05, 0.1, 0.2, 0.3)
    STRENGTH = "amplitude"

    def check_value(self, value):
        return None if 0 < value < 1 else "amplitude must be in (0, 1)"

    def draws(self, rng):
        return {"flicker_seed": rng.randrange(2**31)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch

        a = float(self._strength(params))
        seed = int(self._get(params, "flicker_seed"))
        if clip.num_frames < 2:
            return clip.with_frames(clip.frames.clone())
        d = flicker_gains(seed, clip.num_frames)
        g = torch.tensor([1.0 + a * x for x in d], dtype=clip.frames.dtype, device=clip.frames.device)
        return clip.with_frames((clip.frames * g.view(-1, 1, 1, 1)).clamp(0, 1))
