"""Probe and decode videos and still images into :class:`~w2s.media.clip.Clip`.

Videos go through PyAV and are decoded as a stream: only the sampled frames
are kept and decoding stops after the last one, so a long video never sits in
memory. Stills go through Pillow and become one-frame clips. Every failure is
a :class:`~w2s.errors.MediaError` naming the file and the reason.

A sampler that ``needs_pixels`` (``frame_difference``) gets a first pass over
every frame at a tiny grey size for its change signal: the scaling and the
difference cost 0.04-0.16 ms a frame (5-10 % of decoding it), so the pass costs
about one more decode of the video. A sampler with a ``layout``
(``fragments``) turns each kept frame into a mosaic of native-resolution
patches; ``max_side`` does not apply to it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps, UnidentifiedImageError

from w2s.errors import MediaError
from w2s.media.clip import Clip
from w2s.media.samplers import Sampler, make_sampler, sampled_fps

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
# Decoder threads. Measured on 2 cores, median of 7 full decodes, frames/s
# (PyAV default = SLICE with auto count / SLICE 2 / FRAME 2 / AUTO 2):
# bikes 640x272 1529 / 1583 / 2050 / 2121; carphone 176x144
# 1983 / 2001 / 2179 / 2479; bigbuckbunny 1280x720 about 500 for all.
# AUTO (frame + slice) with 2 threads is the fastest or tied everywhere.
DECODE_THREADS = 2
DECODE_THREAD_TYPE = "AUTO"
_RESIZE_CHUNK_BYTES = 256 * 2**20
# One swscale thread for the tiny grey frames of the change signal: 0.11 against
# 0.13 ms a 1280x720 frame with the automatic count (which leaves the cores to the
# decoder). Older PyAV has no `threads` argument.
_GREY_OPTIONS = {"threads": 1} if "threads" in (VideoReformatter.reformat.__doc__ or "") else {}

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


def iter_video_frames(path: str | Path, *, threads: int = DECODE_THREADS):
    """Yield ``(index, rgb24 ndarray)`` for every frame of a video, in display order.

    A building block for readers that must see every frame (cutting a video
    into segments); :func:`read_clip` is the sampled reader.
    """
    path = Path(path)
    container, stream = _open_video(path)
    with container:
        _set_threads(stream, threads)
        try:
            for i, frame in enumerate(container.decode(stream)):
                yield i, frame.to_ndarray(format="rgb24")
        except _READ_ERRORS as exc:
            raise _fail(path, "video", _reason(exc)) from exc


def _set_threads(stream, threads: int) -> None:
    if threads > 1:
        stream.codec_context.thread_type = DECODE_THREAD_TYPE
        stream.codec_context.thread_count = threads


def _difference_signal(path: Path, info: VideoInfo, side: int) -> np.ndarray:
    """Mean absolute difference of each frame with the previous one, on grey
    frames whose longer side is ``side`` (0..255 scale; the first frame gets 0).

    Decodes every frame; the grey downscale reuses one swscale context (area
    filter), which costs next to nothing beside the decode. The signal is as long
    as the frames that actually decoded, which may differ from the container's
    count (a truncated file: a warning, and the sampler only sees what exists).
    """
    height, width = fit_size(info.height, info.width, side)
    scaler = VideoReformatter()
    diffs: list[float] = []
    previous = None
    container, stream = _open_video(path)
    with container:
        _set_threads(stream, DECODE_THREADS)
        try:
            for frame in container.decode(stream):
                grey = scaler.reformat(
                    frame, width=width, height=height, format="gray", interpolation="AREA", **_GREY_OPTIONS
                ).to_ndarray()
                grey = grey.astype(np.float32)
                diffs.append(0.0 if previous is None else float(np.abs(grey - previous).mean()))
                previous = grey
        except _READ_ERRORS as exc:
            if not diffs:
                raise _fail(path, "video", _reason(exc)) from exc
            logger.warning("%s: change signal stops after frame %d: %s", path, len(diffs) - 1, _reason(exc))
    if not diffs:
        raise _fail(path, "video", f"no frame decoded (container reports {info.frames})")
    return np.asarray(diffs)


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


def _pixels(rgbs: list[np.ndarray], sampler, max_side: int | None, clip_id: str) -> tuple[torch.Tensor, dict]:
    """Kept uint8 frames -> the clip's float frames (resized, or fragments), and extra meta."""
    if hasattr(sampler, "layout"):
        frames, meta = _fragments(rgbs, sampler, clip_id)
        return frames, {"fragments": meta}
    height, width = rgbs[0].shape[:2]
    return _to_frames(rgbs, fit_size(height, width, max_side)), {}


def _read_video(path: Path, sampler: Sampler, max_side: int | None, clip_id: str) -> Clip:
    info = _probe_video(path)
    extra: dict = {}
    if getattr(sampler, "needs_pixels", False):
        diffs = _difference_signal(path, info, sampler.signal_side)
        indices = sampler.indices_from_signal(diffs, info.fps)
        extra["frame_difference"] = [round(float(diffs[i]), 4) for i in indices]
    else:
        indices = sampler.indices(info.frames, info.fps)
    wanted = set(indices)
    last = indices[-1]
    kept: dict[int, np.ndarray] = {}
    decoded = 0
    container, stream = _open_video(path)
    with container:
        _set_threads(stream, DECODE_THREADS)
        try:
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                if i in wanted:
                    # Only sampled frames become arrays (uint8 until the decoder is
                    # closed: converting here would compete with its threads).
                    if (frame.height, frame.width) == (info.height, info.width):
                        kept[i] = frame.to_ndarray(format="rgb24")
                    else:  # a mid-stream size change: bring it back to the probed size
                        kept[i] = frame.to_ndarray(format="rgb24", width=info.width, height=info.height)
                if i >= last:
                    break
        except _READ_ERRORS as exc:
            # Corrupt data mid-stream: keep what decoded, if anything.
            if not kept:
                raise _fail(path, "video", _reason(exc)) from exc
            logger.warning("%s: decoding stopped after frame %d: %s", path, decoded - 1, _reason(exc))
    if not kept:
        raise _fail(path, "video", f"no frame decoded (container reports {info.frames})")
    missing = [i for i in indices if i not in kept]
    if missing:
        # The container promised more frames than the stream holds: reuse the
        # last decoded frame rather than failing a mostly readable video.
        logger.warning(
            "%s: container reports %d frames but only %d decoded; repeating the last for %d sampled frame(s)",
            path,
            info.frames,
            decoded,
            len(missing),
        )
        last_kept = kept[max(kept)]
        for i in missing:
            kept[i] = last_kept
    frames, pixel_meta = _pixels([kept[i] for i in indices], sampler, max_side, clip_id)
    meta = {
        "source": str(path),
        "source_fps": info.fps,
        "source_frames": info.frames,
        "source_size": [info.height, info.width],
        "indices": list(indices),
        "kind": "video",
        **extra,
        **pixel_meta,
    }
    return Clip(clip_id, frames, sampled_fps(indices, info.fps), meta)


def _read_image(path: Path, sampler: Sampler, max_side: int | None, clip_id: str) -> Clip:
    _check_file(path, "image")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # phone photos store rotation in EXIF
            rgb = np.array(im.convert("RGB"))  # a writable copy for torch
    except _READ_ERRORS as exc:
        raise _fail(path, "image", _reason(exc)) from exc
    height, width = rgb.shape[:2]
    _check_size(path, "image", width, height)
    frames, pixel_meta = _pixels([rgb], sampler, max_side, clip_id)
    meta = {
        "source": str(path),
        "source_fps": 1.0,
        "source_frames": 1,
        "source_size": [height, width],
        "indices": [0],
        "kind": "image",
        **pixel_meta,
    }
    return Clip(clip_id, frames, 1.0, meta)


def read_clip(
    path: str | Path,
    sampler: Sampler | dict,
    max_side: int | None = None,
    clip_id: str | None = None,
) -> Clip:
    """Decode the sampled frames of a video (or a still image) into a :class:`Clip`.

    ``sampler`` is a sampler object or its config dict. ``max_side`` shrinks
    frames whose longer side exceeds it (aspect kept, even sides); it does not
    apply to ``fragments``, whose frames are native-resolution mosaics of
    ``grid * patch`` pixels a side. The clip's ``fps`` is the rate of the
    sampled frames; ``meta`` records the source path, source fps and the
    sampled indices (plus the change of each picked frame for
    ``frame_difference``, and the patch layout for ``fragments``). ``clip_id``
    defaults to the file name without extension; it also seeds the fragment
    positions.
    """
    path = Path(path)
    sampler = make_sampler(sampler)  # validated for stills too, so a bad config fails early
    clip_id = clip_id if clip_id is not None else path.stem
    if is_image(path):
        return _read_image(path, sampler, max_side, clip_id)
    return _read_video(path, sampler, max_side, clip_id)
