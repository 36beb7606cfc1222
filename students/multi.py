"""Several frozen backbones side by side (PTM-VQA style): their features concatenated.

``student.backbone: [efficientnet_lite0, efficientnet_lite2]`` embeds a clip
with each backbone and concatenates the vectors in list order. Only CNN-like
backbones combine (plain names and ``timm:``): a VLM's own score is the base a
student corrects, and two bases would have no single meaning.

Block balance. The calibration head standardises every feature to unit
variance, so a backbone's share of the head's input grows with its feature
count: Lite2's 4,272 numbers would outweigh Lite0's 4,128 only slightly, but a
ResNet-50 (15k numbers) would drown a small backbone. Each backbone's block is
therefore scaled, after that standardisation, by ``sqrt(D / (B * D_b))``
(``D`` all backbone features, ``B`` backbones, ``D_b`` this one's): every
block then carries the same total variance, ``D / B``, and the whole input
the same total variance ``D`` as unscaled features, so the head's
initialisation and weight decay see the scale they see with one backbone.
The scales are recorded as ``blocks`` (:attr:`MultiBackbone.blocks`) and
applied by :class:`students.calibration.CalibrationHead`; a single backbone
has none, and its head is what it always was.
"""

from __future__ import annotations

import math

import torch

from students.base import BackboneBase
from w2s.core.clip import Clip
from w2s.core.errors import W2SError


def block_scales(dims: list[int]) -> list[float]:
    """Each block's scale so that every block carries the same total variance (module docstring)."""
    total = sum(dims)
    return [math.sqrt(total / (len(dims) * d)) for d in dims]


class MultiBackbone(BackboneBase, torch.nn.Module):
    """Several frozen image backbones, their features concatenated, each block balanced in the head."""

    def __init__(self, specs: list, make_member=None, **options):
        """``make_member(spec, **options)``: how each part is built (``students.make_backbone`` hands
        itself over, so this module needs no import of the package that builds it)."""
        super().__init__()
        if make_member is None:
            raise W2SError("MultiBackbone is built by students.make_backbone([SPEC, ...]), which builds its parts")
        MultiBackbone.check(specs)
        unknown = sorted(set(options) - set(specs))
        if unknown:
            raise W2SError(
                f"backbone options of a list are given per backbone ({{NAME: {{option: value}}}}); "
                f"{', '.join(map(repr, unknown))} is not in {list(specs)}"
            )
        self.parts = torch.nn.ModuleList(make_member(s, **(options.get(s) or {})) for s in specs)
        self.specs = list(specs)
        self.name = ",".join(p.name for p in self.parts)
        self.dims = [int(p.dim) for p in self.parts]
        self.dim = sum(self.dims)
        self.thread_safe = all(p.thread_safe for p in self.parts)

    @staticmethod
    def check(specs) -> None:
        """Validate a list's shape without loading weights (``students.check_backbone`` checks each part)."""
        if not isinstance(specs, (list, tuple)) or not specs:
            raise W2SError(f"a list of backbones must name at least one, got {specs!r}")
        if len(set(specs)) != len(specs):
            raise W2SError(f"backbone list {list(specs)} names a backbone twice")
        for spec in specs:
            if isinstance(spec, (list, tuple)):
                raise W2SError(f"backbone list {list(specs)}: lists do not nest")
            if str(spec).startswith("vlm:"):
                raise W2SError(
                    f"backbone list {list(specs)}: {spec!r} cannot be combined; a VLM's own score is the "
                    "base its student corrects, so a vlm: backbone stands alone"
                )

    @property
    def blocks(self) -> list[list]:
        """``[[size, scale], ...]`` in feature order (the module docstring says why)."""
        return [[d, s] for d, s in zip(self.dims, block_scales(self.dims))]

    def train(self, mode: bool = True):
        return super().train(False)  # frozen, like each part

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) -> (T, dim): each part's per-frame features side by side."""
        missing = [p.name for p in self.parts if not callable(getattr(p, "frame_features", None))]
        if missing:
            raise W2SError(f"backbone(s) {missing} give no per-frame features")
        return torch.cat([p.frame_features(frames).float().cpu() for p in self.parts], dim=1)

    def embed(self, clip: Clip) -> torch.Tensor:
        return torch.cat([p.embed(clip).float().cpu() for p in self.parts])
