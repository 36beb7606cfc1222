"""Any timm image model as a frozen perception backbone (``timm:MODEL_NAME``).

``timm:resnet18``, ``timm:convnext_tiny``, ``timm:resnet18.a1_in1k`` (a
pretrained tag picks one set of weights; none means timm's default).

Weights, never downloaded here, are looked for in this order:

1. ``weights=PATH``: a state dict saved as ``.safetensors``, ``.pth`` or
   ``.bin`` (a checkpoint whose weights sit under ``state_dict`` or ``model``
   works too); it must match the architecture exactly.
2. the Hugging Face hub cache, for timm's hub id of the model (what
   ``hf download timm/NAME`` or an earlier online ``timm.create_model(...,
   pretrained=True)`` leaves there);
3. ``$TORCH_HOME/hub/checkpoints/``, for models whose weights timm fetches
   from a URL.

Found weights load through timm itself (its per-model checkpoint filters
apply). Nothing found is a :class:`~w2s.core.errors.MissingWeightsError` naming
every place looked and how to fill one. ``pretrained=False`` builds random
weights, for tests and ablations only, and says so in the log.

Features, like :mod:`students.efficientnet_lite`: the mean and the standard
deviation over space of the feature map at each selected depth (timm's
``forward_intermediates``, the maps ``features_only=True`` would return for
the same ``out_indices``; all stages by default) and of the model's final
features (left out where they are the deepest stage's map itself, as in a
ResNet), concatenated per frame and averaged over frames. The spatial spread
of early activations is what moves with blur, noise and blocking; a global
average pool alone keeps mostly *what* is in the frame. Frames are
normalised with the mean and std of the weights' own preprocessing
(timm's ``pretrained_cfg``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from students.base import BackboneBase
from w2s.core.clip import Clip
from w2s.core.errors import MissingWeightsError, W2SError

log = logging.getLogger(__name__)

FAMILY = "timm"


def _split_tag(model: str) -> tuple[str, str]:
    from timm.models import split_model_name_tag

    return split_model_name_tag(model)


def check_model(model: str) -> None:
    """Raise a one-line error unless timm knows ``model`` (and its pretrained tag, if any)."""
    import difflib

    import timm

    arch, tag = _split_tag(model)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = (
            "did you mean " + ", ".join(repr(c) for c in close) + "?"
            if close
            else "list them with timm.list_models('*part*')"
        )
        raise W2SError(f"unknown timm model {arch!r}: {hint}")
    if tag and model not in timm.list_pretrained(f"{arch}.*"):
        tags = [name.partition(".")[2] for name in timm.list_pretrained(f"{arch}.*")]
        known = ", ".join(tags) if tags else "none"
        raise W2SError(f"timm model {arch!r} has no pretrained tag {tag!r} (its tags: {known})")


def _pretrained_cfg(model: str) -> dict:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model)
    return cfg.to_dict() if cfg is not None else {}


def _hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _torch_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _hub_candidates(cfg: dict) -> list[str]:
    """The file names timm would fetch from the hub, in its order (safetensors first)."""
    name = cfg.get("hf_hub_filename")
    if name:
        return [name] if name.endswith(".safetensors") else [name.rsplit(".", 1)[0] + ".safetensors", name]
    return ["model.safetensors", "pytorch_model.bin"]


def find_cached_weights(model: str) -> tuple[Path | None, list[str]]:
    """A cached weight file for ``model`` (no network), and every place looked, for messages."""
    from huggingface_hub import try_to_load_from_cache

    cfg = _pretrained_cfg(model)
    looked = []
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        repo, _, revision = hub_id.partition("@")
        for filename in _hub_candidates(cfg):
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found), looked
        looked.append(f"the Hugging Face hub cache {_hub_cache_dir() / ('models--' + repo.replace('/', '--'))}")
    url = cfg.get("url")
    if url:
        path = _torch_checkpoints_dir() / os.path.basename(url.split("?")[0])
        if path.is_file():
            return path, looked
        looked.append(str(path))
    return None, looked


def _missing(model: str, looked: list[str], cfg: dict) -> MissingWeightsError:
    fix = "pass weights=PATH (a .safetensors/.pth/.bin state dict), or pretrained=false for random weights"
    if not looked:
        return MissingWeightsError(f"timm lists no pretrained weights for {model!r}: {fix}")
    hub_id = (cfg.get("hf_hub_id") or "").partition("@")[0]
    if hub_id:
        get = f"run `hf download {hub_id}` on a machine with network and copy its cache here"
    else:
        get = f"download {cfg['url']} into {_torch_checkpoints_dir()}"
    return MissingWeightsError(
        f"no weights for timm model {model!r} (looked in: {'; '.join(looked)}): {get}, or {fix}"
    )


class TimmBackbone(BackboneBase, torch.nn.Module):
    """``timm:NAME`` — any frozen timm image model, mean + std of every stage; weights from a path or the local cache.

    ``model`` is a timm name (``resnet18``, ``convnext_tiny.fb_in1k``);
    ``weights`` a local state dict file; ``pretrained=False`` allows random
    weights; ``out_indices`` picks the stages pooled (timm's feature indices,
    negative counts from the end; default all); ``frame_batch`` frames go
    through the model at once.
    """

    # frames with a shorter side below this are upscaled, so the deepest stage
    # (stride 32 in most models) keeps at least 2 x 2 positions to pool
    MIN_SIDE = 64

    def __init__(
        self,
        model: str,
        weights: str | Path | None = None,
        pretrained: bool = True,
        out_indices: list[int] | tuple[int, ...] | None = None,
        frame_batch: int = 16,
    ):
        super().__init__()
        import timm

        check_model(model)
        if isinstance(frame_batch, bool) or not isinstance(frame_batch, int) or frame_batch < 1:
            raise W2SError(f"timm backbone frame_batch must be a positive integer, got {frame_batch!r}")
        self.model_name = model
        self.name = f"{FAMILY}:{model}"
        self.frame_batch = frame_batch
        self.weights_source = self._build(timm, model, weights, pretrained)
        self.net.eval()
        self.net.requires_grad_(False)
        if not hasattr(self.net, "forward_intermediates"):
            raise W2SError(f"timm model {model!r} has no forward_intermediates(); pick another architecture")

        cfg = self.net.pretrained_cfg
        self.register_buffer(
            "mean", torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1), persistent=False
        )
        # models with position embeddings of one size (ViT, Swin) take exactly that size
        self.fixed_size = tuple(cfg["input_size"][-2:]) if cfg.get("fixed_input_size") else None
        self.out_indices = self._check_indices(out_indices, len(self.net.feature_info))
        # one small forward fixes the layout: output dim, and whether the final
        # features are just the deepest stage again (ResNet, ConvNeXt: then left out)
        probe = torch.rand(
            1, 3, *(self.fixed_size or (self.MIN_SIDE, self.MIN_SIDE)), generator=torch.Generator().manual_seed(0)
        )
        with torch.inference_mode():
            final, maps = self.net.forward_intermediates(self._normalize(probe), indices=self.out_indices)
        self.use_final = not (
            self.out_indices[-1] == len(self.net.feature_info) - 1
            and final.shape == maps[-1].shape
            and torch.equal(final, maps[-1])
        )
        self.dim = sum(m.shape[1] for m in maps) * 2 + (self._pool_final(final).shape[1] if self.use_final else 0)

    def _build(self, timm, model: str, weights, pretrained: bool) -> str:
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise MissingWeightsError(
                    f"weights file {path} for timm model {model!r} does not exist; pass the path of a "
                    ".safetensors/.pth/.bin state dict, or leave weights out to use the user's cache"
                )
            self._create(timm, model, path)
            return str(path)
        if not pretrained:
            log.warning("timm:%s runs with RANDOM weights (pretrained=false): for tests and ablations only", model)
            self.net = timm.create_model(model, pretrained=False)
            return "random"
        path, looked = find_cached_weights(model)
        if path is None:
            raise _missing(model, looked, _pretrained_cfg(model))
        self._create(timm, model, path)
        return str(path)

    def _create(self, timm, model: str, path: Path) -> None:
        """Build ``model`` with the weights in ``path``, through timm's own loading (filters, EMA keys)."""
        try:
            self.net = timm.create_model(
                model, pretrained=True, pretrained_cfg_overlay={"file": str(path), "source": ""}
            )
        except (RuntimeError, KeyError, ValueError, OSError) as exc:
            from w2s.core.untrusted import explain

            if unsafe := explain(exc, path, f"weights file of timm model {model!r}"):
                raise unsafe from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MissingWeightsError(f"{path} does not hold weights of timm model {model!r}: {first[:300]}") from exc
        log.info("timm:%s weights from %s", model, path)

    @staticmethod
    def _check_indices(out_indices, stages: int) -> list[int]:
        if out_indices is None:
            return list(range(stages))
        if isinstance(out_indices, int) or not all(isinstance(i, int) and not isinstance(i, bool) for i in out_indices):
            raise W2SError(f"out_indices must be a list of stage numbers, got {out_indices!r}")
        bad = [i for i in out_indices if not -stages <= i < stages]
        if bad or not out_indices:
            raise W2SError(
                f"out_indices {list(out_indices)!r}: this model has stages 0..{stages - 1} "
                "(negative ones count from the end)"
            )
        return sorted({i % stages for i in out_indices})

    @staticmethod
    def check(model: str) -> None:
        """Validate a ``timm:`` argument without building the model or loading weights."""
        check_model(model)

    def train(self, mode: bool = True):
        # frozen: BatchNorm must keep its pretrained statistics whatever the caller does
        return super().train(False)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def _pool_final(self, x: torch.Tensor) -> torch.Tensor:
        """Mean and std over space/tokens of the final features, whatever their layout."""
        if x.ndim == 4:
            dims = (1, 2) if getattr(self.net, "output_fmt", "NCHW") == "NHWC" else (2, 3)
        elif x.ndim == 3:  # (B, tokens, C)
            dims = (1,)
        else:  # already pooled (B, C)
            return x
        return torch.cat([x.mean(dim=dims), x.std(dim=dims, correction=0)], dim=1)

    def _resize(self, frames: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[-2:]
        if self.fixed_size is not None:
            size = self.fixed_size
        elif min(h, w) < self.MIN_SIDE:
            scale = self.MIN_SIDE / min(h, w)
            size = (round(h * scale), round(w * scale))
        else:
            return frames
        return torch.nn.functional.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)

    @torch.inference_mode()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, H, W) in [0, 1] -> (T, dim) per-frame multi-scale mean/std, float32 on the CPU."""
        device = self.mean.device
        out = []
        for chunk in frames.split(self.frame_batch):
            x = self._normalize(self._resize(chunk.to(device).float()))
            final, maps = self.net.forward_intermediates(x, indices=self.out_indices)
            pooled = [torch.cat([m.mean(dim=(2, 3)), m.std(dim=(2, 3), correction=0)], dim=1) for m in maps]
            if self.use_final:
                pooled.append(self._pool_final(final))
            out.append(torch.cat(pooled, dim=1).float().cpu())
        return torch.cat(out)

    def embed(self, clip: Clip) -> torch.Tensor:
        """One vector per clip: the per-frame features averaged over time."""
        return self.frame_features(clip.frames).mean(dim=0)
