"""Decode videos and still images into :class:`~w2s.core.clip.Clip`.

Videos go through PyAV and are decoded as a stream: only the sampled frames
are kept and decoding stops after the last one, so a long video never sits in
memory. Stills go through Pillow and become one-frame clips. Every failure is
a :class:`~w2s.core.errors.MediaError` naming the file and the reason.
Opening and probing files is :mod:`w2s.media.probe`; turning the kept frames
into the clip's (resized, or fragment) pixels is :mod:`w2s.media.frames`.

A sampler that ``needs_pixels`` (``frame_difference``) gets a first pass over
every frame at a tiny grey size for its change signal: the scaling and the
difference cost 0.04-0.16 ms a frame (5-10 % of decoding it), so the pass costs
about one more decode of the video. A sampler with a ``layout``
(``fragments``) turns each kept frame into a mosaic of native-resolution
patches; ``max_side`` does not apply to it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps

from w2s.core.clip import Clip
from w2s.media.frames import clip_pixels, fit_size
from w2s.media.probe import (
    _READ_ERRORS,
    VideoInfo,
    _check_file,
    _check_size,
    _fail,
    _open_video,
    _probe_video,
    _reason,
    is_image,
)
from w2s.media.samplers import Sampler, make_sampler, sampled_fps

logger = logging.getLogger(__name__)

# Decoder threads. Measured on 2 cores, median of 7 full decodes, frames/s
# (PyAV default = SLICE with auto count / SLICE 2 / FRAME 2 / AUTO 2):
# bikes 640x272 1529 / 1583 / 2050 / 2121; carphone 176x144
# 1983 / 2001 / 2179 / 2479; bigbuckbunny 1280x720 about 500 for all.
# AUTO (frame + slice) with 2 threads is the fastest or tied everywhere.
DECODE_THREADS = 2
DECODE_THREAD_TYPE = "AUTO"
# One swscale thread for the tiny grey frames of the change signal: 0.11 against
# 0.13 ms a 1280x720 frame with the automatic count (which leaves the cores to the
# decoder). Older PyAV has no `threads` argument.
_GREY_OPTIONS = {"threads": 1} if "threads" in (VideoReformatter.reformat.__doc__ or "") else {}


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


def _sample(path: Path, info: VideoInfo, sampler: Sampler) -> tuple[list[int], dict]:
    """The frame indices ``sampler`` picks from the video, and what it adds to the clip's meta
    (the change of each picked frame, for a sampler that ``needs_pixels``)."""
    if not getattr(sampler, "needs_pixels", False):
        return sampler.indices(info.frames, info.fps), {}
    diffs = _difference_signal(path, info, sampler.signal_side)
    indices = sampler.indices_from_signal(diffs, info.fps)
    return indices, {"frame_difference": [round(float(diffs[i]), 4) for i in indices]}


def _decode_sampled(path: Path, info: VideoInfo, indices: list[int]) -> tuple[dict[int, np.ndarray], int]:
    """The frames at ``indices`` (index -> uint8 rgb24 at the probed size), decoded as a stream that
    stops after the last of them, and the number of frames decoded. Corrupt data mid-stream keeps
    what decoded (with a warning); a MediaError if nothing did."""
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
    return kept, decoded


def _repeat_last(path: Path, info: VideoInfo, indices: list[int], kept: dict, decoded: int) -> None:
    """Fill in the sampled frames the stream did not hold with the last frame that decoded."""
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


def _read_video(path: Path, sampler: Sampler, max_side: int | None, clip_id: str) -> Clip:
    info = _probe_video(path)
    indices, extra = _sample(path, info, sampler)
    kept, decoded = _decode_sampled(path, info, indices)
    _repeat_last(path, info, indices, kept, decoded)
    frames, pixel_meta = clip_pixels([kept[i] for i in indices], sampler, max_side, clip_id)
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
    frames, pixel_meta = clip_pixels([rgb], sampler, max_side, clip_id)
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
