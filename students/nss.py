"""Natural-scene statistics of a clip: the MSCN statistics BRISQUE and NIQE are built on.

A pristine natural image, normalised by its local mean and contrast (mean
subtracted, contrast normalised: MSCN), has coefficients close to a unit
Gaussian, and products of neighbouring coefficients close to a known
asymmetric shape. Most artefacts push these statistics in one consistent
direction whatever the artefact: blur and compression thin the tails (lower
variance, lower kurtosis), noise widens them, blockiness and ringing change
the neighbour products. A CNN's features carry no such prior; a head given
both can fall back on the statistics where its training pairs are silent.

Weight-free: moments stand in for BRISQUE's generalised-Gaussian fits (the
same information, with no fitting loop), computed at two scales on luma and
averaged over frames. ``NSS_DIM`` numbers per clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# local window of BRISQUE: 7x7 Gaussian, sigma 7/6
_SIGMA = 7 / 6
_SIZE = 7
# keeps the division stable on flat areas (one 8-bit step)
_C = 1 / 255
# neighbour offsets (dy, dx): horizontal, vertical, both diagonals
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
_SCALES = 2
PER_SCALE = 4 + 3 * len(_SHIFTS)
NSS_DIM = _SCALES * PER_SCALE


def _gaussian_kernel(device) -> torch.Tensor:
    x = torch.arange(_SIZE, dtype=torch.float32, device=device) - (_SIZE - 1) / 2
    g = torch.exp(-(x**2) / (2 * _SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, _SIZE, _SIZE)


def mscn(gray: torch.Tensor) -> torch.Tensor:
    """(T, 1, H, W) luma in [0, 1] -> its MSCN coefficients, same shape."""
    k = _gaussian_kernel(gray.device)
    pad = _SIZE // 2
    padded = F.pad(gray, (pad, pad, pad, pad), mode="replicate")
    mu = F.conv2d(padded, k)
    sigma = (F.conv2d(padded**2, k) - mu**2).clamp_min(0).sqrt()
    return (gray - mu) / (sigma + _C)


def _shifted_products(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Each coefficient times its neighbour at (dy, dx), over the positions where both exist."""
    h, w = x.shape[-2:]
    a = x[..., : h - dy, max(0, -dx) : w - max(0, dx)]
    b = x[..., dy:, max(0, dx) : w - max(0, -dx)]
    return a * b


def _scale_stats(coeffs: torch.Tensor) -> torch.Tensor:
    """(T, PER_SCALE): the spread and shape of the coefficients, then of each neighbour product."""
    flat = coeffs.flatten(1)
    var = flat.var(dim=1, correction=0)
    std = var.sqrt().clamp_min(1e-6)
    centred = flat - flat.mean(dim=1, keepdim=True)
    skew = (centred**3).mean(dim=1) / std**3
    kurt = (centred**4).mean(dim=1) / std**4
    stats = [var, flat.abs().mean(dim=1), skew, kurt.log()]
    for dy, dx in _SHIFTS:
        p = _shifted_products(coeffs, dy, dx).flatten(1)
        neg, pos = p.clamp_max(0), p.clamp_min(0)
        # an asymmetric shape: the mean, and the spread of each side
        stats += [p.mean(dim=1), (neg**2).mean(dim=1).sqrt(), (pos**2).mean(dim=1).sqrt()]
    return torch.stack(stats, dim=1)


@torch.inference_mode()
def nss_features(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) RGB in [0, 1] -> (NSS_DIM,) statistics averaged over frames."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
    gray = (frames.float() * weights).sum(dim=1, keepdim=True)
    out = []
    for scale in range(_SCALES):
        if scale:
            gray = F.interpolate(gray, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
        out.append(_scale_stats(mscn(gray)))
    return torch.cat(out, dim=1).mean(dim=0).float().cpu()
