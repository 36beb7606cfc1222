"""JPEG compression of every frame."""

from __future__ import annotations

import io

from distortions.base import LadderDistortion
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


class JPEG(LadderDistortion):
    """Real JPEG encode/decode of every frame with Pillow (libjpeg); the ladder lists the quality."""

    name = "jpeg"
    DEFAULT_LADDER = (60, 30, 15, 5)
    STRENGTH = "quality"
    INTEGER = True
    INCREASING = False

    def check_value(self, value):
        return None if isinstance(value, int) and 1 <= value <= 100 else "quality must be an integer in 1..100"

    def extra_params(self, level):
        return {"subsampling": "4:2:0"}

    def apply(self, clip: Clip, params: dict) -> Clip:
        import numpy as np
        import torch
        from PIL import Image

        q = int(self._strength(params))
        # Pillow's real encoder rather than kornia's differentiable JPEG: it is
        # what cameras and sites produce, deterministic, and much faster.
        # Subsampling and optimize are pinned so Pillow defaults can't drift.
        sub = _SUBSAMPLING.get(self._get(params, "subsampling"))
        if sub is None:
            raise W2SError(f"jpeg: subsampling {params['subsampling']!r} is not one of {sorted(_SUBSAMPLING)}")
        u8 = (clip.frames.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        u8 = u8.permute(0, 2, 3, 1).contiguous().numpy()
        out = np.empty_like(u8)
        for t, frame in enumerate(u8):
            buf = io.BytesIO()
            Image.fromarray(frame, "RGB").save(buf, format="JPEG", quality=q, subsampling=sub, optimize=False)
            buf.seek(0)
            with Image.open(buf) as im:
                out[t] = np.asarray(im.convert("RGB"))
        frames = torch.from_numpy(out).permute(0, 3, 1, 2).to(torch.float32).div_(255)
        return clip.with_frames(frames.contiguous().to(clip.frames.device))
