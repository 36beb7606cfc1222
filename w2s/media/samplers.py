"""Frame samplers: which frames of a video a clip keeps.

A sampler is a small object with ``indices(num_frames, fps) -> list[int]``
returning sorted, unique frame indices within ``[0, num_frames)``. It never
sees pixels, so a decoder can ask for the indices first and stop decoding
after the last one.

>>> UniformSampler(4).indices(10, 25.0)
[1, 3, 6, 8]
>>> FpsSampler(fps=1.0, max_frames=16).indices(100, 25.0)
[0, 25, 50, 75]
"""

from __future__ import annotations

import difflib
import math
from typing import Protocol, runtime_checkable

from w2s.errors import ConfigError


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


SAMPLERS: dict[str, type] = {"uniform": UniformSampler, "fps": FpsSampler}
_KEYS = {"uniform": {"num_frames"}, "fps": {"fps", "max_frames"}}


def make_sampler(spec: dict | Sampler) -> Sampler:
    """Build a sampler from a config dict such as ``{"name": "uniform", "num_frames": 8}``.

    A sampler object is passed through unchanged. Unknown names and keys raise
    :class:`~w2s.errors.ConfigError` naming them.
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
