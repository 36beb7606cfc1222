"""Frames handed over in memory (a numpy array or a torch tensor) into a :class:`~w2s.core.clip.Clip`.

Accepted: uint8 (0..255) or float (0..1) pixels, RGB, laid out as a video
``(T, H, W, 3)`` or ``(T, 3, H, W)`` (``torchvision.io.read_video`` gives the
first, a model's input the second) or one image ``(H, W, 3)`` / ``(3, H, W)``.
Anything else is refused here with one :class:`~w2s.core.errors.InputError`
that names the shape and dtype and says what to pass, never the values (an
error message that prints a 4x240x320x3 array is unreadable).
"""

from __future__ import annotations

import numpy as np
import torch

from w2s.core.clip import Clip
from w2s.core.errors import InputError
from w2s.media.frames import fit_size, resize
from w2s.media.probe import MIN_SIDE  # the smallest side a file may have: frames in memory get the same rule

LAYOUTS = "(T, H, W, 3) or (T, 3, H, W) for a video, (H, W, 3) or (3, H, W) for one image"
FRAMES = f"RGB frames, uint8 in 0..255 or float in [0, 1], as a numpy array or torch tensor shaped {LAYOUTS}"
WHAT_TO_PASS = f"pass {FRAMES}"
# float frames a resize or a colour conversion pushed a hair past [0, 1] are not a mistake
FLOAT_SLACK = 1e-3


def is_frames(x) -> bool:
    """Whether ``x`` is an array this module reads (a numpy array or a torch tensor)."""
    return isinstance(x, (np.ndarray, torch.Tensor))


def clip_of_frames(x, fps: float, max_side: int | None = None, id: str = "frames") -> Clip:
    """``x`` (see the module) as a clip of float32 ``(T, 3, H, W)`` frames in [0, 1] on the CPU,
    shrunk to fit ``max_side`` as a file read with it would be."""
    frames = to_frames(x)
    size = fit_size(*frames.shape[-2:], max_side)
    if size != tuple(frames.shape[-2:]):
        frames = resize(frames, size)
    return Clip(id, frames.contiguous(), fps=float(fps))


def to_frames(x) -> torch.Tensor:
    """``x`` as float32 ``(T, 3, H, W)`` in [0, 1] on the CPU, or an :class:`InputError` saying why not."""
    if not is_frames(x):
        raise InputError(f"cannot score a {type(x).__name__}: pass a video or image path, {FRAMES}, "
                         "or a list of these (one score each)")
    shape, dtype = tuple(x.shape), str(x.dtype).removeprefix("torch.")
    what = f"frames of shape {shape} and dtype {dtype}"
    is_float = x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)
    if not is_float and dtype != "uint8":
        raise InputError(f"{what}: pixels must be uint8 (0..255) or float (0..1); convert them, e.g. "
                         ".astype(np.uint8) or .to(torch.uint8) for 0..255 values")
    channels_last = _channels_last(shape, what)
    if shape[0] == 0 and len(shape) == 4:
        raise InputError(f"{what}: no frames (T = 0); {WHAT_TO_PASS}")
    height, width = shape[-3:-1] if channels_last else shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"{what}: frames of {height}x{width} pixels are too small to score (each side must be at "
                         f"least {MIN_SIDE} pixels); pass larger frames, laid out {LAYOUTS}")
    frames = _as_float(x, is_float, what)
    frames = frames.reshape(-1, *frames.shape[-3:])  # one image is a one-frame clip
    return (frames.permute(0, 3, 1, 2) if channels_last else frames).contiguous()


def _channels_last(shape: tuple, what: str) -> bool:
    """Whether the colour axis is the last one (else the one before height and width)."""
    if len(shape) not in (3, 4):
        batch = "; several videos go in a list, one array each" if len(shape) == 5 else ""
        raise InputError(f"{what}: expected 3 axes (one image) or 4 (a video), got {len(shape)}{batch}; {WHAT_TO_PASS}")
    last, first = shape[-1] == 3, shape[-3] == 3
    if last and first:
        raise InputError(f"{what}: ambiguous layout, both axis {len(shape) - 3} and axis {len(shape) - 1} have size 3, "
                         f"so either could hold the colours; {WHAT_TO_PASS}")
    if not (last or first):
        raise InputError(f"{what}: no colour axis of size 3 (last, or before height and width); for a grayscale "
                         f"image repeat it into 3 channels, for RGBA drop the alpha; {WHAT_TO_PASS}")
    return last


def _as_float(x, is_float: bool, what: str) -> torch.Tensor:
    """Pixels as float32 in [0, 1] on the CPU; floats are checked, uint8 divided by 255."""
    if isinstance(x, np.ndarray):
        # in numpy, not torch: a small torch op waits for its OpenMP threads (w2s.media.frames._to_frames)
        pixels = x.astype(np.float32, order="C")  # a copy: the caller's array is never touched
        frames = torch.from_numpy(pixels if is_float else pixels / np.float32(255.0))
    else:
        frames = x.detach().to("cpu", torch.float32)
        frames = frames if is_float else frames / 255.0  # not in place: a float32 CPU tensor is the caller's own
    if is_float and frames.numel():
        if not bool(torch.isfinite(frames).all()):
            raise InputError(f"{what}: holds NaN or infinite values; pass finite pixels in [0, 1]")
        if float(frames.min()) < -FLOAT_SLACK or float(frames.max()) > 1 + FLOAT_SLACK:
            raise InputError(f"{what}: float pixels must lie in [0, 1], and these do not; for 0..255 values divide "
                             "by 255 (or pass them as uint8)")
        frames = frames.clamp(0.0, 1.0)
    return frames
