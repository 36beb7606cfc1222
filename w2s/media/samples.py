"""Build a pool of short, near-pristine clips from real media shipped in packages.

Videos are cut into non-overlapping segments of about 44 frames at their
source rate; photos become 2-second clips with a slow pan or zoom (a crop
window moving smoothly over the photo). Everything is encoded with the
ffmpeg binary of ``imageio-ffmpeg`` (libx264, CRF 12, one thread), which gives
byte-identical files for the same inputs, so a seed reproduces the pool.

Each file is written under a hidden temporary name and renamed when
complete; a rerun keeps finished files, so a killed build resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from w2s.core.errors import W2SError
from w2s.media.decode import iter_video_frames
from w2s.media.frames import fit_size
from w2s.media.probe import probe
from w2s.media.sources import Source, sources

logger = logging.getLogger(__name__)

SEGMENT_FRAMES = 44  # target frames per video segment; actual length is frames // round(frames / 44)
PHOTO_FRAMES = 24
PHOTO_FPS = 12
CRF = 12  # near-pristine: the distortions, not the encode, should make the quality differences
RESAMPLE = Image.Resampling.BICUBIC  # antialiased when shrinking
RECORD = ".samples.json"  # settings of the pool in a folder (hidden: scan_pool skips it)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Motion:
    """A photo's camera move: the crop box goes linearly from ``start`` to ``end``.

    Boxes are ``(left, top, right, bottom)`` in photo pixels (floats, so the
    move is sub-pixel smooth).
    """

    kind: str  # 'pan', 'zoomin' or 'zoomout'
    start: tuple[float, float, float, float]
    end: tuple[float, float, float, float]

    def box(self, t: float) -> tuple[float, float, float, float]:
        return tuple(a + (b - a) * t for a, b in zip(self.start, self.end, strict=True))


def _rng(seed: int, name: str) -> np.random.Generator:
    # A stable hash (Python's hash() is salted per process).
    digest = hashlib.sha256(f"w2s-samples:{seed}:{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def draw_motion(width: int, height: int, seed: int, name: str) -> Motion:
    """The pan or zoom of photo ``name`` for ``seed`` (pure: same inputs, same move)."""
    rng = _rng(seed, name)
    kind = str(rng.choice(["pan", "zoomin", "zoomout"]))
    full = (0.0, 0.0, float(width), float(height))
    if kind == "pan":
        scale = rng.uniform(0.70, 0.80)  # window size relative to the photo
        w, h = scale * width, scale * height
        theta = rng.uniform(0.0, 2 * np.pi)
        # Travel up to 90 % of the free room along a random direction, centred.
        dx = 0.9 * np.cos(theta) * (width - w)
        dy = 0.9 * np.sin(theta) * (height - h)
        cx, cy = width / 2, height / 2
        start = (cx - dx / 2 - w / 2, cy - dy / 2 - h / 2)
        end = (cx + dx / 2 - w / 2, cy + dy / 2 - h / 2)
        return Motion(kind, (*start, start[0] + w, start[1] + h), (*end, end[0] + w, end[1] + h))
    scale = rng.uniform(0.65, 0.80)  # the tight end of the zoom
    w, h = scale * width, scale * height
    # Centre of the tight box: anywhere that keeps it inside the photo.
    left = rng.uniform(0.0, width - w)
    top = rng.uniform(0.0, height - h)
    tight = (left, top, left + w, top + h)
    return Motion(kind, full, tight) if kind == "zoomin" else Motion(kind, tight, full)


def _even_floor(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def photo_frames(image: Image.Image, motion: Motion, max_side: int, frames: int = PHOTO_FRAMES):
    """Yield ``frames`` rgb24 arrays of the moving crop, never upscaling the photo."""
    # Output size from the smallest crop box, so every frame is a downscale.
    boxes = [motion.start, motion.end]
    w = min(b[2] - b[0] for b in boxes)
    h = min(b[3] - b[1] for b in boxes)
    out_h, out_w = fit_size(_even_floor(h), _even_floor(w), max_side)
    for i in range(frames):
        box = motion.box(i / (frames - 1))
        yield np.asarray(image.resize((out_w, out_h), RESAMPLE, box=box))


class _Encoder:
    """Pipe rgb24 frames into the ffmpeg binary; rename to ``final`` only when it succeeds."""

    def __init__(self, final: Path, width: int, height: int, fps: Fraction):
        from imageio_ffmpeg import get_ffmpeg_exe  # resolves the bundled binary

        self.final = final
        self.tmp = final.with_name(f".{final.name}.part")  # hidden: never mistaken for a finished clip
        self.size = (height, width)
        # fmt: off
        cmd = [
            get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", "medium", "-crf", str(CRF), "-pix_fmt", "yuv420p",
            # One encoder thread: x264's threaded output depends on timing, one thread is byte-stable.
            "-threads", "1", "-map_metadata", "-1", "-fflags", "+bitexact",
            "-f", "mp4", str(self.tmp),
        ]
        # fmt: on
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (*self.size, 3):
            raise ValueError(f"frame {rgb.shape} does not match encoder size {self.size}")
        try:
            self.proc.stdin.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            self.abort()
            raise W2SError(f"ffmpeg stopped while writing {self.final}: {self._stderr()}") from None
        self.count += 1

    def _stderr(self) -> str:
        data = self.proc.stderr.read() if self.proc.stderr else b""
        return data.decode(errors="replace").strip()[-2000:] or "no message"

    def close(self) -> Path:
        self.proc.stdin.close()
        err = self._stderr()
        if self.proc.wait() != 0 or self.count == 0:
            self.tmp.unlink(missing_ok=True)
            raise W2SError(f"ffmpeg failed to encode {self.final} (exit {self.proc.returncode}): {err}")
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.tmp.unlink(missing_ok=True)


def _video_segments(frames: int) -> list[tuple[int, int]]:
    n = max(1, round(frames / SEGMENT_FRAMES))
    length = frames // n
    return [(k * length, (k + 1) * length) for k in range(n)]


def _build_video(source: Source, out_dir: Path, max_side: int) -> list[Path]:
    """Cut one video into segments, decoding it once and only as far as needed."""
    info = probe(source.path)
    segments = _video_segments(info.frames)
    paths = [out_dir / f"{source.name}_s{k + 1:02d}.mp4" for k in range(len(segments))]
    todo = {k for k, p in enumerate(paths) if not p.exists()}
    if not todo:
        return paths
    import av  # for the exact source rate (30000/1001, not 29.97)

    with av.open(str(source.path)) as container:
        rate = container.streams.video[0].average_rate or Fraction(25)
    fps = Fraction(rate.numerator, rate.denominator)
    out_h, out_w = fit_size(info.height, info.width, max_side)
    last_needed = max(segments[k][1] for k in todo)
    encoder = None
    frames = iter_video_frames(source.path)
    try:
        for i, rgb in frames:
            if i >= last_needed:
                break
            k = next((k for k, (a, b) in enumerate(segments) if a <= i < b), None)
            if k not in todo:
                continue
            if i == segments[k][0]:
                encoder = _Encoder(paths[k], out_w, out_h, fps)
            if (out_h, out_w) != rgb.shape[:2]:
                rgb = np.asarray(Image.fromarray(rgb).resize((out_w, out_h), RESAMPLE))
            encoder.write(rgb)
            if i == segments[k][1] - 1:
                encoder.close()
                encoder = None
    finally:
        frames.close()  # closes the container now, not at garbage collection
        if encoder is not None:  # the video ended early or something failed mid-segment
            encoder.abort()
    missing = [str(p) for k, p in enumerate(paths) if not p.exists()]
    if missing:
        raise W2SError(
            f"{source.path} decoded fewer frames than it reports ({info.frames}); "
            f"could not write {', '.join(missing)}"
        )
    return paths


def _build_photo(source: Source, out_dir: Path, max_side: int, seed: int) -> list[Path]:
    with Image.open(source.path) as im:
        image = im.convert("RGB")  # grey photos become RGB; also forces the full load
    motion = draw_motion(image.width, image.height, seed, source.name)
    path = out_dir / f"{source.name}_{motion.kind}.mp4"
    if path.exists():
        return [path]
    encoder = None
    try:
        for rgb in photo_frames(image, motion, max_side):
            if encoder is None:
                encoder = _Encoder(path, rgb.shape[1], rgb.shape[0], Fraction(PHOTO_FPS))
            encoder.write(rgb)
        encoder.close()
        encoder = None
    finally:
        if encoder is not None:
            encoder.abort()
    return [path]


def _check_record(out_dir: Path, seed: int, max_side: int) -> None:
    """Refuse to mix clips built with other settings into one folder (a rerun would keep them)."""
    record = out_dir / RECORD
    wanted = {"format": FORMAT_VERSION, "seed": seed, "max_side": max_side, "crf": CRF}
    if record.exists():
        try:
            found = json.loads(record.read_text())
        except (OSError, ValueError):
            found = None
        if found != wanted:
            raise W2SError(
                f"{out_dir} holds samples built with other settings ({found}, now {wanted}); "
                "use another folder or empty this one"
            )
        return
    tmp = record.with_name(record.name + ".part")
    tmp.write_text(json.dumps(wanted, sort_keys=True))
    os.replace(tmp, record)


def build_samples(
    out_dir: str | Path,
    split: str = "train",
    seed: int = 0,
    max_side: int = 320,
    progress: bool = True,
) -> list[Path]:
    """Write the short clips of ``split`` (``train``, ``eval`` or ``all``) into ``out_dir``.

    Returns the clip paths in a fixed order. The same ``seed`` reproduces the
    same bytes; finished files are kept, so rerunning resumes a killed build.
    A folder remembers its ``seed`` and ``max_side``; other settings need
    another folder.
    """
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 32:
        raise W2SError(f"max_side must be an integer >= 32, got {max_side!r}")
    chosen = sources(split)  # validates split and finds the packages first
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_record(out_dir, seed, max_side)

    from w2s.core.progress import progress as with_progress

    paths: list[Path] = []
    for source in with_progress(chosen, f"samples ({split})", "source", enabled=progress):
        if source.kind == "video":
            paths += _build_video(source, out_dir, max_side)
        else:
            paths += _build_photo(source, out_dir, max_side, seed)
    logger.info("%d %s clips in %s", len(paths), split, out_dir)
    return paths
