"""Frame samplers: which frames of a video a clip keeps.

A sampler is a small object with ``indices(num_frames, fps) -> list[int]``
returning sorted, unique frame indices within ``[0, num_frames)``. The
index-only samplers (``uniform``, ``fps``) never see pixels, so a decoder can
ask for the indices first and stop decoding after the last one.

Two optional capabilities, which :func:`w2s.media.decode.read_clip` honours:

* ``needs_pixels = True`` (``frame_difference``): the decoder first runs a
  cheap pass over every frame at ``signal_side`` pixels (longer side, grey),
  computes the mean absolute difference of each frame with the previous one
  (``diffs[0] = 0``), and asks ``indices_from_signal(diffs, fps)``.
* ``layout(height, width, key)`` (``fragments``): each kept frame becomes a
  mosaic of native-resolution patches; ``max_side`` does not apply.

The samplers themselves stay pixel-free: they turn counts, signals and frame
sizes into indices and positions.

>>> UniformSampler(4).indices(10, 25.0)
[1, 3, 6, 8]
>>> FpsSampler(fps=1.0, max_frames=16).indices(100, 25.0)
[0, 25, 50, 75]
>>> FrameDifferenceSampler(2).indices_from_signal([0, 1, 1, 9, 1, 1, 1, 1], 25.0)
[3, 6]
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from w2s.core.errors import ConfigError


@runtime_checkable
class Sampler(Protocol):
    """Anything that picks frame indices from a frame count and a frame rate."""

    def indices(self, num_frames: int, fps: float) -> list[int]: ...


def _centres(n_items: int, n_pick: int) -> list[int]:
    """Positions of the centres of ``n_pick`` equal segments of ``n_items``.

    Centres rather than segment starts, so the first and last frames (often a
    fade or a black frame) are not favoured.
    """
    if n_items <= n_pick:
        return list(range(n_items))
    # Integer arithmetic: floor((i + 1/2) * n / k) without float rounding.
    return [((2 * i + 1) * n_items) // (2 * n_pick) for i in range(n_pick)]


def _check_count(num_frames: int) -> None:
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive_int(sampler: str, key: str, value) -> int:
    if not _is_int(value) or value < 1:
        raise ConfigError(f"sampler {sampler!r}: {key} must be an integer >= 1, got {value!r}")
    return int(value)


class UniformSampler:
    """``num_frames`` frames spread evenly: the centres of equal segments.

    A video with fewer frames than asked for gives all of its frames.
    """

    name = "uniform"

    def __init__(self, num_frames: int = 8):
        if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames < 1:
            raise ConfigError(f"sampler 'uniform': num_frames must be an integer >= 1, got {num_frames!r}")
        self.num_frames = num_frames

    def indices(self, num_frames: int, fps: float) -> list[int]:
        _check_count(num_frames)
        return _centres(num_frames, self.num_frames)

    def spec(self) -> dict:
        """The config dict that rebuilds this sampler with :func:`make_sampler`."""
        return {"name": self.name, "num_frames": self.num_frames}

    def __repr__(self) -> str:
        return f"UniformSampler(num_frames={self.num_frames})"


class FpsSampler:
    """One frame every ``1 / fps`` seconds, starting at the first frame.

    At most ``max_frames``: a longer video keeps ``max_frames`` of those
    candidates, spread uniformly among them. A clip shorter than ``1 / fps``
    seconds gives one frame (its first).
    """

    name = "fps"

    def __init__(self, fps: float = 1.0, max_frames: int = 16):
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0 or math.isinf(fps):
            raise ConfigError(f"sampler 'fps': fps must be a positive number, got {fps!r}")
        if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 1:
            raise ConfigError(f"sampler 'fps': max_frames must be an integer >= 1, got {max_frames!r}")
        self.fps = float(fps)
        self.max_frames = max_frames

    def indices(self, num_frames: int, fps: float) -> list[int]:
        _check_count(num_frames)
        if num_frames == 0:
            return []
        if not fps > 0:
            raise ValueError(f"video fps must be > 0, got {fps}")
        step = fps / self.fps  # source frames between two samples
        candidates: list[int] = []
        k = 0
        while True:
            # Nearest frame to t = k / self.fps; the epsilon keeps exact
            # multiples (25 fps / 1 fps) from flooring to the previous frame.
            index = math.floor(k * step + 0.5 + 1e-9)
            if index >= num_frames:
                break
            if not candidates or index != candidates[-1]:  # asking above the source rate
                candidates.append(index)
            k += 1
        return [candidates[i] for i in _centres(len(candidates), self.max_frames)]

    def spec(self) -> dict:
        """The config dict that rebuilds this sampler with :func:`make_sampler`."""
        return {"name": self.name, "fps": self.fps, "max_frames": self.max_frames}

    def __repr__(self) -> str:
        return f"FpsSampler(fps={self.fps}, max_frames={self.max_frames})"


class FrameDifferenceSampler:
    """``num_frames`` frames where the content changes most, one per equal segment.

    Rule: cut the video into ``num_frames`` equal segments, one around each
    frame ``uniform`` would take; each keeps its frame with the largest
    difference from the frame before it (a cut's first new frame, or the
    fastest motion). Segments choose in turn, the one holding the largest
    change first, and may not take a frame closer than
    ``(n // num_frames) // 2`` frames (``n``: the video's frame count) to one
    already kept, so two neighbouring segments cannot both sit on one cut.
    Ties go to the frame nearest the segment's centre (then the earlier one).
    The centre is always far enough from the neighbours' picks, so every
    segment keeps a frame, and a static video (a flat signal) gives exactly
    the ``uniform`` frames. The picks follow the changes yet stay spread over the
    whole video: a single cut cannot take them all, and a quiet stretch still
    gets its share. A video with fewer frames than asked for gives them all.

    The change signal needs pixels (``needs_pixels``): the decoder computes it
    in a first pass at ``signal_side`` pixels, in grey. Without a signal,
    :meth:`indices` is the flat-signal answer, i.e. ``uniform``.
    """

    name = "frame_difference"
    needs_pixels = True
    # Longer side of the grey frames the change signal is computed on: enough to
    # see a cut or large motion, small enough that scaling costs next to nothing.
    signal_side = 64

    def __init__(self, num_frames: int = 8):
        self.num_frames = _positive_int(self.name, "num_frames", num_frames)

    def indices(self, num_frames: int, fps: float) -> list[int]:
        _check_count(num_frames)
        return self.indices_from_signal(np.zeros(num_frames), fps)

    def indices_from_signal(self, diffs: Sequence[float], fps: float) -> list[int]:
        """Indices from the change signal: ``diffs[i]`` is how much frame ``i``
        differs from frame ``i - 1`` (``diffs[0]``, with nothing before it, is 0).

        ``fps`` is accepted for the common interface; the rule does not use it.
        """
        diffs = np.asarray(diffs, dtype=np.float64)
        if diffs.ndim != 1:
            raise ValueError(f"diffs must be one-dimensional, got shape {diffs.shape}")
        if not np.isfinite(diffs).all():
            raise ValueError("diffs must be finite")
        n_items, n_pick = len(diffs), self.num_frames
        if n_items <= n_pick:
            return list(range(n_items))
        # Segment k: the frames nearer to the k-th uniform frame than to the others
        # (equal segments, up to rounding, that always hold their uniform frame).
        centres = _centres(n_items, n_pick)
        edges = [0] + [(a + b + 1) // 2 for a, b in itertools.pairwise(centres)] + [n_items]
        gap = (n_items // n_pick) // 2  # no segment centre is nearer than this to another segment
        peaks = [diffs[edges[k] : edges[k + 1]].max() for k in range(n_pick)]
        order = sorted(range(n_pick), key=lambda k: -peaks[k])  # stable: ties keep time order
        chosen: dict[int, int] = {}
        for k in order:
            frames = np.arange(edges[k], edges[k + 1])
            taken = np.fromiter(chosen.values(), dtype=np.int64, count=len(chosen))
            if len(taken):
                frames = frames[np.abs(frames[:, None] - taken[None, :]).min(axis=1) >= gap]
            values = diffs[frames]
            best = frames[values == values.max()]
            chosen[k] = int(best[np.argmin(np.abs(best - centres[k]))])  # equal distance: the earlier
        picks = [chosen[k] for k in range(n_pick)]
        return picks

    def spec(self) -> dict:
        """The config dict that rebuilds this sampler with :func:`make_sampler`."""
        return {"name": self.name, "num_frames": self.num_frames}

    def __repr__(self) -> str:
        return f"FrameDifferenceSampler(num_frames={self.num_frames})"


class FragmentSampler:
    """FAST-VQA-style fragments: ``num_frames`` uniform frames, each made a mosaic.

    Every kept frame becomes a ``grid`` x ``grid`` mosaic of ``patch`` x
    ``patch`` patches cropped at native resolution, one from each cell of a
    uniform grid over the frame, so the output is ``(grid * patch)`` square and
    fine artefacts of a high-resolution video survive (no downscaling:
    ``max_side`` does not apply). Patch positions are drawn at random inside
    their cells from a seed made of ``seed`` and the clip id: deterministic per
    video, and the same in every frame of the clip so temporal change is kept.

    A frame whose shorter side is below ``grid * patch`` is first upscaled
    (bilinear, aspect kept) so its shorter side is exactly ``grid * patch``;
    cells are then at least ``patch`` wide and patches never overlap.
    """

    name = "fragments"

    def __init__(self, num_frames: int = 8, grid: int = 7, patch: int = 32, seed: int = 0):
        self.num_frames = _positive_int(self.name, "num_frames", num_frames)
        self.grid = _positive_int(self.name, "grid", grid)
        self.patch = _positive_int(self.name, "patch", patch)
        if (self.grid * self.patch) % 2:
            raise ConfigError(
                f"sampler 'fragments': grid * patch must be even (video encoders need even sides), "
                f"got grid={grid!r}, patch={patch!r}"
            )
        if not _is_int(seed):
            raise ConfigError(f"sampler 'fragments': seed must be an integer, got {seed!r}")
        self.seed = int(seed)

    @property
    def size(self) -> int:
        """Side of the square output frames: ``grid * patch``."""
        return self.grid * self.patch

    def indices(self, num_frames: int, fps: float) -> list[int]:
        _check_count(num_frames)
        return _centres(num_frames, self.num_frames)

    def resized(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` patches are cropped from: unchanged when the
        shorter side is at least ``grid * patch``, else upscaled to make it so."""
        if height < 1 or width < 1:
            raise ValueError(f"bad frame size {width}x{height}")
        side = self.size
        short = min(height, width)
        if short >= side:
            return height, width
        scale = side / short

        def up(x: int) -> int:
            return side if x == short else max(side, round(x * scale))

        return up(height), up(width)

    def layout(self, height: int, width: int, key: str) -> tuple[tuple[int, int], list[tuple[int, int]]]:
        """``((H, W), positions)``: the size the frame is cropped at (see
        :meth:`resized`) and the top-left ``(y, x)`` of each patch in it,
        row by row over the grid. Depends only on the seed, ``key`` (the clip
        id), the frame size and the grid, never on pixels.
        """
        height, width = self.resized(height, width)
        digest = hashlib.sha256(f"fragments/{self.seed}/{key}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        g, p = self.grid, self.patch
        ys = [(i * height) // g for i in range(g + 1)]  # cell edges
        xs = [(j * width) // g for j in range(g + 1)]
        positions = []
        for i in range(g):
            for j in range(g):
                # Cells are >= floor(side / grid) >= patch, so the range is never empty.
                y = ys[i] + int(rng.integers(0, ys[i + 1] - ys[i] - p + 1))
                x = xs[j] + int(rng.integers(0, xs[j + 1] - xs[j] - p + 1))
                positions.append((y, x))
        return (height, width), positions

    def spec(self) -> dict:
        """The config dict that rebuilds this sampler with :func:`make_sampler`."""
        return {"name": self.name, "num_frames": self.num_frames, "grid": self.grid, "patch": self.patch, "seed": self.seed}

    def __repr__(self) -> str:
        return (
            f"FragmentSampler(num_frames={self.num_frames}, grid={self.grid}, "
            f"patch={self.patch}, seed={self.seed})"
        )


SAMPLERS: dict[str, type] = {
    "uniform": UniformSampler,
    "fps": FpsSampler,
    "frame_difference": FrameDifferenceSampler,
    "fragments": FragmentSampler,
}
_KEYS = {
    "uniform": {"num_frames"},
    "fps": {"fps", "max_frames"},
    "frame_difference": {"num_frames"},
    "fragments": {"num_frames", "grid", "patch", "seed"},
}


def make_sampler(spec: dict | Sampler) -> Sampler:
    """Build a sampler from a config dict such as ``{"name": "uniform", "num_frames": 8}``.

    A sampler object is passed through unchanged. Unknown names and keys raise
    :class:`~w2s.core.errors.ConfigError` naming them.
    """
    if isinstance(spec, Sampler) and not isinstance(spec, dict):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(
            f"sampler: expected a dict like {{'name': 'uniform', 'num_frames': 8}}, got {spec!r}"
        )
    if "name" not in spec:
        raise ConfigError(f"sampler: missing key 'name' (one of {sorted(SAMPLERS)}) in {spec!r}")
    name = spec["name"]
    if name not in SAMPLERS:
        close = difflib.get_close_matches(str(name), SAMPLERS, n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"sampler: unknown name {name!r} (known: {sorted(SAMPLERS)}){hint}")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    unknown = sorted(set(kwargs) - _KEYS[name])
    if unknown:
        raise ConfigError(
            f"sampler {name!r}: unknown key {', '.join(map(repr, unknown))} (allowed: {sorted(_KEYS[name])})"
        )
    return SAMPLERS[name](**kwargs)


def sampled_fps(indices: list[int], fps: float) -> float:
    """The rate of the sampled frames: ``fps`` divided by the mean index step.

    One frame (or none) keeps the source rate.
    """
    if len(indices) < 2:
        return float(fps)
    mean_step = (indices[-1] - indices[0]) / (len(indices) - 1)
    return float(fps) / mean_step if mean_step > 0 else float(fps)
