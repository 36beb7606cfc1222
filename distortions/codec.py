"""Real video-codec compression (H.264, H.265, VP9) through the ffmpeg binary."""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from fractions import Fraction

from distortions.base import LadderDistortion
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

# Explicit scale filters for RGB<->YUV, with the matrix (BT.601, limited
# range) named on both sides and swscale's exact paths. ffmpeg 9 ignores the
# global -sws_flags for its auto-inserted conversion, and that default path
# alone (no codec at all) caps a round trip of a real frame at about 44 dB
# PSNR and shifts colours by 1-2 levels; these filters give about 52 dB.
_SWS = "flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp+bitexact"
_TO_YUV = f"scale={_SWS}:out_color_matrix=bt601:out_range=tv,format=yuv420p"
_TO_RGB = f"scale={_SWS}:in_color_matrix=bt601:in_range=tv,format=rgb24"


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # missing package or missing binary
        raise W2SError(f"codec distortions need the ffmpeg binary of imageio-ffmpeg: {e}") from e


def clip_rate(fps: float) -> str:
    """The clip's frame rate as an ffmpeg rational, at least 1 and at most 1000 fps."""
    fps = float(fps)
    if not math.isfinite(fps):
        fps = 25.0
    fps = min(max(fps, 1.0), 1000.0)
    r = Fraction(fps).limit_denominator(1001)  # 29.97... -> 30000/1001
    return f"{r.numerator}/{r.denominator}"


# ffmpeg 9 follows the real cause with generic teardown lines from every
# thread; a plain tail would show only those.
_NOISE = (
    "Task finished with error code",
    "Terminating thread with return code",
    "Error sending frames to consumers",
    "Could not open encoder before EOF",
    "Nothing was written into output file",
)


def _tail(stderr: bytes, n: int = 4, width: int = 600) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    useful = [ln for ln in lines if not any(s in ln for s in _NOISE)] or lines
    text = " | ".join(useful[-n:]) or "(no output)"
    return text[-width:]


def _run(cmd: list[str], family: str, what: str, stdin: bytes | None = None) -> bytes:
    try:
        res = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except OSError as e:
        raise W2SError(f"{family}: could not run ffmpeg for {what}: {e}") from e
    if res.returncode != 0:
        raise W2SError(f"{family}: ffmpeg {what} failed (exit {res.returncode}): {_tail(res.stderr)}")
    return res.stdout


def encode_decode(frames_u8, fps: float, encoder_args: list[str], family: str, min_size: int = 2):
    """Encode ``(T, H, W, 3)`` uint8 RGB frames to yuv420p with ``encoder_args``, decode back to RGB.

    Odd sizes are padded to even, and sides shorter than ``min_size`` up to it
    (edge replicated, so the codec sees no artificial border); the result is
    cropped back to ``H x W``.
    """
    import numpy as np

    t, h, w, _ = frames_u8.shape
    ph, pw = max(h + h % 2, min_size), max(w + w % 2, min_size)
    if (ph, pw) != (h, w):
        frames_u8 = np.pad(frames_u8, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    raw = np.ascontiguousarray(frames_u8).tobytes()
    exe = ffmpeg_exe()
    common = ["-hide_banner", "-nostdin", "-loglevel", "error"]
    with tempfile.TemporaryDirectory(prefix="w2s-codec-") as tmp:
        path = os.path.join(tmp, "enc.mkv")
        enc = [
            exe, *common,
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{pw}x{ph}", "-r", clip_rate(fps), "-i", "-",
            "-an", "-vf", _TO_YUV, "-pix_fmt", "yuv420p", *encoder_args,
            # bitexact muxing: no random track UIDs or version strings in the
            # file, so two encodes of the same input are byte-identical.
            "-fflags", "+bitexact", "-f", "matroska", path,
        ]  # fmt: skip
        _run(enc, family, "encode", stdin=raw)
        dec = [
            exe, *common, "-threads", "1", "-i", path,
            # passthrough: one output frame per coded frame, never duplicated
            # or dropped to fit a frame rate.
            "-an", "-vf", _TO_RGB, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ]  # fmt: skip
        out = _run(dec, family, "decode")
    if len(out) != len(raw):
        raise W2SError(
            f"{family}: ffmpeg decoded {len(out)} bytes, expected {len(raw)} ({t} frames of {pw}x{ph})"
        )
    dec_frames = np.frombuffer(out, dtype=np.uint8).reshape(t, ph, pw, 3)
    return dec_frames[:, :h, :w]


class _Codec(LadderDistortion):
    """Shared body of the codec families: the ladder lists the CRF (higher is worse)."""

    ENCODER = ""
    PRESET = "fast"
    CRF_RANGE = (0, 51)
    MIN_SIZE = 2  # smallest side the encoder accepts (even)
    STRENGTH = "CRF"
    INTEGER = True
    scored_by_vmaf = True

    def check_value(self, value):
        lo, hi = self.CRF_RANGE
        if not isinstance(value, int) or not lo <= value <= hi:
            return f"CRF must be an integer in {lo}..{hi}"
        return None

    def extra_params(self, level):
        return {"codec": self.ENCODER, "crf": self.ladder[level - 1], "preset": self.PRESET}

    def encoder_args(self, crf: int, preset: str, params: dict) -> list[str]:
        """ffmpeg output options selecting and configuring the encoder."""
        raise NotImplementedError

    def apply(self, clip: Clip, params: dict) -> Clip:
        import numpy as np
        import torch

        codec = self._get(params, "codec")
        if codec != self.ENCODER:
            raise W2SError(f"{self.name}: params are for codec {codec!r}, this family encodes with {self.ENCODER!r}")
        crf = self._get(params, "crf")
        why = self.check_value(crf) if not isinstance(crf, bool) else "CRF must be an integer"
        if why:
            raise W2SError(f"{self.name}: params crf {crf!r} is invalid: {why}")
        preset = self._get(params, "preset")
        if not isinstance(preset, str) or not preset.replace("-", "").isalnum():
            raise W2SError(f"{self.name}: params preset {preset!r} is not a preset name")
        u8 = (clip.frames.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
        u8 = u8.permute(0, 2, 3, 1).contiguous().numpy()
        out = encode_decode(u8, clip.fps, self.encoder_args(crf, preset, params), self.name, self.MIN_SIZE)
        frames = torch.from_numpy(np.array(out, copy=True)).permute(0, 3, 1, 2).to(torch.float32).div_(255)
        return clip.with_frames(frames.contiguous().to(clip.frames.device))


class H264(_Codec):
    """Real libx264 encode/decode, preset "fast"; the ladder lists the CRF.

    The recipe's top level is CRF 63, but 8-bit x264 clamps CRF to 0..51
    without a word (CRF 63 encodes exactly like CRF 51). x264's 8-bit
    quantiser scale itself goes to 69 (QP above 51 quantises more coarsely
    than the spec's top step, and the stream stays decodable), so a ladder
    value in 52..63 is encoded as constant QP of that value (params
    ``rate_control`` = "qp"); 0..51 is CRF. On a 320x180 real clip:
    CRF 48 28.4 dB, CRF 51 26.5 dB, QP 63 23.8 dB. Note QP 52 is milder
    than CRF 51 (QP 51 gives 28.9 dB): keep custom ladders on one side of 51.
    """

    name = "h264"
    ENCODER = "libx264"
    DEFAULT_LADDER = (24, 36, 48, 63)  # recipe; 63 -> constant QP 63 (see above)
    CRF_RANGE = (0, 63)
    MAX_CRF = 51  # above this, constant QP

    def extra_params(self, level):
        crf = self.ladder[level - 1]
        return {**super().extra_params(level), "rate_control": "crf" if crf <= self.MAX_CRF else "qp"}

    def encoder_args(self, crf, preset, params):
        rc = self._get(params, "rate_control")
        if rc not in ("crf", "qp") or (rc == "crf") != (crf <= self.MAX_CRF):
            raise W2SError(f"{self.name}: params rate_control {rc!r} does not fit crf {crf!r}")
        # One thread: x264 is deterministic anyway, but this pins the
        # lookahead/slice layout regardless of the machine's core count.
        return ["-c:v", "libx264", "-preset", preset, f"-{rc}", str(crf), "-threads", "1"]


class H265(_Codec):
    """Real libx265 encode/decode, preset "veryslow"; the ladder lists the CRF.

    veryslow (the recipe's preset) takes about 0.2-0.45 s for 8 frames of
    320x180 on one thread here, so it is kept.
    """

    name = "h265"
    ENCODER = "libx265"
    PRESET = "veryslow"
    DEFAULT_LADDER = (36, 40, 44, 48)  # recipe
    CRF_RANGE = (0, 51)
    MIN_SIZE = 16  # x265: "Image size is too small" below 16x16

    def encoder_args(self, crf, preset, params):
        # x265 sizes its thread pool and frame threads from the core count,
        # which changes decisions (and pixels) between machines: pin both.
        return [
            "-c:v", "libx265", "-preset", preset, "-crf", str(crf), "-threads", "1",
            "-x265-params", "pools=none:frame-threads=1:log-level=error",
        ]  # fmt: skip


class VP9(_Codec):
    """Real libvpx-vp9 encode/decode in constant-quality mode; the ladder lists the CRF."""

    name = "vp9"
    ENCODER = "libvpx-vp9"
    PRESET = "good"  # libvpx deadline
    CPU_USED = 4
    DEFAULT_LADDER = (30, 40, 50, 58, 63)
    CRF_RANGE = (0, 63)

    def extra_params(self, level):
        return {**super().extra_params(level), "cpu_used": self.CPU_USED}

    def encoder_args(self, crf, preset, params):
        cpu_used = self._get(params, "cpu_used")
        if isinstance(cpu_used, bool) or not isinstance(cpu_used, int) or not -8 <= cpu_used <= 8:
            raise W2SError(f"{self.name}: params cpu_used {cpu_used!r} must be an integer in -8..8")
        # -b:v 0 makes -crf constant quality (otherwise it caps a bitrate).
        # cpu-used trades quality for speed; row-mt/tiles off and one thread
        # keep the encode deterministic.
        return [
            "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", str(crf), "-deadline", preset,
            "-cpu-used", str(cpu_used), "-row-mt", "0", "-tile-columns", "0",
            "-frame-parallel", "0", "-threads", "1",
        ]  # fmt: skip

