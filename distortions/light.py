"""Light as the sensor measured it: over-exposure and a white-balance cast, both in linear light."""

from __future__ import annotations

import math

from distortions.base import LadderDistortion
from w2s.core.clip import Clip

# sRGB approximated as a pure power law: close enough for a gain or a cast, and exactly invertible
GAMMA = 2.2
# Rec. 709 luminance of linear RGB: the weights a cast is normalised against
LUMINANCE = (0.2126, 0.7152, 0.0722)


def to_linear(frames):
    return frames.clamp(0, 1).pow(GAMMA)


def to_srgb(linear):
    return linear.clamp(0, 1).pow(1 / GAMMA)


def cast_gains(strength: float, direction: float) -> list[float]:
    """Per-channel (R, G, B) gains of a cast: log-gains ``strength`` along ``direction`` (degrees) in
    the plane of casts, 0 = warm (R up, B down), 90 = green (G up, R and B down), 180 = cool,
    270 = magenta; scaled so linear-light luminance of grey is kept."""
    phi = math.radians(direction)
    warm = (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2))
    green = (-1 / math.sqrt(6), 2 / math.sqrt(6), -1 / math.sqrt(6))
    g = [math.exp(strength * (math.cos(phi) * a + math.sin(phi) * b)) for a, b in zip(warm, green)]
    y = sum(w * x for w, x in zip(LUMINANCE, g))
    return [x / y for x in g]


class Exposure(LadderDistortion):
    """Over-exposure: linear light times a gain, highlights clipped at white; the ladder lists the gain."""

    name = "exposure"
    DEFAULT_LADDER = (1.3, 1.6, 2.0, 2.8)
    STRENGTH = "gain"

    def check_value(self, value):
        # 16x (4 stops) over already turns everything but deep shadow white
        return None if 1 < value <= 16 else "gain must be in (1, 16]"

    def extra_params(self, level):
        return {"gamma": GAMMA}

    def apply(self, clip: Clip, params: dict) -> Clip:
        g = float(self._strength(params))
        return clip.with_frames(to_srgb(to_linear(clip.frames) * g))


class WhiteBalance(LadderDistortion):
    """A white-balance cast (warm, cool, green or magenta, from the seed); the ladder lists its log-gain strength.

    Per-channel gains in linear light, ``exp(s * d)`` along a seed-drawn unit direction ``d`` in the
    plane of casts (:func:`cast_gains`), normalised so grey keeps its luminance.
    """

    name = "wb"
    DEFAULT_LADDER = (0.05, 0.1, 0.2, 0.35)
    STRENGTH = "log-gain"

    def check_value(self, value):
        # at 1 a channel is already ~2x another: past that it is a colour filter, not a white balance
        return None if 0 < value <= 1 else "log-gain must be in (0, 1]"

    def draws(self, rng):
        return {"direction": round(rng.uniform(0.0, 360.0), 3)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import torch

        s = float(self._strength(params))
        gains = cast_gains(s, float(self._get(params, "direction")))
        g = torch.tensor(gains, dtype=clip.frames.dtype, device=clip.frames.device).view(1, 3, 1, 1)
        return clip.with_frames(to_srgb(to_linear(clip.frames) * g))
