"""The unit every stage passes around: a few sampled frames of one item."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class Clip:
    """Sampled frames of one video or image.

    ``frames`` is float32 ``(T, 3, H, W)`` RGB in ``[0, 1]``. ``fps`` is the
    rate of the *sampled* frames (what a codec or a temporal distortion sees).
    ``id`` is a stable string: ``video_id`` for a clean clip,
    ``video_id#family@level`` for a distorted variant. ``reference`` is the
    clean clip a variant was made from (``None`` for a clean clip): what a
    full-reference teacher compares against.
    """

    id: str
    frames: torch.Tensor
    fps: float
    meta: dict = field(default_factory=dict)
    reference: Clip | None = None

    def __post_init__(self):
        if self.frames.ndim != 4 or self.frames.shape[1] != 3:
            raise ValueError(
                f"clip {self.id!r}: frames must be (T, 3, H, W), got {tuple(self.frames.shape)}"
            )

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.frames.shape[-2], self.frames.shape[-1]

    def with_frames(self, frames: torch.Tensor, id: str | None = None, **meta) -> Clip:
        """A copy with new pixels (and optionally a new id and extra meta)."""
        return replace(self, frames=frames, id=id or self.id, meta={**self.meta, **meta})


def variant_id(video_id: str, family: str, level: int) -> str:
    """The stable id of a distorted variant."""
    return f"{video_id}#{family}@{level}"


def parse_item_id(item_id: str) -> tuple[str, str | None, int]:
    """Inverse of :func:`variant_id`; a clean clip has family ``None`` and level 0."""
    if "#" not in item_id:
        return item_id, None, 0
    video_id, _, rest = item_id.partition("#")
    family, _, level = rest.rpartition("@")
    return video_id, family, int(level)
