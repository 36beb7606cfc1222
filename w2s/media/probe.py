"""Open and probe videos and still images, without decoding pixels.

The checks every reader shares live here too: which files are videos and
which stills (by extension), what makes a file unreadable, and how a PyAV,
Pillow or OS error becomes a :class:`~w2s.core.errors.MediaError` naming the
file and a reason a user can read.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from w2s.core.errors import MediaError

logger = logging.getLogger(__name__)

VIDEO_EXTS = frozenset(
    # an animated GIF is a short video to ffmpeg (a one-frame GIF: a one-frame clip)
    {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".y4m", ".gif"}
)
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

DEFAULT_FPS = 25.0
# The smallest frame side scored. PIQE (pyiqa) fails below 8 pixels (it works on 16-pixel blocks
# of a frame upscaled twice) with a message about tensor sizes; a picture that small holds
# nothing to judge, so the file is refused at the probe with a reason a user can read.
MIN_SIDE = 8

# What PyAV, Pillow and the file system raise for unreadable data.
_READ_ERRORS = (
    av.error.FFmpegError,
    OSError,
    ValueError,
    EOFError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns without decoding pixels.

    ``duration`` is in seconds. A still image has ``kind='image'``,
    ``frames=1`` and ``fps=1.0`` (so one frame lasts one second).
    """

    kind: str
    fps: float
    frames: int
    width: int
    height: int
    duration: float

    def as_dict(self) -> dict:
        return asdict(self)


def is_image(path: str | Path) -> bool:
    """Whether ``path`` is read as a still image (by extension)."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def _fail(path: str | Path, kind: str, reason: str) -> MediaError:
    return MediaError(f"cannot read {kind} '{path}': {reason}")


def _reason(exc: BaseException) -> str:
    """A short, one-line reason from a PyAV/Pillow/OS error."""
    if isinstance(exc, av.error.InvalidDataError):
        text = "not a video file, or corrupt or truncated data (ffmpeg: invalid data)"
    elif isinstance(exc, av.error.FFmpegError):
        # str(exc) repeats the file name; the strerror is the useful part.
        text = exc.strerror or str(exc)
    elif isinstance(exc, UnidentifiedImageError):
        text = "not an image file (or an unsupported format)"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _check_file(path: Path, kind: str) -> None:
    if not path.exists():
        if path.is_symlink():  # exists() follows links: a dangling or looping one reads as missing
            raise _fail(path, kind, "a symbolic link that leads to no file (broken, or a loop of links)")
        raise _fail(path, kind, "file not found")
    if path.is_dir():
        raise _fail(path, kind, "is a directory, not a file")
    if path.stat().st_size == 0:
        raise _fail(path, kind, "file is empty")


def _rate(stream, path: Path) -> float:
    """Frames per second: average rate, else guessed rate, else 25 (with a warning)."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    logger.warning("%s: no frame rate in the container; assuming %s fps", path, DEFAULT_FPS)
    return DEFAULT_FPS


def _count_packets(container, stream) -> int:
    """Count video packets without decoding (for containers with no frame count)."""
    count = 0
    for packet in container.demux(stream):
        if packet.size:  # the final flush packet is empty
            count += 1
    return count


def _open_video(path: Path):
    """Open ``path`` and return ``(container, video_stream)``; MediaError on failure."""
    _check_file(path, "video")
    try:
        container = av.open(str(path), mode="r")
    except _READ_ERRORS as exc:
        raise _fail(path, "video", _reason(exc)) from exc
    if not container.streams.video:
        container.close()
        raise _fail(path, "video", "no video stream")
    return container, container.streams.video[0]


def _check_size(path: Path, kind: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise _fail(path, kind, f"bad frame size {width}x{height}")
    if min(width, height) < MIN_SIDE:
        raise _fail(path, kind, f"frames of {width}x{height} pixels are too small to score "
                                f"(each side must be at least {MIN_SIDE} pixels)")


def _probe_video(path: Path) -> VideoInfo:
    container, stream = _open_video(path)
    try:
        with container:
            fps = _rate(stream, path)
            ctx = stream.codec_context
            width, height = ctx.width, ctx.height
            frames = stream.frames or 0
            if frames <= 0:
                frames = _count_packets(container, stream)
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / av.time_base
            else:
                duration = frames / fps
    except _READ_ERRORS as exc:
        raise _fail(path, "video", _reason(exc)) from exc
    if frames <= 0:
        raise _fail(path, "video", "no frames")
    _check_size(path, "video", width, height)
    return VideoInfo("video", fps, int(frames), int(width), int(height), float(duration))


def _probe_image(path: Path) -> VideoInfo:
    _check_file(path, "image")
    try:
        with Image.open(path) as im:
            width, height = im.size
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF says rotate 90/270
                width, height = height, width
    except _READ_ERRORS as exc:
        raise _fail(path, "image", _reason(exc)) from exc
    _check_size(path, "image", width, height)
    return VideoInfo("image", 1.0, 1, int(width), int(height), 1.0)


def probe(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a video or image, without decoding pixels.

    The frame count comes from the container; where it has none (mkv, webm,
    some avi), packets are counted by demuxing, which is cheap next to
    decoding.
    """
    path = Path(path)
    return _probe_image(path) if is_image(path) else _probe_video(path)
