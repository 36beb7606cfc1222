"""Additive white Gaussian noise."""

from __future__ import annotations

from distortions.base import LadderDistortion
from w2s.core.clip import Clip


class GaussianNoise(LadderDistortion):
    """Additive Gaussian noise, drawn independently for every frame and channel; the ladder lists sigma."""

    name = "noise"
    DEFAULT_LADDER = (0.001, 0.002, 0.003, 0.005, 0.01)  # recipe; sigma on [0, 1] intensities
    STRENGTH = "sigma"

    def check_value(self, value):
        # sigma of [0, 1] intensities: above 1 the clip is noise alone (and clipped), no longer a level
        return None if 0 < value <= 1 else "sigma must be in (0, 1]"

    def draws(self, rng):
        return {"noise_seed": rng.randrange(2**31)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch

        sigma = float(self._strength(params))
        seed = self._get(params, "noise_seed")
        # One generator draws the whole (T, 3, H, W) block, so every frame gets
        # its own map. kornia's RandomGaussianNoise under same_on_frame would
        # freeze one map over time, which looks like a dirty lens, not noise.
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        frames = clip.frames
        n = torch.randn(frames.shape, generator=g, dtype=torch.float32, device="cpu").to(frames.device)
        return clip.with_frames((frames + sigma * n).clamp(0, 1))
