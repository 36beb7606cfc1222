"""A backbone with temporal features appended: what a student sees of a clip.

``Perception(backbone, motion=True, temporal=True)`` embeds a clip as

    [ backbone features | motion_features(frames) | temporal_feature_change(per-frame features) ]

(each part only when asked for). ``motion`` adds the frame-difference
statistics of :mod:`students.motion` (``MOTION_DIM`` numbers, any backbone);
``temporal`` adds how much each backbone feature changes from frame to frame,
which needs a backbone with ``frame_features(frames) -> (T, D)`` (the
EfficientNet-Lite0 and timm backbones have it, and their ``embed`` is the
mean of those over frames, so ``embed`` runs the backbone once either way).

A backbone with a score of its own (``embed_with_base(clip) -> (features,
base)``, the VLM backbone) keeps it: ``Perception.embed_with_base`` appends
the same parts to its features and passes the base through (with
``temporal``, the per-frame features take a second pass). Perception has that
method only when its backbone does, so ``hasattr`` answers the same.
"""

from __future__ import annotations

import torch

from students.motion import MOTION_DIM, motion_features, temporal_feature_change
from w2s.errors import W2SError
from w2s.media.clip import Clip


class Perception(torch.nn.Module):
    """A frozen backbone plus optional motion and temporal-change features."""

    def __init__(self, backbone, motion: bool = False, temporal: bool = False):
        super().__init__()
        for key, value in (("motion", motion), ("temporal", temporal)):
            if not isinstance(value, bool):
                raise W2SError(f"perception option {key} must be true or false, got {value!r}")
        if temporal and not callable(getattr(backbone, "frame_features", None)):
            raise W2SError(
                f"backbone {backbone.name!r} gives no per-frame features (frame_features), "
                "so temporal=true cannot measure their change; use motion=true instead"
            )
        self.backbone = backbone  # registered as a submodule when it is one: .to(device) moves it
        self.motion = motion
        self.temporal = temporal
        self.name = backbone.name + ("+motion" if motion else "") + ("+temporal" if temporal else "")
        self.base_dim = int(backbone.dim)
        self.dim = self.base_dim * (2 if temporal else 1) + (MOTION_DIM if motion else 0)

    def _extra(self, clip: Clip, per_frame: torch.Tensor | None) -> list[torch.Tensor]:
        parts = []
        if self.motion:
            parts.append(motion_features(clip.frames))
        if self.temporal:
            parts.append(temporal_feature_change(per_frame))
        return parts

    def embed(self, clip: Clip) -> torch.Tensor:
        """(dim,): the backbone's embedding, then the motion and temporal parts asked for."""
        if self.temporal:
            per_frame = self.backbone.frame_features(clip.frames).float().cpu()
            base = per_frame.mean(dim=0)  # what the backbone's embed() returns
        else:
            per_frame, base = None, self.backbone.embed(clip).float().cpu()
        return torch.cat([base, *self._extra(clip, per_frame)])

    @property
    def embed_with_base(self):
        """``embed_with_base(clip) -> (features, base score)``, present only when the backbone has it."""
        if not callable(getattr(self.backbone, "embed_with_base", None)):
            # AttributeError, so that hasattr(perception, "embed_with_base") is False
            msg = f"backbone {self.backbone.name!r} has no embed_with_base (no base score of its own)"
            raise AttributeError(msg)  # noqa: TRY004
        return self._embed_with_base

    def _embed_with_base(self, clip: Clip) -> tuple[torch.Tensor, float]:
        features, base = self.backbone.embed_with_base(clip)
        per_frame = self.backbone.frame_features(clip.frames).float().cpu() if self.temporal else None
        return torch.cat([features.float().cpu(), *self._extra(clip, per_frame)]), base

    def parameter_count(self) -> int:
        """The frozen backbone's size (the motion and temporal parts have no parameters)."""
        if callable(getattr(self.backbone, "parameter_count", None)):
            return int(self.backbone.parameter_count())
        return sum(p.numel() for p in self.backbone.parameters())

    def train(self, mode: bool = True):
        # frozen like its backbone: nothing here trains
        return super().train(False)

    def to(self, *args, **kwargs):
        """Move the backbone, also one that is not a torch module but has its own ``to`` (the VLM backbone)."""
        super().to(*args, **kwargs)
        if not isinstance(self.backbone, torch.nn.Module) and callable(getattr(self.backbone, "to", None)):
            self.backbone.to(*args, **kwargs)
        return self

    def config(self) -> dict:
        inner = (
            self.backbone.config() if callable(getattr(self.backbone, "config", None)) else {"name": self.backbone.name}
        )
        return {**inner, "name": self.name, "motion": self.motion, "temporal": self.temporal}
