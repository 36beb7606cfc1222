"""Camera shake: a random shift per frame, cropped and resized back."""

from __future__ import annotations

import random

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


def unit_shifts(seed: int, num_frames: int) -> list[tuple[float, float]]:
    """Per-frame (dx, dy), each uniform in [-1, 1], from the seed (same at every level)."""
    rng = random.Random(f"w2s-jitter-frames:{seed}")
    return [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(num_frames)]


class Jitter(LadderDistortion):
    """Shift every frame by up to m of its size, crop the margin and resize back; the ladder lists m.

    Frame t shows the window of relative size ``1 - 2m`` centred at
    ``(dx_t, dy_t) * m`` (bilinear ``grid_sample``, sub-pixel), stretched to
    the full frame. Shifts are drawn per frame from the seed and scale with
    the level. A one-frame clip has no motion to jitter and comes back
    unchanged.
    """

    aligned = False  # frames move in place or time: full-reference teachers abstain
    name = "jitter"
    DEFAULT_LADDER = (0.01, 0.025, 0.05)
    STRENGTH = "max shift (fraction of size)"

    def check_value(self, value):
        return None if 0 < value < 0.25 else "max shift must be in (0, 0.25)"

    def draws(self, rng):
        return {"jitter_seed": rng.randrange(2**31)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch
        import torch.nn.functional as F

        m = float(self._strength(params))
        seed = int(self._get(params, "jitter_seed"))
        t = clip.num_frames
        if t < 2:
            return clip.with_frames(clip.frames.clone())
        x = clip.frames
        s = unit_shifts(seed, t)
        # Normalised coordinates span [-1, 1], so a shift of m of the size is 2m.
        theta = torch.zeros(t, 2, 3, dtype=torch.float32)
        theta[:, 0, 0] = 1 - 2 * m
        theta[:, 1, 1] = 1 - 2 * m
        theta[:, 0, 2] = torch.tensor([2 * m * dx for dx, _ in s])
        theta[:, 1, 2] = torch.tensor([2 * m * dy for _, dy in s])
        grid = F.affine_grid(theta, list(x.shape), align_corners=False).to(x.device, x.dtype)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return clip.with_frames(out.clamp(0, 1).contiguous())
