"""A corpus of awkward and broken media, built in seconds, for the bad-input tests.

:func:`build_bad_corpus` writes one small file (or link, or folder) of each kind
below into a folder, next to which a test puts a few good clips, and returns
what it wrote and what should become of each. Everything is generated here
(PyAV, numpy and the ``imageio-ffmpeg`` ffmpeg binary), so nothing large is
committed. ``outcome`` is ``"scored"`` (an odd file that must still be scored),
``"failed"`` (it must appear in the failures with ``reason`` in its message)
or ``"ignored"`` (not media: never listed, never an error).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from w2s.testing.media import write_video


@dataclass(frozen=True)
class BadFile:
    kind: str
    path: Path
    outcome: str  # "scored", "failed" or "ignored"
    reason: str = ""  # for "failed": a part of the message the user sees


def _ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)


def _frames(n: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth moving gradients with a little noise: content a quality model can look at."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for t in range(n):
        base = 128 + 60 * np.sin((x + 3 * t) / max(width, 1) * 6) * np.cos(y / max(height, 1) * 4)
        rgb = np.stack([base, np.roll(base, t, axis=1), 255 - base], -1) + rng.normal(0, 4, (height, width, 3))
        out.append(np.clip(rgb, 0, 255).astype(np.uint8))
    return out


def _write(path: Path, frames: list[np.ndarray], codec: str, pix_fmt: str, pts: list[int] | None = None,
           time_base: Fraction = Fraction(1, 10), options: dict | None = None) -> None:
    """Frames through any PyAV encoder (pts in ``time_base`` units: irregular ones make a VFR file)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        stream.time_base = time_base
        stream.options = options or {}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = pts[i] if pts else i
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _undecodable(good: Path, path: Path) -> None:
    """A well-formed mp4 whose video data is zeros: the container opens, no frame decodes."""
    data = bytearray(good.read_bytes())
    at = data.find(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    path.write_bytes(bytes(data))


def build_bad_corpus(folder: str | Path) -> list[BadFile]:
    """Write every kind into ``folder`` (created); returns one :class:`BadFile` per kind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[BadFile] = []

    def add(kind: str, name: str, outcome: str, reason: str = "") -> Path:
        out.append(BadFile(kind, folder / name, outcome, reason))
        return folder / name

    # --- broken: must be listed with a reason ---------------------------------------------
    add("zero-byte file", "zero_byte.mp4", "failed", "file is empty").write_bytes(b"")
    reference = folder / ".reference.mp4"  # hidden: never scanned; the source of the broken copies
    write_video(reference, _frames(6, 48, 64))
    whole = reference.read_bytes()
    # libx264 through PyAV writes the index (moov) last, so the first half has none
    add("truncated mp4", "truncated.mp4", "failed", "corrupt or truncated").write_bytes(whole[: len(whole) // 2])
    add("text file named .mp4", "notes_not_video.mp4", "failed", "not a video file").write_text(
        "this is a text file that only has a video's extension\n" * 20)
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.3", "-c:a", "aac",
            str(add("audio-only file", "audio_only.mp4", "failed", "no video stream")))
    _undecodable(reference, add("undecodable video stream", "undecodable.mp4", "failed", "corrupt or truncated"))
    _write(add("1x1 video", "one_pixel.mkv", "failed", "too small"), _frames(3, 1, 1), "ffv1", "yuv444p")
    loop_a = add("symlink loop (file)", "loop_a.mp4", "failed", "symbolic link")
    os.symlink(folder / "loop_b.mp4", loop_a)
    os.symlink(loop_a, folder / "loop_b.mp4")
    out.append(BadFile("symlink loop (file, the other end)", folder / "loop_b.mp4", "failed", "symbolic link"))

    # --- odd but usable: must be scored -----------------------------------------------------
    write_video(add("2-frame video", "two_frames.mp4", "scored"), _frames(2, 48, 64, seed=1))
    write_video(add("4K frames", "four_k.mp4", "scored"), _frames(1, 2160, 3840, seed=2), crf=35)
    _write(add("10-bit video", "ten_bit.mp4", "scored"), _frames(4, 48, 64, seed=3), "libx264", "yuv420p10le",
           options={"preset": "ultrafast"})
    _write(add("grayscale video", "grey.mkv", "scored"), _frames(4, 48, 64, seed=4), "ffv1", "gray")
    # frames at 0, 0.04, 0.08, 0.3, 0.7, 0.75 s: no single frame rate
    _write(add("variable frame rate", "vfr.mp4", "scored"), _frames(6, 48, 64, seed=5), "libx264", "yuv420p",
           pts=[0, 40, 80, 300, 700, 750], time_base=Fraction(1, 1000), options={"preset": "ultrafast"})
    _ffmpeg("-display_rotation", "90", "-i", str(reference), "-c", "copy",
            str(add("rotation metadata", "rotated.mp4", "scored")))
    from PIL import Image

    Image.fromarray(_frames(1, 48, 64, seed=6)[0]).save(add("still image", "still.png", "scored"))
    gif = [Image.fromarray(f) for f in _frames(5, 48, 64, seed=7)]
    gif[0].save(add("animated GIF", "animated.gif", "scored"), save_all=True, append_images=gif[1:], duration=100, loop=0)
    unicode_dir = folder / "vidéos été"
    unicode_dir.mkdir()
    write_video(add("unicode and spaces in the path", "vidéos été/clip 日本 #1 @2.mp4", "scored"), _frames(4, 48, 64, seed=8))
    # a folder whose name ends in .mp4 is a folder: the videos in it are scanned like any subfolder's
    (folder / "folder_named_like.mp4").mkdir()
    write_video(add("folder named like a video (its contents)", "folder_named_like.mp4/inside.mp4", "scored"),
                _frames(4, 48, 64, seed=9))

    # --- not media: never listed -------------------------------------------------------------
    os.symlink(folder, add("symlink loop (folder)", "loop_dir", "ignored"))  # points back at the pool itself
    add("not a media extension", "readme.txt", "ignored").write_text("not media")
    return out
