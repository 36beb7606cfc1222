"""A shot in low light: too few photons, amplified back up, then smeared by the phone's denoiser."""

from __future__ import annotations

import math

from distortions.base import LadderDistortion
from distortions.light import to_linear, to_srgb
from w2s.core.clip import Clip

# photo-electrons a pixel collects at full scale in a normal exposure (a small phone pixel at high ISO:
# at a tenth of the light, mid-grey gets about 7 electrons)
PHOTONS = 300.0
# read noise of the sensor, in electrons
READ_NOISE = 2.0


def denoise_sigma(fraction: float) -> float:
    """The denoiser's Gaussian sigma (px): wider the more the signal was amplified (0.65 px at half the
    light, +0.15 px per halving). It grows slower than the noise it faces, so worse light stays noisier."""
    return round(0.5 + 0.15 * math.log2(1 / fraction), 4)


class LowLight(LadderDistortion):
    """Under-exposed sensor noise, amplified back and smeared by a denoiser; the ladder lists the fraction of light.

    In linear light each pixel collects ``x * f * PHOTONS`` electrons; Poisson shot noise (variance
    equal to the signal, drawn as a Gaussian) and READ_NOISE are added, the gain ``1 / f`` restores
    the brightness, a Gaussian of :func:`denoise_sigma` smears the noise into the blotches of a
    night shot, and values clip to [0, 1]. Noise is drawn for every frame and channel, as a
    sensor's is.
    """

    name = "lowlight"
    DEFAULT_LADDER = (0.5, 0.3, 0.15, 0.08)
    STRENGTH = "fraction of light"
    INCREASING = False

    def check_value(self, value):
        # at 1 the shot is well exposed; 1/1000 leaves about one photon per pixel at full scale
        return None if 0.001 <= value < 1 else "fraction of light must be in [0.001, 1)"

    def extra_params(self, level):
        f = self.ladder[level - 1]
        return {"photons": PHOTONS, "read_noise": READ_NOISE, "denoise_sigma": denoise_sigma(f)}

    def draws(self, rng):
        return {"noise_seed": rng.randrange(2**31)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch
        from kornia.filters import gaussian_blur2d

        f = float(self._strength(params))
        photons, read = float(self._get(params, "photons")), float(self._get(params, "read_noise"))
        sigma = float(self._get(params, "denoise_sigma"))
        g = torch.Generator(device="cpu").manual_seed(int(self._get(params, "noise_seed")))
        x = clip.frames
        shot = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x.device)
        readout = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x.device)
        electrons = to_linear(x) * (f * photons)
        noisy = electrons + electrons.sqrt() * shot + read * readout
        k = 2 * math.ceil(3 * sigma) + 1
        # denoised before the clip, as a camera does on raw values, where noise about black is still
        # signed: clipping first would lift every shadow by the mean of its clipped noise.
        # Replicate border, as blur does: reflect needs each side longer than k // 2
        smeared = gaussian_blur2d(noisy / (f * photons), (k, k), (sigma, sigma), border_type="replicate")
        return clip.with_frames(to_srgb(smeared.clamp(0, 1)))
