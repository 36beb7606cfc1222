"""A backbone with temporal features appended: what a student sees of a clip.

``Perception(backbone, motion=True, temporal=True, nss=True)`` embeds a clip as

    [ backbone features | motion_features(frames) | temporal_feature_change(per-frame features) | nss_features(frames) ]

(each part only when asked for). ``motion`` adds the frame-difference
statistics of :mod:`students.motion` (``MOTION_DIM`` numbers, any backbone);
``nss`` the natural-scene statistics of :mod:`students.nss` (``NSS_DIM``);
``temporal`` adds how much each backbone feature changes from frame to frame,
which needs a backbone with ``frame_features(frames) -> (T, D)`` (the
EfficientNet-Lite0 and timm backbones have it, and their ``embed`` is the
mean of those over frames, so ``embed`` runs the backbone once either way).

The backbone's own score (``base``, a VLM's rating; 0 for a CNN) passes
through ``embed_with_base`` unchanged, and so do the backbone's facts
(``thread_safe``, ``takes_device``, its size).
"""

from __future__ import annotations

import torch

from students.base import BackboneBase
from students.motion import MOTION_DIM, motion_features, temporal_feature_change
from students.nss import NSS_DIM, nss_features
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


class Perception(BackboneBase, torch.nn.Module):
    """A frozen backbone plus optional motion and temporal-change features."""

    def __init__(self, backbone, motion: bool = False, temporal: bool = False, nss: bool = False):
        super().__init__()
        for key, value in (("motion", motion), ("temporal", temporal), ("nss", nss)):
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
        self.nss = nss
        self.thread_safe = backbone.thread_safe
        self.takes_device = backbone.takes_device
        asked = {"motion": motion, "temporal": temporal, "nss": nss}
        self.name = backbone.name + "".join(f"+{k}" for k, on in asked.items() if on)
        self.backbone_dim = int(backbone.dim)
        self.dim = self.backbone_dim * (2 if temporal else 1) + (MOTION_DIM if motion else 0) + (NSS_DIM if nss else 0)

    @property
    def blocks(self) -> list[list] | None:
        """The head's block scales (:mod:`students.multi`) in this feature order: the backbones'
        blocks, and again for their temporal change; the appended statistics keep scale 1.
        None for a single backbone, whose head scales nothing."""
        inner = getattr(self.backbone, "blocks", None)
        if inner is None:
            return None
        out = [list(b) for b in inner]
        if self.motion:
            out.append([MOTION_DIM, 1.0])
        if self.temporal:
            out += [list(b) for b in inner]
        if self.nss:
            out.append([NSS_DIM, 1.0])
        return out

    def embed(self, clip: Clip) -> torch.Tensor:
        """(dim,): the backbone's embedding, then the motion and temporal parts asked for."""
        return self.embed_with_base(clip)[0]

    def embed_with_base(self, clip: Clip) -> tuple[torch.Tensor, float]:
        if self.temporal:
            # one backbone pass: a backbone with per-frame features embeds a clip as their mean
            # over time and has no score of its own (the CNNs)
            per_frame = self.backbone.frame_features(clip.frames).float().cpu()
            parts, base = [per_frame.mean(dim=0)], 0.0
        else:
            features, base = self.backbone.embed_with_base(clip)
            parts = [features.float().cpu()]
        if self.motion:
            parts.append(motion_features(clip.frames))
        if self.temporal:
            parts.append(temporal_feature_change(per_frame))
        if self.nss:
            parts.append(nss_features(clip.frames))
        return torch.cat(parts), base

    def parameter_count(self) -> int:
        """The frozen backbone's size (the motion and temporal parts have no parameters)."""
        return int(self.backbone.parameter_count())

    def train(self, mode: bool = True):
        # frozen like its backbone: nothing here trains
        return super().train(False)

    def to(self, *args, **kwargs):
        """Move the backbone, also one that is not a torch module but has its own ``to`` (the VLM backbone)."""
        super().to(*args, **kwargs)
        if not isinstance(self.backbone, torch.nn.Module):
            self.backbone.to(*args, **kwargs)
        return self
