"""Double JPEG: a photo saved by the camera, then re-encoded when it was shared, on a shifted grid."""

from __future__ import annotations

import io

from distortions.base import LadderDistortion
from w2s.core.clip import Clip

# the camera's own save: a quality drawn from this range for each seed
FIRST_QUALITY = (70, 90)
# the re-encoder's grid lands this many pixels off the camera's, down and right (drawn per seed)
SHIFT = (1, 7)


def jpeg_roundtrip(frame, quality: int):
    """One (H, W, 3) uint8 frame through Pillow's libjpeg at ``quality``, settings pinned as in ``jpeg``
    (4:2:0 chroma, no optimisation) so Pillow's defaults cannot drift."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame, "RGB").save(buf, format="JPEG", quality=quality, subsampling=2, optimize=False)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def shifted_roundtrip(frame, quality: int, dy: int, dx: int):
    """A JPEG round trip whose 8x8 (16x16 chroma) grid starts ``dy, dx`` pixels before the frame: the
    frame is padded by that much at the top and left (edge pixels repeated), coded, and cropped back,
    so every pixel keeps its place while the blocks straddle the first pass's block edges."""
    import numpy as np

    h, w = frame.shape[:2]
    padded = np.pad(frame, ((dy, 0), (dx, 0), (0, 0)), mode="edge")
    return jpeg_roundtrip(padded, quality)[dy : dy + h, dx : dx + w]


class DoubleJPEG(LadderDistortion):
    """Double JPEG: the camera's save, re-encoded on a shifted grid when shared; the ladder lists the second quality.

    The first pass uses a seed-drawn quality in 70..90; the second pass's grid is shifted by a
    seed-drawn ``(dy, dx)``, each in 1..7 pixels, as when a shared photo is cropped and re-encoded:
    its blocks do not line up with the first pass's, so both sets of block edges show. The first
    quality and the shift do not depend on the level.
    """

    name = "jpeg2x"
    DEFAULT_LADDER = (70, 50, 30, 15)
    STRENGTH = "second quality"
    INTEGER = True
    INCREASING = False

    def check_value(self, value):
        return None if isinstance(value, int) and 1 <= value <= 100 else "quality must be an integer in 1..100"

    def draws(self, rng):
        return {"first_quality": rng.randint(*FIRST_QUALITY), "dy": rng.randint(*SHIFT), "dx": rng.randint(*SHIFT)}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import numpy as np
        import torch

        q2 = int(self._strength(params))
        q1 = int(self._get(params, "first_quality"))
        dy, dx = int(self._get(params, "dy")), int(self._get(params, "dx"))
        u8 = (clip.frames.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        u8 = u8.permute(0, 2, 3, 1).contiguous().numpy()
        out = np.empty_like(u8)
        for t, frame in enumerate(u8):
            out[t] = shifted_roundtrip(jpeg_roundtrip(frame, q1), q2, dy, dx)
        frames = torch.from_numpy(out).permute(0, 3, 1, 2).to(torch.float32).div_(255)
        return clip.with_frames(frames.contiguous().to(clip.frames.device))
