"""VMAF between two clips, through the libvmaf built into imageio-ffmpeg's binary.

Used as ground truth for the offline OOD set: the built-in ``vmaf_v0.6.1``
model, mean-pooled over frames (0 = bad, 100 = identical to the reference;
it can exceed 100 slightly for "enhanced" inputs).
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from w2s.core.clip import Clip
from w2s.core.errors import W2SError

logger = logging.getLogger(__name__)

MODEL = "vmaf_v0.6.1"
# libvmaf's features work on wavelet/Gaussian pyramids of several scales. With
# this binary a side of 16 px crashes ffmpeg (SIGSEGV) and 17 px works; 32
# leaves a margin and is still far below any real video.
MIN_SIDE = 32
THREADS = 2


def _rgb24(clip: Clip) -> bytes:
    frames = clip.frames.detach().to("cpu", torch.float32).clamp(0.0, 1.0)
    # Round, not truncate: 0.999 * 255 must stay 255.
    data = (frames * 255.0).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return np.ascontiguousarray(data.numpy()).tobytes()


def _input_args(width: int, height: int, fps: float, path: Path) -> list[str]:
    rate = fps if fps and fps > 0 else 25.0
    # fmt: off
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", f"{rate:.6f}", "-i", str(path)]
    # fmt: on


def _filter_path(path: Path) -> str:
    """Escape a path for an ffmpeg filter option value (':' and '\\' are special)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def vmaf(reference: Clip, distorted: Clip) -> float:
    """Mean VMAF (``vmaf_v0.6.1``) of ``distorted`` against ``reference``.

    Both clips must have the same ``(T, 3, H, W)`` shape, with both sides at
    least ``MIN_SIDE`` pixels. Raises :class:`~w2s.core.errors.W2SError` on a shape
    mismatch, tiny frames or an ffmpeg failure.
    """
    if tuple(reference.frames.shape) != tuple(distorted.frames.shape):
        raise W2SError(
            f"vmaf: clips differ in shape: reference {reference.id!r} {tuple(reference.frames.shape)}, "
            f"distorted {distorted.id!r} {tuple(distorted.frames.shape)}; resize or resample one first"
        )
    frames, _, height, width = reference.frames.shape
    if frames == 0:
        raise W2SError(f"vmaf: clip {reference.id!r} has no frames")
    if min(height, width) < MIN_SIDE:
        raise W2SError(
            f"vmaf: frames of {width}x{height} are too small; VMAF needs both sides >= {MIN_SIDE} px"
        )

    from imageio_ffmpeg import get_ffmpeg_exe

    with tempfile.TemporaryDirectory(prefix="w2s-vmaf-") as tmp:
        tmp = Path(tmp)
        dist_path, ref_path, log_path = tmp / "dist.rgb", tmp / "ref.rgb", tmp / "vmaf.json"
        dist_path.write_bytes(_rgb24(distorted))
        ref_path.write_bytes(_rgb24(reference))
        # libvmaf reads its FIRST input as the distorted video and the SECOND as
        # the reference. Both go to yuv444p explicitly (VMAF scores luma) so
        # ffmpeg does not pick a conversion on its own.
        graph = (
            "[0:v]format=yuv444p[dist];[1:v]format=yuv444p[ref];"
            f"[dist][ref]libvmaf=model=version={MODEL}:log_fmt=json:"
            f"log_path={_filter_path(log_path)}:n_threads={THREADS}"
        )
        # fmt: off
        cmd = [
            get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
            *_input_args(width, height, distorted.fps, dist_path),
            *_input_args(width, height, reference.fps, ref_path),
            "-lavfi", graph, "-f", "null", "-",
        ]
        # fmt: on
        result = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if result.returncode != 0 or not log_path.exists():
            message = (result.stderr or "").strip()[-1500:] or "no message"
            if result.returncode < 0:
                message = f"ffmpeg crashed (signal {-result.returncode}); {message}"
            raise W2SError(f"vmaf: ffmpeg failed on {distorted.id!r} vs {reference.id!r}: {message}")
        try:
            report = json.loads(log_path.read_text())
            score = float(report["pooled_metrics"]["vmaf"]["mean"])
        except (ValueError, KeyError, TypeError) as exc:
            raise W2SError(f"vmaf: unexpected libvmaf log for {distorted.id!r}: {exc}") from exc
    if not np.isfinite(score):
        raise W2SError(f"vmaf: libvmaf returned {score} for {distorted.id!r} vs {reference.id!r}")
    return score
