"""The small interfaces plugins satisfy. ``w2s`` knows these, never a plugin."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from w2s.media.clip import Clip


@runtime_checkable
class Teacher(Protocol):
    """Maps a clip to one quality score, oriented so that higher is better."""

    name: str

    def score(self, clip: Clip) -> float: ...


@runtime_checkable
class Distortion(Protocol):
    """A degradation with ``levels`` severities; level 1 is the mildest.

    ``params`` draws everything random from ``seed`` and is pure, so the same
    ``(level, seed)`` always gives the same dict; ``apply`` is a pure function
    of the clip and that dict, so distorted pixels can be regenerated instead
    of stored. Params must be JSON-serialisable.
    """

    name: str
    levels: int

    def params(self, level: int, seed: int) -> dict: ...

    def apply(self, clip: Clip, params: dict) -> Clip: ...


@runtime_checkable
class Backbone(Protocol):
    """A frozen perception model: one feature vector per clip."""

    name: str
    dim: int

    def embed(self, clip: Clip) -> torch.Tensor: ...
