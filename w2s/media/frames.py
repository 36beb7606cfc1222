"""Frame geometry and pixels: decoded uint8 frames into a clip's float frames.

Fitting a size into ``max_side``, resizing, and cutting the fragment mosaics
of a sampler with a ``layout`` (``fragments``: native-resolution patches of
each kept frame, to which ``max_side`` does not apply).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_RESIZE_CHUNK_BYTES = 256 * 2**20


def fit_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """The ``(height, width)`` after fitting the longer side into ``max_side``.

    Unchanged when it already fits; otherwise aspect is kept and both sides
    are rounded to even numbers (what yuv420p encoders need).
    """
    if max_side is None or max(height, width) <= max_side:
        return height, width
    if max_side < 2:
        raise ValueError(f"max_side must be >= 2, got {max_side}")
    scale = max_side / max(height, width)

    def even(x: float) -> int:
        n = max(2, 2 * round(x * scale / 2))
        return n if n <= max_side else n - 2

    return even(height), even(width)


def resize(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float ``(T, 3, H, W)`` frames to ``size`` with an antialiased bilinear filter."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    out = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)


def _to_frames(rgbs: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` arrays -> float32 ``(T, 3, h, w)`` in [0, 1], resized to ``size``.

    The conversion runs in numpy on purpose: on a 2-core machine with another
    busy process, every small multi-threaded torch op waited about 8 ms for its
    second OpenMP thread (measured: u8->float of one 176x144 frame 8 ms in
    torch, 0.02 ms in numpy). Resizing goes in chunks of at most
    ``_RESIZE_CHUNK_BYTES`` of full-size float frames: few torch calls, bounded memory.
    """
    height, width = rgbs[0].shape[:2]
    stack = np.stack(rgbs).transpose(0, 3, 1, 2)  # (T, 3, H, W) uint8
    if tuple(size) == (height, width):
        return torch.from_numpy(stack.astype(np.float32) / np.float32(255.0))
    chunk = max(1, _RESIZE_CHUNK_BYTES // (3 * height * width * 4))
    parts = []
    for start in range(0, len(rgbs), chunk):
        x = torch.from_numpy(stack[start : start + chunk].astype(np.float32) / np.float32(255.0))
        parts.append(resize(x, size))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _mosaic(frames, positions: list[tuple[int, int]], grid: int, patch: int):
    """Patches at ``positions`` (row by row) of ``(..., H, W)`` frames, tiled into
    ``(..., grid * patch, grid * patch)``; numpy arrays or torch tensors."""
    cat = torch.cat if isinstance(frames, torch.Tensor) else np.concatenate
    rows = []
    for i in range(grid):
        row = positions[i * grid : (i + 1) * grid]
        rows.append(cat([frames[..., y : y + patch, x : x + patch] for y, x in row], -1))
    return cat(rows, -2)


def _fragments(rgbs: list[np.ndarray], sampler, key: str) -> tuple[torch.Tensor, dict]:
    """uint8 ``(H, W, 3)`` frames -> float ``(T, 3, S, S)`` fragment mosaics, and their meta.

    At native size the patches are cut from the uint8 frames (only the mosaic
    is converted, so a 4K video costs no full-size float copy); frames too
    small for the grid are upscaled as a whole first.
    """
    height, width = rgbs[0].shape[:2]
    resized, positions = sampler.layout(height, width, key)
    if resized == (height, width):
        grid, patch = sampler.grid, sampler.patch
        tiles = [_mosaic(rgb.transpose(2, 0, 1), positions, grid, patch).transpose(1, 2, 0) for rgb in rgbs]
        frames = _to_frames(tiles, (sampler.size, sampler.size))
    else:
        frames = _mosaic(_to_frames(rgbs, resized), positions, sampler.grid, sampler.patch).contiguous()
    meta = {
        "grid": sampler.grid,
        "patch": sampler.patch,
        "resized": list(resized),
        "positions": [list(p) for p in positions],
    }
    return frames, meta


def clip_pixels(rgbs: list[np.ndarray], sampler, max_side: int | None, clip_id: str) -> tuple[torch.Tensor, dict]:
    """Kept uint8 frames -> the clip's float frames (resized, or fragments), and extra meta."""
    if hasattr(sampler, "layout"):
        frames, meta = _fragments(rgbs, sampler, clip_id)
        return frames, {"fragments": meta}
    height, width = rgbs[0].shape[:2]
    return _to_frames(rgbs, fit_size(height, width, max_side)), {}
